//! Dates (`date`, for SEARCH) and date-times (`date-time`, for APPEND).

use super::cursor::{Parser, R};
use super::error::SyntaxError;
use crate::datetime::{Date, DateTime, days_from_civil};

impl Parser<'_> {
    fn month(&mut self) -> R<u8> {
        const MONTHS: [&str; 12] = [
            "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
        ];
        for (i, m) in MONTHS.iter().enumerate() {
            let end = self.pos + 3;
            if end <= self.s.len() && self.s[self.pos..end].eq_ignore_ascii_case(m.as_bytes()) {
                self.pos = end;
                return Ok(i as u8 + 1);
            }
        }
        Err(SyntaxError::InvalidMonth)
    }

    fn digits(&mut self, min: usize, max: usize) -> R<u32> {
        let start = self.pos;
        while self.pos - start < max && self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        let d = &self.s[start..self.pos];
        if d.len() < min {
            return Err(SyntaxError::ExpectedDigits(start));
        }
        Ok(d.iter().fold(0, |acc, &b| acc * 10 + u32::from(b - b'0')))
    }

    fn date_text(&mut self) -> R<Date> {
        let day = self.digits(1, 2)?;
        self.expect(b'-')?;
        let month = self.month()?;
        self.expect(b'-')?;
        let year = self.digits(4, 4)?;
        if !(1..=31).contains(&day) {
            return Err(SyntaxError::InvalidDay);
        }
        Ok(Date {
            year: year as u16,
            month,
            day: day as u8,
        })
    }

    pub(super) fn date(&mut self) -> R<Date> {
        if self.eat(b'"') {
            let d = self.date_text()?;
            self.expect(b'"')?;
            Ok(d)
        } else {
            self.date_text()
        }
    }

    pub(super) fn date_time(&mut self) -> R<DateTime> {
        self.expect(b'"')?;
        let day = if self.eat(b' ') {
            self.digits(1, 1)?
        } else {
            self.digits(1, 2)?
        };
        self.expect(b'-')?;
        let month = self.month()?;
        self.expect(b'-')?;
        let year = self.digits(4, 4)?;
        self.sp()?;
        let h = self.digits(2, 2)?;
        self.expect(b':')?;
        let mi = self.digits(2, 2)?;
        self.expect(b':')?;
        let sec = self.digits(2, 2)?;
        self.sp()?;
        let sign: i64 = if self.eat(b'+') {
            1
        } else if self.eat(b'-') {
            -1
        } else {
            return Err(SyntaxError::InvalidZone);
        };
        let zone = self.digits(4, 4)?;
        self.expect(b'"')?;
        if !(1..=31).contains(&day) || h > 23 || mi > 59 || sec > 60 || zone % 100 > 59 {
            return Err(SyntaxError::InvalidDateTime);
        }
        let offset = sign * i64::from(zone / 100 * 60 + zone % 100);
        let days = days_from_civil(i64::from(year), u32::from(month), day);
        let unix = days * 86400 + i64::from(h * 3600 + mi * 60 + sec) - offset * 60;
        Ok(DateTime {
            unix,
            offset_minutes: offset as i32,
        })
    }
}
