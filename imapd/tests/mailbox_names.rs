//! Mailbox names in Unicode against the real binary: `café` in NFD (e + U+0301) and in
//! NFC (U+00E9) are one mailbox in CREATE, SELECT, EXAMINE, STATUS, APPEND, LIST
//! patterns, SUBSCRIBE and RENAME, in modified UTF-7 and in UTF-8; names with a
//! bidirectional control or looking like INBOX are refused with NO [CANNOT].

mod common;

use common::Server;

/// `café` in NFC, modified UTF-7.
const CAFE_NFC: &str = "caf&AOk-";
/// `café` in NFD (e + U+0301), modified UTF-7.
const CAFE_NFD: &str = "cafe&AwE-";

fn last(lines: &[String]) -> &str {
    lines.last().map(String::as_str).unwrap_or_default()
}

#[tokio::test]
async fn nfd_and_nfc_cafe_are_one_mailbox() {
    let server = Server::start().await;
    let mut client = server.login_tls().await;
    let lines = client.command("c1", &format!("CREATE {CAFE_NFD}")).await;
    assert!(last(&lines).starts_with("c1 OK"), "{lines:?}");
    let lines = client.command("c2", &format!("CREATE {CAFE_NFC}")).await;
    assert!(
        last(&lines).starts_with("c2 NO [ALREADYEXISTS]"),
        "{lines:?}"
    );

    // Listed once, under its NFC name, whichever form the pattern has.
    for (tag, pattern) in [("l1", "*"), ("l2", CAFE_NFD), ("l3", CAFE_NFC)] {
        let lines = client.command(tag, &format!("LIST \"\" {pattern}")).await;
        let cafes: Vec<_> = lines.iter().filter(|l| l.contains("caf")).collect();
        assert_eq!(cafes.len(), 1, "{pattern}: {lines:?}");
        assert!(cafes[0].ends_with(&format!(" \"{CAFE_NFC}\"")), "{lines:?}");
    }

    let message = "From: a@example.org\r\nSubject: x\r\n\r\nhi\r\n";
    let reply = client.append("a1", CAFE_NFD, "", message.as_bytes()).await;
    assert!(reply.starts_with("a1 OK"), "{reply}");
    let reply = client.append("a2", CAFE_NFC, "", message.as_bytes()).await;
    assert!(reply.starts_with("a2 OK"), "{reply}");
    let lines = client
        .command("s1", &format!("STATUS {CAFE_NFD} (MESSAGES)"))
        .await;
    assert!(
        lines.iter().any(|l| l.contains("(MESSAGES 2)")),
        "{lines:?}"
    );
    let lines = client.command("e1", &format!("EXAMINE {CAFE_NFC}")).await;
    assert!(lines.iter().any(|l| l == "* 2 EXISTS"), "{lines:?}");
    let lines = client.command("e2", &format!("SELECT {CAFE_NFD}")).await;
    assert!(lines.iter().any(|l| l == "* 2 EXISTS"), "{lines:?}");
    client.command("u0", "UNSELECT").await;

    let lines = client.command("b1", &format!("SUBSCRIBE {CAFE_NFD}")).await;
    assert!(last(&lines).starts_with("b1 OK"), "{lines:?}");
    let lines = client.command("b2", &format!("LSUB \"\" {CAFE_NFC}")).await;
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("* LSUB")).count(),
        1,
        "{lines:?}"
    );

    // UTF-8 names (IMAP4rev2) follow the same rule.
    let lines = client.command("n1", "ENABLE UTF8=ACCEPT").await;
    assert!(last(&lines).starts_with("n1 OK"), "{lines:?}");
    let lines = client.command("n2", "CREATE \"cafe\u{301}\"").await;
    assert!(
        last(&lines).starts_with("n2 NO [ALREADYEXISTS]"),
        "{lines:?}"
    );
    let lines = client
        .command("r1", "RENAME \"cafe\u{301}\" \"caf\u{e9} old\"")
        .await;
    assert!(last(&lines).starts_with("r1 OK"), "{lines:?}");
    let lines = client
        .command("s2", "STATUS \"cafe\u{301} old\" (MESSAGES)")
        .await;
    assert!(
        lines.iter().any(|l| l.contains("(MESSAGES 2)")),
        "{lines:?}"
    );
}

#[tokio::test]
async fn lookalikes_of_inbox_and_bidi_controls_are_refused() {
    let server = Server::start().await;
    let mut client = server.login_tls().await;
    for (tag, name, reason) in [
        // Fullwidth ＩＮＢＯＸ.
        ("f1", "&,yn,Lv8i,y,,OA-", "looks like INBOX"),
        // Dotted İNBOX, and a level below it.
        ("f2", "&ATA-NBOX", "looks like INBOX"),
        ("f3", "&ATA-NBOX/Sub", "looks like INBOX"),
        // U+202E RIGHT-TO-LEFT OVERRIDE.
        ("f4", "evil&IC4-txt", "bidirectional control"),
    ] {
        let lines = client.command(tag, &format!("CREATE {name}")).await;
        let reply = last(&lines);
        assert!(
            reply.starts_with(&format!("{tag} NO [CANNOT]")),
            "{lines:?}"
        );
        assert!(reply.contains(reason), "{lines:?}");
    }
    let lines = client.command("f5", "LIST \"\" *").await;
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("&ATA-") || l.contains("&,yn") || l.contains("evil")),
        "{lines:?}"
    );
    let lines = client.command("f6", "SELECT inbox").await;
    assert!(last(&lines).starts_with("f6 OK"), "{lines:?}");
}
