//! Spin's `allowed_outbound_hosts` for outgoing `wasi:http` requests, after Spin 4.0.2's
//! `crates/outbound-networking-config/src/allowed_hosts.rs` (`AllowedHostConfig::parse`,
//! `SchemeConfig`, `HostConfig`, `PortConfig`, `OutboundUrl::parse`, `AllowedHostsConfig`):
//! `scheme://host[:port]`, each part possibly `*`; hosts compared as `url::Host` values (lower
//! case, IDNA; no DNS: `localhost` is not `127.0.0.1`), `*.domain` for subdomains, CIDR blocks
//! for addresses, `self`/`self.alt` for the app itself; ports default per scheme, `A..B` ranges
//! exclude `B`. A denied request fails in the component with `HttpRequestDenied`.

use anyhow::{bail, ensure, Context, Result};
use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;
use url::Host;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use crate::template::Template;

/// One parsed entry.
#[derive(Debug, Clone, PartialEq)]
pub struct AllowedHost {
    scheme: Option<String>,
    host: HostRule,
    port: PortRule,
}

#[derive(Debug, Clone, PartialEq)]
enum HostRule {
    Any,
    AnySubdomain(String),
    ToSelf,
    Literal(Host),
    Cidr(ip_network::IpNetwork),
}

#[derive(Debug, Clone, PartialEq)]
enum PortRule {
    Any,
    Port(u16),
    Range(Range<u16>),
}

/// A port a scheme implies (`well_known_port`).
fn well_known_port(scheme: &str) -> Option<u16> {
    match scheme {
        "postgres" => Some(5432),
        "mysql" => Some(3306),
        "redis" => Some(6379),
        "mqtt" => Some(1883),
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

const LEARN_MORE: &str =
    "Learn more: https://spinframework.dev/v3/http-outbound#granting-http-permissions-to-components";

impl AllowedHost {
    /// Parses one entry, with Spin's messages (`AllowedHostConfig::parse`).
    pub fn parse(entry: &str) -> Result<AllowedHost> {
        let url = entry.trim();
        let Some((scheme, rest)) = url.split_once("://") else {
            match url {
                "*" | ":" | "" | "?" => bail!(
                    "{url:?} is not an allowed outbound host format.\nHosts must be in the form <scheme>://<host>[:<port>], with '*' wildcards allowed for each.\nIf you intended to allow all outbound networking, you can use '*://*:*' - this will obviate all network sandboxing.\n{LEARN_MORE}"
                ),
                _ => bail!(
                    "{url:?} does not contain a scheme (e.g., 'http://' or '*://')\n{LEARN_MORE}"
                ),
            }
        };
        let (host, rest) = rest.rsplit_once(':').unwrap_or((rest, ""));
        let port = match rest.split_once('/') {
            Some((port, path)) => {
                ensure!(path.is_empty(), "{url:?} has a path but is not allowed to");
                port
            }
            None => rest,
        };
        let port = parse_port(port, scheme)
            .with_context(|| format!("Invalid allowed host port {port:?}"))?;
        let scheme = parse_scheme(scheme)
            .with_context(|| format!("Invalid allowed host scheme {scheme:?}"))?;
        let host = parse_host(host).with_context(|| format!("Invalid allowed host {host:?}"))?;
        Ok(AllowedHost { scheme, host, port })
    }

    fn allows(&self, scheme: &str, host: &Host, port: Option<u16>) -> bool {
        let scheme_ok = self.scheme.as_deref().is_none_or(|s| s == scheme);
        let host_ok = match (&self.host, host) {
            (HostRule::Any, _) => true,
            (HostRule::AnySubdomain(suffix), Host::Domain(d)) => d.ends_with(suffix.as_str()),
            (HostRule::Literal(l), h) => h == l,
            (HostRule::Cidr(c), Host::Ipv4(ip)) => c.contains(*ip),
            (HostRule::Cidr(c), Host::Ipv6(ip)) => c.contains(*ip),
            _ => false,
        };
        let port_ok = match &self.port {
            PortRule::Any => true,
            rule => match port.or_else(|| well_known_port(scheme)) {
                None => false,
                Some(p) => match rule {
                    PortRule::Port(q) => *q == p,
                    PortRule::Range(r) => r.contains(&p),
                    PortRule::Any => true,
                },
            },
        };
        scheme_ok && host_ok && port_ok
    }

    /// A request to the app itself (`self.alt`): the entry's port is not checked.
    fn allows_self(&self, scheme: &str) -> bool {
        self.scheme.as_deref().is_none_or(|s| s == scheme)
            && matches!(self.host, HostRule::Any | HostRule::ToSelf)
    }
}

fn parse_scheme(scheme: &str) -> Result<Option<String>> {
    if scheme == "*" {
        return Ok(None);
    }
    ensure!(!scheme.starts_with('{'), "scheme lists are not supported");
    ensure!(
        scheme.chars().all(char::is_alphabetic),
        "only alphabetic characters are allowed"
    );
    Ok(Some(scheme.to_string()))
}

fn parse_host(host: &str) -> Result<HostRule> {
    let host = host.trim();
    if host == "*" {
        return Ok(HostRule::Any);
    }
    if host == "self" || host == "self.alt" {
        return Ok(HostRule::ToSelf);
    }
    if host.starts_with('{') {
        ensure!(
            host.ends_with('}'),
            "Condition failed: `host.ends_with('}}')`"
        );
        bail!("host lists are not yet supported");
    }
    if let Ok(net) = ip_network::IpNetwork::from_str_truncate(host) {
        return Ok(HostRule::Cidr(net));
    }
    let host = host.trim_end_matches('/');
    ensure!(!host.contains('/'), "must not include a path");
    if let Some(domain) = host.strip_prefix("*.") {
        ensure!(
            !domain.contains('*'),
            "wildcards are allowed only as prefixes"
        );
        return Ok(HostRule::AnySubdomain(format!(".{domain}")));
    }
    ensure!(
        !host.contains('*'),
        "wildcards are allowed only as subdomains"
    );
    Ok(HostRule::Literal(Host::parse(host)?))
}

fn parse_port(port: &str, scheme: &str) -> Result<PortRule> {
    if port.is_empty() {
        return well_known_port(scheme).map(PortRule::Port).with_context(|| {
            format!("no port was provided and the scheme {scheme:?} does not have a known default port number")
        });
    }
    if port == "*" {
        return Ok(PortRule::Any);
    }
    ensure!(!port.starts_with('{'), "port lists are not yet supported");
    if let Some((start, end)) = port.split_once("..") {
        let n = |s: &str| {
            s.parse::<u16>()
                .with_context(|| format!("port range {port:?} contains non-number"))
        };
        return Ok(PortRule::Range(n(start)?..n(end)?));
    }
    Ok(PortRule::Port(port.parse().with_context(|| {
        format!("port {port:?} is not a number")
    })?))
}

/// A component's whole `allowed_outbound_hosts`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AllowedHosts(Vec<AllowedHost>);

impl AllowedHosts {
    /// Resolves templates with the application variables `app_vars` and parses every entry
    /// (Spin, per instance: `AllowedHostsConfig::parse` with the prepared application resolver).
    /// A name that is not an application variable is Spin's `invalid variable name: <name>`.
    pub fn parse(entries: &[String], app_vars: &HashMap<String, String>) -> Result<AllowedHosts> {
        check_allow_all(entries)?;
        let mut out = Vec::new();
        for e in entries {
            let t =
                Template::new(e).map_err(|m| anyhow::anyhow!("invalid variable template: {m}"))?;
            let text = t
                .render(app_vars)
                .map_err(|name| anyhow::anyhow!("invalid variable name: {name}"))?;
            out.push(AllowedHost::parse(&text)?);
        }
        Ok(AllowedHosts(out))
    }

    /// The load-time check (`AllowedHostsConfig::validate`): literal entries must parse; a
    /// template is checked only when every variable it names has a default.
    pub fn validate(entries: &[String], defaults: &HashMap<String, String>) -> Result<()> {
        check_allow_all(entries)?;
        for e in entries {
            let t =
                Template::new(e).map_err(|m| anyhow::anyhow!("invalid variable template: {m}"))?;
            if t.is_literal() {
                AllowedHost::parse(e)?;
            } else if let Ok(text) = t.render(defaults) {
                AllowedHost::parse(&text).with_context(|| {
                    format!("using default variable value(s) with template {e:?} results in invalid config {text:?}")
                })?;
            }
        }
        Ok(())
    }

    /// Whether a request to `uri` is allowed (`OutboundUrl::parse` + `AllowedHostsConfig::allows`).
    pub fn permits(&self, uri: &http::Uri) -> bool {
        let scheme = uri.scheme_str().unwrap_or("http");
        let Some(host) = uri.host() else {
            return self.0.iter().any(|a| a.allows_self(scheme));
        };
        let Ok(host) = Host::parse(host) else {
            return false;
        };
        if matches!(&host, Host::Domain(d) if d == "self.alt") {
            return self.0.iter().any(|a| a.allows_self(scheme));
        }
        self.0
            .iter()
            .any(|a| a.allows(scheme, &host, uri.port_u16()))
    }
}

fn check_allow_all(entries: &[String]) -> Result<()> {
    if entries.len() == 1 && entries[0] == "insecure:allow-all" {
        bail!("'insecure:allow-all' is not allowed - use '*://*:*' instead if you really want to allow all outbound traffic'");
    }
    Ok(())
}

/// The `wasi:http` hooks of one component: the allow-list, then wasmtime's default client.
pub struct OutboundPolicy {
    /// Component id, for log lines.
    pub component: Arc<str>,
    /// The component's allow-list, or why it could not be resolved (then nothing is allowed).
    pub allowed: Arc<Result<AllowedHosts, String>>,
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
        let uri = request.uri();
        let allowed = match self.allowed.as_ref() {
            Ok(hosts) => hosts.permits(uri),
            Err(reason) => {
                // Spin's log line (crates/factor-outbound-networking/src/lib.rs).
                eprintln!(
                    "ERROR [{}] Error parsing allowed outbound hosts err={reason}",
                    self.component
                );
                false
            }
        };
        if !allowed {
            let scheme = uri.scheme_str().unwrap_or("http");
            let authority = uri.authority().map(|a| a.as_str()).unwrap_or("self");
            eprintln!(
                "ERROR [{}] Outbound network destination not allowed: {scheme}://{authority}",
                self.component
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

    fn hosts(entries: &[&str]) -> AllowedHosts {
        let e: Vec<String> = entries.iter().map(|s| s.to_string()).collect();
        AllowedHosts::parse(&e, &HashMap::new()).unwrap()
    }

    fn ok(h: &AllowedHosts, url: &str) -> bool {
        h.permits(&url.parse().unwrap())
    }

    fn err(entry: &str) -> String {
        format!("{:#}", AllowedHost::parse(entry).unwrap_err())
    }

    /// spin v4.0.2 crates/outbound-networking-config/src/allowed_hosts.rs, `HostConfig::allows`:
    /// hosts are compared as parsed values, never resolved — checked with Spin 4.0.2: an entry
    /// `http://localhost:47900` denied `http://127.0.0.1:47900` and the other way round, and
    /// allowed `http://LOCALHOST:47900`.
    #[test]
    fn localhost_is_not_127_0_0_1() {
        let h = hosts(&["http://localhost:3500"]);
        assert!(ok(&h, "http://localhost:3500/v1.0/healthz"));
        assert!(ok(&h, "http://LOCALHOST:3500/"));
        assert!(!ok(&h, "http://127.0.0.1:3500/"));
        assert!(!ok(&h, "http://localhost.:3500/"));
        assert!(!ok(
            &hosts(&["http://127.0.0.1:3500"]),
            "http://localhost:3500/"
        ));
    }

    /// Same file, `SchemeConfig::allows` / `PortConfig::allows`: exact scheme; a missing port
    /// is the scheme's default on both sides.
    #[test]
    fn scheme_and_default_ports() {
        let h = hosts(&["http://127.0.0.1"]);
        assert!(ok(&h, "http://127.0.0.1/"));
        assert!(ok(&h, "http://127.0.0.1:80/"));
        assert!(!ok(&h, "http://127.0.0.1:47900/"));
        assert!(!ok(&h, "https://127.0.0.1/"));
        let h = hosts(&["https://example.com"]);
        assert!(ok(&h, "https://example.com/x"));
        assert!(ok(&h, "https://example.com:443/x"));
        assert!(!ok(&h, "http://example.com/x"));
        let h = hosts(&["*://db:*"]);
        assert!(ok(&h, "http://db:5432/"));
        assert!(ok(&h, "https://db/"));
        assert!(!hosts(&[]).permits(&"http://localhost:3500/".parse().unwrap()));
        // An upper-case scheme loads but never matches (requests' schemes are lower case).
        assert!(!ok(&hosts(&["HTTP://x:80"]), "http://x/"));
    }

    /// Same file, `IndividualPortConfig`: `A..B` excludes `B` (Spin 4.0.2: `..47900` denied
    /// 47900, `47900..47901` allowed it); `1-100` is not a range.
    #[test]
    fn port_ranges_exclude_the_end() {
        let h = hosts(&["http://127.0.0.1:47899..47900"]);
        assert!(ok(&h, "http://127.0.0.1:47899/"));
        assert!(!ok(&h, "http://127.0.0.1:47900/"));
        assert!(ok(
            &hosts(&["http://127.0.0.1:47900..47901"]),
            "http://127.0.0.1:47900/"
        ));
        let e = err("http://x:1-100");
        assert!(
            e.starts_with("Invalid allowed host port \"1-100\": port \"1-100\" is not a number"),
            "{e}"
        );
        assert!(err("http://x:1..").contains("port range \"1..\" contains non-number"));
    }

    /// Same file, `HostConfig::parse` / `allows`: wildcards, CIDR, self.
    #[test]
    fn wildcards_cidr_and_self() {
        let h = hosts(&["https://*.example.com"]);
        assert!(ok(&h, "https://api.example.com/x"));
        assert!(ok(&h, "https://a.b.example.com/x"));
        assert!(!ok(&h, "https://example.com/x"));
        assert!(!ok(&h, "https://example.org/x"));
        let h = hosts(&["http://127.0.0.0/8:47900"]);
        assert!(ok(&h, "http://127.1.2.3:47900/"));
        assert!(!ok(&h, "http://localhost:47900/"));
        assert!(!ok(&h, "http://[::1]:47900/"));
        let h = hosts(&["http://*:47900"]);
        assert!(
            ok(&h, "http://self.alt/x"),
            "a self request ignores the entry's port"
        );
        assert!(ok(&hosts(&["http://self"]), "http://self.alt:1234/"));
        assert!(!ok(&hosts(&["http://localhost:80"]), "http://self.alt/"));
        assert!(ok(&hosts(&["http://[::1]:8080"]), "http://[::1]:8080/"));
    }

    /// Same file, `AllowedHostConfig::parse`: what Spin refuses at load, with its messages.
    #[test]
    fn malformed_entries_are_refused_with_spins_reasons() {
        assert!(err("example.com").starts_with("\"example.com\" does not contain a scheme"));
        assert!(err("*").starts_with("\"*\" is not an allowed outbound host format."));
        assert!(err("ftp://x").contains(
            "no port was provided and the scheme \"ftp\" does not have a known default port number"
        ));
        assert!(err("h2c://x:1").contains("only alphabetic characters are allowed"));
        assert_eq!(
            err("http://example.com/api"),
            "Invalid allowed host \"example.com/api\": must not include a path"
        );
        assert_eq!(
            err("http://example.com:80/api"),
            "\"http://example.com:80/api\" has a path but is not allowed to"
        );
        assert!(err("http://a.*.com").contains("wildcards are allowed only as subdomains"));
        assert!(err("http://*.a.*").contains("wildcards are allowed only as prefixes"));
        assert!(err("http://{a,b}").contains("host lists are not yet supported"));
        assert!(err("http://a b").contains("invalid international domain name"));
        for good in [
            "http://example.com/",
            "http://example.com//",
            " http://example.com ",
            "*://*:*",
            "http://localhost:*",
            "mysql://db.example.com",
            "http://bücher.example",
        ] {
            AllowedHost::parse(good).unwrap_or_else(|e| panic!("{good}: {e:#}"));
        }
        let one = vec!["insecure:allow-all".to_string()];
        assert!(AllowedHosts::parse(&one, &HashMap::new()).is_err());
    }

    /// crates/factor-outbound-networking/src/lib.rs `prepare`: templates resolve with the
    /// application variables only. Spin 4.0.2 with `["{{ dapr_url }}"]`, `dapr_url` a component
    /// variable: "Error parsing allowed outbound hosts err=invalid variable name: dapr_url".
    #[test]
    fn templates_name_application_variables_only() {
        let app = HashMap::from([(
            "task_api_dapr_url".to_string(),
            "http://127.0.0.1:3500".to_string(),
        )]);
        let e = vec!["{{ task_api_dapr_url }}".to_string()];
        let h = AllowedHosts::parse(&e, &app).unwrap();
        assert!(ok(&h, "http://127.0.0.1:3500/v1.0/healthz"));
        let e = vec!["{{ dapr_url }}".to_string()];
        let why = format!("{:#}", AllowedHosts::parse(&e, &app).unwrap_err());
        assert_eq!(why, "invalid variable name: dapr_url");
        // Load time: a template with defaults is validated; one without is left to run time.
        let defaults = HashMap::from([("h".to_string(), "example.com".to_string())]);
        let e = vec!["{{ h }}".to_string()];
        let why = format!("{:#}", AllowedHosts::validate(&e, &defaults).unwrap_err());
        assert!(why.starts_with("using default variable value(s) with template \"{{ h }}\" results in invalid config \"example.com\""), "{why}");
        assert!(AllowedHosts::validate(&e, &HashMap::new()).is_ok());
        assert!(AllowedHosts::validate(&["{{ x".to_string()], &HashMap::new()).is_err());
    }
}
