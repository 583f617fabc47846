//! When a schedule runs: cron times are wall-clock times in the schedule's zone, from its start
//! date. Daylight saving follows cron's long-standing rule (as croner implements it): a job at a
//! fixed time runs once when clocks fall back (at the first 01:30) and, when that time is skipped
//! in spring, at the first minute after the jump; a job at wildcard or stepped hours runs by real
//! time, so an hourly job runs in both 01:00 hours of the autumn night and not in the missing one.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, LocalResult, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use croner::{Cron, JobType};

use super::Spec;

/// How far before croner's previous occurrence the forward scan starts, so that a time moved by a
/// DST jump is still found by the same forward rule that `next_runs` uses.
const DST_MARGIN: Duration = Duration::hours(3);
/// Longer than any zone's fall-back shift.
const REPEATED_HOUR_SPAN: Duration = Duration::hours(2);

/// The first instant the schedule may run: midnight of its start date in its zone.
fn start_instant(spec: &Spec) -> Option<DateTime<Tz>> {
    spec.timezone.from_local_datetime(&spec.start_date.and_time(NaiveTime::MIN)).earliest()
}

/// The schedule's run times after `after`, in order, never before its start.
pub fn runs_after<'a>(spec: &Spec, cron: &'a Cron, after: DateTime<Utc>) -> impl Iterator<Item = DateTime<Tz>> + 'a {
    // Croner keeps the sub-second part of where it starts; cron times are whole minutes.
    let whole_seconds = after.with_nanosecond(0).unwrap_or(after);
    let mut from = whole_seconds.with_timezone(&spec.timezone);
    let mut inclusive = false;
    if let Some(start) = start_instant(spec)
        && start > from
    {
        from = start;
        inclusive = true;
    }
    let by_real_time = cron.determine_job_type() == JobType::IntervalWildcard;
    // Croner's times, plus the second occurrences of repeated hours, given out in order: a second
    // occurrence comes after croner's later times of the first (01:30 BST before 01:00 GMT).
    let mut pending = BTreeSet::new();
    let mut exhausted = false;
    std::iter::from_fn(move || {
        loop {
            if let Some(&earliest) = pending.first()
                && (exhausted || from > earliest + REPEATED_HOUR_SPAN)
            {
                pending.remove(&earliest);
                return Some(earliest);
            }
            if exhausted {
                return None;
            }
            match cron.find_next_occurrence(&from, inclusive) {
                Ok(next) => {
                    from = next;
                    inclusive = false;
                    pending.insert(next);
                    if let Some(second) = by_real_time.then(|| second_of_repeated_hour(next)).flatten() {
                        pending.insert(second);
                    }
                }
                Err(_) => exhausted = true,
            }
        }
    })
}

/// When clocks fall back, `time`'s wall-clock time happens again an hour later; croner steps
/// over that second one, which a job by real time must not.
fn second_of_repeated_hour(time: DateTime<Tz>) -> Option<DateTime<Tz>> {
    match time.timezone().from_local_datetime(&time.naive_local()) {
        LocalResult::Ambiguous(first, second) if first == time => Some(second),
        _ => None,
    }
}

/// The next `count` run times of the schedule after `now`.
pub fn next_runs(spec: &Spec, now: DateTime<Utc>, count: usize) -> Vec<DateTime<Tz>> {
    match super::spec::cron(&spec.cron) {
        Ok(cron) => runs_after(spec, &cron, now).take(count).collect(),
        Err(_) => Vec::new(),
    }
}

/// The latest run time in `(after, now]`: what a scheduler that was down (or just woke up) runs,
/// once, however many times it missed.
pub fn latest_due(spec: &Spec, cron: &Cron, after: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Tz>> {
    let local_now = now.with_timezone(&spec.timezone);
    let previous = cron.find_previous_occurrence(&local_now, true).ok()?;
    let scan_from = (previous.with_timezone(&Utc) - DST_MARGIN).max(after);
    let mut latest = None;
    for run in runs_after(spec, cron, scan_from) {
        if run.with_timezone(&Utc) > now {
            break;
        }
        latest = Some(run);
    }
    latest.filter(|run| run.with_timezone(&Utc) > after)
}

/// Every run time in `[from, to]` (a backfill), at most `limit` of them.
pub fn runs_between(spec: &Spec, cron: &Cron, from: DateTime<Utc>, to: DateTime<Utc>, limit: usize) -> Vec<DateTime<Tz>> {
    let just_before = from - Duration::seconds(1);
    runs_after(spec, cron, just_before).take_while(|run| run.with_timezone(&Utc) <= to).take(limit).collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use chrono::NaiveDate;

    use super::*;

    fn spec(cadence: &str, zone: &str, start: &str) -> (Spec, Cron) {
        let text = format!(
            "name = \"t\"\nnotebook = \"n.ipynb\"\nowner = \"a@example.com\"\npurpose = \"p\"\n\
             cadence = \"{cadence}\"\ntimezone = \"{zone}\"\nstart_date = {start}\n"
        );
        let today = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default();
        let spec = super::super::parse(&text, Path::new("."), super::super::ReadOn::Authoring(today), &|_| true)
            .unwrap_or_else(|p| panic!("{p:?}"));
        let cron = super::super::spec::cron(&spec.cron).unwrap_or_else(|e| panic!("{e}"));
        (spec, cron)
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap_or_else(|e| panic!("{text}: {e}")).with_timezone(&Utc)
    }

    fn after(spec: &Spec, cron: &Cron, from: &str, count: usize) -> Vec<String> {
        runs_after(spec, cron, utc(from)).take(count).map(|t| t.to_rfc3339()).collect()
    }

    #[test]
    fn london_fall_back_runs_a_fixed_time_once_and_an_hourly_job_every_real_hour() {
        let (daily, cron) = spec("30 1 * * *", "Europe/London", "2026-10-01");
        assert_eq!(after(&daily, &cron, "2026-10-24T12:00:00Z", 2), ["2026-10-25T01:30:00+01:00", "2026-10-26T01:30:00+00:00"]);
        let (hourly, cron) = spec("hourly", "Europe/London", "2026-10-01");
        assert_eq!(
            after(&hourly, &cron, "2026-10-24T23:30:00Z", 3),
            ["2026-10-25T01:00:00+01:00", "2026-10-25T01:00:00+00:00", "2026-10-25T02:00:00+00:00"]
        );
        let (half_hourly, cron) = spec("*/30 * * * *", "Europe/London", "2026-10-01");
        assert_eq!(
            after(&half_hourly, &cron, "2026-10-24T23:50:00Z", 5),
            [
                "2026-10-25T01:00:00+01:00",
                "2026-10-25T01:30:00+01:00",
                "2026-10-25T01:00:00+00:00",
                "2026-10-25T01:30:00+00:00",
                "2026-10-25T02:00:00+00:00"
            ]
        );
    }

    #[test]
    fn london_spring_forward_moves_a_skipped_time_to_the_first_minute_after_the_jump() {
        let (daily, cron) = spec("30 1 * * *", "Europe/London", "2026-03-01");
        assert_eq!(after(&daily, &cron, "2026-03-28T12:00:00Z", 2), ["2026-03-29T02:00:00+01:00", "2026-03-30T01:30:00+01:00"]);
        let (hourly, cron) = spec("hourly", "Europe/London", "2026-03-01");
        assert_eq!(after(&hourly, &cron, "2026-03-28T23:30:00Z", 2), ["2026-03-29T00:00:00+00:00", "2026-03-29T02:00:00+01:00"]);
    }

    #[test]
    fn new_york_transitions() {
        let (daily, cron) = spec("30 2 * * *", "America/New_York", "2026-03-01");
        // 2026-03-08 02:30 does not exist in New York: 03:00 EDT instead.
        assert_eq!(after(&daily, &cron, "2026-03-07T12:00:00Z", 2), ["2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"]);
        let (daily, cron) = spec("30 1 * * *", "America/New_York", "2026-03-01");
        // 2026-11-01 01:30 happens twice: the first one only.
        assert_eq!(after(&daily, &cron, "2026-10-31T12:00:00Z", 2), ["2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"]);
    }

    #[test]
    fn month_ends_and_leap_days() {
        let (thirty_first, cron) = spec("0 6 31 * *", "UTC", "2026-01-01");
        assert_eq!(after(&thirty_first, &cron, "2026-03-31T07:00:00Z", 2), ["2026-05-31T06:00:00+00:00", "2026-07-31T06:00:00+00:00"]);
        let (last_day, cron) = spec("0 6 L * *", "UTC", "2026-01-01");
        assert_eq!(after(&last_day, &cron, "2027-01-31T07:00:00Z", 2), ["2027-02-28T06:00:00+00:00", "2027-03-31T06:00:00+00:00"]);
        assert_eq!(after(&last_day, &cron, "2028-01-31T07:00:00Z", 1), ["2028-02-29T06:00:00+00:00"]);
        let (leap, cron) = spec("0 0 29 2 *", "UTC", "2026-01-01");
        assert_eq!(after(&leap, &cron, "2026-01-01T00:00:00Z", 2), ["2028-02-29T00:00:00+00:00", "2032-02-29T00:00:00+00:00"]);
    }

    #[test]
    fn run_times_are_whole_minutes_whatever_the_instant_they_are_counted_from() {
        let (daily, cron) = spec("0 6 * * *", "UTC", "2026-01-01");
        assert_eq!(after(&daily, &cron, "2026-11-26T07:00:00.692260417Z", 1), ["2026-11-27T06:00:00+00:00"]);
    }

    #[test]
    fn nothing_runs_before_the_start_date_in_the_schedule_zone() {
        let (daily, cron) = spec("0 0 * * *", "Europe/London", "2026-07-01");
        // Midnight of 1 July in London is 23:00 UTC on 30 June: the first run.
        assert_eq!(after(&daily, &cron, "2026-01-01T00:00:00Z", 1), ["2026-07-01T00:00:00+01:00"]);
    }

    #[test]
    fn a_scheduler_that_was_down_runs_the_latest_missed_time_once() {
        let (daily, cron) = spec("0 6 * * *", "Europe/London", "2026-11-01");
        let last = utc("2026-11-23T06:00:00Z");
        let latest = latest_due(&daily, &cron, last, utc("2026-11-26T09:00:00Z")).map(|t| t.to_rfc3339());
        assert_eq!(latest.as_deref(), Some("2026-11-26T06:00:00+00:00"));
        // Already run: nothing is due until the next time.
        assert_eq!(latest_due(&daily, &cron, utc("2026-11-26T06:00:00Z"), utc("2026-11-26T09:00:00Z")), None);
        // A schedule not yet started has nothing due.
        let (future, cron) = spec("0 6 * * *", "UTC", "2027-01-01");
        assert_eq!(latest_due(&future, &cron, utc("2026-01-01T00:00:00Z"), utc("2026-11-26T09:00:00Z")), None);
    }

    #[test]
    fn the_latest_missed_time_is_found_across_a_dst_jump() {
        let (daily, cron) = spec("30 1 * * *", "Europe/London", "2026-03-01");
        let latest = latest_due(&daily, &cron, utc("2026-03-28T00:00:00Z"), utc("2026-03-29T01:10:00Z")).map(|t| t.to_rfc3339());
        assert_eq!(latest.as_deref(), Some("2026-03-29T02:00:00+01:00"));
    }

    #[test]
    fn a_backfill_takes_every_time_in_its_range() {
        let (daily, cron) = spec("0 6 * * *", "UTC", "2026-01-01");
        let runs: Vec<String> = runs_between(&daily, &cron, utc("2026-02-27T06:00:00Z"), utc("2026-03-02T06:00:00Z"), 100)
            .iter()
            .map(|t| t.to_rfc3339())
            .collect();
        assert_eq!(
            runs,
            ["2026-02-27T06:00:00+00:00", "2026-02-28T06:00:00+00:00", "2026-03-01T06:00:00+00:00", "2026-03-02T06:00:00+00:00"]
        );
        assert_eq!(runs_between(&daily, &cron, utc("2026-02-27T06:00:00Z"), utc("2026-03-02T06:00:00Z"), 2).len(), 2);
    }
}
