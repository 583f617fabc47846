//! Schedules: the declarative spec kept in git next to the notebook, and the parameter macros
//! rendered for each run.

pub mod command;
pub mod spec;
pub mod template;

pub use spec::{Parameter, Spec, SpecError, load, parse};

use chrono::{DateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// The next `count` run times of the schedule after `now`, never before its start date (in the
/// schedule's zone). Cron times are wall-clock times in that zone.
pub fn next_runs(spec: &Spec, now: DateTime<Utc>, count: usize) -> Vec<DateTime<Tz>> {
    let Ok(cron) = spec::cron(&spec.cron) else { return Vec::new() };
    let start = spec.timezone.from_local_datetime(&spec.start_date.and_time(NaiveTime::MIN)).earliest();
    let mut from = now.with_timezone(&spec.timezone);
    if let Some(start) = start
        && start > from
    {
        from = start;
    }
    let mut runs = Vec::with_capacity(count);
    let mut inclusive = from != now.with_timezone(&spec.timezone);
    while runs.len() < count {
        match cron.find_next_occurrence(&from, inclusive) {
            Ok(next) => {
                runs.push(next);
                from = next;
                inclusive = false;
            }
            Err(_) => break,
        }
    }
    runs
}
