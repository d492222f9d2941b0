//! IMAP4rev1 conformance against the real postern-imapd (with a real authd): the exact
//! lines clients rely on for ID limits, mailbox names that are not modified UTF-7,
//! CONDSTORE enabling, ENVELOPE addresses and SEARCH on address fields. Each test
//! speaks raw IMAP over TLS and compares whole responses.

mod common;

use common::{Client, Server};
use tokio::io::{AsyncRead, AsyncWrite};

/// The response lines of `command` (literals inline, CRLF kept inside them, without
/// the final CRLF of each response).
async fn lines<S: AsyncRead + AsyncWrite + Unpin>(
    client: &mut Client<S>,
    tag: &str,
    command: &str,
) -> Vec<String> {
    client
        .command_raw(tag, command)
        .await
        .into_iter()
        .map(|r| {
            String::from_utf8_lossy(&r)
                .trim_end_matches("\r\n")
                .to_owned()
        })
        .collect()
}

/// Message text with CRLF line ends.
fn crlf(text: &str) -> Vec<u8> {
    text.replace('\n', "\r\n").into_bytes()
}

/// Appends `message` to INBOX and asserts the tagged OK.
async fn append<S: AsyncRead + AsyncWrite + Unpin>(
    client: &mut Client<S>,
    tag: &str,
    message: &[u8],
) {
    let reply = client.append(tag, "INBOX", "", message).await;
    assert!(reply.starts_with(&format!("{tag} OK ")), "{reply}");
}

/// ID (RFC 2971 §3.3): a field over 30 octets, a value over 1024 octets, more than 30
/// pairs and a duplicate field are BAD, and the session goes on; before and after
/// login.
#[tokio::test]
async fn id_with_over_long_fields_is_bad_and_keeps_the_session() {
    let server = Server::start().await;
    let mut client = server.connect_tls(None).await;
    let greeting = client.line().await;
    assert!(greeting.starts_with("* OK "), "{greeting}");
    let long_field = "f".repeat(31);
    let long_value = "v".repeat(1025);
    let many: Vec<String> = (0..31).map(|i| format!("\"k{i}\" \"v\"")).collect();
    assert_eq!(
        lines(&mut client, "i1", &format!("ID (\"{long_field}\" \"x\")")).await,
        ["i1 BAD ID field name too long"]
    );
    assert_eq!(
        lines(
            &mut client,
            "i2",
            &format!("ID (\"name\" \"{long_value}\")")
        )
        .await,
        ["i2 BAD ID value too long"]
    );
    // As a literal too.
    assert_eq!(
        lines(
            &mut client,
            "i3",
            &format!("ID (\"name\" {{1025+}}\r\n{long_value})")
        )
        .await,
        ["i3 BAD ID value too long"]
    );
    assert_eq!(
        lines(&mut client, "i4", &format!("ID ({})", many.join(" "))).await,
        ["i4 BAD too many ID fields"]
    );
    assert_eq!(
        lines(&mut client, "i5", "ID (\"name\" \"a\" \"NAME\" \"b\")").await,
        ["i5 BAD duplicate ID field NAME"]
    );
    // At the limits exactly it is answered.
    let at_limit = format!("ID (\"{}\" \"{}\")", "f".repeat(30), "v".repeat(1024));
    assert_eq!(
        lines(&mut client, "i6", &at_limit).await,
        ["* ID (\"name\" \"postern\")", "i6 OK id done"]
    );
    let login = lines(
        &mut client,
        "l",
        &format!("LOGIN {} \"{}\"", common::ADDRESS, common::PASSWORD),
    )
    .await;
    assert!(login[0].starts_with("l OK "), "{login:?}");
    assert_eq!(
        lines(
            &mut client,
            "i7",
            &format!("ID (\"name\" \"{long_value}\")")
        )
        .await,
        ["i7 BAD ID value too long"]
    );
    assert_eq!(lines(&mut client, "n", "NOOP").await, ["n OK noop done"]);
}

/// A mailbox name that is not valid modified UTF-7 is `NO [CANNOT]` (not BAD) for every
/// command that takes a name; a LIST pattern of any atom characters is answered
/// (taken as it is when it is not modified UTF-7) and the session goes on.
#[tokio::test]
async fn invalid_modified_utf7_is_no_and_atom_patterns_keep_the_session() {
    let server = Server::start().await;
    let mut client = server.login_tls().await;
    let no = "NO [CANNOT] invalid modified UTF-7 mailbox name";
    for (tag, command) in [
        ("c1", "CREATE \"&Jjo\""),
        ("c2", "CREATE a&b"),
        ("c3", "SELECT \"&Jjo!\""),
        ("c4", "STATUS \"&AGE\" (MESSAGES)"),
        ("c5", "RENAME INBOX \"x&\""),
        ("c6", "SUBSCRIBE \"&-&\""),
    ] {
        assert_eq!(
            lines(&mut client, tag, command).await,
            [format!("{tag} {no}")]
        );
    }
    // The name made of every atom character (with `&` written as `&-`) works.
    let atoms = "!#$&-'+,-.0123456789:;<=>?@^_`|[}";
    assert_eq!(
        lines(&mut client, "a1", &format!("CREATE \"{atoms}\"")).await,
        ["a1 OK create done"]
    );
    assert_eq!(
        lines(&mut client, "a2", &format!("LIST \"\" {atoms}")).await,
        [
            format!("* LIST (\\HasNoChildren) \"/\" \"{atoms}\""),
            "a2 OK list done".to_owned()
        ]
    );
    // With a bare `&` the pattern is not modified UTF-7: it is taken as it is, so it
    // matches the name whose `&` was written `&-`, and the session is still there.
    for (tag, pattern) in [
        ("a3", "!#$&'+,-.0123456789:;<=>?@^_`|[}"),
        ("a4", "\"!#$&'+,-.0123456789:;<=>?@^_`|[}\""),
    ] {
        assert_eq!(
            lines(&mut client, tag, &format!("LIST \"\" {pattern}")).await,
            [
                format!("* LIST (\\HasNoChildren) \"/\" \"{atoms}\""),
                format!("{tag} OK list done")
            ]
        );
    }
    assert_eq!(
        lines(&mut client, "a5", "LIST \"\" &Jjo*").await,
        ["a5 OK list done"]
    );
    assert_eq!(
        lines(&mut client, "a6", "LSUB \"\" \"&Jjo\"").await,
        ["a6 OK lsub done"]
    );
    assert_eq!(lines(&mut client, "n", "NOOP").await, ["n OK noop done"]);
}

/// RFC 7162 §3.1: the first CONDSTORE-enabling command issued with a mailbox selected
/// (FETCH MODSEQ, SEARCH MODSEQ, STORE UNCHANGEDSINCE, STATUS HIGHESTMODSEQ, ENABLE)
/// is answered with `* OK [HIGHESTMODSEQ n]` once; later ones are not.
#[tokio::test]
async fn first_condstore_enabling_command_announces_highestmodseq() {
    let server = Server::start().await;
    let mut client = server.login_tls().await;
    append(&mut client, "a", &crlf("Subject: one\n\nbody\n")).await;
    let select = lines(&mut client, "s", "SELECT INBOX").await;
    let highest = select
        .iter()
        .find_map(|l| l.strip_prefix("* OK [HIGHESTMODSEQ "))
        .and_then(|l| l.split(']').next())
        .expect("HIGHESTMODSEQ in SELECT")
        .to_owned();
    assert_eq!(
        lines(&mut client, "f1", "FETCH 1 (MODSEQ)").await,
        [
            format!("* OK [HIGHESTMODSEQ {highest}] highest modseq"),
            format!("* 1 FETCH (MODSEQ ({highest}))"),
            "f1 OK fetch done".to_owned()
        ]
    );
    assert_eq!(
        lines(&mut client, "f2", "FETCH 1 (MODSEQ)").await,
        [
            format!("* 1 FETCH (MODSEQ ({highest}))"),
            "f2 OK fetch done".to_owned()
        ]
    );

    // Each other enabling command, in a fresh session.
    for (command, answer) in [
        ("SEARCH MODSEQ 1", format!("* SEARCH 1 (MODSEQ {highest})")),
        (
            "STATUS INBOX (HIGHESTMODSEQ)",
            format!("* STATUS \"INBOX\" (HIGHESTMODSEQ {highest})"),
        ),
        ("ENABLE CONDSTORE", "* ENABLED CONDSTORE".to_owned()),
    ] {
        let mut client = server.login_tls().await;
        lines(&mut client, "s", "SELECT INBOX").await;
        let got = lines(&mut client, "e", command).await;
        assert_eq!(
            got,
            [
                format!("* OK [HIGHESTMODSEQ {highest}] highest modseq"),
                answer,
                got.last().cloned().unwrap_or_default()
            ],
            "{command}"
        );
        assert!(got[2].starts_with("e OK "), "{got:?}");
    }
    // Not selected: nothing to announce.
    let mut client = server.login_tls().await;
    assert_eq!(
        lines(&mut client, "e", "ENABLE CONDSTORE").await,
        ["* ENABLED CONDSTORE", "e OK enable done"]
    );
    // STORE UNCHANGEDSINCE.
    let mut client = server.login_tls().await;
    lines(&mut client, "s", "SELECT INBOX").await;
    let got = lines(
        &mut client,
        "u",
        &format!("STORE 1 (UNCHANGEDSINCE {highest}) +FLAGS.SILENT (\\Seen)"),
    )
    .await;
    assert_eq!(
        got.first().map(String::as_str),
        Some(format!("* OK [HIGHESTMODSEQ {highest}] highest modseq").as_str()),
        "{got:?}"
    );
    assert!(got.last().unwrap().starts_with("u OK "), "{got:?}");
}

/// ENVELOPE: an address without a phrase takes its display name from its RFC 822
/// comment; groups are `(NIL NIL "name" NIL)` … `(NIL NIL NIL NIL)` (RFC 3501 §7.4.2),
/// empty groups too.
#[tokio::test]
async fn envelope_names_from_comments_and_groups() {
    let server = Server::start().await;
    let mut client = server.login_tls().await;
    let message = crlf(
        "From: joe@example.com (Joe Q. Public)\n\
         Sender: \"Real\" <real@example.com> (ignored comment)\n\
         Reply-To: (first) box@example.com (Nested (inner) \\) name)\n\
         To: A Group:ed@example.com, \"Mary\" <mary@x.test>;, plain@x.test\n\
         Cc: undisclosed-recipients:;\n\
         Subject: envelope\n\
         \n\
         body\n",
    );
    append(&mut client, "a", &message).await;
    lines(&mut client, "s", "EXAMINE INBOX").await;
    assert_eq!(
        lines(&mut client, "f", "FETCH 1 (ENVELOPE)").await,
        [
            "* 1 FETCH (ENVELOPE (NIL \"envelope\" \
             ((\"Joe Q. Public\" NIL \"joe\" \"example.com\")) \
             ((\"Real\" NIL \"real\" \"example.com\")) \
             ((\"Nested (inner) ) name\" NIL \"box\" \"example.com\")) \
             ((NIL NIL \"A Group\" NIL)(NIL NIL \"ed\" \"example.com\")(\"Mary\" NIL \"mary\" \"x.test\")(NIL NIL NIL NIL)(NIL NIL \"plain\" \"x.test\")) \
             ((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) \
             NIL NIL NIL))",
            "f OK fetch done"
        ]
    );
}

/// SEARCH FROM/TO/CC/BCC: substrings of the decoded field, of each address written as
/// `Name <local@domain>` (names from phrases, quoted strings, comments and encoded
/// words) and of group names.
#[tokio::test]
async fn search_address_fields_by_name_and_address() {
    let server = Server::start().await;
    let mut client = server.login_tls().await;
    append(
        &mut client,
        "a1",
        &crlf(
            "From: \"Joe Q. Public\" <joe@example.com>\n\
             To: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <jm@example.com>, bob@x.test (Bob\n\
             \tJones)\n\
             Cc: \"=?ISO-8859-1?Q?Andr=E9?= Pirard\" <PIRARD@vm1.ulg.ac.be>\n\
             Bcc: Team: ann@x.test;\n\
             Subject: one\n\
             \n\
             body\n",
        ),
    )
    .await;
    append(
        &mut client,
        "a2",
        &crlf("From: other@example.net\nTo: nobody@example.net\nSubject: two\n\nbody\n"),
    )
    .await;
    lines(&mut client, "s", "EXAMINE INBOX").await;
    for (n, (key, want)) in [
        ("FROM joe@example.com", "1"),
        ("FROM \"Joe Q. Public\"", "1"),
        ("FROM \"Joe Q. Public <joe@example.com>\"", "1"),
        ("FROM \"public <JOE@\"", "1"),
        ("FROM example", "1 2"),
        ("TO \"Jürgen Müller\"", "1"),
        ("TO \"müller <jm@\"", "1"),
        ("TO \"Bob Jones\"", "1"),
        ("TO \"Bob Jones <bob@x.test>\"", "1"),
        ("TO nobody", "2"),
        ("CC \"André Pirard\"", "1"),
        ("CC \"andré pirard <pirard@vm1\"", "1"),
        ("BCC Team", "1"),
        ("BCC ann@x.test", "1"),
        ("FROM \"\"", "1 2"),
        ("BCC \"\"", "1"),
        ("FROM nomatch", ""),
    ]
    .into_iter()
    .enumerate()
    {
        let tag = format!("q{n}");
        let expected = if want.is_empty() {
            "* SEARCH".to_owned()
        } else {
            format!("* SEARCH {want}")
        };
        assert_eq!(
            lines(&mut client, &tag, &format!("SEARCH CHARSET UTF-8 {key}")).await,
            [expected, format!("{tag} OK search done")],
            "{key}"
        );
    }
}

/// BINARY partial fetches name their origin (`BINARY[1]<0>`), offsets into the decoded
/// data; data with CR, LF or NUL is a literal (NUL: literal8).
#[tokio::test]
async fn binary_partials_name_their_origin() {
    let server = Server::start().await;
    let mut client = server.login_tls().await;
    let message = crlf(
        "Subject: binary\n\
         MIME-Version: 1.0\n\
         Content-Type: multipart/mixed; boundary=b\n\
         \n\
         --b\n\
         Content-Type: text/plain\n\
         Content-Transfer-Encoding: base64\n\
         \n\
         aGVsbG8KdGhlcmUK\n\
         --b\n\
         Content-Type: application/octet-stream\n\
         Content-Transfer-Encoding: base64\n\
         \n\
         AAECAw==\n\
         --b--\n",
    );
    append(&mut client, "a", &message).await;
    lines(&mut client, "s", "EXAMINE INBOX").await;
    assert_eq!(
        lines(
            &mut client,
            "f1",
            "FETCH 1 (BINARY.PEEK[1]<0.7> BINARY.PEEK[1]<6.100> BINARY.PEEK[2]<1.2> BINARY.PEEK[1]<100.5>)"
        )
        .await,
        [
            "* 1 FETCH (BINARY[1]<0> {7}\r\nhello\nt BINARY[1]<6> {6}\r\nthere\n BINARY[2]<1> {2}\r\n\u{1}\u{2} BINARY[1]<100> {0}\r\n)",
            "f1 OK fetch done"
        ]
    );
    // Without a partial there is no origin.
    assert_eq!(
        lines(&mut client, "f2", "FETCH 1 (BINARY.PEEK[2] BINARY.SIZE[2])").await,
        [
            "* 1 FETCH (BINARY[2] ~{4}\r\n\u{0}\u{1}\u{2}\u{3} BINARY.SIZE[2] 4)",
            "f2 OK fetch done"
        ]
    );
}

/// A keyword that comes into use in the selected mailbox is announced with a new
/// untagged FLAGS and PERMANENTFLAGS before the FETCH that shows it (RFC 3501 §7.2.6),
/// in the session that set it and in every other session with the mailbox selected
/// (read-only ones get empty PERMANENTFLAGS); a keyword already announced is not
/// announced again.
#[tokio::test]
async fn new_keywords_are_announced_before_fetch_in_every_session() {
    let server = Server::start().await;
    let mut a = server.login_tls().await;
    append(&mut a, "a1", &crlf("Subject: one\n\nbody\n")).await;
    let mut b = server.login_tls().await;
    let mut c = server.login_tls().await;
    lines(&mut a, "s", "SELECT INBOX").await;
    lines(&mut b, "s", "SELECT INBOX").await;
    lines(&mut c, "s", "EXAMINE INBOX").await;
    let system = "\\Answered \\Flagged \\Deleted \\Seen \\Draft";
    assert_eq!(
        lines(&mut a, "t1", "STORE 1 +FLAGS (Project)").await,
        [
            format!("* FLAGS ({system} project)"),
            format!("* OK [PERMANENTFLAGS ({system} project \\*)] flags"),
            "* 1 FETCH (FLAGS (project))".to_owned(),
            "t1 OK store done".to_owned()
        ]
    );
    assert_eq!(
        lines(&mut b, "n1", "NOOP").await,
        [
            format!("* FLAGS ({system} project)"),
            format!("* OK [PERMANENTFLAGS ({system} project \\*)] flags"),
            "* 1 FETCH (UID 1 FLAGS (project))".to_owned(),
            "n1 OK noop done".to_owned()
        ]
    );
    assert_eq!(
        lines(&mut c, "n1", "NOOP").await,
        [
            format!("* FLAGS ({system} project)"),
            "* OK [PERMANENTFLAGS ()] flags".to_owned(),
            "* 1 FETCH (UID 1 FLAGS (project))".to_owned(),
            "n1 OK noop done".to_owned()
        ]
    );
    // Known keyword: no new FLAGS.
    lines(&mut a, "t2", "STORE 1 -FLAGS (Project)").await;
    assert_eq!(
        lines(&mut a, "t3", "STORE 1 +FLAGS.SILENT (project)").await,
        ["t3 OK store done"]
    );
    assert_eq!(
        lines(&mut b, "n2", "NOOP").await,
        ["* 1 FETCH (UID 1 FLAGS (project))", "n2 OK noop done"]
    );
    // A new message with a new keyword, appended by another session: FLAGS before
    // EXISTS and before the FETCH that shows it.
    let mut d = server.login_tls().await;
    let reply = d
        .append("a2", "INBOX", "$Label1", &crlf("Subject: two\n\nbody\n"))
        .await;
    assert!(reply.starts_with("a2 OK "), "{reply}");
    assert_eq!(
        lines(&mut b, "f", "FETCH 2 (FLAGS)").await,
        [
            format!("* FLAGS ({system} project $label1)"),
            format!("* OK [PERMANENTFLAGS ({system} project $label1 \\*)] flags"),
            "* 2 EXISTS".to_owned(),
            "* 2 FETCH (FLAGS ($label1))".to_owned(),
            "f OK fetch done".to_owned()
        ]
    );
}

/// LSUB lists a level above a subscribed name as `\Noselect` when the pattern matches
/// the level but not the name (RFC 3501 §6.3.9); LIST (SUBSCRIBED RECURSIVEMATCH)
/// lists the levels above subscribed names that the pattern does not reach, existing or
/// not, with CHILDINFO, and no CHILDINFO where every subscribed descendant is listed
/// itself (RFC 5258 §3.5).
#[tokio::test]
async fn lsub_parents_and_list_recursivematch_childinfo() {
    let server = Server::start().await;
    let mut c = server.login_tls().await;
    for (tag, command) in [
        ("c1", "CREATE Fruit/Apple"),
        ("c2", "SUBSCRIBE Fruit/Apple"),
        ("c3", "SUBSCRIBE Gone/Deep/Box"),
        ("c4", "CREATE Veg/Leek"),
        ("c5", "SUBSCRIBE Veg"),
        ("c6", "SUBSCRIBE Veg/Leek"),
    ] {
        let got = lines(&mut c, tag, command).await;
        assert!(got[0].starts_with(&format!("{tag} OK")), "{got:?}");
    }
    let cases: [(&str, &[&str]); 6] = [
        (
            "LSUB \"\" %",
            &[
                r#"* LSUB () "/" "Archive""#,
                r#"* LSUB () "/" "Drafts""#,
                r#"* LSUB (\Noselect) "/" "Fruit""#,
                r#"* LSUB (\Noselect) "/" "Gone""#,
                r#"* LSUB () "/" "INBOX""#,
                r#"* LSUB () "/" "Junk""#,
                r#"* LSUB () "/" "Sent""#,
                r#"* LSUB () "/" "Trash""#,
                r#"* LSUB () "/" "Veg""#,
                r#"l1 OK lsub done"#,
            ],
        ),
        (
            "LSUB \"\" *",
            &[
                r#"* LSUB () "/" "Archive""#,
                r#"* LSUB () "/" "Drafts""#,
                r#"* LSUB () "/" "Fruit/Apple""#,
                r#"* LSUB (\Noselect) "/" "Gone/Deep/Box""#,
                r#"* LSUB () "/" "INBOX""#,
                r#"* LSUB () "/" "Junk""#,
                r#"* LSUB () "/" "Sent""#,
                r#"* LSUB () "/" "Trash""#,
                r#"* LSUB () "/" "Veg""#,
                r#"* LSUB () "/" "Veg/Leek""#,
                r#"l2 OK lsub done"#,
            ],
        ),
        (
            "LSUB \"\" Gone/%",
            &[
                r#"* LSUB (\Noselect) "/" "Gone/Deep""#,
                r#"l3 OK lsub done"#,
            ],
        ),
        (
            "LIST (SUBSCRIBED RECURSIVEMATCH) \"\" %",
            &[
                r#"* LIST (\HasNoChildren \Subscribed) "/" "INBOX""#,
                r#"* LIST (\HasNoChildren \Subscribed \Archive) "/" "Archive""#,
                r#"* LIST (\HasNoChildren \Subscribed \Drafts) "/" "Drafts""#,
                r#"* LIST (\HasChildren) "/" "Fruit" ("CHILDINFO" ("SUBSCRIBED"))"#,
                r#"* LIST (\NonExistent) "/" "Gone" ("CHILDINFO" ("SUBSCRIBED"))"#,
                r#"* LIST (\HasNoChildren \Subscribed \Junk) "/" "Junk""#,
                r#"* LIST (\HasNoChildren \Subscribed \Sent) "/" "Sent""#,
                r#"* LIST (\HasNoChildren \Subscribed \Trash) "/" "Trash""#,
                r#"* LIST (\HasChildren \Subscribed) "/" "Veg" ("CHILDINFO" ("SUBSCRIBED"))"#,
                r#"l4 OK list done"#,
            ],
        ),
        (
            "LIST (SUBSCRIBED RECURSIVEMATCH) \"\" *",
            &[
                r#"* LIST (\HasNoChildren \Subscribed) "/" "INBOX""#,
                r#"* LIST (\HasNoChildren \Subscribed \Archive) "/" "Archive""#,
                r#"* LIST (\HasNoChildren \Subscribed \Drafts) "/" "Drafts""#,
                r#"* LIST (\HasNoChildren \Subscribed) "/" "Fruit/Apple""#,
                r#"* LIST (\NonExistent \Subscribed) "/" "Gone/Deep/Box""#,
                r#"* LIST (\HasNoChildren \Subscribed \Junk) "/" "Junk""#,
                r#"* LIST (\HasNoChildren \Subscribed \Sent) "/" "Sent""#,
                r#"* LIST (\HasNoChildren \Subscribed \Trash) "/" "Trash""#,
                r#"* LIST (\HasChildren \Subscribed) "/" "Veg""#,
                r#"* LIST (\HasNoChildren \Subscribed) "/" "Veg/Leek""#,
                r#"l5 OK list done"#,
            ],
        ),
        (
            "LIST (SUBSCRIBED RECURSIVEMATCH) \"\" Gone/%",
            &[
                r#"* LIST (\NonExistent) "/" "Gone/Deep" ("CHILDINFO" ("SUBSCRIBED"))"#,
                r#"l6 OK list done"#,
            ],
        ),
    ];
    for (n, (command, want)) in cases.into_iter().enumerate() {
        let tag = format!("l{}", n + 1);
        assert_eq!(lines(&mut c, &tag, command).await, want, "{command}");
    }
}
