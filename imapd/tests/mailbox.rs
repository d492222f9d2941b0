//! The authenticated and selected states end to end: a real authd and a real
//! postern-imapd with its mail store, driven by Python's imaplib (plus a small
//! line-level Python client for MULTIAPPEND and IDLE) and curl.

mod common;

use common::{ADDRESS, PASSWORD, Server, python};

/// Helpers shared by the scripts: `connect()`, `out()`, `untagged()`, `Raw`.
const PRELUDE: &str = include_str!("python/imap_prelude.py");

/// Runs `script` (after the prelude) against `server`; returns its output lines.
fn run(server: &Server, script: &str) -> Vec<String> {
    run_with(server, script, &[])
}

/// [`run`] with more arguments for the script (`sys.argv[5:]`).
fn run_with(server: &Server, script: &str, extra: &[&str]) -> Vec<String> {
    let source = format!("{PRELUDE}\n{script}");
    let port = server.imaps.port().to_string();
    let cert = server.cert_path();
    let mut args = vec![port.as_str(), cert.to_str().unwrap(), ADDRESS, PASSWORD];
    args.extend_from_slice(extra);
    let out = python(&source, &args);
    out.lines().map(str::to_owned).collect()
}

/// Compares the output lines with `expected` (key, value) pairs, reporting every
/// difference at once.
fn check(lines: &[String], expected: &[(&str, &str)]) {
    let mut wrong = Vec::new();
    for (key, want) in expected {
        let got = value(lines, key);
        if got != *want {
            wrong.push(format!("{key}:\n  want {want}\n  got  {got}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{}\n\nall output:\n{}",
        wrong.join("\n"),
        lines.join("\n")
    );
}

/// The output line with `key`, without the key.
fn value(lines: &[String], key: &str) -> String {
    let prefix = format!("{key} ");
    lines
        .iter()
        .find_map(|l| l.strip_prefix(&prefix).map(str::to_owned))
        .unwrap_or_else(|| panic!("no {key} in:\n{}", lines.join("\n")))
}

/// CREATE (with USE), DELETE, RENAME (INBOX too), SUBSCRIBE, UNSUBSCRIBE, LIST (plain,
/// LIST-EXTENDED selection and return options, LIST-STATUS, SPECIAL-USE), LSUB,
/// NAMESPACE, STATUS and ENABLE through imaplib.
#[tokio::test]
async fn mailbox_management() {
    let server = Server::start().await;
    let lines = run(&server, include_str!("python/mailboxes.py"));
    check(
        &lines,
        &[
            ("enable", "OK [CONDSTORE]"),
            ("namespace", "OK [((\"\" \"/\")) NIL NIL]"),
            (
                "list",
                "OK [(\\HasNoChildren \\Archive) \"/\" \"Archive\", (\\HasNoChildren \\Drafts) \"/\" \"Drafts\", (\\HasNoChildren \\Junk) \"/\" \"Junk\", (\\HasNoChildren \\Sent) \"/\" \"Sent\", (\\HasNoChildren \\Trash) \"/\" \"Trash\", (\\HasNoChildren) \"/\" \"INBOX\"]",
            ),
            ("create", "OK [create done]"),
            (
                "create-exists",
                "NO [[ALREADYEXISTS] mailbox \"Work/Projects\" already exists]",
            ),
            ("create-inbox", "NO [[ALREADYEXISTS] INBOX always exists]"),
            ("create-use", "OK [create done]"),
            (
                "create-use-bad",
                "NO [[USEATTR] unsupported special-use attribute]",
            ),
            (
                "list-work",
                "OK [(\\HasNoChildren) \"/\" \"Work/Projects\"]",
            ),
            (
                "list-percent",
                "OK [(\\HasNoChildren) \"/\" \"INBOX\", (\\HasNoChildren \\Archive) \"/\" \"Archive\", (\\HasNoChildren \\Drafts) \"/\" \"Drafts\", (\\HasNoChildren \\Junk) \"/\" \"Junk\", (\\HasNoChildren \\Archive) \"/\" \"Receipts\", (\\HasNoChildren \\Sent) \"/\" \"Sent\", (\\HasNoChildren \\Trash) \"/\" \"Trash\", (\\HasChildren) \"/\" \"Work\"]",
            ),
            (
                "list-special",
                "OK [(\\HasNoChildren \\Archive) \"/\" \"Archive\", (\\HasNoChildren \\Archive) \"/\" \"Receipts\", (\\HasNoChildren \\Drafts) \"/\" \"Drafts\", (\\HasNoChildren \\Junk) \"/\" \"Junk\", (\\HasNoChildren \\Sent) \"/\" \"Sent\", (\\HasNoChildren \\Trash) \"/\" \"Trash\"]",
            ),
            (
                "list-status",
                "OK [(\\HasNoChildren) \"/\" \"INBOX\"] [\"INBOX\" (MESSAGES 0 UIDNEXT 1 SIZE 0)]",
            ),
            ("subscribe", "OK [subscribe done]"),
            ("subscribe-missing", "OK [subscribe done]"),
            (
                "lsub",
                "OK [() \"/\" \"Archive\", () \"/\" \"Drafts\", (\\Noselect) \"/\" \"Gone/Away\", () \"/\" \"INBOX\", () \"/\" \"Junk\", () \"/\" \"Sent\", () \"/\" \"Trash\", () \"/\" \"Work/Projects\"]",
            ),
            (
                "list-subscribed",
                "OK [(\\HasNoChildren \\Subscribed \\Archive) \"/\" \"Archive\", (\\HasNoChildren \\Subscribed \\Drafts) \"/\" \"Drafts\", (\\HasNoChildren \\Subscribed \\Junk) \"/\" \"Junk\", (\\HasNoChildren \\Subscribed \\Sent) \"/\" \"Sent\", (\\HasNoChildren \\Subscribed \\Trash) \"/\" \"Trash\", (\\HasNoChildren \\Subscribed) \"/\" \"INBOX\", (\\HasNoChildren \\Subscribed) \"/\" \"Work/Projects\", (\\NonExistent \\Subscribed) \"/\" \"Gone/Away\"]",
            ),
            (
                "list-recursive",
                "OK [(\\HasChildren) \"/\" \"Work\" (\"CHILDINFO\" (\"SUBSCRIBED\"))]",
            ),
            ("unsubscribe", "OK [unsubscribe done]"),
            ("lsub-after", "OK [None]"),
            (
                "status",
                "OK [\"INBOX\" (MESSAGES 0 UIDNEXT 1 UIDVALIDITY V UNSEEN 0 DELETED 0 SIZE 0 RECENT 0 HIGHESTMODSEQ 2 APPENDLIMIT 104857600)]",
            ),
            ("status-missing", "NO [[NONEXISTENT] no such mailbox]"),
            ("rename", "OK [rename done]"),
            (
                "list-job",
                "OK [(\\HasChildren) \"/\" \"Job\", (\\HasNoChildren) \"/\" \"Job/Projects\"]",
            ),
            ("rename-missing", "NO [[NONEXISTENT] no such mailbox]"),
            ("rename-inbox", "OK [rename done]"),
            ("status-inbox", "OK [\"INBOX\" (MESSAGES 0)]"),
            ("status-old", "OK [\"Old Inbox\" (MESSAGES 1)]"),
            (
                "delete-parent",
                "NO [[HASCHILDREN] mailbox \"Job\" has child mailboxes]",
            ),
            ("delete-child", "OK [delete done]"),
            ("delete-job", "OK [delete done]"),
            ("delete-inbox", "NO [[CANNOT] INBOX cannot be deleted]"),
            ("select-missing", "NO [[NONEXISTENT] no such mailbox]"),
            ("list-end", "OK [None]"),
            ("list-empty", "OK [(\\Noselect) \"/\" \"\"]"),
            ("utf7-create", "t OK create done"),
            (
                "utf7-list",
                "* LIST (\\HasNoChildren) \"/\" \"Entw&APw-rfe\"",
            ),
            ("rev2-enable", "* ENABLED IMAP4rev2"),
            ("utf8-list", "* LIST (\\HasNoChildren) \"/\" \"Entwürfe\""),
            ("utf8-status", "* STATUS \"Entwürfe\" (MESSAGES 0)"),
        ],
    );
}

/// APPEND (flags, date, TRYCREATE, APPENDUID), MULTIAPPEND, TOOBIG, SELECT and EXAMINE,
/// FETCH of every kind of item with \Seen set by non-PEEK fetches, SEARCH (plain,
/// ESEARCH, SAVE and `$`), STORE, COPY, MOVE (COPYUID), EXPUNGE, UID EXPUNGE, CHECK,
/// NOOP, CLOSE and UNSELECT.
#[tokio::test]
async fn messages() {
    let server = Server::start().await;
    let lines = run(&server, include_str!("python/messages.py"));
    check(
        &lines,
        &[
            ("append", "OK [[APPENDUID V 1] append done]"),
            ("append-missing", "NO [[TRYCREATE] no such mailbox]"),
            (
                "append-missing-before-continue",
                "m0 NO [TRYCREATE] no such mailbox",
            ),
            ("noop-after-refusal", "m00 OK noop done"),
            ("multiappend", "m1 OK [APPENDUID V 2:3] append done"),
            ("append-empty-continue", "+ Ready for literal data"),
            ("append-empty", "m2 NO empty message, cancelling append"),
            ("select", "OK [3]"),
            (
                "select-flags",
                "[(\\Answered \\Flagged \\Deleted \\Seen \\Draft $work)]",
            ),
            (
                "select-permanentflags",
                "[(\\Answered \\Flagged \\Deleted \\Seen \\Draft $work \\*)]",
            ),
            ("select-recent", "[0]"),
            ("select-uidnext", "[4]"),
            ("select-highestmodseq", "[4]"),
            ("fetch-flags", "OK [1 (FLAGS (\\Flagged $work))]"),
            ("fetch-peek-same", "OK True 1 (BODY[] {156}"),
            ("fetch-flags-after-peek", "OK [1 (FLAGS (\\Flagged $work))]"),
            (
                "fetch-text",
                "OK [(b'1 (BODY[TEXT] {16}', b'Hello body one\\r\\n'), b' FLAGS (\\\\Seen \\\\Flagged $work))']",
            ),
            (
                "fetch-flags-after-body",
                "OK [1 (FLAGS (\\Seen \\Flagged $work))]",
            ),
            (
                "fetch-envelope",
                "OK [1 (ENVELOPE (\"Mon, 23 Nov 2026 10:00:00 +0000\" \"first\" ((\"Alice\" NIL \"alice\" \"example.org\")) ((\"Alice\" NIL \"alice\" \"example.org\")) ((\"Alice\" NIL \"alice\" \"example.org\")) ((NIL NIL \"bob\" \"example.org\")) NIL NIL NIL \"<1@example.org>\"))]",
            ),
            (
                "fetch-bodystructure",
                "OK [3 (BODYSTRUCTURE (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 7 1 NIL NIL NIL NIL))]",
            ),
            (
                "fetch-internaldate",
                "OK [1 (INTERNALDATE \"14-Nov-2023 22:13:20 +0000\")]",
            ),
            ("uid-fetch-header", "OK 2 (UID 2 RFC822.HEADER {104} True"),
            (
                "fetch-bad-seq",
                "ERROR FETCH command error: BAD [b'invalid message sequence number 9, mailbox has 3 messages']",
            ),
            ("search-subject", "OK [2]"),
            ("search-body", "OK [2]"),
            ("search-unseen", "OK [3]"),
            ("uid-search-flagged", "OK [1]"),
            ("esearch", "[(TAG \"T\") MIN 1 MAX 3 ALL 1:3 COUNT 3]"),
            ("search-save", "None"),
            (
                "fetch-saved",
                "OK [1 (UID 1 FLAGS (\\Seen \\Flagged $work)), 2 (UID 2 FLAGS (\\Seen))]",
            ),
            (
                "search-badcharset",
                "NO [[BADCHARSET (\"UTF-8\")] unsupported charset]",
            ),
            ("store", "OK [1 (FLAGS (\\Seen \\Flagged \\Deleted $work))]"),
            ("store-silent", "OK [None]"),
            ("store-keyword", "OK [3 (UID 3 FLAGS (\\Draft todo))]"),
            (
                "store-bad",
                "ERROR STORE command error: BAD [b'unknown system flag \\\\Bogus']",
            ),
            ("copy", "OK [[COPYUID V 1:2 1:2] copy done]"),
            ("copy-missing", "NO [[TRYCREATE] no such mailbox]"),
            ("uid-move", "OK [None]"),
            ("move-untagged", "[[COPYUID V 3 1] moved] [3]"),
            ("expunge", "OK [1]"),
            ("check", "OK [check done]"),
            ("noop", "OK [noop done]"),
            ("status-archive", "OK [\"Archive\" (MESSAGES 2 UNSEEN 0)]"),
            ("status-trash", "OK [\"Trash\" (MESSAGES 1)]"),
            ("examine", "OK [2]"),
            ("examine-store", "NO [[READ-ONLY] mailbox is read-only]"),
            ("examine-expunge", "NO [[READ-ONLY] mailbox is read-only]"),
            ("select-archive", "OK [2]"),
            ("store-archive", "OK [None]"),
            ("close", "OK [close done]"),
            ("after-close-fetch", "t BAD no mailbox selected"),
            ("status-after-close", "OK [\"Archive\" (MESSAGES 1)]"),
            ("select-inbox", "OK [1]"),
            ("uid-expunge-other", "OK [None]"),
            ("uid-expunge", "OK [None]"),
            ("uid-expunge-untagged", "[1]"),
            ("unselect", "OK [unselect done]"),
            ("fetch-unselected", "t BAD no mailbox selected"),
            ("examine-fetch-body", "OK b'three\\r\\n'"),
            ("examine-flags-unchanged", "OK [1 (FLAGS ())]"),
        ],
    );
}

/// The command-state gate end to end: each command in each state it does not belong
/// to gets the one answer for that case (NO before or after login, BAD without a
/// selected mailbox, NO [READ-ONLY] for changes to an EXAMINEd mailbox), and the
/// commands that may run do.
#[tokio::test]
async fn commands_in_the_wrong_state() {
    let server = Server::start().await;
    let mut plain = server.connect_plain().await;
    let greeting = plain.line().await;
    assert!(greeting.starts_with("* OK "), "{greeting}");
    for (command, answer) in [
        (
            "SELECT INBOX",
            "p NO SELECT not allowed in this connection state",
        ),
        (
            "UID FETCH 1 FLAGS",
            "p NO UID FETCH not allowed in this connection state",
        ),
        ("IDLE", "p NO IDLE not allowed in this connection state"),
        ("NOOP", "p OK noop done"),
    ] {
        let lines = plain.command("p", command).await;
        assert_eq!(lines.last().unwrap(), answer, "{command}");
    }

    let mut client = server.login_tls().await;
    let last = client
        .append("a", "INBOX", "", b"Subject: x\r\n\r\nx\r\n")
        .await;
    assert!(last.starts_with("a OK "), "{last}");
    for (command, answer) in [
        (
            "AUTHENTICATE PLAIN",
            "t NO AUTHENTICATE not allowed in this connection state",
        ),
        ("FETCH 1 FLAGS", "t BAD no mailbox selected"),
        ("CHECK", "t BAD no mailbox selected"),
        ("CLOSE", "t BAD no mailbox selected"),
        ("UNSELECT", "t BAD no mailbox selected"),
        ("UID EXPUNGE 1", "t BAD no mailbox selected"),
        ("EXAMINE INBOX", "t OK [READ-ONLY] examine done"),
        (
            "STORE 1 +FLAGS (\\Seen)",
            "t NO [READ-ONLY] mailbox is read-only",
        ),
        (
            "UID MOVE 1 Archive",
            "t NO [READ-ONLY] mailbox is read-only",
        ),
        ("EXPUNGE", "t NO [READ-ONLY] mailbox is read-only"),
        ("UID EXPUNGE 1", "t NO [READ-ONLY] mailbox is read-only"),
        ("CHECK", "t OK check done"),
        ("UID SEARCH ALL", "t OK search done"),
        ("UID COPY 1 Archive", "t OK [COPYUID V 1 1] copy done"),
        ("STATUS INBOX (MESSAGES)", "t OK status done"),
        ("CLOSE", "t OK close done"),
        ("SEARCH ALL", "t BAD no mailbox selected"),
        ("SELECT INBOX", "t OK [READ-WRITE] select done"),
        ("STORE 1 +FLAGS.SILENT (\\Deleted)", "t OK store done"),
        ("UNSELECT", "t OK unselect done"),
        ("STATUS INBOX (MESSAGES)", "t OK status done"),
    ] {
        let lines = client.command("t", command).await;
        let last = lines.last().unwrap();
        let last = match last.split_once("[COPYUID ") {
            // The UIDVALIDITY is the store's; the rest is pinned.
            Some((head, tail)) => match tail.split_once(' ') {
                Some((_, rest)) => format!("{head}[COPYUID V {rest}"),
                None => last.clone(),
            },
            None => last.clone(),
        };
        assert_eq!(last, answer, "{command}: {lines:?}");
    }
    // The message is still there, flagged, after UNSELECT (which does not expunge).
    let lines = client.command("t", "STATUS INBOX (MESSAGES)").await;
    assert_eq!(lines[0], "* STATUS \"INBOX\" (MESSAGES 1)", "{lines:?}");
}

/// One session in IDLE hears another session's APPEND, STORE and EXPUNGE at once;
/// outside IDLE the changes come before the next tagged reply, and no EXPUNGE is sent
/// during FETCH by sequence number.
#[tokio::test]
async fn idle_and_other_sessions() {
    let server = Server::start().await;
    let lines = run(&server, include_str!("python/idle.py"));
    check(
        &lines,
        &[
            ("watch-enable", "* ENABLED CONDSTORE"),
            ("watch-select", "t OK [READ-WRITE] select done"),
            ("idle-continue", "+ idling"),
            ("idle-exists", "* 1 EXISTS"),
            ("idle-exists-fast", "True"),
            (
                "idle-flags",
                "* 1 FETCH (UID 1 FLAGS (\\Seen \\Deleted) MODSEQ (n))",
            ),
            ("idle-expunge", "* 1 EXPUNGE"),
            ("idle-done", "i1 OK idle done"),
            ("noop", "[* 2 EXISTS, t OK noop done]"),
            (
                "fetch-during-expunge",
                "[* 1 FETCH (UID 2 MODSEQ (n)), * 2 FETCH (UID 3 MODSEQ (n)), t OK fetch done]",
            ),
            ("noop-after", "[* 1 EXPUNGE, t OK noop done]"),
            (
                "fetch-after",
                "[* 1 FETCH (UID 3 MODSEQ (7)), t OK fetch done]",
            ),
            ("logout", "[* BYE thanks, t OK logout done]"),
            (
                "self-append",
                "[* 2 EXISTS, a1 OK [APPENDUID V 4] append done]",
            ),
            (
                "deleted-under",
                "[* BYE selected mailbox was deleted, closing, (closed)]",
            ),
        ],
    );
}

/// A message another session expunged stays readable for a session that still shows
/// it (FETCH by sequence number before that session hears of the expunge returns the
/// body); its file is erased once every session has processed the expunge (at once for
/// a session in IDLE), or when the last session that has not ends (mox §12.2
/// "Expunge").
#[tokio::test]
async fn expunged_files_wait_for_every_session() {
    let server = Server::start().await;
    let root = server.store_root();
    let lines = run_with(
        &server,
        include_str!("python/expunge_pins.py"),
        &[root.to_str().unwrap()],
    );
    check(
        &lines,
        &[
            ("files-start", "2"),
            ("a-select", "t OK [READ-WRITE] select done"),
            ("b-expunge", "[OK, [1]]"),
            ("files-after-expunge", "2"),
            ("a-fetch", "2 True True t OK fetch done"),
            ("a-noop", "[* 1 EXPUNGE, t OK noop done]"),
            ("files-after-noop", "1"),
            ("c-select", "t OK [READ-WRITE] select done"),
            ("b-expunge-2", "[OK, [1]]"),
            ("a-noop-2", "[* 1 EXPUNGE, t OK noop done]"),
            ("files-held", "1"),
            ("c-logout", "t OK logout done"),
            ("files-after-logout", "0"),
            ("d-idle-exists", "* 1 EXISTS"),
            ("files-appended", "1"),
            ("d-idle-expunge", "* 1 EXPUNGE"),
            ("files-after-idle", "0"),
        ],
    );
}

/// CONDSTORE and QRESYNC: HIGHESTMODSEQ, SELECT with QRESYNC (VANISHED (EARLIER) and
/// changed flags), CHANGEDSINCE with VANISHED, UNCHANGEDSINCE giving MODIFIED, SEARCH
/// MODSEQ, EXPUNGE as VANISHED; IMAP4rev2's ESEARCH answer to SEARCH.
#[tokio::test]
async fn condstore_and_qresync() {
    let server = Server::start().await;
    let lines = run(&server, include_str!("python/condstore.py"));
    check(
        &lines,
        &[
            ("enable", "[* ENABLED QRESYNC, t OK enable done]"),
            ("select-has-highestmodseq", "True"),
            ("c-enable", "OK [enable done]"),
            ("c-highestmodseq", "True"),
            ("c-fetch-modseq", "OK 1 (MODSEQ (n))"),
            (
                "qresync-select",
                "[* VANISHED (EARLIER) 4:5, * 2 FETCH (UID 2 FLAGS (\\Flagged) MODSEQ (n)), t OK [READ-WRITE] select done]",
            ),
            ("qresync-select-bad-uidvalidity", "[]"),
            (
                "changedsince",
                "[* VANISHED (EARLIER) 4:5, * 2 FETCH (UID 2 FLAGS (\\Flagged) MODSEQ (n)), t OK fetch done]",
            ),
            (
                "unchangedsince",
                "[* 1 FETCH (UID 1 FLAGS (\\Answered) MODSEQ (n)), * 3 FETCH (UID 3 FLAGS (\\Answered) MODSEQ (n)), t OK [MODIFIED 2] conditional store failed for some messages]",
            ),
            (
                "unchangedsince-seq",
                "[t OK [MODIFIED 1:2] conditional store failed for some messages]",
            ),
            (
                "search-modseq",
                "[* SEARCH 1 2 3 (MODSEQ 11), t OK search done]",
            ),
            ("status", "* STATUS \"INBOX\" (HIGHESTMODSEQ n MESSAGES 3)"),
            (
                "expunge-vanished",
                "[* VANISHED 1, t OK [HIGHESTMODSEQ 13] expunge done]",
            ),
            ("rev2-enable", "[* ENABLED IMAP4rev2, t OK enable done]"),
            ("rev2-select", "[* 2 EXISTS]"),
            (
                "rev2-search",
                "[* ESEARCH (TAG \"s1\") ALL 1:2, s1 OK search done]",
            ),
            (
                "rev2-uid-search",
                "[* ESEARCH (TAG \"s2\") UID COUNT 2, s2 OK search done]",
            ),
            ("rev2-select-again", "* OK [CLOSED] previous mailbox closed"),
        ],
    );
}

/// curl fetches a message over imaps byte for byte.
#[tokio::test]
async fn curl_fetches_a_message() {
    let server = Server::start().await;
    let mut message =
        b"From: alice@example.org\r\nTo: bob@example.org\r\nSubject: curl\r\n\r\n".to_vec();
    for i in 0..2000 {
        message.extend_from_slice(format!("line {i} of a message fetched by curl\r\n").as_bytes());
    }
    let path = server.dir.path().join("message.eml");
    std::fs::write(&path, &message).unwrap();
    let source = format!("{PRELUDE}\n{}", include_str!("python/curl_setup.py"));
    let out = python(
        &source,
        &[
            &server.imaps.port().to_string(),
            server.cert_path().to_str().unwrap(),
            ADDRESS,
            PASSWORD,
            path.to_str().unwrap(),
        ],
    );
    assert!(out.contains("append OK"), "{out}");
    let output = std::process::Command::new("curl")
        .arg("-sS")
        .arg("-k")
        .arg("--user")
        .arg(format!("{ADDRESS}:{PASSWORD}"))
        .arg(format!(
            "imaps://127.0.0.1:{}/INBOX;UID=1",
            server.imaps.port()
        ))
        .output()
        .expect("curl");
    assert!(
        output.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.stdout.len(), message.len());
    assert!(output.stdout == message, "curl's copy differs");
}
