//! The dates of mbox `From ` lines (ANSI C `asctime` and its variants) and of `Date:`
//! header fields, as unix seconds.

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn month(name: &str) -> Option<u32> {
    let lower = name.get(..3)?.to_ascii_lowercase();
    MONTHS
        .iter()
        .position(|m| *m == lower)
        .map(|i| i as u32 + 1)
}

fn time_of_day(s: &str) -> Option<i64> {
    let mut parts = s.split(':');
    let h: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let sec: i64 = match parts.next() {
        Some(s) => s.parse().ok()?,
        None => 0,
    };
    if parts.next().is_some() || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    Some(h * 3600 + m * 60 + sec)
}

/// A numeric zone (`+0200`, `-0730`) in seconds east of UTC; names count as UTC.
fn zone(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() == 5 && (b[0] == b'+' || b[0] == b'-') && b[1..].iter().all(u8::is_ascii_digit) {
        let h: i64 = s[1..3].parse().ok()?;
        let m: i64 = s[3..5].parse().ok()?;
        let v = h * 3600 + m * 60;
        return Some(if b[0] == b'-' { -v } else { v });
    }
    if s.chars().all(|c| c.is_ascii_alphabetic()) && (1..=5).contains(&s.len()) {
        return Some(0);
    }
    None
}

fn assemble(year: i64, month: u32, day: u32, secs: i64, offset: i64) -> Option<i64> {
    if !(1..=31).contains(&day) || !(1970..=9999).contains(&year) {
        return None;
    }
    let t = days_from_civil(year, month, day) * 86_400 + secs - offset;
    (t >= 0).then_some(t)
}

/// The date of an mbox `From ` line (the whole line, `From sender DATE`): ANSI C
/// (`Mon Jan  2 15:04:05 2006`), with a zone name or number before the year (Unix and
/// Ruby dates), UTC unless a numeric zone says otherwise.
pub fn parse_from_line(line: &str) -> Option<i64> {
    let rest = line.strip_prefix("From ")?;
    let mut words = rest.split_whitespace();
    words.next()?; // the sender
    let words: Vec<&str> = words.collect();
    // weekday month day time [zone] year
    let (month_w, day_w, time_w, zone_w, year_w) = match words.as_slice() {
        [_, m, d, t, y] => (*m, *d, *t, None, *y),
        [_, m, d, t, z, y] => (*m, *d, *t, Some(*z), *y),
        _ => return None,
    };
    let offset = match zone_w {
        Some(z) => zone(z)?,
        None => 0,
    };
    assemble(
        year_w.parse().ok()?,
        month(month_w)?,
        day_w.parse().ok()?,
        time_of_day(time_w)?,
        offset,
    )
}

/// The date of a `Date:` header field value (RFC 5322, with the obsolete forms'
/// leniency: optional weekday, two-digit years, zone names as UTC).
pub fn parse_header_date(value: &str) -> Option<i64> {
    let value = value.split('(').next()?.trim();
    let value = match value.split_once(',') {
        Some((_, rest)) => rest,
        None => value,
    };
    let words: Vec<&str> = value.split_whitespace().collect();
    let (day_w, month_w, year_w, time_w, zone_w) = match words.as_slice() {
        [d, m, y, t, z, ..] => (*d, *m, *y, *t, Some(*z)),
        [d, m, y, t] => (*d, *m, *y, *t, None),
        _ => return None,
    };
    let mut year: i64 = year_w.parse().ok()?;
    if year < 50 {
        year += 2000;
    } else if year < 1000 {
        year += 1900;
    }
    let offset = match zone_w {
        Some(z) => zone(z).unwrap_or(0),
        None => 0,
    };
    assemble(
        year,
        month(month_w)?,
        day_w.parse().ok()?,
        time_of_day(time_w)?,
        offset,
    )
}

/// Formats unix seconds as an ANSI C date in UTC, for mbox `From ` lines.
pub fn format_ansic(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let weekday = DAYS[days.rem_euclid(7) as usize];
    let month_name = MONTHS[(month - 1) as usize];
    let mut m = month_name.to_string();
    m[..1].make_ascii_uppercase();
    format!(
        "{weekday} {m} {day:>2} {:02}:{:02}:{:02} {year}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_lines() {
        let t = parse_from_line("From sender@example.test Mon Jan  1 09:00:00 2024");
        assert_eq!(t, Some(1_704_099_600));
        assert_eq!(
            parse_from_line("From x Mon Jan 01 10:00:00 +0100 2024"),
            Some(1_704_099_600)
        );
        assert_eq!(
            parse_from_line("From x Mon Jan 1 09:00:00 MST 2024"),
            Some(1_704_099_600)
        );
        assert_eq!(parse_from_line("From x"), None);
        assert_eq!(parse_from_line("From x Mon Foo 1 09:00:00 2024"), None);
    }

    #[test]
    fn header_dates() {
        assert_eq!(
            parse_header_date("Mon, 01 Jan 2024 09:32:00 +0000"),
            Some(1_704_101_520)
        );
        assert_eq!(
            parse_header_date("1 Jan 2024 10:32:00 +0100 (CET)"),
            Some(1_704_101_520)
        );
        assert_eq!(parse_header_date("yesterday"), None);
    }

    #[test]
    fn ansic_round_trips() {
        for t in [0, 1_704_099_600, 951_782_400, 4_102_444_799] {
            let line = format!("From postern {}", format_ansic(t));
            assert_eq!(parse_from_line(&line), Some(t), "{line}");
        }
        assert_eq!(format_ansic(1_704_099_600), "Mon Jan  1 09:00:00 2024");
    }
}
