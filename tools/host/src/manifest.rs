//! The part of Spin's `spin.toml` (manifest version 2) this host serves: HTTP trigger routes,
//! component sources, variables and `allowed_outbound_hosts`.

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

#[derive(Deserialize)]
struct RawManifest {
    spin_manifest_version: u32,
    #[serde(default)]
    variables: BTreeMap<String, RawVariable>,
    #[serde(default)]
    trigger: RawTriggers,
    #[serde(default)]
    component: BTreeMap<String, RawComponent>,
}

#[derive(Deserialize, Default)]
struct RawVariable {
    default: Option<String>,
    #[serde(default)]
    required: bool,
}

#[derive(Deserialize, Default)]
struct RawTriggers {
    #[serde(default)]
    http: Vec<RawHttpTrigger>,
}

#[derive(Deserialize)]
struct RawHttpTrigger {
    route: toml::Value,
    component: String,
}

#[derive(Deserialize)]
struct RawComponent {
    source: String,
    #[serde(default)]
    allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    #[serde(default)]
    environment: BTreeMap<String, String>,
}

/// One component, its variables resolved.
pub struct ComponentSpec {
    /// The component id in `spin.toml`.
    pub id: String,
    /// Absolute path of the `.wasm` file.
    pub source: PathBuf,
    /// `allowed_outbound_hosts` with templates expanded.
    pub allowed_outbound_hosts: Vec<String>,
    /// Component variables (served through `wasi:config/store`), templates expanded.
    pub variables: HashMap<String, String>,
    /// Environment variables the component sees.
    pub environment: Vec<(String, String)>,
}

/// A public HTTP route and the index of the component that serves it.
pub struct Route {
    /// The route as written in `spin.toml`.
    pub pattern: String,
    /// Index into [`App::components`].
    pub component: usize,
}

/// The whole app as this host serves it.
pub struct App {
    /// Components in manifest order.
    pub components: Vec<ComponentSpec>,
    /// Routes, most specific first.
    pub routes: Vec<Route>,
}

impl App {
    /// Reads `spin.toml`, resolving variables from their defaults and `SPIN_VARIABLE_<NAME>`.
    pub fn load(path: &Path, env: &HashMap<String, String>) -> Result<App> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let raw: RawManifest =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        if raw.spin_manifest_version != 2 {
            bail!(
                "spin_manifest_version {} is not supported (only 2)",
                raw.spin_manifest_version
            );
        }
        let base = path.parent().unwrap_or(Path::new("."));
        let mut app_vars = HashMap::new();
        for (name, var) in &raw.variables {
            let value = env
                .get(&format!("SPIN_VARIABLE_{}", name.to_uppercase()))
                .cloned()
                .or_else(|| var.default.clone());
            match value {
                Some(v) => drop(app_vars.insert(name.clone(), v)),
                None if var.required => bail!(
                    "variable `{name}` is required: set SPIN_VARIABLE_{}",
                    name.to_uppercase()
                ),
                None => {}
            }
        }
        let mut components = Vec::new();
        let mut index = HashMap::new();
        for (id, c) in raw.component {
            let ctx = format!("component `{id}`");
            let mut variables = HashMap::new();
            for (k, v) in &c.variables {
                variables.insert(
                    k.clone(),
                    expand(v, &[&app_vars]).with_context(|| format!("{ctx}: variable `{k}`"))?,
                );
            }
            let allowed_outbound_hosts = c
                .allowed_outbound_hosts
                .iter()
                // Like Spin, templates here name component variables.
                .map(|h| {
                    expand(h, &[&variables])
                        .with_context(|| format!("{ctx}: allowed_outbound_hosts"))
                })
                .collect::<Result<_>>()?;
            index.insert(id.clone(), components.len());
            components.push(ComponentSpec {
                source: base.join(&c.source),
                environment: c.environment.into_iter().collect(),
                id,
                allowed_outbound_hosts,
                variables,
            });
        }
        let mut routes = Vec::new();
        for t in raw.trigger.http {
            let component = *index
                .get(&t.component)
                .with_context(|| format!("trigger names unknown component `{}`", t.component))?;
            match t.route {
                toml::Value::String(pattern) => routes.push(Route { pattern, component }),
                toml::Value::Table(t)
                    if t.get("private").and_then(|v| v.as_bool()) == Some(true) => {}
                other => bail!("unsupported route {other}"),
            }
        }
        routes.sort_by_key(|r| std::cmp::Reverse(specificity(&r.pattern)));
        Ok(App { components, routes })
    }

    /// The route serving `path`: exact routes first, then the longest `/...` wildcard prefix.
    pub fn route(&self, path: &str) -> Option<&Route> {
        self.routes.iter().find(|r| route_matches(&r.pattern, path))
    }
}

/// Expands `{{ name }}` references from the first scope that defines the name.
fn expand(template: &str, scopes: &[&HashMap<String, String>]) -> Result<String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let end = rest[start..]
            .find("}}")
            .with_context(|| format!("unclosed `{{{{` in `{template}`"))?
            + start;
        let name = rest[start + 2..end].trim();
        let value = scopes
            .iter()
            .find_map(|s| s.get(name))
            .with_context(|| format!("no variable `{name}` for `{template}`"))?;
        out.push_str(&rest[..start]);
        out.push_str(value);
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Orders routes: an exact route outranks a wildcard; more literal segments outrank fewer.
fn specificity(pattern: &str) -> (bool, usize) {
    let wildcard = pattern.ends_with("/...");
    let literal = pattern
        .split('/')
        .filter(|s| !s.is_empty() && *s != "..." && !s.starts_with(':'))
        .count();
    (!wildcard, literal)
}

/// Spin's route syntax: `/a/b` exact, `/a/...` for `/a` and everything below it, `:name` for one segment.
fn route_matches(pattern: &str, path: &str) -> bool {
    let (prefix, wildcard) = match pattern.strip_suffix("/...") {
        Some(p) => (p, true),
        None => (pattern, false),
    };
    let want: Vec<&str> = prefix.split('/').filter(|s| !s.is_empty()).collect();
    let got: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if got.len() < want.len() || (!wildcard && got.len() != want.len()) {
        return false;
    }
    want.iter()
        .zip(&got)
        .all(|(w, g)| w.starts_with(':') || w == g)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_follow_spin_syntax() {
        assert!(route_matches("/api/tasks/...", "/api/tasks"));
        assert!(route_matches("/api/tasks/...", "/api/tasks/1/complete"));
        assert!(!route_matches("/api/tasks/...", "/api/taskss"));
        assert!(route_matches("/...", "/"));
        assert!(route_matches("/health", "/health"));
        assert!(!route_matches("/health", "/health/x"));
        assert!(route_matches("/users/:id", "/users/7"));
        assert!(specificity("/a/b") > specificity("/a/b/..."));
        assert!(specificity("/a/b/...") > specificity("/a/..."));
    }

    #[test]
    fn templates_expand_from_the_first_scope() {
        let a = HashMap::from([("x".to_string(), "1".to_string())]);
        let b = HashMap::from([
            ("x".to_string(), "2".to_string()),
            ("y".to_string(), "3".to_string()),
        ]);
        assert_eq!(expand("{{ x }}-{{y}}", &[&a, &b]).unwrap(), "1-3");
        assert!(expand("{{ z }}", &[&a]).is_err());
    }

    #[test]
    fn loads_a_manifest_with_env_overrides() {
        let dir = std::env::temp_dir().join(format!("todo-host-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("spin.toml");
        std::fs::write(
            &path,
            r#"spin_manifest_version = 2
[application]
name = "t"
[variables]
dapr_url = { default = "http://localhost:3500" }
token = { required = true }
[[trigger.http]]
route = "/a/..."
component = "a"
[[trigger.http]]
route = "/a/b"
component = "b"
[component.a]
source = "a.wasm"
allowed_outbound_hosts = ["{{ dapr_url }}"]
[component.a.variables]
dapr_url = "{{ dapr_url }}"
[component.b]
source = "b.wasm"
"#,
        )
        .unwrap();
        assert!(
            App::load(&path, &HashMap::new()).is_err(),
            "a required variable must be set"
        );
        let env = HashMap::from([
            ("SPIN_VARIABLE_TOKEN".to_string(), "t".to_string()),
            (
                "SPIN_VARIABLE_DAPR_URL".to_string(),
                "http://127.0.0.1:3509".to_string(),
            ),
        ]);
        let app = App::load(&path, &env).unwrap();
        let a = &app.components[app.route("/a/x").unwrap().component];
        assert_eq!(a.id, "a");
        assert_eq!(a.allowed_outbound_hosts, vec!["http://127.0.0.1:3509"]);
        assert_eq!(a.variables["dapr_url"], "http://127.0.0.1:3509");
        assert_eq!(app.components[app.route("/a/b").unwrap().component].id, "b");
        assert!(app.route("/z").is_none());
    }
}
