//! MIME sections against the real postern-imapd: `message/rfc822` parts (also the
//! default type inside `multipart/digest`) addressed as whole messages and by their
//! HEADER, TEXT, MIME and nested parts, with BODYSTRUCTURE agreeing (RFC 3501 §6.4.5,
//! §7.4.2; RFC 2046 §5.1.5).

mod common;

use common::{Client, Server};
use tokio::io::{AsyncRead, AsyncWrite};

/// The responses of `command`, literals inline, without each final CRLF.
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

fn crlf(text: &str) -> Vec<u8> {
    text.replace('\n', "\r\n").into_bytes()
}

const NESTED: &str = "From: c@example.org
Subject: forward of a forward
MIME-Version: 1.0
Content-Type: message/rfc822

From: d@example.org
Subject: middle
Content-Type: message/rfc822

From: e@example.org
Subject: inner

inner body
";

const DIGEST: &str = "From: list@example.org
Subject: digest
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=outer

--outer
Content-Type: text/plain

intro
--outer
Content-Type: multipart/digest; boundary=dig

--dig

From: a@example.org
Subject: first

first body
--dig
Content-Type: message/rfc822

From: b@example.org
Subject: second
Content-Type: multipart/alternative; boundary=alt

--alt
Content-Type: text/plain

plain
--alt
Content-Type: text/html

<p>html</p>
--alt--
--dig--
--outer--
";

/// Message text as it is on the wire: CRLF line ends.
fn wire(text: &str) -> String {
    text.replace('\n', "\r\n")
}

/// A `multipart/digest` whose first part has no Content-Type (so it is
/// `message/rfc822`) and a message whose body is a `message/rfc822` holding another:
/// `BODY[N]` is the whole encapsulated message, `N.HEADER`/`N.TEXT` its header and
/// body, `N.MIME` the part's own header, `N.1` the encapsulated message's body (its
/// first part when multipart), nothing below a single part; BODYSTRUCTURE describes
/// the same parts (sizes of the same bytes).
#[tokio::test]
async fn message_rfc822_parts_and_digest_defaults() {
    let server = Server::start().await;
    let mut client = server.login_tls().await;
    for (tag, message) in [("a", DIGEST), ("b", NESTED)] {
        let reply = client.append(tag, "INBOX", "", &crlf(message)).await;
        assert!(reply.starts_with(&format!("{tag} OK")), "{reply}");
    }
    lines(&mut client, "s", "EXAMINE INBOX").await;
    let expected: [&[&str]; 5] = [
        &[
            r#"* 1 FETCH (BODYSTRUCTURE (("TEXT" "PLAIN" NIL NIL NIL "7BIT" 5 1 NIL NIL NIL NIL)(("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 49 (NIL "first" ((NIL NIL "a" "example.org")) ((NIL NIL "a" "example.org")) ((NIL NIL "a" "example.org")) NIL NIL NIL NIL NIL) ("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 10 1 NIL NIL NIL NIL) 4 NIL NIL NIL NIL)("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 187 (NIL "second" ((NIL NIL "b" "example.org")) ((NIL NIL "b" "example.org")) ((NIL NIL "b" "example.org")) NIL NIL NIL NIL NIL) (("TEXT" "PLAIN" NIL NIL NIL "7BIT" 5 1 NIL NIL NIL NIL)("TEXT" "HTML" NIL NIL NIL "7BIT" 11 1 NIL NIL NIL NIL) "ALTERNATIVE" ("BOUNDARY" "alt") NIL NIL NIL) 13 NIL NIL NIL NIL) "DIGEST" ("BOUNDARY" "dig") NIL NIL NIL) "MIXED" ("BOUNDARY" "outer") NIL NIL NIL))"#,
            r#"f1 OK fetch done"#,
        ],
        &[
            r#"* 1 FETCH (BODY[2.1] {49}
From: a@example.org
Subject: first

first body BODY[2.1.HEADER] {39}
From: a@example.org
Subject: first

 BODY[2.1.TEXT] {10}
first body BODY[2.1.MIME] {2}

 BODY[2.1.1] {10}
first body)"#,
            r#"f2 OK fetch done"#,
        ],
        &[
            r#"* 1 FETCH (BODY[2.2] {187}
From: b@example.org
Subject: second
Content-Type: multipart/alternative; boundary=alt

--alt
Content-Type: text/plain

plain
--alt
Content-Type: text/html

<p>html</p>
--alt-- BODY[2.2.HEADER] {91}
From: b@example.org
Subject: second
Content-Type: multipart/alternative; boundary=alt

 BODY[2.2.TEXT] {96}
--alt
Content-Type: text/plain

plain
--alt
Content-Type: text/html

<p>html</p>
--alt-- BODY[2.2.MIME] {32}
Content-Type: message/rfc822

 BODY[2.2.1] {5}
plain BODY[2.2.2.MIME] {27}
Content-Type: text/html

 BODY[2.2.2] {11}
<p>html</p> BODY[2.2.1.1] {0}
)"#,
            r#"f3 OK fetch done"#,
        ],
        &[
            r#"* 1 FETCH (BODY[2.2.HEADER.FIELDS ("SUBJECT")] {19}
Subject: second

 BINARY.SIZE[2.1] 49 BODY[2.1]<0> {6}
From: )"#,
            r#"f4 OK fetch done"#,
        ],
        &[
            r#"* 2 FETCH (BODYSTRUCTURE ("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 121 (NIL "middle" ((NIL NIL "d" "example.org")) ((NIL NIL "d" "example.org")) ((NIL NIL "d" "example.org")) NIL NIL NIL NIL NIL) ("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 51 (NIL "inner" ((NIL NIL "e" "example.org")) ((NIL NIL "e" "example.org")) ((NIL NIL "e" "example.org")) NIL NIL NIL NIL NIL) ("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 12 1 NIL NIL NIL NIL) 4 NIL NIL NIL NIL) 8 NIL NIL NIL NIL) BODY[1] {121}
From: d@example.org
Subject: middle
Content-Type: message/rfc822

From: e@example.org
Subject: inner

inner body
 BODY[1.HEADER] {70}
From: d@example.org
Subject: middle
Content-Type: message/rfc822

 BODY[1.TEXT] {51}
From: e@example.org
Subject: inner

inner body
 BODY[1.1] {51}
From: e@example.org
Subject: inner

inner body
 BODY[1.1.HEADER] {39}
From: e@example.org
Subject: inner

 BODY[1.1.MIME] {70}
From: d@example.org
Subject: middle
Content-Type: message/rfc822

 BODY[1.1.1] {12}
inner body
 BODY[1.1.1.1] {0}
)"#,
            r#"f5 OK fetch done"#,
        ],
    ];
    for ((tag, command), want) in [
        ("f1", "FETCH 1 (BODYSTRUCTURE)"),
        (
            "f2",
            "FETCH 1 (BODY.PEEK[2.1] BODY.PEEK[2.1.HEADER] BODY.PEEK[2.1.TEXT] BODY.PEEK[2.1.MIME] BODY.PEEK[2.1.1])",
        ),
        (
            "f3",
            "FETCH 1 (BODY.PEEK[2.2] BODY.PEEK[2.2.HEADER] BODY.PEEK[2.2.TEXT] BODY.PEEK[2.2.MIME] BODY.PEEK[2.2.1] BODY.PEEK[2.2.2.MIME] BODY.PEEK[2.2.2] BODY.PEEK[2.2.1.1])",
        ),
        (
            "f4",
            "FETCH 1 (BODY.PEEK[2.2.HEADER.FIELDS (SUBJECT)] BINARY.SIZE[2.1] BODY.PEEK[2.1]<0.6>)",
        ),
        (
            "f5",
            "FETCH 2 (BODYSTRUCTURE BODY.PEEK[1] BODY.PEEK[1.HEADER] BODY.PEEK[1.TEXT] BODY.PEEK[1.1] BODY.PEEK[1.1.HEADER] BODY.PEEK[1.1.MIME] BODY.PEEK[1.1.1] BODY.PEEK[1.1.1.1])",
        ),
    ]
    .into_iter()
    .zip(expected)
    {
        let want: Vec<String> = want.iter().map(|w| wire(w)).collect();
        assert_eq!(lines(&mut client, tag, command).await, want, "{command}");
    }
}
