//! Spin's `allowed_outbound_hosts` for outgoing `wasi:http` requests: a request to a host the
//! component may not reach fails with `HttpRequestDenied`, which the component sees as an error.

use std::sync::Arc;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// One `allowed_outbound_hosts` entry: `scheme://host[:port]`, each part possibly `*`,
/// the host possibly `*.domain`.
#[derive(Debug, Clone, PartialEq)]
pub struct AllowedHost {
    scheme: String,
    host: String,
    port: Option<String>,
}

impl AllowedHost {
    /// Parses an entry; `None` for one without a scheme (Spin rejects those too).
    pub fn parse(entry: &str) -> Option<AllowedHost> {
        let (scheme, rest) = entry.split_once("://")?;
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p.to_string())),
            None => (rest, None),
        };
        Some(AllowedHost {
            scheme: scheme.to_ascii_lowercase(),
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    /// Whether a request to `scheme://host:port` is allowed by this entry.
    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        let scheme_ok = self.scheme == "*" || self.scheme == scheme;
        let host_ok = self.host == "*"
            || self.host == host
            || self
                .host
                .strip_prefix("*.")
                .is_some_and(|d| host.ends_with(&format!(".{d}")));
        let port_ok = match self.port.as_deref() {
            Some("*") => true,
            Some(p) => p.parse() == Ok(port),
            None => port == default_port(scheme),
        };
        scheme_ok && host_ok && port_ok
    }
}

fn default_port(scheme: &str) -> u16 {
    if scheme == "https" {
        443
    } else {
        80
    }
}

/// The `wasi:http` hooks of one component: the allow-list, then wasmtime's default client.
pub struct OutboundPolicy {
    /// Component id, for log lines.
    pub component: Arc<str>,
    /// Parsed `allowed_outbound_hosts`.
    pub allowed: Arc<[AllowedHost]>,
}

impl OutboundPolicy {
    fn permits(&self, uri: &http::Uri) -> bool {
        let scheme = uri.scheme_str().unwrap_or("http").to_ascii_lowercase();
        let Some(host) = uri.host() else { return false };
        let port = uri.port_u16().unwrap_or_else(|| default_port(&scheme));
        self.allowed
            .iter()
            .any(|a| a.allows(&scheme, &host.to_ascii_lowercase(), port))
    }
}

type SendFuture = Box<
    dyn std::future::Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn std::future::Future<Output = Result<(), Error>> + Send>,
                ),
                Error,
            >,
        > + Send,
>;

impl WasiHttpHooks for OutboundPolicy {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn std::future::Future<Output = Result<(), Error>> + Send>,
    ) -> SendFuture {
        if !self.permits(request.uri()) {
            eprintln!(
                "[{}] outbound request to {} denied: not in allowed_outbound_hosts {:?}",
                self.component,
                request.uri(),
                self.allowed
            );
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        let default: &mut dyn WasiHttpHooks = Default::default();
        default.send_request(request, options, fut)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(entries: &[&str]) -> OutboundPolicy {
        OutboundPolicy {
            component: "t".into(),
            allowed: entries
                .iter()
                .map(|e| AllowedHost::parse(e).unwrap())
                .collect(),
        }
    }

    #[test]
    fn allows_only_listed_hosts() {
        let p = policy(&["http://localhost:3500", "https://*.example.com", "*://db:*"]);
        assert!(p.permits(&"http://localhost:3500/v1.0/healthz".parse().unwrap()));
        assert!(!p.permits(&"http://localhost:3501/".parse().unwrap()));
        assert!(!p.permits(&"https://localhost:3500/".parse().unwrap()));
        assert!(p.permits(&"https://api.example.com/x".parse().unwrap()));
        assert!(!p.permits(&"https://example.org/x".parse().unwrap()));
        assert!(p.permits(&"http://db:5432".parse().unwrap()));
        assert!(!policy(&[]).permits(&"http://localhost:3500/".parse().unwrap()));
    }
}
