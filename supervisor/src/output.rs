//! What the admin commands print: aligned plain-text tables, JSON, and times as UTC
//! RFC 3339.
#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::io::{self, Write as _};

use postern_ipc::{AccountSummary, LoginAttempt, RateLimitBlock, TlsPublicKeyInfo};
use serde::Serialize;

/// A table of text cells, printed with columns aligned by two spaces.
#[derive(Debug, Default)]
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with this header row.
    pub fn new(header: &[&str]) -> Table {
        Table {
            rows: vec![header.iter().map(|h| h.to_string()).collect()],
        }
    }

    /// Appends a row. Control characters in cells are escaped, so text that came from
    /// the network (user agents, login names) cannot drive the terminal.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells.iter().map(|c| printable(c)).collect());
    }

    /// The table as text, one line per row, without trailing spaces.
    pub fn render(&self) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut widths = vec![0; columns];
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in &self.rows {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                line.push_str(cell);
                if i + 1 < row.len() {
                    let pad = widths[i] - cell.chars().count();
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// `text` with control characters written as escapes (`\n`, `\u{1b}`).
pub fn printable(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            let _ = write!(out, "{}", c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// `-` for an empty cell.
fn or_dash(text: &str) -> String {
    if text.is_empty() {
        "-".to_string()
    } else {
        text.to_string()
    }
}

/// Unix seconds as UTC RFC 3339, e.g. `2026-11-24T15:23:00Z`.
pub fn format_time(unix_seconds: i64) -> String {
    let days = unix_seconds.div_euclid(86_400);
    let secs = unix_seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The proleptic Gregorian (year, month, day) of a count of days since 1970-01-01
/// (Howard Hinnant's `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32; // [1, 12]
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A value as pretty JSON with a final newline.
pub fn json<T: Serialize>(value: &T) -> Result<String, serde_json::Error> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    Ok(text)
}

/// The account listing.
pub fn accounts(accounts: &[AccountSummary]) -> String {
    if accounts.is_empty() {
        return "no accounts\n".into();
    }
    let mut t = Table::new(&["ACCOUNT", "ADDRESSES", "PASSWORD", "CREATED", "DISABLED"]);
    for a in accounts {
        t.row(vec![
            a.name.clone(),
            or_dash(&a.addresses.join(",")),
            if a.has_password { "set" } else { "none" }.into(),
            format_time(a.created),
            match &a.disabled {
                Some(reason) => format!("yes: {reason}"),
                None => "no".into(),
            },
        ]);
    }
    t.render()
}

/// The TLS public key listing.
pub fn tls_public_keys(keys: &[TlsPublicKeyInfo]) -> String {
    if keys.is_empty() {
        return "no TLS public keys\n".into();
    }
    let mut t = Table::new(&[
        "FINGERPRINT",
        "TYPE",
        "ACCOUNT",
        "LOGIN ADDRESS",
        "IMAP PREAUTH",
        "CREATED",
        "NAME",
    ]);
    for k in keys {
        t.row(vec![
            k.fingerprint.clone(),
            k.key_type.clone(),
            k.account.clone(),
            k.login_address.clone(),
            if k.no_imap_preauth { "no" } else { "yes" }.into(),
            format_time(k.created),
            or_dash(&k.name),
        ]);
    }
    t.render()
}

/// The login history listing.
pub fn login_attempts(attempts: &[LoginAttempt]) -> String {
    if attempts.is_empty() {
        return "no login attempts\n".into();
    }
    let mut t = Table::new(&[
        "LAST SEEN",
        "COUNT",
        "RESULT",
        "PROTOCOL",
        "MECHANISM",
        "ACCOUNT",
        "LOGIN NAME",
        "REMOTE IP",
        "LOCAL IP",
        "TLS",
        "CLIENT KEY",
        "FIRST SEEN",
        "USER AGENT",
    ]);
    for a in attempts {
        let tls = match (a.tls_version.as_str(), a.tls_cipher.as_str()) {
            ("", "") => "-".to_string(),
            (v, "") => v.to_string(),
            (v, c) => format!("{v}/{c}"),
        };
        t.row(vec![
            format_time(a.last_seen),
            a.count.to_string(),
            a.result.name().into(),
            a.protocol.clone(),
            a.mechanism.clone(),
            or_dash(&a.account),
            or_dash(&a.login_name),
            or_dash(&a.remote_ip),
            or_dash(&a.local_ip),
            tls,
            or_dash(&a.client_key),
            format_time(a.first_seen),
            or_dash(&a.user_agent),
        ]);
    }
    t.render()
}

/// The rate-limit block listing.
pub fn rate_limits(blocks: &[RateLimitBlock]) -> String {
    if blocks.is_empty() {
        return "no blocked networks\n".into();
    }
    let mut t = Table::new(&["NETWORK", "WINDOW", "FAILURES", "LIMIT", "UNTIL"]);
    for b in blocks {
        t.row(vec![
            b.network.clone(),
            b.window.clone(),
            b.failures.to_string(),
            b.limit.to_string(),
            format_time(b.until),
        ]);
    }
    t.render()
}

/// Writes `text` to stdout. A reader that went away (`postern … | head`) is not an
/// error.
pub fn emit(text: &str) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(format_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_time(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_time(1_709_164_799), "2024-02-28T23:59:59Z");
        assert_eq!(format_time(1_798_761_599), "2026-12-31T23:59:59Z");
        assert_eq!(format_time(4_102_444_800), "2100-01-01T00:00:00Z");
        assert_eq!(format_time(-1), "1969-12-31T23:59:59Z");
        // Every day boundary across four centuries round-trips through the calendar.
        let mut previous = civil_from_days(-1);
        for d in 0..146_097 * 2 {
            let (y, m, day) = civil_from_days(d);
            let next_day = (y, m, day);
            assert!(next_day > previous, "{d}: {next_day:?} after {previous:?}");
            assert!((1..=12).contains(&m) && (1..=31).contains(&day));
            previous = next_day;
        }
    }

    #[test]
    fn tables_align_without_trailing_space() {
        let mut t = Table::new(&["A", "LONG HEADER", "C"]);
        t.row(vec!["wide cell".into(), "x".into(), "".into()]);
        t.row(vec!["y".into(), "z".into(), "last".into()]);
        assert_eq!(
            t.render(),
            "A          LONG HEADER  C\n\
             wide cell  x\n\
             y          z            last\n"
        );
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(printable("ok"), "ok");
        assert_eq!(printable("a\x1b[31mb\n"), "a\\u{1b}[31mb\\n");
    }

    #[test]
    fn account_table() {
        let text = accounts(&[AccountSummary {
            name: "bob".into(),
            addresses: vec!["bob@example.org".into(), "b@example.org".into()],
            has_password: true,
            disabled: Some("moved".into()),
            created: 0,
        }]);
        assert_eq!(
            text,
            "ACCOUNT  ADDRESSES                      PASSWORD  CREATED               DISABLED\n\
             bob      bob@example.org,b@example.org  set       1970-01-01T00:00:00Z  yes: moved\n"
        );
        assert_eq!(accounts(&[]), "no accounts\n");
    }
}
