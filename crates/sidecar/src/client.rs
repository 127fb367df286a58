//! A client of the Dapr sidecar's HTTP API (publish, state, bindings, jobs) over outgoing `wasi:http`.

use crate::vars::{self, VarError};
use serde_json::{json, Value};
use spin_sdk::http::{Method, Request, Response};

/// Why a sidecar call failed.
#[derive(Debug, thiserror::Error)]
pub enum SidecarError {
    /// The sidecar could not be reached, or it answered 5xx: worth retrying.
    #[error("sidecar unavailable: {0}")]
    Unavailable(String),
    /// The sidecar refused the call (4xx): retrying the same call will not help.
    #[error("sidecar refused {call}: HTTP {status}: {body}")]
    Refused {
        /// Method and path of the call.
        call: String,
        /// HTTP status.
        status: u16,
        /// Response body, for the log.
        body: String,
    },
    /// The sidecar answered 2xx with a body this client cannot read.
    #[error("unexpected sidecar answer to {0}: {1}")]
    Decode(String, String),
}

impl SidecarError {
    /// Whether the caller should answer Dapr with RETRY (or retry itself) rather than give up.
    pub fn is_transient(&self) -> bool {
        matches!(self, SidecarError::Unavailable(_))
    }
}

/// The sidecar of this component: its base URL and the API token it expects.
#[derive(Debug, Clone)]
pub struct Sidecar {
    base: String,
    api_token: String,
}

/// Percent-encodes one path segment or query value.
fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

impl Sidecar {
    /// A client for the sidecar at `base` (e.g. `http://localhost:3500`) sending `api_token`.
    pub fn new(base: impl Into<String>, api_token: impl Into<String>) -> Sidecar {
        Sidecar {
            base: base.into().trim_end_matches('/').to_string(),
            api_token: api_token.into(),
        }
    }

    /// The client configured by the component variables `dapr_url` and `dapr_api_token`.
    pub fn from_vars() -> Result<Sidecar, VarError> {
        Ok(Sidecar::new(
            vars::get("dapr_url")?,
            vars::get("dapr_api_token")?,
        ))
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Response, SidecarError> {
        let call = format!("{method:?} {path}");
        let mut req = Request::builder();
        req.method(method)
            .uri(format!("{}{}", self.base, path))
            .header("dapr-api-token", self.api_token.as_str());
        if let Some(body) = body {
            req.header("content-type", "application/json").body(body);
        }
        let resp: Response = spin_sdk::http::send(req.build())
            .await
            .map_err(|e| SidecarError::Unavailable(format!("{call}: {e}")))?;
        let status = *resp.status();
        match status {
            200..=299 => Ok(resp),
            500..=599 => Err(SidecarError::Unavailable(format!(
                "{call}: HTTP {status}: {}",
                String::from_utf8_lossy(resp.body())
            ))),
            _ => Err(SidecarError::Refused {
                call,
                status,
                body: String::from_utf8_lossy(resp.body()).into_owned(),
            }),
        }
    }

    /// Publishes `event` (JSON) to `topic`; Dapr wraps it in a CloudEvent. `partition_key` keeps
    /// one key's events in order on Kafka.
    pub async fn publish(
        &self,
        pubsub: &str,
        topic: &str,
        event: &[u8],
        partition_key: Option<&str>,
    ) -> Result<(), SidecarError> {
        let mut path = format!("/v1.0/publish/{}/{}", enc(pubsub), enc(topic));
        if let Some(key) = partition_key {
            path.push_str(&format!("?metadata.partitionKey={}", enc(key)));
        }
        self.call(Method::Post, &path, Some(event.to_vec()))
            .await
            .map(drop)
    }

    /// Reads a key from a state store; `None` when it is absent.
    pub async fn get_state(&self, store: &str, key: &str) -> Result<Option<Value>, SidecarError> {
        let path = format!("/v1.0/state/{}/{}", enc(store), enc(key));
        let resp = self.call(Method::Get, &path, None).await?;
        if *resp.status() == 204 || resp.body().is_empty() {
            return Ok(None);
        }
        serde_json::from_slice(resp.body())
            .map(Some)
            .map_err(|e| SidecarError::Decode(path, e.to_string()))
    }

    /// Saves one key in a state store (last write wins).
    pub async fn save_state(
        &self,
        store: &str,
        key: &str,
        value: &Value,
    ) -> Result<(), SidecarError> {
        let body = json!([{ "key": key, "value": value }])
            .to_string()
            .into_bytes();
        self.call(
            Method::Post,
            &format!("/v1.0/state/{}", enc(store)),
            Some(body),
        )
        .await
        .map(drop)
    }

    /// Runs one SQL statement with `$n` parameters through a `bindings.postgresql` binding and
    /// returns its rows (each an array of column values). The operation is fixed here, never taken
    /// from request input (`close` would shut the binding's pool).
    pub async fn query(
        &self,
        binding: &str,
        sql: &str,
        params: &[Value],
    ) -> Result<Vec<Vec<Value>>, SidecarError> {
        let resp = self.binding(binding, "query", sql, params).await?;
        serde_json::from_slice(resp.body())
            .map_err(|e| SidecarError::Decode(format!("query on {binding}"), e.to_string()))
    }

    /// Invokes an output binding with `operation` (fixed by the caller, never request input),
    /// `data` and `metadata` (e.g. the SMTP binding: `create`, the mail body, `emailTo` and
    /// `subject`).
    pub async fn invoke_binding(
        &self,
        binding: &str,
        operation: &str,
        data: &Value,
        metadata: &Value,
    ) -> Result<(), SidecarError> {
        let body = json!({ "operation": operation, "data": data, "metadata": metadata });
        self.call(
            Method::Post,
            &format!("/v1.0/bindings/{}", enc(binding)),
            Some(body.to_string().into_bytes()),
        )
        .await
        .map(drop)
    }

    /// Schedules (or, with `overwrite` in `job`, replaces) the Dapr job `name` through the Jobs
    /// API: `job` is the body of `POST /v1.0/jobs/<name>` (`dueTime`, `data`, `failurePolicy`,
    /// ...). The Scheduler calls this app back at `POST /job/<name>` with `data`.
    pub async fn schedule_job(&self, name: &str, job: &Value) -> Result<(), SidecarError> {
        self.call(
            Method::Post,
            &format!("/v1.0/jobs/{}", enc(name)),
            Some(job.to_string().into_bytes()),
        )
        .await
        .map(drop)
    }

    /// Deletes the Dapr job `name`. Deleting a job that does not exist (already run, never
    /// scheduled) succeeds: daprd 1.18.3 answers 204.
    pub async fn delete_job(&self, name: &str) -> Result<(), SidecarError> {
        self.call(Method::Delete, &format!("/v1.0/jobs/{}", enc(name)), None)
            .await
            .map(drop)
    }

    /// The Dapr job `name` as the Jobs API shows it; `None` when there is none (daprd 1.18.3
    /// answers that with a 500 whose message says `job not found`).
    pub async fn get_job(&self, name: &str) -> Result<Option<Value>, SidecarError> {
        let path = format!("/v1.0/jobs/{}", enc(name));
        match self.call(Method::Get, &path, None).await {
            Ok(resp) if resp.body().is_empty() => Ok(None),
            Ok(resp) => serde_json::from_slice(resp.body())
                .map(Some)
                .map_err(|e| SidecarError::Decode(path, e.to_string())),
            Err(SidecarError::Refused { status: 404, .. }) => Ok(None),
            Err(SidecarError::Unavailable(m)) if m.contains("not found") => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn binding(
        &self,
        binding: &str,
        operation: &str,
        sql: &str,
        params: &[Value],
    ) -> Result<Response, SidecarError> {
        let body = binding_body(operation, sql, params);
        self.call(
            Method::Post,
            &format!("/v1.0/bindings/{}", enc(binding)),
            Some(body.to_string().into_bytes()),
        )
        .await
    }
}

/// The body of `POST /v1.0/bindings/<name>` for the PostgreSQL binding: the SQL and its
/// parameters as a JSON-array string (the binding's `params` metadata).
fn binding_body(operation: &str, sql: &str, params: &[Value]) -> Value {
    json!({
        "operation": operation,
        "metadata": { "sql": sql, "params": Value::from(params.to_vec()).to_string() },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_path_segments() {
        assert_eq!(enc("task-events"), "task-events");
        assert_eq!(enc("a b/c?d"), "a%20b%2Fc%3Fd");
    }

    #[test]
    fn binding_body_carries_the_operation_and_params_as_a_string() {
        let body = binding_body("query", "SELECT $1::text", &[json!("u"), Value::Null]);
        assert_eq!(body["operation"], "query");
        assert_eq!(body["metadata"]["sql"], "SELECT $1::text");
        let params: Value =
            serde_json::from_str(body["metadata"]["params"].as_str().unwrap()).unwrap();
        assert_eq!(params, json!(["u", null]));
    }

    #[test]
    fn only_unavailability_is_transient() {
        assert!(SidecarError::Unavailable("x".into()).is_transient());
        assert!(!SidecarError::Refused {
            call: "x".into(),
            status: 400,
            body: String::new()
        }
        .is_transient());
    }
}
