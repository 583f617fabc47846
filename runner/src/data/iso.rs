//! ISO 8601 dates and timestamps as the CSV files carry them, read and written by hand: chrono's
//! `parse_from_str`/`format` interpret their format string on every call, which dominated the
//! time of a million-row fetch.
//!
//! Read: `YYYY-MM-DD`, optionally followed by ` ` or `T`, `HH:MM`, optional `:SS` and `.f` (1 to 9
//! digits), and optionally a UTC offset `Z`, `±HH`, `±HHMM` or `±HH:MM` — what pandas writes and
//! reads with `format="ISO8601"`; month, day and the time's fields may have one digit
//! (`2024-1-5 9:30`), as databases accept. Written: `YYYY-MM-DD`, `YYYY-MM-DD HH:MM:SS[.fff|.ffffff|.fffffffff]`,
//! with `+00:00` for UTC timestamps.

use std::fmt;

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc};

/// A parsed value: the date, the time of day if one was written, the offset if one was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Iso {
    pub date: NaiveDate,
    pub time: Option<NaiveTime>,
    pub offset: Option<FixedOffset>,
}

impl Iso {
    pub fn naive(&self) -> NaiveDateTime {
        self.date.and_time(self.time.unwrap_or(NaiveTime::MIN))
    }

    /// The instant, when an offset was written.
    pub fn utc(&self) -> Option<DateTime<Utc>> {
        self.offset?.from_local_datetime(&self.naive()).single().map(|t| t.with_timezone(&Utc))
    }
}

fn digits(bytes: &[u8]) -> Option<u32> {
    if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(bytes.iter().fold(0, |n, b| n * 10 + u32::from(b - b'0')))
}

/// A cursor over the text, taking numbers of a bounded width.
struct Scan<'a> {
    rest: &'a [u8],
}

impl Scan<'_> {
    /// Between `min` and `max` digits.
    fn number(&mut self, min: usize, max: usize) -> Option<(u32, usize)> {
        let len = self.rest.iter().take(max).take_while(|c| c.is_ascii_digit()).count();
        if len < min {
            return None;
        }
        let value = digits(&self.rest[..len])?;
        self.rest = &self.rest[len..];
        Some((value, len))
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.rest.first() == Some(&byte);
        if found {
            self.rest = &self.rest[1..];
        }
        found
    }
}

pub fn parse(text: &str) -> Option<Iso> {
    let mut scan = Scan { rest: text.as_bytes() };
    let (year, _) = scan.number(4, 4)?;
    let month = scan.eat(b'-').then(|| scan.number(1, 2)).flatten()?.0;
    let day = scan.eat(b'-').then(|| scan.number(1, 2)).flatten()?.0;
    let date = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
    if scan.rest.is_empty() {
        return Some(Iso { date, time: None, offset: None });
    }
    if !(scan.eat(b' ') || scan.eat(b'T')) {
        return None;
    }
    let hour = scan.number(1, 2)?.0;
    let minute = scan.eat(b':').then(|| scan.number(1, 2)).flatten()?.0;
    let (mut second, mut nanos) = (0, 0);
    if scan.eat(b':') {
        second = scan.number(1, 2)?.0;
        if scan.eat(b'.') {
            let (fraction, len) = scan.number(1, 9)?;
            nanos = fraction * 10u32.pow(9 - u32::try_from(len).ok()?);
        }
    }
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?;
    let offset = match scan.rest {
        [] => None,
        [b'Z'] => Some(FixedOffset::east_opt(0)?),
        [sign @ (b'+' | b'-'), zone @ ..] => {
            let (hours, minutes) = match zone {
                [h1, h2] => (digits(&[*h1, *h2])?, 0),
                [h1, h2, m1, m2] | [h1, h2, b':', m1, m2] => (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?),
                _ => return None,
            };
            let seconds = i32::try_from(hours * 3600 + minutes * 60).ok()?;
            Some(FixedOffset::east_opt(if *sign == b'-' { -seconds } else { seconds })?)
        }
        _ => return None,
    };
    Some(Iso { date, time: Some(time), offset })
}

/// `YYYY-MM-DD`.
pub struct Date(pub NaiveDate);

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.0.year(), self.0.month(), self.0.day())
    }
}

/// `YYYY-MM-DD HH:MM:SS`, with the fraction in 3, 6 or 9 digits when there is one.
pub struct Timestamp(pub NaiveDateTime);

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0.time();
        write!(f, "{} {:02}:{:02}:{:02}", Date(self.0.date()), t.hour(), t.minute(), t.second())?;
        match t.nanosecond() {
            0 => Ok(()),
            n if n % 1_000_000 == 0 => write!(f, ".{:03}", n / 1_000_000),
            n if n % 1_000 == 0 => write!(f, ".{:06}", n / 1_000),
            n => write!(f, ".{n:09}"),
        }
    }
}

/// A UTC instant: the timestamp and `+00:00`.
pub struct Utc00(pub DateTime<Utc>);

impl fmt::Display for Utc00 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}+00:00", Timestamp(self.0.naive_utc()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same_as_chrono(text: &str) {
        let ours = parse(text).map(|iso| iso.naive());
        let normalized = text.replacen('T', " ", 1);
        let chrono = NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .or_else(|| NaiveDateTime::parse_from_str(&normalized, "%Y-%m-%d %H:%M:%S%.f").ok())
            .or_else(|| NaiveDateTime::parse_from_str(&normalized, "%Y-%m-%d %H:%M").ok());
        assert_eq!(ours, chrono, "{text}");
    }

    #[test]
    fn reads_what_pandas_and_databases_write() {
        for text in [
            "2024-02-29",
            "2023-02-29",
            "2024-01-02 03:04:05",
            "2024-01-02T03:04:05.25",
            "2024-01-02 03:04:05.123456789",
            "2024-01-02 03:04",
            "2024-13-01",
            "2024-01-02 24:00:00",
            "yesterday",
            "2024-01-02 03:04:05.",
            "2024-1-5",
            "2024-1-05 9:30",
            "2024-01-02 3:4:5.5",
            "2024-001-02",
            "2024-01-02 03:04:05:06",
        ] {
            same_as_chrono(text);
        }
        assert_eq!(parse("2024-01-02 03:04:05.1234567891"), None, "at most nanoseconds");
        assert_eq!(parse("24-01-02"), None, "a year has four digits (chrono would take 24 AD)");
        let zoned = |text| parse(text).and_then(|iso| iso.utc()).map(|t| Utc00(t).to_string());
        assert_eq!(zoned("2024-01-02 03:04:05+02:00").as_deref(), Some("2024-01-02 01:04:05+00:00"));
        assert_eq!(zoned("2024-01-02T03:04:05Z").as_deref(), Some("2024-01-02 03:04:05+00:00"));
        assert_eq!(zoned("2024-01-02 03:04:05.5-0530").as_deref(), Some("2024-01-02 08:34:05.500+00:00"));
        assert_eq!(zoned("2024-01-02 03:04:05-05").as_deref(), Some("2024-01-02 08:04:05+00:00"));
        assert_eq!(zoned("2024-01-02 03:04:05"), None, "no offset");
        assert_eq!(parse("2024-01-02 03:04:05+2"), None);
        assert_eq!(parse("2024-01-02").and_then(|iso| iso.time), None);
    }

    #[test]
    fn writes_as_chrono_did() {
        for text in ["2024-01-02 03:04:05", "2024-01-02 03:04:05.250", "2024-01-02 03:04:05.123456", "0999-01-02 00:00:00.000000001"] {
            let Some(iso) = parse(text) else { panic!("{text}") };
            assert_eq!(Timestamp(iso.naive()).to_string(), iso.naive().format("%Y-%m-%d %H:%M:%S%.f").to_string());
            assert_eq!(Date(iso.date).to_string(), iso.date.format("%Y-%m-%d").to_string());
        }
    }
}
