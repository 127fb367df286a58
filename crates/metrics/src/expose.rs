//! The Prometheus text exposition (format 0.0.4) of the database's counters and each consumer's
//! lag: [`scrape`] reads everything in one statement, [`decode`] parses its row, [`render`]
//! writes the text `GET /metrics` answers.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Deserialize;
use serde_json::Value;
use todo_events::{SemVer, Topic};
use todo_sql::{shape, single, Binder, RowError, Statement};

use crate::{
    CONSUMER_LAG, CONSUMER_PENDING, DEAD_LETTERS, DEAD_LETTERS_PENDING, EVENTS_CONSUMED,
    EVENTS_PUBLISHED, PROCESSING_DURATION, PROCESSING_ERRORS, PUBLISH_ERRORS, VALIDATION_ERRORS,
    VERSION_MISMATCHES,
};

/// The consumers and the topic each subscribes to (contracts/dapr-components/*/subscriptions.yaml;
/// a test compares them): whose lag is measured.
pub const CONSUMERS: [(&str, Topic); 4] = [
    ("audit", Topic::TaskEvents),
    ("recurring", Topic::TaskEvents),
    ("notification", Topic::Reminders),
    ("realtime", Topic::TaskUpdates),
];

/// How far back the lag looks: events published longer ago than this are not lag any more (a
/// dead-lettered event stops counting after it). Nor are events published before the consumer
/// first recorded one with the V7 columns (`metric_consumed.first_at`): before that build it did
/// not record every event (the recurring service recorded only what it rolled forward).
///
/// What a scrape costs does not depend on the window: `metric_consumer_lag`
/// (migrations/V8__metrics_lag.sql) probes `processed_events` by its key only for the events
/// published since the consumer's checkpoint (its oldest pending event, at most 15 s ago), and
/// moves the checkpoint. The window bounds how long a dead-lettered event counts, and how far back
/// a consumer that was down is looked at; 5 minutes sees a stopped consumer within seconds.
pub const LAG_WINDOW_SECONDS: u32 = 300;

/// Every counter and the lag of every consumer, in one statement (it also moves the lag
/// checkpoints, so it runs as a query that writes). Sums over the counter tables'
/// shards; bucket bounds and `le` as text (`+Inf` for the last), instants not needed.
/// Row: `{"buckets": ["0.005", ...], "consumed": [...], "published": [...], "counters": [...],
/// "lag": [{"consumer", "topic", "pending", "seconds"}, ...]}`.
pub fn scrape() -> Statement {
    let mut b = Binder::default();
    let pairs: Vec<[&str; 2]> = CONSUMERS.iter().map(|(c, t)| [*c, t.name()]).collect();
    let pairs = b.jsonb(&serde_json::json!(pairs));
    let window = b.cast(Some(LAG_WINDOW_SECONDS.to_string()), "integer");
    let sql = format!(
        "SELECT jsonb_build_object(\
         'buckets', (SELECT jsonb_agg(x::text ORDER BY x) FROM unnest(metric_duration_buckets()) AS x), \
         'consumed', COALESCE((SELECT jsonb_agg(jsonb_build_object('consumer', c.consumer, \
         'topic', c.topic, 'event_type', c.event_type, 'schema_minor', c.schema_minor, \
         'le', CASE WHEN c.le = 'Infinity' THEN '+Inf' ELSE c.le::text END, \
         'events', c.events, 'seconds', c.seconds)) \
         FROM (SELECT consumer, topic, event_type, schema_minor, le, sum(events) AS events, \
         sum(seconds) AS seconds FROM metric_consumed GROUP BY 1, 2, 3, 4, 5) c), '[]'::jsonb), \
         'published', COALESCE((SELECT jsonb_agg(jsonb_build_object('topic', p.topic, \
         'event_type', p.event_type, 'events', p.events)) \
         FROM (SELECT topic, event_type, sum(events) AS events FROM metric_published \
         GROUP BY 1, 2) p), '[]'::jsonb), \
         'counters', COALESCE((SELECT jsonb_agg(jsonb_build_object('name', name, \
         'labels', labels, 'value', value)) FROM metric_counters), '[]'::jsonb), \
         'dead_letters', COALESCE((SELECT jsonb_agg(jsonb_build_object('topic', d.topic, \
         'pending', d.n)) FROM (SELECT topic, count(*) AS n FROM dead_letters \
         WHERE state = 'dead' GROUP BY 1) d), '[]'::jsonb), \
         'lag', COALESCE((SELECT jsonb_agg(jsonb_build_object('consumer', c->>0, 'topic', c->>1, \
         'pending', l.pending, 'seconds', \
         COALESCE(greatest(extract(epoch FROM clock_timestamp() - l.oldest)::double precision, 0), 0))) \
         FROM jsonb_array_elements({pairs}) AS c \
         CROSS JOIN LATERAL metric_consumer_lag(c->>0, c->>1, {window}) l), \
         '[]'::jsonb))::text"
    );
    b.finish(sql)
}

/// Consumption counts of one (consumer, topic, event type, schema MAJOR.MINOR, bucket).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Consumed {
    /// The consumer (app-id).
    pub consumer: String,
    /// The topic.
    pub topic: String,
    /// The event type.
    pub event_type: String,
    /// `MAJOR.MINOR` of the events' `schema_version`.
    pub schema_minor: String,
    /// The duration bucket's upper bound (`0.005` ... `+Inf`), not cumulative.
    pub le: String,
    /// Events in it.
    pub events: f64,
    /// Sum of their processing durations, in seconds.
    pub seconds: f64,
}

/// Publishes of one (topic, event type).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Published {
    /// The topic.
    pub topic: String,
    /// The event type.
    pub event_type: String,
    /// Rows marked published.
    pub events: f64,
}

/// One row of the generic counters.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CounterRow {
    /// The metric.
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its value.
    pub value: f64,
}

/// The pending dead letters of one topic (state `dead`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DeadLetters {
    /// The original topic.
    pub topic: String,
    /// How many wait for an operator.
    pub pending: f64,
}

/// The lag of one consumer on its topic.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Lag {
    /// The consumer (app-id).
    pub consumer: String,
    /// Its topic.
    pub topic: String,
    /// Events published (in the window) that it has not recorded.
    pub pending: f64,
    /// Age of the oldest of them, in seconds (0 when none).
    pub seconds: f64,
}

/// The row of [`scrape`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Scrape {
    /// The histogram's bucket bounds, ascending, without `+Inf`.
    pub buckets: Vec<String>,
    /// Consumption counts.
    pub consumed: Vec<Consumed>,
    /// Publish counts.
    pub published: Vec<Published>,
    /// The generic counters (errors, dead letters).
    pub counters: Vec<CounterRow>,
    /// The pending dead letters per topic (topics with none are absent).
    #[serde(default)]
    pub dead_letters: Vec<DeadLetters>,
    /// The consumers' lag.
    pub lag: Vec<Lag>,
}

/// Parses the row of [`scrape`].
pub fn decode(rows: &[Vec<Value>]) -> Result<Scrape, RowError> {
    serde_json::from_value(single(rows)?).map_err(|e| shape(e.to_string()))
}

/// A label value escaped for the exposition: `\`, `"` and newlines.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A sample value: integers without a fraction, `+Inf`/`-Inf`/`NaN` as Prometheus spells them.
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

type Labels = Vec<(&'static str, String)>;

/// One metric family being written: its samples, sorted by labels.
struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    samples: BTreeMap<(String, Labels), f64>,
}

impl Family {
    fn new(name: &'static str, kind: &'static str, help: &'static str) -> Family {
        Family {
            name,
            kind,
            help,
            samples: BTreeMap::new(),
        }
    }

    /// Adds `v` to the sample `<name><suffix>{labels}`.
    fn add(&mut self, suffix: &str, labels: Labels, v: f64) {
        *self
            .samples
            .entry((format!("{}{suffix}", self.name), labels))
            .or_insert(0.0) += v;
    }

    fn write(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP {} {}", self.name, self.help);
        let _ = writeln!(out, "# TYPE {} {}", self.name, self.kind);
        for ((name, labels), v) in &self.samples {
            let labels: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            let _ = writeln!(out, "{name}{{{}}} {}", labels.join(","), number(*v));
        }
    }
}

/// `MAJOR.MINOR` of the version a build's consumers know for `topic` (`None` for another topic).
fn known_minor(topic: &str) -> Option<String> {
    let v = SemVer::parse(Topic::from_name(topic)?.schema_version())?;
    Some(format!("{}.{}", v.major, v.minor))
}

/// The seed's metrics (and the lag) as Prometheus text. Counters appear once incremented; the
/// lag of every consumer always (0 when it is up to date). Every value is a global total, the
/// same from whichever replica answers.
pub fn render(s: &Scrape) -> String {
    let mut published = Family::new(
        EVENTS_PUBLISHED,
        "counter",
        "Events published to Kafka by the transactional outbox (rows marked published), by topic and event type.",
    );
    for p in &s.published {
        published.add(
            "",
            vec![
                ("event_type", p.event_type.clone()),
                ("topic", p.topic.clone()),
            ],
            p.events,
        );
    }
    let mut publish_errors = Family::new(
        PUBLISH_ERRORS,
        "counter",
        "Failed publishes of the outbox relay (error_type unavailable: sidecar unreachable or 5xx; refused: 4xx); the row is published again later.",
    );
    let mut processing_errors = Family::new(
        PROCESSING_ERRORS,
        "counter",
        "Deliveries a consumer answered DROP or RETRY (event_type unknown when the body was refused); each failed attempt counts.",
    );
    let mut validation_errors = Family::new(
        VALIDATION_ERRORS,
        "counter",
        "Deliveries refused by the event decoder (invalid against the schema, unknown MAJOR, not an event), by topic, schema_version and consumer.",
    );
    let mut dead_letters = Family::new(
        DEAD_LETTERS,
        "counter",
        "Events a consumer gave up on and sent to <topic>.dlq, by topic, consumer and reason (not_json, bad_envelope, bad_version, invalid, refused, exhausted); each time one became dead.",
    );
    for c in &s.counters {
        let family = match c.name.as_str() {
            PUBLISH_ERRORS => &mut publish_errors,
            PROCESSING_ERRORS => &mut processing_errors,
            VALIDATION_ERRORS => &mut validation_errors,
            DEAD_LETTERS => &mut dead_letters,
            _ => continue,
        };
        let keys: &[&'static str] = match c.name.as_str() {
            PUBLISH_ERRORS => &["error_type", "topic"],
            PROCESSING_ERRORS => &["consumer", "event_type"],
            DEAD_LETTERS => &["consumer", "reason", "topic"],
            _ => &["consumer", "schema_version", "topic"],
        };
        let labels = keys
            .iter()
            .map(|k| (*k, c.labels.get(*k).cloned().unwrap_or_default()))
            .collect();
        family.add("", labels, c.value);
    }
    let mut consumed = Family::new(
        EVENTS_CONSUMED,
        "counter",
        "Events a consumer recorded (once per event id: redeliveries do not count), by topic, consumer and event type.",
    );
    let mut duration = Family::new(
        PROCESSING_DURATION,
        "histogram",
        "Seconds from a delivery's arrival at the consumer to the statement that records its effect.",
    );
    let mut mismatches = Family::new(
        VERSION_MISMATCHES,
        "counter",
        "Events accepted with another MAJOR.MINOR than the consumer knows (expected), by topic, expected, actual and consumer.",
    );
    let mut buckets: BTreeMap<(String, String), BTreeMap<String, f64>> = BTreeMap::new();
    for c in &s.consumed {
        consumed.add(
            "",
            vec![
                ("consumer", c.consumer.clone()),
                ("event_type", c.event_type.clone()),
                ("topic", c.topic.clone()),
            ],
            c.events,
        );
        let key = vec![
            ("consumer", c.consumer.clone()),
            ("event_type", c.event_type.clone()),
        ];
        duration.add("_sum", key.clone(), c.seconds);
        duration.add("_count", key, c.events);
        *buckets
            .entry((c.consumer.clone(), c.event_type.clone()))
            .or_default()
            .entry(c.le.clone())
            .or_insert(0.0) += c.events;
        match known_minor(&c.topic) {
            Some(expected) if expected != c.schema_minor && c.schema_minor != "unknown" => {
                mismatches.add(
                    "",
                    vec![
                        ("actual", c.schema_minor.clone()),
                        ("consumer", c.consumer.clone()),
                        ("expected", expected),
                        ("topic", c.topic.clone()),
                    ],
                    c.events,
                )
            }
            _ => {}
        }
    }
    // Cumulative buckets, every bound of the histogram for every series.
    let bounds: Vec<&str> = s
        .buckets
        .iter()
        .map(String::as_str)
        .chain(std::iter::once("+Inf"))
        .collect();
    let mut bucket_lines: Vec<(Labels, f64)> = Vec::new();
    for ((consumer, event_type), counts) in &buckets {
        let mut total = 0.0;
        for le in &bounds {
            total += counts.get(*le).copied().unwrap_or(0.0);
            bucket_lines.push((
                vec![
                    ("consumer", consumer.clone()),
                    ("event_type", event_type.clone()),
                    ("le", (*le).to_owned()),
                ],
                total,
            ));
        }
    }
    let mut lag = Family::new(
        CONSUMER_LAG,
        "gauge",
        "Age in seconds of the oldest event published to the consumer's topic (last 5 minutes) that the consumer has not recorded; 0 when it is up to date.",
    );
    let mut pending = Family::new(
        CONSUMER_PENDING,
        "gauge",
        "Events published to the consumer's topic (last 5 minutes) that the consumer has not recorded.",
    );
    for l in &s.lag {
        let labels = vec![("consumer", l.consumer.clone()), ("topic", l.topic.clone())];
        lag.add("", labels.clone(), l.seconds);
        pending.add("", labels, l.pending);
    }

    let mut dead_pending = Family::new(
        DEAD_LETTERS_PENDING,
        "gauge",
        "Dead letters waiting for an operator (./dev dlq, /api/dead-letters), by original topic; 0 when none.",
    );
    for topic in ["reminders", "task-events", "task-updates"] {
        let n = s
            .dead_letters
            .iter()
            .find(|d| d.topic == topic)
            .map_or(0.0, |d| d.pending);
        dead_pending.add("", vec![("topic", topic.to_owned())], n);
    }

    let mut out = String::new();
    for f in [&published, &publish_errors, &consumed] {
        f.write(&mut out);
    }
    // The histogram: buckets in bound order (not label order), then _sum and _count.
    let _ = writeln!(out, "# HELP {} {}", duration.name, duration.help);
    let _ = writeln!(out, "# TYPE {} {}", duration.name, duration.kind);
    for (labels, v) in &bucket_lines {
        let labels: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
            .collect();
        let _ = writeln!(
            out,
            "{}_bucket{{{}}} {}",
            duration.name,
            labels.join(","),
            number(*v)
        );
    }
    for ((name, labels), v) in &duration.samples {
        let labels: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
            .collect();
        let _ = writeln!(out, "{name}{{{}}} {}", labels.join(","), number(*v));
    }
    for f in [
        &processing_errors,
        &validation_errors,
        &mismatches,
        &lag,
        &pending,
        &dead_letters,
        &dead_pending,
    ] {
        f.write(&mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(v: Value) -> Vec<Vec<Value>> {
        vec![vec![json!(v.to_string())]]
    }

    /// `MAJOR.MINOR` the consumers know for task-events (1.1 since its 1.1.0).
    fn known() -> String {
        known_minor("task-events").unwrap()
    }

    fn sample() -> Scrape {
        let known = known();
        decode(&row(json!({
            "buckets": ["0.005", "0.01", "0.1", "1"],
            "consumed": [
                {"consumer": "audit", "topic": "task-events", "event_type": "task.created",
                 "schema_minor": known, "le": "0.01", "events": 3, "seconds": 0.024},
                {"consumer": "audit", "topic": "task-events", "event_type": "task.created",
                 "schema_minor": "1.3", "le": "0.1", "events": 2, "seconds": 0.1},
                {"consumer": "audit", "topic": "task-events", "event_type": "task.created",
                 "schema_minor": known, "le": "+Inf", "events": 1, "seconds": 7.5},
            ],
            "published": [{"topic": "task-events", "event_type": "task.created", "events": 6}],
            "counters": [
                {"name": "event_processing_errors_total", "labels": {"consumer": "audit", "event_type": "unknown"}, "value": 4},
                {"name": "schema_validation_errors_total", "labels": {"consumer": "audit", "schema_version": "2.0.0", "topic": "task-events"}, "value": 4},
                {"name": "event_publish_errors_total", "labels": {"topic": "task-events", "error_type": "unavailable"}, "value": 1},
                {"name": "something_else", "labels": {}, "value": 1},
                {"name": "dead_letters_total", "labels": {"topic": "task-events", "consumer": "audit", "reason": "bad_version"}, "value": 4},
            ],
            "dead_letters": [{"topic": "task-events", "pending": 3}],
            "lag": [
                {"consumer": "audit", "topic": "task-events", "pending": 0, "seconds": 0},
                {"consumer": "recurring", "topic": "task-events", "pending": 2, "seconds": 31.25},
            ],
        })))
        .unwrap()
    }

    #[test]
    fn renders_the_seeds_names_and_labels() {
        let text = render(&sample());
        let mismatches = format!(
            r#"schema_version_mismatches_total{{actual="1.3",consumer="audit",expected="{}",topic="task-events"}} 2"#,
            known()
        );
        for line in [
            r#"events_published_total{event_type="task.created",topic="task-events"} 6"#,
            r#"event_publish_errors_total{error_type="unavailable",topic="task-events"} 1"#,
            r#"events_consumed_total{consumer="audit",event_type="task.created",topic="task-events"} 6"#,
            r#"event_processing_errors_total{consumer="audit",event_type="unknown"} 4"#,
            r#"schema_validation_errors_total{consumer="audit",schema_version="2.0.0",topic="task-events"} 4"#,
            mismatches.as_str(),
            r#"event_consumer_lag_seconds{consumer="recurring",topic="task-events"} 31.25"#,
            r#"event_consumer_pending_events{consumer="recurring",topic="task-events"} 2"#,
            r#"event_consumer_lag_seconds{consumer="audit",topic="task-events"} 0"#,
            r#"dead_letters_total{consumer="audit",reason="bad_version",topic="task-events"} 4"#,
            r#"dead_letters_pending{topic="task-events"} 3"#,
            r#"dead_letters_pending{topic="reminders"} 0"#,
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}:\n{text}");
        }
        assert!(!text.contains("something_else"));
        for family in [
            ("events_published_total", "counter"),
            ("event_processing_duration_seconds", "histogram"),
            ("event_consumer_lag_seconds", "gauge"),
        ] {
            assert!(text.contains(&format!("# TYPE {} {}\n", family.0, family.1)));
        }
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn the_histogram_is_cumulative_over_every_bound() {
        let text = render(&sample());
        let buckets: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("event_processing_duration_seconds_bucket"))
            .collect();
        let want = [
            ("0.005", "0"),
            ("0.01", "3"),
            ("0.1", "5"),
            ("1", "5"),
            ("+Inf", "6"),
        ];
        assert_eq!(buckets.len(), want.len(), "{text}");
        for (line, (le, v)) in buckets.iter().zip(want) {
            assert_eq!(
                *line,
                format!(
                    r#"event_processing_duration_seconds_bucket{{consumer="audit",event_type="task.created",le="{le}"}} {v}"#
                )
            );
        }
        assert!(text.contains(
            r#"event_processing_duration_seconds_count{consumer="audit",event_type="task.created"} 6"#
        ));
        assert!(text.contains(
            r#"event_processing_duration_seconds_sum{consumer="audit",event_type="task.created"} 7.624"#
        ));
    }

    #[test]
    fn label_values_are_escaped_and_numbers_spelt_as_prometheus_does() {
        assert_eq!(escape(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape("x\ny"), "x\\ny");
        assert_eq!(number(3.0), "3");
        assert_eq!(number(0.25), "0.25");
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(f64::NAN), "NaN");
        let mut s = sample();
        s.counters[0]
            .labels
            .insert("consumer".into(), "a\"b".into());
        assert!(render(&s).contains(r#"consumer="a\"b""#));
    }

    #[test]
    fn an_empty_database_renders_every_family_and_the_lag() {
        let s = Scrape {
            buckets: vec!["1".into()],
            consumed: vec![],
            published: vec![],
            counters: vec![],
            dead_letters: vec![],
            lag: CONSUMERS
                .iter()
                .map(|(c, t)| Lag {
                    consumer: (*c).into(),
                    topic: t.name().into(),
                    pending: 0.0,
                    seconds: 0.0,
                })
                .collect(),
        };
        let text = render(&s);
        assert_eq!(text.matches("# TYPE ").count(), 11, "{text}");
        assert_eq!(
            text.matches("dead_letters_pending{").count(),
            3,
            "every topic, 0"
        );
        assert_eq!(text.matches("event_consumer_lag_seconds{").count(), 4);
    }

    #[test]
    fn the_scrape_statement_binds_the_consumers_and_the_window() {
        let st = scrape();
        assert_eq!(
            st.params,
            vec![
                json!(
                    r#"[["audit","task-events"],["recurring","task-events"],["notification","reminders"],["realtime","task-updates"]]"#
                ),
                json!("300"),
            ]
        );
        assert!(st.sql.starts_with("SELECT jsonb_build_object("));
    }

    /// The consumers whose lag is measured are exactly the declarative subscriptions.
    #[test]
    fn consumers_are_the_subscriptions() {
        let yaml = include_str!("../../../contracts/dapr-components/selfhosted/subscriptions.yaml");
        let mut subs = Vec::new();
        for doc in yaml.split("\n---") {
            let field = |key: &str| {
                doc.lines()
                    .map(str::trim)
                    .find_map(|l| l.strip_prefix(key))
                    .map(|v| v.trim().trim_matches('"').to_owned())
            };
            let scope = doc
                .split("scopes:")
                .nth(1)
                .and_then(|s| s.lines().map(str::trim).find_map(|l| l.strip_prefix("- ")))
                .map(str::to_owned);
            if let (Some(topic), Some(app)) = (field("topic:"), scope) {
                // e2e-probe is test-only; deadletters reads the dead-letter topics, which the
                // outbox never publishes to (no lag to measure from it).
                if app != "e2e-probe" && app != "deadletters" {
                    subs.push((app, topic));
                }
            }
        }
        subs.sort();
        let mut ours: Vec<(String, String)> = CONSUMERS
            .iter()
            .map(|(c, t)| ((*c).to_owned(), t.name().to_owned()))
            .collect();
        ours.sort();
        assert_eq!(subs, ours);
    }
}
