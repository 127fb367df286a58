//! The part of Spin's `spin.toml` (manifest version 2) this host serves: HTTP trigger routes,
//! component sources, variables, `environment` and `allowed_outbound_hosts`, with Spin 4.0.2's
//! own checks and messages (spinframework/spin v4.0.2; each rule names its source file).
//!
//! A manifest Spin refuses, this host refuses with Spin's reason. A manifest feature this host
//! does not serve (`files`, key-value stores, static responses, ...) is refused as unsupported,
//! never silently ignored.

use anyhow::{anyhow, bail, ensure, Context, Result};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crate::outbound::AllowedHosts;
use crate::routes::{RouteConfig, Router};
use crate::template::Template;

/// An id made of words separated by `DELIM`, as Spin's `Id<DELIM, LOWER>`
/// (`crates/serde/src/id.rs`, `TryFrom<String> for Id`): every word non-empty, starting with an
/// ASCII letter, alphanumeric ASCII, all lower case or all upper case (only lower case if
/// `lower`). Component ids are kebab-case (`KebabId`), variable names snake_case
/// (`LowerSnakeId`).
pub fn check_id(id: &str, delim: char, lower: bool) -> Result<(), String> {
    if id.is_empty() {
        return Err("empty".into());
    }
    let wrong = if delim == '_' { '-' } else { '_' };
    if id.contains(wrong) {
        return Err(format!(
            "words must be separated with {delim:?}, not {wrong:?}"
        ));
    }
    for word in id.split(delim) {
        let mut chars = word.chars();
        let Some(first) = chars.next() else {
            return Err(format!("{delim:?}-separated words must not be empty"));
        };
        if !first.is_ascii_alphabetic() {
            return Err(format!(
                "{delim:?}-separated words must start with an ASCII letter; got {first:?}"
            ));
        }
        let upper = first.is_ascii_uppercase();
        for ch in chars {
            if ch.is_ascii_digit() {
            } else if !ch.is_ascii_alphanumeric() {
                return Err(format!(
                    "{delim:?}-separated words may only contain alphanumeric ASCII; got {ch:?}"
                ));
            } else if ch.is_ascii_uppercase() != upper {
                return Err(format!(
                    "{delim:?}-separated words must be all lowercase or all UPPERCASE; got {word:?}"
                ));
            }
        }
        if lower && upper {
            return Err(format!(
                "Lower-case identifiers must be all lowercase; got {id:?}"
            ));
        }
    }
    Ok(())
}

/// A map whose keys must pass [`check_id`] while deserialising, so a bad name is a parse error
/// pointing at the key, as in Spin (`crates/manifest/src/schema/v2.rs`: `Map<KebabId, _>`,
/// `Map<LowerSnakeId, _>`).
struct IdMap<V, const DELIM: char, const LOWER: bool>(BTreeMap<String, V>);

impl<'de, V: Deserialize<'de>, const DELIM: char, const LOWER: bool> Deserialize<'de>
    for IdMap<V, DELIM, LOWER>
{
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(PartialEq, Eq, PartialOrd, Ord)]
        struct Key<const DELIM: char, const LOWER: bool>(String);
        impl<'de, const DELIM: char, const LOWER: bool> Deserialize<'de> for Key<DELIM, LOWER> {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                check_id(&s, DELIM, LOWER).map_err(serde::de::Error::custom)?;
                Ok(Key(s))
            }
        }
        let raw = BTreeMap::<Key<DELIM, LOWER>, V>::deserialize(d)?;
        Ok(IdMap(raw.into_iter().map(|(k, v)| (k.0, v)).collect()))
    }
}

type KebabMap<V> = IdMap<V, '-', false>;
type SnakeMap<V> = IdMap<V, '_', true>;

// The raw manifest: field names and order as in Spin's `crates/manifest/src/schema/v2.rs`
// (`deny_unknown_fields` everywhere), so an unknown field gets Spin's "expected one of" list.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    #[allow(dead_code)] // checked by `check_version` first
    spin_manifest_version: toml::Value,
    application: RawApplication,
    #[serde(default)]
    variables: Option<SnakeMap<RawVariable>>,
    trigger: BTreeMap<String, Vec<toml::Table>>,
    #[serde(default)]
    component: Option<KebabMap<RawComponent>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // read by Spin, not needed to serve
struct RawApplication {
    name: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    authors: Option<Vec<String>>,
    #[serde(default)]
    targets: Option<toml::Value>,
    #[serde(default)]
    trigger: Option<toml::Table>,
    #[serde(default)]
    tool: Option<toml::Table>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // description and secret only matter to Spin's lock file
struct RawVariable {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    default: Option<String>,
    #[serde(default)]
    secret: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct RawComponent {
    source: toml::Value,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    variables: Option<SnakeMap<String>>,
    #[serde(default)]
    environment: Option<BTreeMap<String, String>>,
    #[serde(default)]
    files: Option<toml::Value>,
    #[serde(default)]
    exclude_files: Option<toml::Value>,
    #[serde(default)]
    allowed_http_hosts: Option<toml::Value>,
    #[serde(default)]
    allowed_outbound_hosts: Option<Vec<String>>,
    #[serde(default)]
    key_value_stores: Option<toml::Value>,
    #[serde(default)]
    sqlite_databases: Option<toml::Value>,
    #[serde(default)]
    ai_models: Option<toml::Value>,
    #[serde(default)]
    targets: Option<toml::Value>,
    #[serde(default)]
    build: Option<RawBuild>,
    #[serde(default)]
    tool: Option<toml::Table>,
    #[serde(default)]
    dependencies_inherit_configuration: Option<bool>,
    #[serde(default)]
    dependencies: Option<toml::Value>,
    #[serde(default)]
    profile: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // `spin build` runs it; serving does not
struct RawBuild {
    command: toml::Value,
    #[serde(default)]
    workdir: Option<String>,
    #[serde(default)]
    watch: Option<Vec<String>>,
}

/// One HTTP trigger's own fields, as Spin's `HttpTriggerConfig` (`crates/http/src/config.rs`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttpTrigger {
    #[serde(default)]
    component: Option<toml::Value>,
    #[serde(default)]
    static_response: Option<toml::Value>,
    route: RouteConfig,
    #[serde(default)]
    executor: Option<toml::Value>,
}

/// One component, its variables resolved.
pub struct ComponentSpec {
    /// The component id in `spin.toml`.
    pub id: String,
    /// Absolute path of the `.wasm` file.
    pub source: PathBuf,
    /// `allowed_outbound_hosts`, resolved with the application variables; `Err` holds Spin's
    /// reason, and then every outbound request of the component is denied (as in Spin).
    pub allowed: Result<AllowedHosts, String>,
    /// Component variables (served through `wasi:config/store`), templates expanded.
    pub variables: HashMap<String, String>,
    /// Environment variables the component sees.
    pub environment: Vec<(String, String)>,
}

/// The whole app as this host serves it.
pub struct App {
    /// The app's name (`/.well-known/spin/info`).
    pub name: String,
    /// The app's version, if any.
    pub version: Option<String>,
    /// Components that serve a route, in manifest order.
    pub components: Vec<ComponentSpec>,
    /// Routes to indexes of [`App::components`].
    pub router: Router,
    /// Warnings Spin would print at start (duplicate routes, reserved routes).
    pub warnings: Vec<String>,
}

impl App {
    /// Reads `spin.toml`, resolving variables from their defaults and `SPIN_VARIABLE_<NAME>`
    /// in `env`. With `only` non-empty, serves just those components (`spin up --component-id`).
    pub fn load(path: &Path, env: &HashMap<String, String>, only: &[String]) -> Result<App> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let load = || -> Result<App> {
            check_version(&text)?;
            let raw: RawManifest = toml::from_str(&text)?;
            let base = path.parent().unwrap_or(Path::new("."));
            App::from_raw(raw, base, env, only)
        };
        load().with_context(|| {
            format!(
                "Failed to load application from {:?} (as Spin 4.0.2 would)",
                path.display().to_string()
            )
        })
    }

    fn from_raw(
        raw: RawManifest,
        base: &Path,
        env: &HashMap<String, String>,
        only: &[String],
    ) -> Result<App> {
        let variables = raw.variables.map(|m| m.0).unwrap_or_default();
        let mut components = raw.component.map(|m| m.0).unwrap_or_default();
        // crates/loader/src/local.rs, `locked_variable`.
        for (name, v) in &variables {
            ensure!(
                v.required ^ v.default.is_some(),
                "variable `{name}`: must be `required` OR have a `default`"
            );
        }
        let mut triggers = Vec::new();
        for (kind, list) in raw.trigger {
            ensure!(
                kind == "http",
                "No built-in trigger named '{kind}': this host serves only the HTTP trigger"
            );
            for (n, table) in list.into_iter().enumerate() {
                let mut table = table;
                let id = match table.remove("id") {
                    Some(toml::Value::String(id)) => id,
                    _ => format!("http-trigger{}", n + 1),
                };
                let t: RawHttpTrigger = toml::Value::Table(table)
                    .try_into()
                    .map_err(|e: toml::de::Error| anyhow!("json error: {}", e.message()))?;
                triggers.push((id, t));
            }
        }
        // The components a trigger uses, `--component-id` applied (src/commands/up.rs ->
        // crates/app/src/lib.rs `App::retain_components`).
        for id in only {
            ensure!(
                components.contains_key(id),
                "failed to resolve application with only components selected with --component: \
                 Specified component \"{id}\" not found in application"
            );
        }
        let mut routes = Vec::new();
        for (trigger_id, t) in triggers {
            let component = match (&t.component, &t.static_response) {
                (None, None) => bail!(
                    "Triggers must specify either component or static_response - {trigger_id} has neither"
                ),
                (Some(_), Some(_)) => bail!(
                    "Triggers must specify either component or static_response - {trigger_id} has both"
                ),
                (None, Some(_)) => bail!(
                    "trigger {trigger_id}: static_response is not supported by this host"
                ),
                (Some(toml::Value::String(c)), None) => c.clone(),
                (Some(_), None) => bail!(
                    "trigger {trigger_id}: an inline component is not supported by this host"
                ),
            };
            if t.executor.is_some() {
                bail!("trigger {trigger_id}: `executor` is not supported by this host");
            }
            if !only.is_empty() && !only.contains(&component) {
                continue;
            }
            ensure!(
                components.contains_key(&component),
                "no such component {component:?}"
            );
            routes.push((component, t.route));
        }
        // Application variables: SPIN_VARIABLE_<NAME> wins over the default
        // (crates/variables-env/src/lib.rs); every required one must have a value, used or not
        // (crates/trigger/src/cli/variable.rs, `ensure_required_variables_resolvable`).
        let mut app_vars = HashMap::new();
        let mut unresolved = Vec::new();
        for (name, var) in &variables {
            match env
                .get(&format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase()))
                .cloned()
                .or_else(|| var.default.clone())
            {
                Some(v) => drop(app_vars.insert(name.clone(), v)),
                None => unresolved.push(format!("Key({name:?})")),
            }
        }
        if !unresolved.is_empty() {
            bail!(
                "provider error: no provider resolved required variable(s): [{}]",
                unresolved.join(", ")
            );
        }
        let defaults: HashMap<String, String> = variables
            .iter()
            .filter_map(|(k, v)| v.default.clone().map(|d| (k.clone(), d)))
            .collect();
        let mut order = Vec::new();
        let mut specs = Vec::new();
        for (id, c) in std::mem::take(&mut components) {
            // Component variable templates name application variables only
            // (crates/expressions/src/lib.rs, `validate_template`), checked for every component.
            let mut vars = HashMap::new();
            for (k, v) in c.variables.map(|m| m.0).unwrap_or_default() {
                let t = Template::new(&v).map_err(|e| {
                    anyhow!("failed to configure app: invalid variable template: {e}")
                })?;
                if let Some(unknown) = t.vars().find(|n| !variables.contains_key(*n)) {
                    bail!(
                        "failed to configure app: component `{id}`: invalid variable template: \
                         unknown variable {unknown:?}"
                    );
                }
                vars.insert(k, t.render(&app_vars).expect("validated above"));
            }
            let hosts = c.allowed_outbound_hosts.unwrap_or_default();
            // Load time (crates/loader/src/local.rs -> AllowedHostsConfig::validate): literals
            // must parse; a template is checked only when its variables all have defaults.
            AllowedHosts::validate(&hosts, &defaults).map_err(|e| {
                anyhow!(
                    "Failed to load component `{id}`: `allowed_outbound_hosts` is malformed: {e:#}"
                )
            })?;
            for (field, present) in [
                ("files", c.files.is_some()),
                ("key_value_stores", c.key_value_stores.is_some()),
                ("sqlite_databases", c.sqlite_databases.is_some()),
                ("ai_models", c.ai_models.is_some()),
                ("dependencies", c.dependencies.is_some()),
                ("allowed_http_hosts", c.allowed_http_hosts.is_some()),
            ] {
                ensure!(
                    !present,
                    "component `{id}`: `{field}` is not supported by this host"
                );
            }
            if !routes.iter().any(|(c, _)| c == &id) {
                continue; // Spin compiles only the components a trigger uses.
            }
            let toml::Value::String(source) = c.source else {
                bail!("component `{id}`: only a local file `source` is supported by this host");
            };
            // Run time (crates/factor-outbound-networking/src/lib.rs, `prepare`): templates
            // resolve with APPLICATION variables only; failing that, Spin logs the error and
            // denies every request of the component.
            let allowed = AllowedHosts::parse(&hosts, &app_vars).map_err(|e| format!("{e:#}"));
            order.push(id.clone());
            specs.push(ComponentSpec {
                source: base.join(source),
                environment: c.environment.unwrap_or_default().into_iter().collect(),
                id,
                allowed,
                variables: vars,
            });
        }
        let index: HashMap<&str, usize> = order
            .iter()
            .enumerate()
            .map(|(i, id)| (id.as_str(), i))
            .collect();
        let routes: Vec<(usize, String, RouteConfig)> = routes
            .into_iter()
            .map(|(c, r)| (index[c.as_str()], c, r))
            .collect();
        let (router, warnings) = Router::build(&routes)?;
        Ok(App {
            name: raw.application.name,
            version: raw.application.version,
            components: specs,
            router,
            warnings,
        })
    }
}

/// Only manifest version 2 (`crates/manifest/src/lib.rs`, `ManifestVersion::detect`; version
/// `"1"` is Spin's legacy format, which this host does not read).
fn check_version(text: &str) -> Result<()> {
    #[derive(Deserialize)]
    struct Probe {
        spin_manifest_version: toml::Value,
    }
    let probe: Probe = toml::from_str(text)?;
    match &probe.spin_manifest_version {
        toml::Value::Integer(2) => Ok(()),
        toml::Value::String(s) if s == "1" => {
            bail!("spin_manifest_version \"1\" (legacy) is not supported by this host")
        }
        other => bail!("invalid manifest version: {other}"),
    }
}

#[cfg(test)]
mod tests;
