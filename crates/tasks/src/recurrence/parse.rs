//! The supported RRULE subset: parsing, validation and the canonical text form.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc, Weekday};

/// Longest accepted rule text (the event schema's limit).
pub const RULE_MAX: usize = 500;
/// Largest accepted `INTERVAL`.
pub const INTERVAL_MAX: u32 = 1000;
/// Largest accepted `COUNT`.
pub const COUNT_MAX: u32 = 10_000;

/// How often the rule repeats (`FREQ`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Freq {
    /// `DAILY`
    Daily,
    /// `WEEKLY` (optionally on `BYDAY` weekdays)
    Weekly,
    /// `MONTHLY` (on the start's day, `BYMONTHDAY` days, or `BYDAY` weekdays such as `-1FR`)
    Monthly,
    /// `YEARLY` (on the start's month and day)
    Yearly,
}

impl Freq {
    fn as_str(self) -> &'static str {
        match self {
            Freq::Daily => "DAILY",
            Freq::Weekly => "WEEKLY",
            Freq::Monthly => "MONTHLY",
            Freq::Yearly => "YEARLY",
        }
    }
}

/// One `BYDAY` entry: a weekday, with an ordinal in monthly rules (`2MO`, `-1FR`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ByDay {
    /// 1..=5 or -5..=-1 (`-1` = last); `None` = every such weekday of the period.
    pub ordinal: Option<i8>,
    /// The weekday.
    pub weekday: Weekday,
}

/// End of the rule (`UNTIL`): an instant, or a date meaning "through that local day".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// `UNTIL=20261231T235959Z`
    Instant(DateTime<Utc>),
    /// `UNTIL=20261231`: occurrences on or before that date in the task's time zone.
    Date(NaiveDate),
}

/// A recurrence rule of the supported RFC 5545 subset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recurrence {
    /// `FREQ`
    pub freq: Freq,
    /// `INTERVAL` (1 when absent).
    pub interval: u32,
    /// `BYDAY` (WEEKLY and MONTHLY only).
    pub by_day: Vec<ByDay>,
    /// `BYMONTHDAY` (MONTHLY only): 1..=31 or -31..=-1 (`-1` = last day).
    pub by_month_day: Vec<i8>,
    /// `COUNT`: total number of occurrences, the first one (the due date) included.
    pub count: Option<u32>,
    /// `UNTIL`.
    pub until: Option<Until>,
}

/// Why a rule was refused, naming the rule part (`FREQ`, `BYDAY`, `BYSETPOS`, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{part}: {message}")]
pub struct RuleError {
    /// The rule part at fault (upper case), or `RRULE` for the rule as a whole.
    pub part: String,
    /// What is wrong.
    pub message: String,
}

fn err(part: &str, message: impl Into<String>) -> RuleError {
    RuleError {
        part: part.to_owned(),
        message: message.into(),
    }
}

const SUPPORTED: &str = "FREQ, INTERVAL, COUNT, UNTIL, BYDAY, BYMONTHDAY";

impl FromStr for Recurrence {
    type Err = RuleError;

    /// Parses `FREQ=...;...` (an optional `RRULE:` prefix and any letter case are accepted).
    fn from_str(text: &str) -> Result<Self, RuleError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(err("RRULE", "must not be empty"));
        }
        if text.len() > RULE_MAX {
            return Err(err("RRULE", format!("at most {RULE_MAX} characters")));
        }
        let upper = text.to_ascii_uppercase();
        let body = upper.strip_prefix("RRULE:").unwrap_or(&upper);
        let mut parts = Parts::default();
        let items: Vec<&str> = body.strip_suffix(';').unwrap_or(body).split(';').collect();
        for item in items {
            let (name, value) = item
                .split_once('=')
                .ok_or_else(|| err("RRULE", format!("expected NAME=VALUE, got {item:?}")))?;
            let name = name.trim();
            let value = value.trim();
            if value.is_empty() {
                return Err(err(name, "must have a value"));
            }
            parts.set(name, value)?;
        }
        parts.build()
    }
}

#[derive(Default)]
struct Parts {
    freq: Option<Freq>,
    interval: Option<u32>,
    count: Option<u32>,
    until: Option<Until>,
    by_day: Option<Vec<ByDay>>,
    by_month_day: Option<Vec<i8>>,
}

fn once<T>(slot: &mut Option<T>, name: &str, value: T) -> Result<(), RuleError> {
    if slot.is_some() {
        return Err(err(name, "appears more than once"));
    }
    *slot = Some(value);
    Ok(())
}

impl Parts {
    fn set(&mut self, name: &str, value: &str) -> Result<(), RuleError> {
        match name {
            "FREQ" => once(&mut self.freq, name, parse_freq(value)?),
            "INTERVAL" => once(
                &mut self.interval,
                name,
                parse_range(name, value, 1, INTERVAL_MAX)?,
            ),
            "COUNT" => once(
                &mut self.count,
                name,
                parse_range(name, value, 1, COUNT_MAX)?,
            ),
            "UNTIL" => once(&mut self.until, name, parse_until(value)?),
            "BYDAY" => once(&mut self.by_day, name, parse_by_day(value)?),
            "BYMONTHDAY" => once(&mut self.by_month_day, name, parse_by_month_day(value)?),
            "" => Err(err("RRULE", "empty rule part name")),
            other => Err(err(
                other,
                format!("rule part not supported (supported: {SUPPORTED})"),
            )),
        }
    }

    fn build(self) -> Result<Recurrence, RuleError> {
        let freq = self.freq.ok_or_else(|| err("FREQ", "is required"))?;
        if self.count.is_some() && self.until.is_some() {
            return Err(err("COUNT", "COUNT and UNTIL must not both be set"));
        }
        let by_day = self.by_day.unwrap_or_default();
        let by_month_day = self.by_month_day.unwrap_or_default();
        match freq {
            Freq::Daily | Freq::Yearly => {
                if !by_day.is_empty() {
                    return Err(err(
                        "BYDAY",
                        format!("not supported with FREQ={}", freq.as_str()),
                    ));
                }
                if !by_month_day.is_empty() {
                    return Err(err(
                        "BYMONTHDAY",
                        format!("not supported with FREQ={}", freq.as_str()),
                    ));
                }
            }
            Freq::Weekly => {
                if !by_month_day.is_empty() {
                    return Err(err("BYMONTHDAY", "not supported with FREQ=WEEKLY"));
                }
                if by_day.iter().any(|d| d.ordinal.is_some()) {
                    return Err(err(
                        "BYDAY",
                        "ordinals such as 2MO are only allowed with FREQ=MONTHLY",
                    ));
                }
            }
            Freq::Monthly => {
                if !by_day.is_empty() && !by_month_day.is_empty() {
                    return Err(err(
                        "BYMONTHDAY",
                        "use either BYMONTHDAY or BYDAY with FREQ=MONTHLY, not both",
                    ));
                }
            }
        }
        Ok(Recurrence {
            freq,
            interval: self.interval.unwrap_or(1),
            by_day,
            by_month_day,
            count: self.count,
            until: self.until,
        })
    }
}

fn parse_freq(value: &str) -> Result<Freq, RuleError> {
    match value {
        "DAILY" => Ok(Freq::Daily),
        "WEEKLY" => Ok(Freq::Weekly),
        "MONTHLY" => Ok(Freq::Monthly),
        "YEARLY" => Ok(Freq::Yearly),
        "SECONDLY" | "MINUTELY" | "HOURLY" => Err(err(
            "FREQ",
            format!("FREQ={value} is not supported (DAILY, WEEKLY, MONTHLY or YEARLY)"),
        )),
        _ => Err(err(
            "FREQ",
            format!("unknown frequency {value:?} (DAILY, WEEKLY, MONTHLY or YEARLY)"),
        )),
    }
}

fn parse_range(name: &str, value: &str, min: u32, max: u32) -> Result<u32, RuleError> {
    let all_digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
    let n: Option<u32> = if all_digits { value.parse().ok() } else { None };
    match n {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(err(
            name,
            format!("must be an integer from {min} to {max}, got {value:?}"),
        )),
    }
}

fn parse_until(value: &str) -> Result<Until, RuleError> {
    if value.len() == 8 {
        return NaiveDate::parse_from_str(value, "%Y%m%d")
            .map(Until::Date)
            .map_err(|_| err("UNTIL", format!("invalid date {value:?} (YYYYMMDD)")));
    }
    let Some(local) = value.strip_suffix('Z') else {
        return Err(err(
            "UNTIL",
            "must be a UTC date-time such as 20261231T235959Z or a date such as 20261231",
        ));
    };
    NaiveDateTime::parse_from_str(local, "%Y%m%dT%H%M%S")
        .map(|t| Until::Instant(t.and_utc()))
        .map_err(|_| {
            err(
                "UNTIL",
                format!("invalid date-time {value:?} (YYYYMMDDTHHMMSSZ)"),
            )
        })
}

fn parse_weekday(code: &str) -> Option<Weekday> {
    Some(match code {
        "MO" => Weekday::Mon,
        "TU" => Weekday::Tue,
        "WE" => Weekday::Wed,
        "TH" => Weekday::Thu,
        "FR" => Weekday::Fri,
        "SA" => Weekday::Sat,
        "SU" => Weekday::Sun,
        _ => return None,
    })
}

fn weekday_code(d: Weekday) -> &'static str {
    match d {
        Weekday::Mon => "MO",
        Weekday::Tue => "TU",
        Weekday::Wed => "WE",
        Weekday::Thu => "TH",
        Weekday::Fri => "FR",
        Weekday::Sat => "SA",
        Weekday::Sun => "SU",
    }
}

fn parse_by_day(value: &str) -> Result<Vec<ByDay>, RuleError> {
    let mut out: Vec<ByDay> = Vec::new();
    for item in value.split(',') {
        let item = item.trim();
        if item.len() < 2 {
            return Err(err("BYDAY", format!("invalid weekday {item:?}")));
        }
        let (num, code) = item.split_at(item.len() - 2);
        let weekday = parse_weekday(code).ok_or_else(|| {
            err(
                "BYDAY",
                format!("invalid weekday {item:?} (MO, TU, WE, TH, FR, SA, SU)"),
            )
        })?;
        let ordinal = if num.is_empty() {
            None
        } else {
            let digits = num.strip_prefix(['+', '-']).unwrap_or(num);
            let n: Option<i8> = if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
            {
                num.parse().ok()
            } else {
                None
            };
            match n {
                Some(n) if n != 0 && (-5..=5).contains(&n) => Some(n),
                _ => {
                    return Err(err(
                        "BYDAY",
                        format!("invalid ordinal in {item:?} (1 to 5 or -1 to -5, -1 = last)"),
                    ))
                }
            }
        };
        let day = ByDay { ordinal, weekday };
        if !out.contains(&day) {
            out.push(day);
        }
    }
    Ok(out)
}

fn parse_by_month_day(value: &str) -> Result<Vec<i8>, RuleError> {
    let mut out: Vec<i8> = Vec::new();
    for item in value.split(',') {
        let item = item.trim();
        let digits = item.strip_prefix(['+', '-']).unwrap_or(item);
        let n: Option<i8> = if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            item.parse().ok()
        } else {
            None
        };
        match n {
            Some(n) if n != 0 && (-31..=31).contains(&n) => {
                if !out.contains(&n) {
                    out.push(n);
                }
            }
            _ => {
                return Err(err(
                    "BYMONTHDAY",
                    format!("invalid day {item:?} (1 to 31 or -1 to -31, -1 = last day)"),
                ))
            }
        }
    }
    Ok(out)
}

impl fmt::Display for Recurrence {
    /// The canonical form: upper case, no `RRULE:` prefix, parts in the order FREQ, INTERVAL
    /// (only when not 1), BYDAY, BYMONTHDAY, COUNT, UNTIL.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FREQ={}", self.freq.as_str())?;
        if self.interval != 1 {
            write!(f, ";INTERVAL={}", self.interval)?;
        }
        if !self.by_day.is_empty() {
            let days: Vec<String> = self
                .by_day
                .iter()
                .map(|d| match d.ordinal {
                    Some(n) => format!("{n}{}", weekday_code(d.weekday)),
                    None => weekday_code(d.weekday).to_owned(),
                })
                .collect();
            write!(f, ";BYDAY={}", days.join(","))?;
        }
        if !self.by_month_day.is_empty() {
            let days: Vec<String> = self.by_month_day.iter().map(|d| d.to_string()).collect();
            write!(f, ";BYMONTHDAY={}", days.join(","))?;
        }
        if let Some(c) = self.count {
            write!(f, ";COUNT={c}")?;
        }
        match self.until {
            Some(Until::Instant(t)) => write!(f, ";UNTIL={}", t.format("%Y%m%dT%H%M%SZ"))?,
            Some(Until::Date(d)) => write!(f, ";UNTIL={}", d.format("%Y%m%d"))?,
            None => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> String {
        s.parse::<Recurrence>().unwrap().to_string()
    }

    fn part(s: &str) -> String {
        s.parse::<Recurrence>().unwrap_err().part
    }

    #[test]
    fn canonicalises_the_supported_subset() {
        assert_eq!(ok("freq=daily"), "FREQ=DAILY");
        assert_eq!(
            ok("RRULE:FREQ=WEEKLY;BYDAY=mo,we,MO"),
            "FREQ=WEEKLY;BYDAY=MO,WE"
        );
        assert_eq!(
            ok("FREQ=MONTHLY;BYMONTHDAY=-1,15"),
            "FREQ=MONTHLY;BYMONTHDAY=-1,15"
        );
        assert_eq!(ok("FREQ=MONTHLY;BYDAY=+2MO"), "FREQ=MONTHLY;BYDAY=2MO");
        assert_eq!(ok("FREQ=MONTHLY;BYDAY=-1FR"), "FREQ=MONTHLY;BYDAY=-1FR");
        assert_eq!(
            ok("FREQ=YEARLY;INTERVAL=2;COUNT=3;"),
            "FREQ=YEARLY;INTERVAL=2;COUNT=3"
        );
        assert_eq!(
            ok("UNTIL=20261231T235959Z;FREQ=DAILY;INTERVAL=1"),
            "FREQ=DAILY;UNTIL=20261231T235959Z"
        );
        assert_eq!(ok("FREQ=DAILY;UNTIL=20261231"), "FREQ=DAILY;UNTIL=20261231");
    }

    #[test]
    fn refusals_name_the_rule_part() {
        assert_eq!(part("FREQ=HOURLY"), "FREQ");
        assert_eq!(part("FREQ=FORTNIGHTLY"), "FREQ");
        assert_eq!(part("INTERVAL=2"), "FREQ");
        assert_eq!(part("FREQ=DAILY;BYSETPOS=1"), "BYSETPOS");
        assert_eq!(part("FREQ=WEEKLY;WKST=SU"), "WKST");
        assert_eq!(part("FREQ=MONTHLY;BYMONTH=1"), "BYMONTH");
        assert_eq!(part("FREQ=DAILY;COUNT=2;UNTIL=20261231T000000Z"), "COUNT");
        assert_eq!(part("FREQ=DAILY;INTERVAL=0"), "INTERVAL");
        assert_eq!(part("FREQ=DAILY;INTERVAL=-1"), "INTERVAL");
        assert_eq!(part("FREQ=DAILY;COUNT=x"), "COUNT");
        assert_eq!(part("FREQ=DAILY;UNTIL=20261231T000000"), "UNTIL");
        assert_eq!(part("FREQ=DAILY;UNTIL=20261332"), "UNTIL");
        assert_eq!(part("FREQ=DAILY;BYDAY=MO"), "BYDAY");
        assert_eq!(part("FREQ=WEEKLY;BYDAY=2MO"), "BYDAY");
        assert_eq!(part("FREQ=WEEKLY;BYDAY=XX"), "BYDAY");
        assert_eq!(part("FREQ=MONTHLY;BYDAY=6MO"), "BYDAY");
        assert_eq!(part("FREQ=MONTHLY;BYDAY=0MO"), "BYDAY");
        assert_eq!(part("FREQ=MONTHLY;BYMONTHDAY=32"), "BYMONTHDAY");
        assert_eq!(part("FREQ=MONTHLY;BYMONTHDAY=0"), "BYMONTHDAY");
        assert_eq!(part("FREQ=MONTHLY;BYMONTHDAY=1;BYDAY=MO"), "BYMONTHDAY");
        assert_eq!(part("FREQ=YEARLY;BYMONTHDAY=1"), "BYMONTHDAY");
        assert_eq!(part("FREQ=DAILY;FREQ=WEEKLY"), "FREQ");
        assert_eq!(part("FREQ=DAILY;COUNT="), "COUNT");
        assert_eq!(part("FREQ"), "RRULE");
        assert_eq!(part(""), "RRULE");
        assert_eq!(part(&format!("FREQ=DAILY;{}", "X".repeat(600))), "RRULE");
    }
}
