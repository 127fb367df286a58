"""Runtime parity: the same small manifests served by real Spin 4.0.2 and by the project's host.

For each good manifest both must serve and give the same answers to the same requests (the
parity-probe component echoes what the runtime gave it: which component, Spin's headers, its
variables, and what an outbound request did). For each broken manifest both must refuse to start,
and both must say Spin's reason. The host's unit tests (tools/host) name the Spin source file of
each rule; this test checks the rules against Spin itself.
"""

from __future__ import annotations

import shutil
import textwrap

import pytest

from conftest import PROBE, start

HEAD = 'spin_manifest_version = 2\n[application]\nname = "parity"\nversion = "1.2.3"\n'


def component(cid: str, route: str, extra: str = "") -> str:
    return textwrap.dedent(f"""
        [[trigger.http]]
        route = "{route}"
        component = "{cid}"
        [component.{cid}]
        source = "probe.wasm"
        {extra}
        [component.{cid}.variables]
        name = "{cid}"
        """)


def folder_with(tmp_path, body: str):
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "spin.toml").write_text(body)
    shutil.copy(PROBE, tmp_path / "probe.wasm")
    return tmp_path


def normalise(resp) -> tuple:
    """The parts of an answer both runtimes must agree on."""
    if resp.headers.get("content-type", "").startswith("application/json") and resp.status_code == 200:
        body = resp.json()
        headers = body.get("headers", {})
        if "spin-client-addr" in headers:  # the client's port differs between the two runs
            headers["spin-client-addr"] = headers["spin-client-addr"].rsplit(":", 1)[0]
        return resp.status_code, body
    return resp.status_code, resp.text


def serve_both(runtimes, tmp_path, body, env=None, args=()):
    folder = folder_with(tmp_path, body)
    started = {r: start(r, folder, env or {}, list(args)) for r in runtimes}
    return started


def stop_all(started):
    return {r: s.stop() for r, s in started.items()}


def assert_same(started, requests_: list[str], headers=None):
    answers = {}
    try:
        for r, s in started.items():
            assert s.serves, f"{r} did not serve:\n{s.output}"
            answers[r] = [normalise(s.get(p, headers=headers or {})) for p in requests_]
    finally:
        outputs = stop_all(started)
    for i, path in enumerate(requests_):
        assert answers["spin"][i] == answers["host"][i], (
            f"GET {path}: Spin answered {answers['spin'][i]}, the host {answers['host'][i]}\n"
            f"--- spin output\n{outputs['spin']}\n--- host output\n{outputs['host']}"
        )
    return answers["spin"]


ROUTES = HEAD + "".join(
    component(cid, route)
    for cid, route in [
        ("exact", "/api/exact"),
        ("wild", "/api/..."),
        ("me", "/users/me"),
        ("param", "/users/:id"),
        ("post", "/users/:id/posts/..."),
        ("dup-a", "/dup"),
        ("dup-b", "/dup"),
        ("noslash", "noslash"),
        ("trail", "/trail/"),
        ("all", "/..."),
    ]
) + '\n[[trigger.http]]\nroute = { private = true }\ncomponent = "hidden"\n[component.hidden]\nsource = "probe.wasm"\n'


def test_routes_headers_and_precedence(runtimes, tmp_path):
    paths = [
        "/api/exact", "/api/exact/z", "/api", "/api/", "/users/me", "/users/42", "/users/42/",
        "/users/42/posts/7/?q=1", "/dup", "/noslash", "/trail", "/trail/", "/API/exact", "/",
        "/a%20b/c", "/.well-known/spin/health", "/.well-known/spin/info", "/.well-known/spin/nope",
    ]
    answers = assert_same(serve_both(runtimes, tmp_path, ROUTES), [p + ("&" if "?" in p else "?") + "var=name" for p in paths])
    who = {p: a[1]["vars"]["name"] for p, a in zip(paths, answers) if isinstance(a[1], dict) and "vars" in a[1]}
    assert answers[paths.index("/.well-known/spin/info")] == (200, {"name": "parity", "version": "1.2.3"})
    # The precedence itself, so that "both agree" cannot hide "both wrong".
    assert who["/api/exact"] == "exact" and who["/api/exact/z"] == "wild" and who["/api"] == "wild"
    assert who["/users/me"] == "me" and who["/users/42"] == "param"
    assert who["/users/42/posts/7/?q=1"] == "post" and who["/dup"] == "dup-b"
    assert who["/noslash"] == "noslash" and who["/trail/"] == "trail" and who["/API/exact"] == "all"


def test_spoofed_spin_headers_reach_the_component_as_in_spin(runtimes, tmp_path):
    assert_same(serve_both(runtimes, tmp_path, ROUTES), ["/users/1?var=name"], headers={"spin-full-url": "spoofed"})


def test_unrouted_paths_get_an_empty_404(runtimes, tmp_path):
    body = HEAD + component("only", "/only/...")
    answers = assert_same(serve_both(runtimes, tmp_path, body), ["/elsewhere", "/only/x?var=name"])
    assert answers[0] == (404, "")


VARIABLES = HEAD + textwrap.dedent("""
    [variables]
    plain = { default = "d" }
    overridden = { default = "d" }
    needed = { required = true, secret = true }
    """) + component("vars", "/...").replace(
    'name = "vars"', 'name = "vars"\nmixed = "pre-{{ plain }}-{{ overridden }}-post"\nsecret_one = "{{ needed }}"\nliteral = "lit"'
)


def test_variables_defaults_env_and_templates(runtimes, tmp_path):
    env = {"SPIN_VARIABLE_OVERRIDDEN": "env", "SPIN_VARIABLE_NEEDED": "s3cret"}
    started = serve_both(runtimes, tmp_path, VARIABLES, env)
    answers = assert_same(started, ["/?var=mixed&var=secret_one&var=literal&var=nosuch"])
    assert answers[0][1]["vars"] == {"mixed": "pre-d-env-post", "secret_one": "s3cret", "literal": "lit", "nosuch": None}


def outbound_manifest(allowed: str, extra_vars: str = "", component_vars: str = "") -> str:
    body = HEAD + (f"[variables]\n{extra_vars}\n" if extra_vars else "") + component("out", "/...", f"allowed_outbound_hosts = {allowed}")
    return body.replace('name = "out"', f'name = "out"\n{component_vars}')


@pytest.mark.parametrize(
    "allowed, extra_vars, component_vars, allowed_urls, denied_urls",
    [
        ('["http://127.0.0.1:{port}"]', "", "", ["http://127.0.0.1:{port}/"], ["http://localhost:{port}/", "https://127.0.0.1:{port}/", "http://127.0.0.1:1/"]),
        ('["http://localhost:{port}"]', "", "", ["http://localhost:{port}/", "http://LOCALHOST:{port}/"], ["http://127.0.0.1:{port}/"]),
        ('["http://127.0.0.1:*"]', "", "", ["http://127.0.0.1:{port}/"], ["http://localhost:{port}/"]),
        ('["*://127.0.0.0/8:{port}"]', "", "", ["http://127.0.0.1:{port}/"], ["http://localhost:{port}/"]),
        ('["http://127.0.0.1:{port}..{port1}"]', "", "", ["http://127.0.0.1:{port}/"], []),
        ('["http://127.0.0.1:{port0}..{port}"]', "", "", [], ["http://127.0.0.1:{port}/"]),
        ('["http://*.localhost:{port}"]', "", "", [], ["http://localhost:{port}/"]),
        ('["{{{{ target }}}}"]', 'target = {{ default = "http://127.0.0.1:{port}" }}', "", ["http://127.0.0.1:{port}/"], ["http://localhost:{port}/"]),
        # A component variable in allowed_outbound_hosts: both load it, and deny everything.
        ('["{{{{ dapr_url }}}}"]', 'target = {{ default = "http://127.0.0.1:{port}" }}', 'dapr_url = "{{{{ target }}}}"', [], ["http://127.0.0.1:{port}/"]),
        ("[]", "", "", [], ["http://127.0.0.1:{port}/"]),
    ],
    ids=["ip-exact", "localhost-exact", "any-port", "cidr", "range-includes-start", "range-excludes-end",
         "subdomain-wildcard", "template-app-variable", "template-component-variable", "nothing"],
)
def test_outbound_hosts_allow_and_deny_alike(runtimes, tmp_path, target_port, allowed, extra_vars, component_vars, allowed_urls, denied_urls):
    f = dict(port=target_port, port1=target_port + 1, port0=target_port - 1)
    body = outbound_manifest(allowed.format(**f), extra_vars.format(**f), component_vars.format(**f))
    urls = [u.format(**f) for u in allowed_urls + denied_urls]
    answers = assert_same(serve_both(runtimes, tmp_path, body), [f"/?fetch={u}" for u in urls])
    for u, a in zip(urls, answers):
        outcome = a[1]["fetch"]
        if u in [x.format(**f) for x in allowed_urls]:
            assert outcome == {"status": 200}, f"{u} should be allowed: {outcome}"
        else:
            assert "status" not in outcome or outcome["status"] != 200, f"{u} should be denied: {outcome}"
            if u.startswith("http://") and ":1/" not in u:
                assert "HttpRequestDenied" in outcome.get("error", ""), f"{u}: {outcome}"


def test_component_id_serves_only_that_component(runtimes, tmp_path):
    body = HEAD + '[variables]\nbreq = { required = true }\n' + component("a", "/a/...") + component("b", "/b/...")
    started = serve_both(runtimes, tmp_path, body, {"SPIN_VARIABLE_BREQ": "1"}, ["--component-id", "a"])
    answers = assert_same(started, ["/a/x?var=name", "/b/x?var=name"])
    assert answers[0][1]["vars"]["name"] == "a" and answers[1] == (404, "")
    # Application variables stay required under --component-id.
    started = serve_both(runtimes, tmp_path / "again", body, {}, ["--component-id", "a"])
    outputs = stop_all(started)
    for r, s in started.items():
        assert not s.serves, f"{r} served without a required variable"
        assert 'no provider resolved required variable(s): [Key("breq")]' in outputs[r], outputs[r]


BROKEN = {
    "bad-variable-name": (HEAD + '[variables]\na_1 = { default = "x" }\n' + component("w", "/"), "'_'-separated words must start with an ASCII letter; got '1'"),
    "required-and-default": (HEAD + '[variables]\nx = { required = true, default = "d" }\n' + component("w", "/"), "must be `required` OR have a `default`"),
    "neither-required-nor-default": (HEAD + "[variables]\nx = { }\n" + component("w", "/"), "must be `required` OR have a `default`"),
    "required-without-value": (HEAD + "[variables]\nx = { required = true }\n" + component("w", "/"), 'no provider resolved required variable(s): [Key("x")]'),
    "unknown-variable-in-component": (HEAD + component("w", "/").replace('name = "w"', 'name = "{{ nosuch }}"'), 'unknown variable "nosuch"'),
    "unmatched-template": (HEAD + component("w", "/").replace('name = "w"', 'name = "{{ oops"'), "unmatched '{{' in template"),
    "unknown-component-field": (HEAD + component("w", "/", "foo = 1"), "unknown field `foo`"),
    "unknown-trigger-field": (HEAD + component("w", "/").replace('component = "w"', 'component = "w"\nfoo = 1'), "unknown field `foo`"),
    "outbound-without-scheme": (HEAD + component("w", "/", 'allowed_outbound_hosts = ["example.com"]'), "does not contain a scheme"),
    "outbound-dash-range": (HEAD + component("w", "/", 'allowed_outbound_hosts = ["http://x:1-100"]'), 'port "1-100" is not a number'),
    "outbound-path": (HEAD + component("w", "/", 'allowed_outbound_hosts = ["http://example.com/api"]'), "must not include a path"),
    "outbound-port-and-path": (HEAD + component("w", "/", 'allowed_outbound_hosts = ["http://example.com:80/api"]'), "has a path but is not allowed to"),
    "outbound-bad-default": (HEAD + '[variables]\nh = { default = "example.com" }\n' + component("w", "/", 'allowed_outbound_hosts = ["{{ h }}"]'), "using default variable value(s)"),
    "unnamed-route-parameter": (HEAD + component("w", "/a/:"), "params must be named"),
    "private-false": (HEAD + component("w", "/").replace('route = "/"', "route = { private = false }"), "route must be a string pattern or '{ private = true }'"),
    "unknown-component": (HEAD + '[[trigger.http]]\nroute = "/"\ncomponent = "other"\n', 'no such component "other"'),
    "bad-component-id": (HEAD + component("w", "/").replace("[component.w]", "[component.w_1]").replace('component = "w"', 'component = "w_1"').replace("[component.w.variables]", "[component.w_1.variables]"), "words must be separated with '-', not '_'"),
    "manifest-version-3": (HEAD.replace("= 2", "= 3") + component("w", "/"), "invalid manifest version: 3"),
    "missing-source-file": (HEAD + component("w", "/").replace('source = "probe.wasm"', 'source = "missing.wasm"'), "missing.wasm"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_manifests_are_refused_by_both_with_spins_reason(runtimes, tmp_path, case):
    body, reason = BROKEN[case]
    started = serve_both(runtimes, tmp_path, body)
    outputs = stop_all(started)
    for r, s in started.items():
        assert not s.serves, f"{r} served the broken manifest `{case}`"
        assert reason in outputs[r], f"{r} refused `{case}` without Spin's reason {reason!r}:\n{outputs[r]}"
