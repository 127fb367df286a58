//! HTTP routes as Spin 4.0.2 routes them (`crates/routes/src/lib.rs`, `Router::build`,
//! `parse_route`, `sanitize_with_base`, `trailing_wildcard`), on the same `routefinder` crate:
//! a leading `/` is added and one trailing `/` removed; `/...` (or `/*`) at the end is a prefix
//! wildcard; `:name` matches one segment; the best match wins (exact over wildcard, literal
//! over parameter, longer over shorter, the first declared among equals); of two identical
//! routes the last wins and the other is reported; `{ private = true }` is not routed.

use anyhow::{anyhow, bail, Result};
use serde::Deserialize;
use std::collections::HashMap;

/// Where Spin serves its own endpoints (`WELL_KNOWN_PREFIX`).
pub const WELL_KNOWN_PREFIX: &str = "/.well-known/spin/";

/// A trigger's `route`: a pattern, or `{ private = true }`.
#[derive(Deserialize, Debug, Clone)]
#[serde(untagged)]
pub enum RouteConfig {
    /// A routable pattern.
    Route(String),
    /// Not routable.
    Private(Private),
}

/// `{ private = ... }`.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct Private {
    /// Must be true.
    pub private: bool,
}

#[derive(Debug, Clone)]
struct Handler {
    component: usize,
    /// The normalised route (`spin-matched-route`).
    based: String,
    /// The route as written (`spin-raw-component-route`).
    raw: String,
}

/// The app's routes.
pub struct Router {
    inner: routefinder::Router<Handler>,
    listing: Vec<(String, usize, bool)>,
}

/// What a request path matched.
pub struct Match {
    /// Index of the component.
    pub component: usize,
    /// Spin's request headers for this match, in Spin's order.
    pub headers: Vec<(String, String)>,
}

impl Router {
    /// Builds the router from `(component index, component id, route)` in trigger order.
    /// Answers the warnings Spin prints for duplicate and reserved routes.
    pub fn build(routes: &[(usize, String, RouteConfig)]) -> Result<(Router, Vec<String>)> {
        let mut kept: indexmap::IndexMap<String, (usize, String, String)> =
            indexmap::IndexMap::new();
        let mut warnings = Vec::new();
        let mut duplicates = Vec::new();
        for (component, id, route) in routes {
            let raw = match route {
                RouteConfig::Route(r) => r.clone(),
                RouteConfig::Private(p) if p.private => continue,
                RouteConfig::Private(_) => bail!(
                    "route must be a string pattern or '{{ private = true }}': '{id}' has {{ private = false }}"
                ),
            };
            let based = sanitize(&absolutize(&raw));
            if let Some((_, old_id, old_based)) =
                kept.insert(raw.clone(), (*component, id.clone(), based.clone()))
            {
                let shown = if old_based.is_empty() {
                    "/"
                } else {
                    &old_based
                };
                duplicates.push(format!("  {old_id}: {shown} (duplicate of {id})"));
            }
        }
        if !duplicates.is_empty() {
            warnings.push(format!(
                "The following component routes are duplicates and will never be used:\n{}",
                duplicates.join("\n")
            ));
        }
        let mut inner = routefinder::Router::new();
        let mut listing = Vec::new();
        for (raw, (component, id, based)) in kept {
            let (spec, wildcard) = if let Some(prefix) = based.strip_suffix("/...") {
                (format!("{prefix}/*"), true)
            } else {
                (based.clone(), based.ends_with("/*"))
            };
            let spec: routefinder::RouteSpec = spec.as_str().try_into().map_err(|e| {
                anyhow!("Error parsing route {based} associated with component {id}: {e}")
            })?;
            if based.starts_with(WELL_KNOWN_PREFIX) {
                warnings.push(format!(
                    "Routes under {WELL_KNOWN_PREFIX} are handled by the Spin runtime and will never be reached"
                ));
            }
            listing.push((
                based.trim_end_matches("/...").to_string(),
                component,
                wildcard,
            ));
            inner
                .add(
                    spec,
                    Handler {
                        component,
                        based,
                        raw,
                    },
                )
                .map_err(|e| anyhow!("{e}"))?;
        }
        Ok((Router { inner, listing }, warnings))
    }

    /// The routes as Spin lists them at start: (path, component index, wildcard).
    pub fn listing(&self) -> &[(String, usize, bool)] {
        &self.listing
    }

    /// The best route for `path`, with Spin's `spin-*` headers (`crates/trigger-http/src/
    /// headers.rs`, `compute_default_headers`; `full_url` is `scheme://host` + path and query).
    pub fn route(&self, path: &str, full_url: &str, client: &str) -> Option<Match> {
        let m = self.inner.best_match(path)?;
        let h = m.handler();
        let captures = m.captures();
        let path_info = match captures.wildcard() {
            None => String::new(),
            Some(s) => match (s.is_empty(), path.ends_with('/')) {
                (true, false) => String::new(),
                (true, true) => "/".into(),
                (false, false) => format!("/{s}"),
                (false, true) => format!("/{s}/"),
            },
        };
        let mut headers = vec![
            ("spin-path-info".to_string(), path_info),
            ("spin-full-url".to_string(), full_url.to_string()),
            ("spin-matched-route".to_string(), h.based.clone()),
            ("spin-base-path".to_string(), "/".to_string()),
            ("spin-raw-component-route".to_string(), h.raw.clone()),
            (
                "spin-component-route".to_string(),
                h.raw.strip_suffix("/...").unwrap_or(&h.raw).to_string(),
            ),
            ("spin-client-addr".to_string(), client.to_string()),
        ];
        let named: HashMap<&str, &str> = captures.iter().collect();
        for (name, value) in named {
            let key = format!("SPIN_PATH_MATCH_{}", name.to_ascii_uppercase());
            headers.push((
                key.to_ascii_lowercase().replace('_', "-"),
                value.to_string(),
            ));
        }
        Some(Match {
            component: h.component,
            headers,
        })
    }
}

fn absolutize(s: &str) -> String {
    if s.starts_with('/') {
        s.to_string()
    } else {
        format!("/{s}")
    }
}

/// Strips one trailing slash (Spin strips only one).
fn sanitize(s: &str) -> String {
    s.strip_suffix('/').unwrap_or(s).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[(&str, &str)]) -> (Router, Vec<String>) {
        let list: Vec<(usize, String, RouteConfig)> = routes
            .iter()
            .enumerate()
            .map(|(i, (id, r))| (i, id.to_string(), RouteConfig::Route(r.to_string())))
            .collect();
        Router::build(&list).unwrap()
    }

    fn who(r: &Router, routes: &[(&str, &str)], path: &str) -> Option<String> {
        r.route(path, "http://x", "127.0.0.1:1")
            .map(|m| routes[m.component].0.to_string())
    }

    fn header(m: &Match, name: &str) -> String {
        m.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {name}"))
    }

    /// spin v4.0.2 crates/routes/src/lib.rs: `best_match` precedence (routefinder) — exact over
    /// wildcard, literal over parameter, longer over shorter, first among equals.
    #[test]
    fn precedence_follows_spin() {
        let routes = [
            ("exact", "/api/exact"),
            ("wild", "/api/..."),
            ("me", "/users/me"),
            ("param", "/users/:id"),
            ("other-param", "/users/:name"),
            ("longer", "/w/:id/z"),
            ("shorter", "/w/..."),
            ("all", "/..."),
        ];
        let (r, warnings) = router(&routes);
        assert!(warnings.is_empty());
        let w = |p| who(&r, &routes, p);
        assert_eq!(w("/api/exact").as_deref(), Some("exact"));
        assert_eq!(w("/api/exact/z").as_deref(), Some("wild"));
        assert_eq!(w("/api").as_deref(), Some("wild"));
        assert_eq!(w("/api/").as_deref(), Some("wild"));
        assert_eq!(w("/users/me").as_deref(), Some("me"));
        assert_eq!(w("/users/42").as_deref(), Some("param"));
        assert_eq!(w("/users/42/").as_deref(), Some("param"));
        assert_eq!(w("/w/1/z").as_deref(), Some("longer"));
        assert_eq!(w("/w/1/y").as_deref(), Some("shorter"));
        assert_eq!(w("/API/exact").as_deref(), Some("all"), "case-sensitive");
        assert_eq!(w("/").as_deref(), Some("all"));
    }

    /// spin v4.0.2 crates/routes/src/lib.rs `Router::build`: the last of two identical routes
    /// wins and the other is reported (crates/trigger-http/src/server.rs logs it).
    #[test]
    fn duplicates_last_wins_and_are_reported() {
        let routes = [("dup-a", "/dup"), ("dup-b", "/dup")];
        let (r, warnings) = router(&routes);
        assert_eq!(who(&r, &routes, "/dup").as_deref(), Some("dup-b"));
        assert_eq!(
            warnings,
            ["The following component routes are duplicates and will never be used:\n  dup-a: /dup (duplicate of dup-b)"]
        );
    }

    /// spin v4.0.2 crates/routes/src/lib.rs `sanitize_with_base`: a leading `/` is added, one
    /// trailing `/` removed; no route at all matches nothing.
    #[test]
    fn routes_are_normalised() {
        let routes = [("a", "noslash"), ("b", "/trail/"), ("c", "")];
        let (r, _) = router(&routes);
        assert_eq!(who(&r, &routes, "/noslash").as_deref(), Some("a"));
        assert_eq!(who(&r, &routes, "/trail").as_deref(), Some("b"));
        assert_eq!(who(&r, &routes, "/trail/").as_deref(), Some("b"));
        assert_eq!(who(&r, &routes, "/").as_deref(), Some("c"));
        assert_eq!(who(&r, &routes, "/other"), None);
    }

    /// spin v4.0.2 crates/routes/src/lib.rs: `{ private = true }` is dropped,
    /// `{ private = false }` refused with Spin's message; an unnamed parameter is refused.
    #[test]
    fn private_and_bad_routes() {
        let private = |p| {
            Router::build(&[(
                0,
                "web".into(),
                RouteConfig::Private(Private { private: p }),
            )])
        };
        let (r, _) = private(true).unwrap();
        assert!(r.route("/", "http://x", "c").is_none());
        let e = private(false).err().unwrap().to_string();
        assert_eq!(
            e,
            "route must be a string pattern or '{ private = true }': 'web' has { private = false }"
        );
        let e = Router::build(&[(0, "web".into(), RouteConfig::Route("/a/:".into()))])
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.starts_with("Error parsing route /a/: associated with component web:"),
            "{e}"
        );
    }

    /// spin v4.0.2 crates/trigger-http/src/headers.rs `compute_default_headers`: the values
    /// Spin 4.0.2 gave for `GET /users/42/posts/7/?q=1` on `/users/:id/posts/...`.
    #[test]
    fn headers_match_spin() {
        let routes = [("web", "/users/:id/posts/...")];
        let (r, _) = router(&routes);
        let url = "http://127.0.0.1:47002/users/42/posts/7/?q=1";
        let m = r
            .route("/users/42/posts/7/", url, "127.0.0.1:33054")
            .unwrap();
        assert_eq!(header(&m, "spin-full-url"), url);
        assert_eq!(header(&m, "spin-path-info"), "/7/");
        assert_eq!(header(&m, "spin-matched-route"), "/users/:id/posts/...");
        assert_eq!(
            header(&m, "spin-raw-component-route"),
            "/users/:id/posts/..."
        );
        assert_eq!(header(&m, "spin-component-route"), "/users/:id/posts");
        assert_eq!(header(&m, "spin-base-path"), "/");
        assert_eq!(header(&m, "spin-client-addr"), "127.0.0.1:33054");
        assert_eq!(header(&m, "spin-path-match-id"), "42");
        let routes = [("all", "/...")];
        let (r, _) = router(&routes);
        let m = r.route("/a/b", "http://x/a/b", "c").unwrap();
        assert_eq!(header(&m, "spin-path-info"), "/a/b");
        assert_eq!(header(&m, "spin-component-route"), "");
        let routes = [("p", "/m/:a_b")];
        let (r, _) = router(&routes);
        let m = r.route("/m/v", "http://x/m/v", "c").unwrap();
        assert_eq!(header(&m, "spin-path-match-a-b"), "v");
        assert_eq!(header(&m, "spin-path-info"), "");
    }
}
