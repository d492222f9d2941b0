//! Delivery status notifications (RFC 3464): the `multipart/report` message that tells
//! a sender which recipients failed for good, delivered into the sender's Inbox.

use super::store::FailedRecipient;
#[cfg(test)]
use mail_parser::MimeHeaders as _;

/// The longest part of the original header copied into a DSN.
const MAX_ORIGINAL_HEADER: usize = 64 * 1024;

/// What a DSN reports.
#[derive(Debug)]
pub struct DsnInput<'a> {
    /// This server's host name (Reporting-MTA, From).
    pub hostname: &'a str,
    /// The original sender (To).
    pub sender: &'a str,
    /// When the original message was received, unix seconds.
    pub arrival: i64,
    /// Now, unix seconds.
    pub now: i64,
    /// The recipients that failed.
    pub failed: &'a [FailedRecipient],
    /// The original message (its header is included).
    pub original: &'a [u8],
}

/// Builds the DSN message (CRLF line endings).
pub fn build(input: &DsnInput<'_>) -> Vec<u8> {
    let boundary = format!("postern-dsn-{}", random_token());
    let message_id = format!("<{}@{}>", random_token(), input.hostname);
    let utf8 = input
        .failed
        .iter()
        .any(|f| !f.address.is_ascii() || !f.diagnostic.is_ascii())
        || !input.sender.is_ascii();
    let mut out = String::new();
    out.push_str(&format!(
        "From: Mail Delivery Subsystem <MAILER-DAEMON@{}>\r\n",
        input.hostname
    ));
    out.push_str(&format!("To: <{}>\r\n", input.sender));
    out.push_str("Subject: mail delivery failed\r\n");
    out.push_str(&format!("Date: {}\r\n", rfc5322_date(input.now)));
    out.push_str(&format!("Message-ID: {message_id}\r\n"));
    out.push_str("Auto-Submitted: auto-replied\r\n");
    out.push_str("MIME-Version: 1.0\r\n");
    out.push_str(&format!(
        "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"{boundary}\"\r\n"
    ));
    out.push_str("\r\n");
    out.push_str("This is a delivery status notification in MIME format.\r\n\r\n");

    out.push_str(&format!("--{boundary}\r\n"));
    out.push_str("Content-Type: text/plain; charset=utf-8\r\n");
    out.push_str("Content-Transfer-Encoding: 8bit\r\n\r\n");
    out.push_str("Your message could not be delivered to the following recipients:\r\n\r\n");
    for f in input.failed {
        out.push_str(&format!(
            "  {}\r\n    {}\r\n",
            f.address,
            one_line(&f.diagnostic)
        ));
    }
    out.push_str("\r\nThe header of your message is attached.\r\n\r\n");

    out.push_str(&format!("--{boundary}\r\n"));
    if utf8 {
        out.push_str("Content-Type: message/global-delivery-status\r\n");
        out.push_str("Content-Transfer-Encoding: 8bit\r\n\r\n");
    } else {
        out.push_str("Content-Type: message/delivery-status\r\n\r\n");
    }
    out.push_str(&format!("Reporting-MTA: dns; {}\r\n", input.hostname));
    out.push_str(&format!(
        "Arrival-Date: {}\r\n",
        rfc5322_date(input.arrival)
    ));
    for f in input.failed {
        out.push_str("\r\n");
        let kind = if utf8 { "utf-8" } else { "rfc822" };
        out.push_str(&format!("Final-Recipient: {kind}; {}\r\n", f.address));
        out.push_str("Action: failed\r\n");
        out.push_str(&format!("Status: {}\r\n", f.status));
        if let Some(remote) = &f.remote_mta {
            out.push_str(&format!("Remote-MTA: dns; {remote}\r\n"));
        }
        out.push_str(&format!(
            "Diagnostic-Code: smtp; {}\r\n",
            one_line(&f.diagnostic)
        ));
        out.push_str(&format!(
            "Last-Attempt-Date: {}\r\n",
            rfc5322_date(input.now)
        ));
    }
    out.push_str("\r\n");

    out.push_str(&format!("--{boundary}\r\n"));
    let header = original_header(input.original);
    if header.is_ascii() {
        out.push_str("Content-Type: text/rfc822-headers\r\n\r\n");
    } else {
        out.push_str("Content-Type: message/global-headers\r\n");
        out.push_str("Content-Transfer-Encoding: 8bit\r\n\r\n");
    }
    for line in header.lines() {
        out.push_str(line.trim_end_matches('\r'));
        out.push_str("\r\n");
    }
    out.push_str(&format!("\r\n--{boundary}--\r\n"));
    out.into_bytes()
}

/// The original message's header (up to the empty line), bounded.
fn original_header(message: &[u8]) -> String {
    let limit = message.len().min(MAX_ORIGINAL_HEADER);
    let slice = message.get(..limit).unwrap_or_default();
    let end = find(slice, b"\r\n\r\n")
        .map(|i| i + 2)
        .or_else(|| find(slice, b"\n\n").map(|i| i + 1))
        .unwrap_or(limit);
    String::from_utf8_lossy(slice.get(..end).unwrap_or_default()).into_owned()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(900)
        .collect()
}

fn random_token() -> String {
    let mut bytes = [0u8; 12];
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        return format!("{nanos:x}");
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Formats unix seconds as an RFC 5322 date in UTC, e.g.
/// `Tue, 24 Nov 2026 19:21:07 +0000`.
pub fn rfc5322_date(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let weekday = WEEKDAYS
        .get(usize::try_from(days.rem_euclid(7)).unwrap_or(0))
        .copied()
        .unwrap_or("Thu");
    let month_name = MONTHS
        .get(usize::try_from(month - 1).unwrap_or(0))
        .copied()
        .unwrap_or("Jan");
    format!(
        "{weekday}, {day} {month_name} {year} {:02}:{:02}:{:02} +0000",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Days since 1970-01-01 to (year, month 1-12, day 1-31) (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc5322_date(0), "Thu, 1 Jan 1970 00:00:00 +0000");
        assert_eq!(
            rfc5322_date(1_795_547_267),
            "Tue, 24 Nov 2026 19:07:47 +0000"
        );
    }

    #[test]
    fn a_dsn_is_a_parseable_report() {
        let failed = vec![FailedRecipient {
            id: 1,
            address: "nobody@example.com".into(),
            code: 550,
            status: "5.1.1".into(),
            diagnostic: "550 5.1.1 no such user".into(),
            remote_mta: Some("mx.example.com".into()),
        }];
        let dsn = build(&DsnInput {
            hostname: "mail.example.org",
            sender: "mjl@example.org",
            arrival: 1_700_000_000,
            now: 1_700_000_100,
            failed: &failed,
            original: b"From: mjl@example.org\r\nSubject: hello\r\n\r\nsecret body\r\n",
        });
        let text = String::from_utf8(dsn.clone()).unwrap();
        assert!(text.contains("Status: 5.1.1\r\n"));
        assert!(text.contains("Subject: hello\r\n"));
        assert!(!text.contains("secret body"));
        let parsed = mail_parser::MessageParser::new().parse(&dsn).unwrap();
        assert_eq!(parsed.parts.len(), 4);
        let root = parsed.root_part();
        assert_eq!(
            root.content_type().and_then(|c| c.attribute("report-type")),
            Some("delivery-status")
        );
    }
}
