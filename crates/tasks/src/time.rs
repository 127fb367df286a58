//! Instants, their wire format, and IANA time zones.
//!
//! Every instant the API stores is UTC with millisecond precision, written as
//! `YYYY-MM-DDTHH:MM:SS.mmmZ` (the format of the event schemas and of the SQL in [`crate::sql`]).

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// Longest accepted time zone name (the event schema's limit).
pub const TIMEZONE_MAX: usize = 64;

/// `t` as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn format_instant(t: DateTime<Utc>) -> String {
    todo_events::format_timestamp(t)
}

pub(crate) use todo_events::{parse_instant, truncate_ms};

/// Parses an instant stored by the database or sent in a cursor (any RFC 3339, or `infinity`
/// is not accepted here); keeps full precision.
pub(crate) fn parse_any_instant(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Validates an IANA time zone name (e.g. `Europe/Berlin`, `UTC`); answers the zone.
pub fn parse_timezone(name: &str) -> Result<Tz, String> {
    let name = name.trim();
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if name.len() > TIMEZONE_MAX {
        return Err(format!("at most {TIMEZONE_MAX} characters"));
    }
    name.parse::<Tz>()
        .map_err(|_| format!("unknown IANA time zone {name:?}, e.g. Europe/Berlin or UTC"))
}

/// serde helpers: an instant as `YYYY-MM-DDTHH:MM:SS.mmmZ`, read from any RFC 3339.
pub(crate) mod serde_instant {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_instant(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_any_instant(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 instant: {text}")))
    }
}

/// serde helpers: an optional instant (`null` when absent).
pub(crate) mod serde_instant_opt {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&super::format_instant(*t)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(text) => super::parse_any_instant(&text).map(Some).ok_or_else(|| {
                serde::de::Error::custom(format!("not an RFC 3339 instant: {text}"))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_zones_are_iana_names() {
        assert_eq!(
            parse_timezone("Europe/Berlin").unwrap().name(),
            "Europe/Berlin"
        );
        assert_eq!(parse_timezone("UTC").unwrap().name(), "UTC");
        assert!(parse_timezone("Mars/Olympus").is_err());
        assert!(parse_timezone("").is_err());
        assert!(parse_timezone("+02:00").is_err());
    }
}
