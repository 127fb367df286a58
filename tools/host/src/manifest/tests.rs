//! Each test is one rule of Spin 4.0.2's manifest loading, and names the file of
//! spinframework/spin v4.0.2 it follows; the messages were checked against `spin up` 4.0.2.

use super::*;

/// A manifest in a fresh folder (the `.wasm` need not exist unless served).
fn write(body: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("todo-host-manifest-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("spin.toml");
    std::fs::write(&path, body).unwrap();
    path
}

const HEAD: &str = "spin_manifest_version = 2\n[application]\nname = \"t\"\n";

fn manifest(rest: &str) -> String {
    format!("{HEAD}{rest}")
}

fn web(extra: &str) -> String {
    manifest(&format!(
        "[[trigger.http]]\nroute = \"/...\"\ncomponent = \"web\"\n[component.web]\nsource = \"web.wasm\"\n{extra}"
    ))
}

fn load_with(body: &str, env: &[(&str, &str)], only: &[&str]) -> Result<App> {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let only: Vec<String> = only.iter().map(|s| s.to_string()).collect();
    App::load(&write(body), &env, &only)
}

fn refused(body: &str) -> String {
    match load_with(body, &[], &[]) {
        Ok(_) => panic!("accepted:\n{body}"),
        Err(e) => format!("{e:#}"),
    }
}

/// crates/serde/src/id.rs, `TryFrom<String> for Id`: the `LowerSnakeId` and `KebabId` rules.
#[test]
fn ids_follow_spins_rules() {
    let snake = |s| check_id(s, '_', true);
    let kebab = |s| check_id(s, '-', false);
    assert!(snake("a1").is_ok() && snake("ab_cd2").is_ok() && snake("dapr_url").is_ok());
    assert_eq!(
        snake("_a").unwrap_err(),
        "'_'-separated words must not be empty"
    );
    assert_eq!(
        snake("a__b").unwrap_err(),
        "'_'-separated words must not be empty"
    );
    assert_eq!(
        snake("a_1").unwrap_err(),
        "'_'-separated words must start with an ASCII letter; got '1'"
    );
    assert_eq!(
        snake("Bad").unwrap_err(),
        "'_'-separated words must be all lowercase or all UPPERCASE; got \"Bad\""
    );
    assert_eq!(
        snake("ABC").unwrap_err(),
        "Lower-case identifiers must be all lowercase; got \"ABC\""
    );
    assert_eq!(
        snake("a-b").unwrap_err(),
        "words must be separated with '_', not '-'"
    );
    assert_eq!(
        snake("a.b").unwrap_err(),
        "'_'-separated words may only contain alphanumeric ASCII; got '.'"
    );
    assert!(kebab("task-api").is_ok() && kebab("WEB").is_ok());
    assert_eq!(
        kebab("web_1").unwrap_err(),
        "words must be separated with '-', not '_'"
    );
    assert_eq!(
        kebab("web-1").unwrap_err(),
        "'-'-separated words must start with an ASCII letter; got '1'"
    );
    assert_eq!(
        kebab("web-").unwrap_err(),
        "'-'-separated words must not be empty"
    );
}

/// crates/manifest/src/schema/v2.rs: variable names and component ids are checked while the
/// TOML is read, so the error names the key.
#[test]
fn bad_names_in_a_manifest_are_refused() {
    let e = refused(&manifest(
        "[variables]\na_1 = { default = \"x\" }\n[trigger]\n",
    ));
    assert!(
        e.contains("'_'-separated words must start with an ASCII letter; got '1'"),
        "{e}"
    );
    let e = refused(&web("[component.web.variables]\nBad = \"x\"\n"));
    assert!(
        e.contains("must be all lowercase or all UPPERCASE; got \"Bad\""),
        "{e}"
    );
    let e = refused(&manifest(
        "[[trigger.http]]\nroute = \"/\"\ncomponent = \"web_1\"\n[component.web_1]\nsource = \"w.wasm\"\n",
    ));
    assert!(
        e.contains("words must be separated with '-', not '_'"),
        "{e}"
    );
}

/// crates/loader/src/local.rs, `locked_variable`: exactly one of `required` and `default`.
#[test]
fn a_variable_is_required_or_has_a_default() {
    for v in ["{ required = true, default = \"x\" }", "{ }"] {
        let e = refused(&manifest(&format!("[variables]\nx = {v}\n[trigger]\n")));
        assert!(
            e.contains("must be `required` OR have a `default`"),
            "{v}: {e}"
        );
    }
}

/// crates/trigger/src/cli/variable.rs, `ensure_required_variables_resolvable`: every required
/// application variable needs a value at start, used or not; SPIN_VARIABLE_<NAME> gives one
/// (crates/variables-env/src/lib.rs) and wins over a default.
#[test]
fn required_variables_need_a_value() {
    let body = web(
        "[component.web.variables]\nv = \"{{ x }}-{{ d }}\"\n",
    )
    .replace(
        "[[trigger.http]]",
        "[variables]\nx = { required = true }\nunused = { required = true }\nd = { default = \"dd\" }\n[[trigger.http]]",
    );
    let e = format!(
        "{:#}",
        load_with(&body, &[("SPIN_VARIABLE_X", "1")], &[])
            .err()
            .unwrap()
    );
    assert!(
        e.contains("no provider resolved required variable(s): [Key(\"unused\")]"),
        "{e}"
    );
    let app = load_with(
        &body,
        &[
            ("SPIN_VARIABLE_X", "1"),
            ("SPIN_VARIABLE_UNUSED", ""),
            ("SPIN_VARIABLE_D", "e"),
        ],
        &[],
    )
    .unwrap();
    assert_eq!(app.components[0].variables["v"], "1-e");
    assert!(
        load_with(&body, &[("SPIN_VARIABLE_x", "1")], &[]).is_err(),
        "names are upper case"
    );
}

/// crates/expressions/src/lib.rs, `validate_template`: a component variable's template may name
/// only application variables, checked for every component, served or not.
#[test]
fn component_variables_name_application_variables() {
    let e = refused(&web("[component.web.variables]\nv = \"{{ nosuch }}\"\n"));
    assert!(
        e.contains("invalid variable template: unknown variable \"nosuch\""),
        "{e}"
    );
    let e = refused(&web("[component.web.variables]\nv = \"{{ oops\"\n"));
    assert!(e.contains("unmatched '{{' in template"), "{e}");
    let unused = web(
        "[component.other]\nsource = \"o.wasm\"\n[component.other.variables]\nv = \"{{ nope }}\"\n",
    );
    let e = refused(&unused);
    assert!(e.contains("unknown variable \"nope\""), "{e}");
}

/// crates/factor-outbound-networking/src/lib.rs, `prepare`: `allowed_outbound_hosts` templates
/// resolve with application variables; a component variable there loads but allows nothing.
#[test]
fn outbound_templates_with_component_variables_deny_everything() {
    let body = web(
        "allowed_outbound_hosts = [\"{{ dapr_url }}\"]\n[component.web.variables]\ndapr_url = \"{{ target }}\"\n",
    )
    .replace("[[trigger.http]]", "[variables]\ntarget = { default = \"http://127.0.0.1:3500\" }\n[[trigger.http]]");
    let app = load_with(&body, &[], &[]).unwrap();
    assert_eq!(
        app.components[0].allowed.as_ref().unwrap_err(),
        "invalid variable name: dapr_url"
    );
    let good = body.replace("{{ dapr_url }}", "{{ target }}");
    let app = load_with(&good, &[], &[]).unwrap();
    assert!(app.components[0]
        .allowed
        .as_ref()
        .unwrap()
        .permits(&"http://127.0.0.1:3500/x".parse().unwrap()));
    // crates/loader/src/local.rs: a malformed literal is refused at load.
    let e = refused(&web("allowed_outbound_hosts = [\"example.com\"]\n"));
    assert!(e.contains("`allowed_outbound_hosts` is malformed"), "{e}");
    assert!(
        e.contains("\"example.com\" does not contain a scheme"),
        "{e}"
    );
}

/// crates/manifest/src/schema/v2.rs and crates/http/src/config.rs: unknown fields are refused
/// with Spin's list of the expected ones.
#[test]
fn unknown_fields_are_refused() {
    let e = refused(&format!("{HEAD}foo = 1\n[trigger]\n"));
    assert!(e.contains("unknown field `foo`"), "{e}");
    let e = refused(&web("foo = 1\n"));
    assert!(
        e.contains("unknown field `foo`, expected one of `source`, `description`, `variables`"),
        "{e}"
    );
    let e = refused(&web("").replace("component = \"web\"", "component = \"web\"\nfoo = 1"));
    assert!(
        e.contains("unknown field `foo`, expected one of `component`, `static_response`, `route`, `executor`"),
        "{e}"
    );
    let e = refused(&manifest(
        "[variables]\nx = { default = \"a\", foo = 1 }\n[trigger]\n",
    ));
    assert!(
        e.contains(
            "unknown field `foo`, expected one of `description`, `required`, `default`, `secret`"
        ),
        "{e}"
    );
}

/// crates/manifest/src/lib.rs, `ManifestVersion::detect`: only version 2 (and legacy "1").
#[test]
fn only_manifest_version_2() {
    let e = refused("spin_manifest_version = 3\n[application]\nname = \"t\"\n[trigger]\n");
    assert!(e.contains("invalid manifest version: 3"), "{e}");
    let e = refused("spin_manifest_version = \"2\"\n[application]\nname = \"t\"\n[trigger]\n");
    assert!(e.contains("invalid manifest version: \"2\""), "{e}");
}

/// crates/http/src/config.rs `lookup_key` and the trigger's component lookup: a trigger names
/// exactly one existing component.
#[test]
fn triggers_name_one_existing_component() {
    let e = refused(&manifest(
        "[[trigger.http]]\nroute = \"/\"\ncomponent = \"other\"\n",
    ));
    assert!(e.contains("no such component \"other\""), "{e}");
    let e = refused(&manifest("[[trigger.http]]\nroute = \"/\"\n"));
    assert!(
        e.contains(
            "Triggers must specify either component or static_response - http-trigger1 has neither"
        ),
        "{e}"
    );
}

/// src/commands/up.rs -> crates/app/src/lib.rs `App::retain_components`: `--component-id`
/// keeps only those components' routes; application variables stay required.
#[test]
fn component_id_selects_components() {
    let body = manifest(
        "[variables]\nbreq = { required = true }\n\
         [[trigger.http]]\nroute = \"/a/...\"\ncomponent = \"a\"\n\
         [[trigger.http]]\nroute = \"/b/...\"\ncomponent = \"b\"\n\
         [component.a]\nsource = \"a.wasm\"\n[component.b]\nsource = \"b.wasm\"\n",
    );
    let env = [("SPIN_VARIABLE_BREQ", "1")];
    let app = load_with(&body, &env, &["a"]).unwrap();
    assert_eq!(app.components.len(), 1);
    assert!(app.router.route("/a/x", "http://x", "c").is_some());
    assert!(app.router.route("/b/x", "http://x", "c").is_none());
    let e = format!("{:#}", load_with(&body, &[], &["a"]).err().unwrap());
    assert!(
        e.contains("no provider resolved required variable(s): [Key(\"breq\")]"),
        "{e}"
    );
    let e = format!("{:#}", load_with(&body, &env, &["nope"]).err().unwrap());
    assert!(
        e.contains("Specified component \"nope\" not found in application"),
        "{e}"
    );
}

/// crates/factors-executor/src/lib.rs `load_app`: only components a trigger uses are loaded, so
/// an unused component's source need not exist.
#[test]
fn only_routed_components_are_served() {
    let app = load_with(
        &web("[component.unused]\nsource = \"missing.wasm\"\n"),
        &[],
        &[],
    )
    .unwrap();
    assert_eq!(app.components.len(), 1);
    assert_eq!(app.components[0].id, "web");
}

/// The project's own manifest loads with the dev stack's variables.
#[test]
fn the_projects_manifest_loads() {
    let path = crate::crate_dir().join("../../spin.toml");
    let env: HashMap<String, String> = [
        "JWT_SECRET",
        "DAPR_API_TOKEN",
        "APP_API_TOKEN",
        "PUSHPIN_SIG_KEY",
    ]
    .iter()
    .map(|k| (format!("SPIN_VARIABLE_{k}"), "x".to_string()))
    .collect();
    let app = App::load(&path, &env, &[]).unwrap();
    // Every component with a sidecar (a `dapr_url` variable) may reach it; the board has none.
    for c in app
        .components
        .iter()
        .filter(|c| c.variables.contains_key("dapr_url"))
    {
        let hosts = c
            .allowed
            .as_ref()
            .unwrap_or_else(|e| panic!("{}: {e}", c.id));
        assert!(
            hosts.permits(&"http://localhost:3500/v1.0/healthz".parse().unwrap()),
            "{} cannot reach its sidecar",
            c.id
        );
    }
}
