//! Occurrences of a rule in a time zone, computed with the `rrule` crate.
//!
//! Semantics (RFC 5545): the start (the task's due date) is the first occurrence; the rule's
//! other occurrences follow in the task's time zone at the start's local wall time, so a daily
//! 09:00 task stays at 09:00 across DST changes, and a local time that does not exist on a day
//! (DST gap) is shifted forward by the gap's length. `BYMONTHDAY=31` and a monthly rule started on
//! the 31st skip months without a 31st, never drifting to the 30th; `-1` is the last day. `COUNT`
//! counts the start; `UNTIL` is inclusive (a date means through the end of that local day).

use chrono::{DateTime, Duration, NaiveDateTime, NaiveTime, Offset, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use rrule::{Frequency, NWeekday, RRule};

use super::parse::{Freq, Recurrence, Until};

/// At most this many occurrences are stepped through to find the next one.
pub const MAX_STEPS: usize = 100_000;

/// The first occurrence strictly after `after` of `rule` started at local wall time
/// `dtstart_local` in `tz`; `None` when the rule has ended (COUNT, UNTIL) before that, or when
/// more than [`MAX_STEPS`] occurrences lie between the start and `after`.
pub fn next_occurrence(
    rule: &Recurrence,
    dtstart_local: NaiveDateTime,
    tz: Tz,
    after: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    // The rrule crate works in whole seconds; the fraction is added back to every occurrence.
    let frac = Duration::nanoseconds(i64::from(dtstart_local.nanosecond()));
    let start_local = dtstart_local.with_nanosecond(0)?;
    let start = resolve_local(tz, start_local)?;
    let start_utc = start.with_timezone(&Utc) + frac;
    let until = rule.until.and_then(|u| until_instant(u, tz));
    let within = |t: DateTime<Utc>| until.is_none_or(|u| t - frac <= u);

    if start_utc > after {
        return within(start_utc).then_some(start_utc);
    }
    if rule.count == Some(1) {
        return None;
    }
    if until.is_some_and(|u| u < start.with_timezone(&Utc)) {
        return None;
    }

    let rrule_tz = rrule::Tz::Tz(tz);
    let dtstart = start.with_timezone(&rrule_tz);
    // The wall time comes from `dtstart_local` itself, not from the resolved start, which a DST
    // gap may have moved (02:30 -> 03:30): later occurrences are at 02:30 again.
    let mut r = RRule::new(freq(rule.freq))
        .interval(u16::try_from(rule.interval).ok()?)
        .by_hour(vec![u8::try_from(start_local.hour()).ok()?])
        .by_minute(vec![u8::try_from(start_local.minute()).ok()?])
        .by_second(vec![u8::try_from(start_local.second()).ok()?]);
    if !rule.by_day.is_empty() {
        r = r.by_weekday(
            rule.by_day
                .iter()
                .map(|d| match d.ordinal {
                    Some(n) => NWeekday::Nth(i16::from(n), d.weekday),
                    None => NWeekday::Every(d.weekday),
                })
                .collect(),
        );
    }
    if !rule.by_month_day.is_empty() {
        r = r.by_month_day(rule.by_month_day.clone());
    }
    if let Some(u) = until {
        r = r.until(u.with_timezone(&rrule::Tz::UTC));
    }
    let set = r.build(dtstart).ok()?.limit();

    // The start is occurrence 1.
    let mut index: u32 = 1;
    for occurrence in set.into_iter().take(MAX_STEPS) {
        let t = occurrence.with_timezone(&Utc) + frac;
        if t <= start_utc {
            continue;
        }
        index += 1;
        if rule.count.is_some_and(|c| index > c) {
            return None;
        }
        if t > after {
            return within(t).then_some(t);
        }
    }
    None
}

/// The occurrence after the one due at `due` (an instant), in `tz`: the next due date of a
/// recurring task whose current occurrence is due at `due`, counting `due` as the start.
pub fn next_after_due(rule: &Recurrence, due: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
    next_occurrence(rule, due.with_timezone(&tz).naive_local(), tz, due)
}

fn freq(f: Freq) -> Frequency {
    match f {
        Freq::Daily => Frequency::Daily,
        Freq::Weekly => Frequency::Weekly,
        Freq::Monthly => Frequency::Monthly,
        Freq::Yearly => Frequency::Yearly,
    }
}

/// The instant of local wall time `local` in `tz`: the earlier one when it is ambiguous (DST
/// fall-back); when it does not exist (DST gap), the wall time read with the offset in force
/// before the gap, i.e. shifted forward by the gap (RFC 5545 §3.3.5).
pub fn resolve_local(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Tz>> {
    if let Some(t) = tz.from_local_datetime(&local).earliest() {
        return Some(t);
    }
    for hours in [3, 26] {
        if let Some(before) = tz
            .from_local_datetime(&(local - Duration::hours(hours)))
            .earliest()
        {
            let offset = before.offset().fix();
            let utc = local - Duration::seconds(i64::from(offset.local_minus_utc()));
            return Some(tz.from_utc_datetime(&utc));
        }
    }
    None
}

fn until_instant(until: Until, tz: Tz) -> Option<DateTime<Utc>> {
    match until {
        Until::Instant(t) => Some(t),
        Until::Date(d) => {
            let next_midnight = d.succ_opt()?.and_time(NaiveTime::MIN);
            let end = resolve_local(tz, next_midnight)?.with_timezone(&Utc);
            Some(end - Duration::seconds(1))
        }
    }
}
