//! The daemon's clock: the system's, or one read from a file, so that tests (and dry rehearsals
//! of a calendar, e.g. a DST night) can move time without waiting for it.

use std::path::PathBuf;

use chrono::{DateTime, Utc};

pub enum Clock {
    System,
    /// An RFC 3339 instant read from the file at every turn; the system's time when the file is
    /// missing or does not parse (said once in the log per bad read).
    File(PathBuf),
}

impl Clock {
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Self::System => Utc::now(),
            Self::File(path) => match std::fs::read_to_string(path).map(|t| DateTime::parse_from_rfc3339(t.trim())) {
                Ok(Ok(at)) => at.with_timezone(&Utc),
                Ok(Err(error)) => {
                    tracing::warn!(path = %path.display(), %error, "the clock file does not hold an RFC 3339 time");
                    Utc::now()
                }
                Err(error) => {
                    tracing::warn!(path = %path.display(), %error, "cannot read the clock file");
                    Utc::now()
                }
            },
        }
    }
}
