//! Unwrapping a Dapr delivery: a CloudEvent 1.0 envelope or a bare event.

use base64::Engine;
use serde_json::{Map, Value};

/// CloudEvent 1.0 attributes of a delivery that came in an envelope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CloudEventInfo {
    /// `id`: the CloudEvent id (Dapr's, not the event's `event_id`).
    pub id: Option<String>,
    /// `source`: the publisher's app-id.
    pub source: Option<String>,
    /// `type`: `com.dapr.event.sent` unless overridden.
    pub ce_type: Option<String>,
    /// `topic`
    pub topic: Option<String>,
    /// `pubsubname`
    pub pubsubname: Option<String>,
    /// `traceparent`: W3C trace context of the publish.
    pub traceparent: Option<String>,
    /// `time`
    pub time: Option<String>,
}

impl CloudEventInfo {
    fn from_envelope(envelope: &Map<String, Value>) -> Self {
        let text = |key: &str| envelope.get(key).and_then(Value::as_str).map(str::to_owned);
        Self {
            id: text("id"),
            source: text("source"),
            ce_type: text("type"),
            topic: text("topic"),
            pubsubname: text("pubsubname"),
            traceparent: text("traceparent"),
            time: text("time"),
        }
    }
}

/// Splits a delivery into the event object and, if it was a CloudEvent, its attributes.
///
/// Accepted: a CloudEvent with `specversion` 1.x and the event as `data` (a JSON object, or a
/// JSON string holding the event) or as `data_base64`; or a bare event object.
pub(crate) fn unwrap(body: Value) -> Result<(Value, Option<CloudEventInfo>), String> {
    let Value::Object(mut object) = body else {
        return Err("body is not a JSON object".to_owned());
    };
    let Some(specversion) = object.get("specversion") else {
        return Ok((Value::Object(object), None));
    };
    match specversion.as_str() {
        Some(v) if v == "1.0" || v.starts_with("1.") => {}
        _ => return Err(format!("unsupported CloudEvents specversion {specversion}")),
    }
    let info = CloudEventInfo::from_envelope(&object);
    let event = if let Some(encoded) = object.get("data_base64") {
        let encoded = encoded
            .as_str()
            .ok_or_else(|| "data_base64 is not a string".to_owned())?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|e| format!("data_base64 is not base64: {e}"))?;
        serde_json::from_slice(&bytes).map_err(|e| format!("data_base64 is not JSON: {e}"))?
    } else {
        match object.remove("data") {
            Some(Value::String(text)) => serde_json::from_str(&text)
                .map_err(|e| format!("data is a string but not JSON: {e}"))?,
            Some(data) => data,
            None => return Err("CloudEvent has neither data nor data_base64".to_owned()),
        }
    };
    if !event.is_object() {
        return Err("CloudEvent data is not a JSON object".to_owned());
    }
    Ok((event, Some(info)))
}
