use super::*;

#[test]
fn base_subject_follows_rfc_5256_section_2_1() {
    let cases: [(&str, &str, bool); 19] = [
        ("Hello", "Hello", false),
        ("Re: Hello", "Hello", true),
        ("RE: re: Fwd: hello", "hello", true),
        ("Re:Hello", "Hello", true),
        ("Re : Hello", "Hello", true),
        ("Re[2]: Hello", "Hello", true),
        ("Fwd[3]:x", "x", true),
        ("Fw: x (fwd)", "x", true),
        ("hello (fwd) (FWD)", "hello", true),
        ("[List] Re: topic", "topic", true),
        ("Re: [List] Re: topic", "topic", true),
        // A blob alone is removed only when something is left after it.
        ("[List] topic", "topic", false),
        ("[only blob]", "[only blob]", false),
        ("[a][b]", "[b]", false),
        ("[Fwd: Re: hello]", "hello", true),
        ("[fwd: [List] hello]", "hello", true),
        ("  Hello\t  World  ", "Hello World", false),
        ("Re:", "", true),
        ("Reply: yes", "Reply: yes", false),
    ];
    for (subject, base, reply) in cases {
        assert_eq!(
            base_subject(subject),
            (base.to_owned(), reply),
            "subject {subject:?}"
        );
    }
}

#[test]
fn sent_dates_are_utc_seconds_with_rfc_5256_fallbacks() {
    let new_year = days_from_civil(2001, 1, 1) * 86_400 + 93;
    // RFC 5256 §2.2's own example: the same instant in two zones.
    assert_eq!(
        parse_sent_date("Sun, 31 Dec 2000 16:01:33 -0800"),
        Some(new_year)
    );
    assert_eq!(parse_sent_date("1 Jan 2001 00:01:33 +0000"), Some(new_year));
    assert_eq!(parse_sent_date("31 Dec 00 16:01:33 PST"), Some(new_year));
    assert_eq!(
        parse_sent_date("Mon, 1 Jan 2001 00:01:33 +0000 (UTC)"),
        Some(new_year)
    );
    // An invalid zone is UTC, an invalid time midnight.
    let dec31 = days_from_civil(2000, 12, 31) * 86_400;
    assert_eq!(
        parse_sent_date("31 Dec 2000 16:01:33 +9999"),
        Some(dec31 + 16 * 3600 + 61 + 32)
    );
    assert_eq!(
        parse_sent_date("31 Dec 2000 25:01 +0100"),
        Some(dec31 - 3600)
    );
    assert_eq!(parse_sent_date("31 Dec 2000"), Some(dec31));
    for bad in [
        "",
        "garbage",
        "32 Dec 2000 10:00 +0000",
        "1 Foo 2000",
        "x, y z",
    ] {
        assert_eq!(parse_sent_date(bad), None, "{bad:?}");
    }
}

#[test]
fn msg_ids_are_normalised() {
    assert_eq!(
        msg_ids("<\"01KF8JCEOCBS0045PS\"@xxx.yyy.com>"),
        msg_ids("<01KF8JCEOCBS0045PS@xxx.yyy.com>")
    );
    assert_eq!(
        msg_ids("<a@b> (comment <x@y>) <c@d>  <e@f>"),
        ["a@b", "c@d", "e@f"]
    );
    assert_eq!(
        msg_ids("Your message of \"Mon <x@y>\" <id@host>"),
        ["id@host"]
    );
    assert_eq!(msg_ids("<a (c) @b>"), ["a@b"]);
    // No @, an empty side, two atoms, an unclosed one: not msg-ids.
    assert!(msg_ids("<nodomain> <@b> <a@> <a b@c> <a@b").is_empty());
    assert_eq!(msg_ids("<Case@Sensitive>"), ["Case@Sensitive"]);
}

fn summary(raw: &str) -> MessageSummary {
    MessageSummary::of(raw.as_bytes())
}

#[test]
fn keys_come_from_the_header() {
    let s = summary(
        "From: =?utf-8?q?J=C3=B6rg?= <joerg@example.org>, other@example.org\r\n\
         To: <Zed@example.com>\r\n\
         Cc: Team: a@example.net, b@example.net;\r\n\
         Subject: =?utf-8?q?Re=3A_Gr=C3=BC=C3=9Fe?=\r\n\
         Date: Sun, 31 Dec 2000 16:01:33 -0800\r\n\
         Message-ID: <m1@example.org>\r\n\
         References: <r1@example.org>\r\n <r2@example.org>\r\n\
         In-Reply-To: <r2@example.org>\r\n\
         \r\n\
         Hello   there,\r\n\r\nsecond line\r\n",
    );
    assert_eq!(s.base_subject, "Grüße");
    assert!(s.subject_is_reply);
    assert_eq!(s.sent_date, Some(days_from_civil(2001, 1, 1) * 86_400 + 93));
    assert_eq!(s.from, "joerg");
    assert_eq!(s.display_from, "Jörg");
    assert_eq!(s.to, "Zed");
    assert_eq!(s.display_to, "Zed@example.com");
    // The first address of a group is the group's name (RFC 3501 ENVELOPE).
    assert_eq!(s.cc, "Team");
    assert_eq!(s.message_id.as_deref(), Some("m1@example.org"));
    assert_eq!(s.references, ["r1@example.org", "r2@example.org"]);
    assert_eq!(s.in_reply_to.as_deref(), Some("r2@example.org"));
    assert_eq!(s.thread_references(), ["r1@example.org", "r2@example.org"]);
    assert_eq!(s.preview, "Hello there, second line");

    let bare = summary("X-Nothing: here\r\n\r\n");
    assert_eq!(
        bare,
        MessageSummary {
            ..MessageSummary::default()
        }
    );
    let reply_only = summary("In-Reply-To: junk <p@q> <r@s>\r\nReferences: junk\r\n\r\n");
    assert_eq!(reply_only.thread_references(), ["p@q"]);
}

#[test]
fn preview_is_the_first_text_part_decoded_and_folded() {
    let alternative = summary(
        "Content-Type: multipart/alternative; boundary=b\r\n\r\n\
         --b\r\nContent-Type: text/html\r\n\r\n<p>html version</p>\r\n\
         --b\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\
         Content-Transfer-Encoding: quoted-printable\r\n\r\nS=E9ance\r\n  plain\r\n\
         --b--\r\n",
    );
    assert_eq!(alternative.preview, "Séance plain");

    let html = summary(
        "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n\
         PGh0bWw+PGhlYWQ+PHRpdGxlPlQ8L3RpdGxlPjxzdHlsZT5we308L3N0eWxlPjwvaGVhZD48Ym9keT48\r\n\
         cD5IaSZuYnNwO3RoZXJlICZhbXA7IHlvdSAmIzI2NDs8L3A+PCEtLSBubyAtLT48cD5CeWU8L3A+PC9i\r\n\
         b2R5PjwvaHRtbD4=\r\n",
    );
    assert_eq!(html.preview, "Hi there & you Ĉ Bye");

    let attachment_first = summary(
        "Content-Type: multipart/mixed; boundary=m\r\n\r\n\
         --m\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=a.txt\r\n\r\nnot this\r\n\
         --m\r\nContent-Type: image/png\r\n\r\nxx\r\n\
         --m\r\nContent-Type: text/plain\r\n\r\nthis one\r\n\
         --m--\r\n",
    );
    assert_eq!(attachment_first.preview, "this one");

    let no_text = summary("Content-Type: image/png\r\n\r\nPNG");
    assert_eq!(no_text.preview, "");

    let long = summary(&format!("Subject: x\r\n\r\n{}", "word ".repeat(1000)));
    assert!(long.preview.chars().count() <= MAX_PREVIEW_CHARS);
    assert!(long.preview.ends_with("word"), "{}", long.preview);
    assert_eq!(long.preview.len(), 254);
}

#[test]
fn only_the_scanned_prefix_counts_and_nothing_panics() {
    let mut raw = b"Subject: first\r\n\r\n".to_vec();
    raw.extend(std::iter::repeat_n(b'a', MAX_SUMMARY_SCAN));
    raw.extend_from_slice(b"\r\nSubject: not a header\r\n");
    let s = MessageSummary::of(&raw);
    assert_eq!(s.base_subject, "first");
    for junk in [
        &b"\xff\xfe<\r\n\r\n<"[..],
        b"Content-Type: text/html\r\n\r\n<a href=\"\xc3\xa9",
        b"Content-Type: text/html\r\n\r\n&#xFFFFFFFF; &#55296; &",
        b"Subject: [\r\n\r\n",
        b"Subject: [fwd:]\r\n\r\n",
        b"Date: 1 Jan 99999999999999999999 10:00 +0000\r\n\r\n",
        b"References: <\"unterminated@x>\r\n\r\n",
    ] {
        let _ = MessageSummary::of(junk);
    }
}
