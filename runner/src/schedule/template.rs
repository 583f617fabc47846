//! Parameter values with Airflow's date macros, rendered for a run's logical date:
//! `{{ ds }}` (`2026-11-27`), `{{ ds_nodash }}` (`20261127`), `{{ ts }}` (the logical instant,
//! ISO 8601 with offset) and `{{ ds_add(ds, N) }}` (N days later, N may be negative). Any other
//! `{{ ... }}` is an error, so a typo cannot reach a notebook as text.

use chrono::{DateTime, Days, NaiveDate};
use chrono_tz::Tz;

/// One macro found in a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Macro {
    Ds,
    DsNodash,
    Ts,
    DsAdd(i64),
}

fn parse_macro(inner: &str) -> Result<Macro, String> {
    let compact: String = inner.chars().filter(|c| !c.is_whitespace()).collect();
    match compact.as_str() {
        "ds" => Ok(Macro::Ds),
        "ds_nodash" => Ok(Macro::DsNodash),
        "ts" => Ok(Macro::Ts),
        other => {
            let days = other
                .strip_prefix("ds_add(ds,")
                .and_then(|rest| rest.strip_suffix(')'))
                .and_then(|n| n.parse::<i64>().ok())
                .ok_or_else(|| format!("unknown macro `{{{{ {} }}}}` (known: ds, ds_nodash, ts, ds_add(ds, N))", inner.trim()))?;
            Ok(Macro::DsAdd(days))
        }
    }
}

/// Text (`Ok`) and macros (`Err`), in order.
pub fn pieces(value: &str) -> Result<Vec<Result<&str, Macro>>, String> {
    let mut pieces = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find("{{") {
        pieces.push(Ok(&rest[..start]));
        let end = rest[start..].find("}}").ok_or_else(|| format!("`{value}`: `{{{{` without a closing `}}}}`"))?;
        pieces.push(Err(parse_macro(&rest[start + 2..start + end])?));
        rest = &rest[start + end + 2..];
    }
    if rest.contains("}}") {
        return Err(format!("`{value}`: `}}}}` without an opening `{{{{`"));
    }
    pieces.push(Ok(rest));
    Ok(pieces)
}

/// Checks the macros of a value.
pub fn check(value: &str) -> Result<(), String> {
    pieces(value).map(drop)
}

/// The value for the run whose logical instant is `logical` (in the schedule's zone).
pub fn render(value: &str, logical: DateTime<Tz>) -> Result<String, String> {
    let ds: NaiveDate = logical.date_naive();
    let mut out = String::new();
    for piece in pieces(value)? {
        match piece {
            Ok(text) => out.push_str(text),
            Err(Macro::Ds) => out.push_str(&ds.format("%Y-%m-%d").to_string()),
            Err(Macro::DsNodash) => out.push_str(&ds.format("%Y%m%d").to_string()),
            Err(Macro::Ts) => out.push_str(&logical.to_rfc3339()),
            Err(Macro::DsAdd(days)) => {
                let shifted = if days >= 0 {
                    ds.checked_add_days(Days::new(days.unsigned_abs()))
                } else {
                    ds.checked_sub_days(Days::new(days.unsigned_abs()))
                };
                let shifted = shifted.ok_or_else(|| format!("ds_add(ds, {days}) leaves the calendar"))?;
                out.push_str(&shifted.format("%Y-%m-%d").to_string());
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn macros_render_for_the_logical_date() {
        let Some(logical) = chrono_tz::Europe::London.with_ymd_and_hms(2024, 3, 1, 6, 0, 0).single() else { panic!() };
        assert_eq!(render("{{ ds }}", logical), Ok("2024-03-01".into()));
        assert_eq!(render("{{ds_add(ds, -1)}}", logical), Ok("2024-02-29".into()), "leap day");
        assert_eq!(render("{{ ds_add(ds, 1) }}", logical), Ok("2024-03-02".into()));
        assert_eq!(render("day={{ ds_nodash }}/x", logical), Ok("day=20240301/x".into()));
        assert_eq!(render("{{ ts }}", logical), Ok("2024-03-01T06:00:00+00:00".into()));
        assert_eq!(render("no macros", logical), Ok("no macros".into()));
    }

    #[test]
    fn unknown_and_broken_macros_are_errors() {
        assert!(check("{{ yesterday_ds }}").unwrap_err().contains("unknown macro `{{ yesterday_ds }}`"));
        assert!(check("{{ ds_add(ds, x) }}").is_err());
        assert!(check("{{ ds").unwrap_err().contains("without a closing"));
        assert!(check("ds }}").unwrap_err().contains("without an opening"));
        assert!(check("{{ ds }} and {{ ts }}").is_ok());
    }
}
