//! Occurrence tests in real time zones (DST, short months, last weekday, COUNT, UNTIL).

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::Tz;

use super::*;

fn rule(s: &str) -> Recurrence {
    s.parse().unwrap()
}

fn local(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn tz(name: &str) -> Tz {
    name.parse().unwrap()
}

/// The first `n` occurrences after the start, each found with `next_occurrence` from the previous.
fn series(r: &str, start: &str, zone: &str, n: usize) -> Vec<String> {
    let r = rule(r);
    let zone = tz(zone);
    let start = local(start);
    let mut after = resolve_local(zone, start).unwrap().with_timezone(&Utc);
    let mut out = Vec::new();
    for _ in 0..n {
        match next_occurrence(&r, start, zone, after) {
            Some(t) => {
                out.push(
                    t.with_timezone(&zone)
                        .format("%Y-%m-%d %H:%M %Z")
                        .to_string(),
                );
                after = t;
            }
            None => break,
        }
    }
    out
}

#[test]
fn monthly_on_the_31st_skips_short_months_and_never_drifts() {
    assert_eq!(
        series("FREQ=MONTHLY", "2026-01-31 09:00:00", "Europe/Berlin", 6),
        [
            "2026-03-31 09:00 CEST",
            "2026-05-31 09:00 CEST",
            "2026-07-31 09:00 CEST",
            "2026-08-31 09:00 CEST",
            "2026-10-31 09:00 CET",
            "2026-12-31 09:00 CET",
        ]
    );
    assert_eq!(
        series(
            "FREQ=MONTHLY;BYMONTHDAY=31",
            "2026-01-31 09:00:00",
            "UTC",
            2
        ),
        ["2026-03-31 09:00 UTC", "2026-05-31 09:00 UTC"]
    );
}

#[test]
fn monthly_last_day_of_month() {
    assert_eq!(
        series(
            "FREQ=MONTHLY;BYMONTHDAY=-1",
            "2026-01-31 18:00:00",
            "UTC",
            4
        ),
        [
            "2026-02-28 18:00 UTC",
            "2026-03-31 18:00 UTC",
            "2026-04-30 18:00 UTC",
            "2026-05-31 18:00 UTC"
        ]
    );
}

#[test]
fn monthly_last_friday_and_second_monday() {
    assert_eq!(
        series(
            "FREQ=MONTHLY;BYDAY=-1FR",
            "2026-01-30 16:00:00",
            "America/New_York",
            3
        ),
        [
            "2026-02-27 16:00 EST",
            "2026-03-27 16:00 EDT",
            "2026-04-24 16:00 EDT"
        ]
    );
    assert_eq!(
        series("FREQ=MONTHLY;BYDAY=2MO", "2026-01-12 10:00:00", "UTC", 3),
        [
            "2026-02-09 10:00 UTC",
            "2026-03-09 10:00 UTC",
            "2026-04-13 10:00 UTC"
        ]
    );
}

#[test]
fn weekly_by_day_and_interval() {
    assert_eq!(
        series(
            "FREQ=WEEKLY;BYDAY=MO,WE,FR",
            "2026-05-04 08:00:00",
            "UTC",
            4
        ),
        [
            "2026-05-06 08:00 UTC",
            "2026-05-08 08:00 UTC",
            "2026-05-11 08:00 UTC",
            "2026-05-13 08:00 UTC"
        ]
    );
    assert_eq!(
        series("FREQ=WEEKLY;INTERVAL=2", "2026-05-04 08:00:00", "UTC", 2),
        ["2026-05-18 08:00 UTC", "2026-06-01 08:00 UTC"]
    );
}

#[test]
fn daily_keeps_local_wall_time_across_dst() {
    let r = rule("FREQ=DAILY");
    let berlin = tz("Europe/Berlin");
    let start = local("2026-03-27 09:00:00");
    // 09:00 CET = 08:00Z before the change on 29 March; 09:00 CEST = 07:00Z after it.
    assert_eq!(
        next_occurrence(&r, start, berlin, utc("2026-03-28T08:00:00Z")),
        Some(utc("2026-03-29T07:00:00Z"))
    );
    assert_eq!(
        next_occurrence(&r, start, berlin, utc("2026-03-27T08:00:00Z")),
        Some(utc("2026-03-28T08:00:00Z"))
    );
}

#[test]
fn nonexistent_local_time_is_shifted_forward_by_the_gap() {
    // 02:30 does not exist in Berlin on 29 March 2026 (02:00 -> 03:00): 03:30 CEST that day,
    // then 02:30 again.
    assert_eq!(
        series("FREQ=DAILY", "2026-03-28 02:30:00", "Europe/Berlin", 2),
        ["2026-03-29 03:30 CEST", "2026-03-30 02:30 CEST"]
    );
}

#[test]
fn ambiguous_local_time_takes_the_first() {
    // 01:30 happens twice in New York on 1 November 2026; the first is EDT (05:30Z).
    let r = rule("FREQ=DAILY");
    let ny = tz("America/New_York");
    assert_eq!(
        next_occurrence(
            &r,
            local("2026-10-31 01:30:00"),
            ny,
            utc("2026-10-31T05:30:00Z")
        ),
        Some(utc("2026-11-01T05:30:00Z"))
    );
}

#[test]
fn count_includes_the_start() {
    assert_eq!(
        series("FREQ=DAILY;COUNT=3", "2026-05-01 09:00:00", "UTC", 10),
        ["2026-05-02 09:00 UTC", "2026-05-03 09:00 UTC"]
    );
    assert!(series("FREQ=DAILY;COUNT=1", "2026-05-01 09:00:00", "UTC", 10).is_empty());
}

#[test]
fn until_is_inclusive_and_a_date_means_the_local_day() {
    assert_eq!(
        series(
            "FREQ=DAILY;UNTIL=20260503T090000Z",
            "2026-05-01 09:00:00",
            "UTC",
            10
        ),
        ["2026-05-02 09:00 UTC", "2026-05-03 09:00 UTC"]
    );
    // 23:00 in Tokyo on 3 May is 14:00Z; UNTIL=20260503 covers the whole Tokyo day.
    assert_eq!(
        series(
            "FREQ=DAILY;UNTIL=20260503",
            "2026-05-01 23:00:00",
            "Asia/Tokyo",
            10
        ),
        ["2026-05-02 23:00 JST", "2026-05-03 23:00 JST"]
    );
    assert!(series(
        "FREQ=DAILY;UNTIL=20260401",
        "2026-05-01 09:00:00",
        "UTC",
        10
    )
    .is_empty());
}

#[test]
fn yearly_on_the_29th_of_february_waits_for_leap_years() {
    assert_eq!(
        series("FREQ=YEARLY", "2024-02-29 12:00:00", "UTC", 2),
        ["2028-02-29 12:00 UTC", "2032-02-29 12:00 UTC"]
    );
}

#[test]
fn finds_the_first_occurrence_after_a_later_instant() {
    let r = rule("FREQ=WEEKLY;BYDAY=SA");
    let start = local("2026-01-03 10:00:00");
    assert_eq!(
        next_occurrence(&r, start, Tz::UTC, utc("2026-06-01T00:00:00Z")),
        Some(utc("2026-06-06T10:00:00Z"))
    );
    // A start later than `after` is itself the next occurrence.
    assert_eq!(
        next_occurrence(&r, start, Tz::UTC, utc("2025-12-01T00:00:00Z")),
        Some(utc("2026-01-03T10:00:00Z"))
    );
}

#[test]
fn a_start_off_the_rule_is_followed_by_the_rule_days() {
    // Due on a Tuesday, repeating on Mondays: the next one is the following Monday.
    let due = utc("2026-05-05T09:00:00Z");
    assert_eq!(
        next_after_due(&rule("FREQ=WEEKLY;BYDAY=MO"), due, Tz::UTC),
        Some(utc("2026-05-11T09:00:00Z"))
    );
}

#[test]
fn keeps_sub_second_parts_of_the_start() {
    let due = utc("2026-05-05T09:00:00.250Z");
    assert_eq!(
        next_after_due(&rule("FREQ=DAILY"), due, Tz::UTC),
        Some(utc("2026-05-06T09:00:00.250Z"))
    );
}

#[test]
fn until_date_parses_as_a_local_day() {
    let r = rule("FREQ=DAILY;UNTIL=20260502");
    assert_eq!(
        r.until,
        Some(Until::Date(NaiveDate::from_ymd_opt(2026, 5, 2).unwrap()))
    );
}

/// A deliberately naive reference: walk local days from the start and test each against the
/// rule's definition, then compare with `next_occurrence` for many generated rules.
mod reference {
    use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, Utc, Weekday};
    use chrono_tz::Tz;

    use super::super::*;

    fn days_in_month(y: i32, m: u32) -> u32 {
        let next = if m == 12 {
            NaiveDate::from_ymd_opt(y + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(y, m + 1, 1)
        };
        next.unwrap().pred_opt().unwrap().day()
    }

    fn matches(r: &Recurrence, start: NaiveDate, d: NaiveDate) -> bool {
        let interval = i64::from(r.interval);
        match r.freq {
            Freq::Daily => (d - start).num_days() % interval == 0,
            Freq::Weekly => {
                let week0 =
                    start - Duration::days(i64::from(start.weekday().num_days_from_monday()));
                let weeks = (d - week0).num_days().div_euclid(7);
                let days: Vec<Weekday> = if r.by_day.is_empty() {
                    vec![start.weekday()]
                } else {
                    r.by_day.iter().map(|b| b.weekday).collect()
                };
                weeks % interval == 0 && days.contains(&d.weekday())
            }
            Freq::Monthly => {
                let months =
                    (d.year() - start.year()) * 12 + d.month() as i32 - start.month() as i32;
                if i64::from(months) % interval != 0 {
                    return false;
                }
                let dim = days_in_month(d.year(), d.month()) as i32;
                let day = d.day() as i32;
                if !r.by_month_day.is_empty() {
                    r.by_month_day.iter().any(|&m| {
                        let m = i32::from(m);
                        if m > 0 {
                            m == day
                        } else {
                            dim + 1 + m == day
                        }
                    })
                } else if !r.by_day.is_empty() {
                    r.by_day.iter().any(|b| {
                        b.weekday == d.weekday()
                            && match b.ordinal {
                                None => true,
                                Some(n) if n > 0 => (day - 1) / 7 + 1 == i32::from(n),
                                Some(n) => (dim - day) / 7 + 1 == -i32::from(n),
                            }
                    })
                } else {
                    day == start.day() as i32
                }
            }
            Freq::Yearly => {
                i64::from(d.year() - start.year()) % interval == 0
                    && d.month() == start.month()
                    && d.day() == start.day()
            }
        }
    }

    /// Occurrences after the start, from the reference walk.
    fn walk(r: &Recurrence, start: NaiveDateTime, tz: Tz, n: usize) -> Vec<chrono::DateTime<Utc>> {
        let mut out = Vec::new();
        let first = resolve_local(tz, start).unwrap().with_timezone(&Utc);
        let mut count = 1;
        let mut d = start.date();
        for _ in 0..(366 * 40) {
            d = d.succ_opt().unwrap();
            if !matches(r, start.date(), d) {
                continue;
            }
            let t = resolve_local(tz, d.and_time(start.time()))
                .unwrap()
                .with_timezone(&Utc);
            if t <= first {
                continue;
            }
            count += 1;
            if r.count.is_some_and(|c| count > c) || out.len() == n {
                break;
            }
            out.push(t);
        }
        out
    }

    /// A small deterministic generator (xorshift), so failures reproduce.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
            &xs[(self.next() % xs.len() as u64) as usize]
        }
    }

    fn random_rule(rng: &mut Rng) -> String {
        let days = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];
        let interval = *rng.pick(&[1, 1, 2, 3]);
        let mut rule = match rng.next() % 6 {
            0 => "FREQ=DAILY".to_owned(),
            1 => {
                let a = rng.pick(&days);
                let b = rng.pick(&days);
                format!("FREQ=WEEKLY;BYDAY={a},{b}")
            }
            2 => format!(
                "FREQ=MONTHLY;BYMONTHDAY={}",
                rng.pick(&[1, 15, 29, 30, 31, -1, -2])
            ),
            3 => format!(
                "FREQ=MONTHLY;BYDAY={}{}",
                rng.pick(&["1", "2", "3", "4", "5", "-1", "-2"]),
                rng.pick(&days)
            ),
            4 => "FREQ=MONTHLY".to_owned(),
            _ => "FREQ=YEARLY".to_owned(),
        };
        if interval != 1 {
            rule.push_str(&format!(";INTERVAL={interval}"));
        }
        if rng.next().is_multiple_of(3) {
            rule.push_str(&format!(";COUNT={}", 1 + rng.next() % 6));
        }
        rule
    }

    #[test]
    fn next_occurrence_agrees_with_a_day_by_day_walk() {
        let zones = [
            "UTC",
            "Europe/Berlin",
            "America/New_York",
            "Australia/Sydney",
            "Asia/Kolkata",
        ];
        let times = ["00:30:00", "01:30:00", "02:30:00", "09:00:00", "23:59:00"];
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for case in 0..1500 {
            let rule_text = random_rule(&mut rng);
            let rule: Recurrence = rule_text.parse().unwrap();
            let tz: Tz = rng.pick(&zones).parse().unwrap();
            let day = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap()
                + Duration::days((rng.next() % 730) as i64);
            let start = NaiveDateTime::parse_from_str(
                &format!("{} {}", day, rng.pick(&times)),
                "%Y-%m-%d %H:%M:%S",
            )
            .unwrap();
            let want = walk(&rule, start, tz, 8);
            let mut got = Vec::new();
            let mut after = resolve_local(tz, start).unwrap().with_timezone(&Utc);
            while got.len() < 8 {
                match next_occurrence(&rule, start, tz, after) {
                    Some(t) => {
                        got.push(t);
                        after = t;
                    }
                    None => break,
                }
            }
            assert_eq!(got, want, "case {case}: {rule_text} from {start} in {tz}");
        }
    }
}
