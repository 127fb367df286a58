"""Pushpin's cluster config (deploy/base/pushpin/) is the dev stack's (tools/pushpin/), rendered
for the cluster, and Debian's Pushpin 1.36 (the package the image installs, and the dev stack's)
runs it: the publish API and the client port answer, the internal ZeroMQ ports stay on
127.0.0.1, and the container's start command refuses a bad key."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import deploy_checks as dc

CLUSTER_CONF = dc.DEPLOY / "base" / "pushpin" / "pushpin.conf.in"
CLUSTER_ROUTES = dc.DEPLOY / "base" / "pushpin" / "routes"
DEV_CONF = dc.REPO / "tools" / "pushpin" / "pushpin.conf.in"
DEV_ROUTES = dc.REPO / "tools" / "pushpin" / "routes.in"
# The settings that differ between the dev stack and the cluster, and their cluster values
# (deploy/base/pushpin/pushpin.conf.in's header says why).
CLUSTER_VALUES = {
    ("global", "rundir"): "/var/run/pushpin",
    ("global", "port_offset"): "0",
    ("runner", "http_port"): "7999",
    ("runner", "logdir"): "/var/run/pushpin/log",
    ("runner", "log_level"): "2",
    ("proxy", "routesfile"): "/etc/pushpin-todo/routes",
    ("proxy", "sig_key"): "@SIG_KEY@",
    ("handler", "push_in_http_addr"): "0.0.0.0",
}


def settings(path: Path) -> dict[tuple[str, str], str]:
    section, out = None, {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = re.match(r"^\[(\w+)\]$", line.strip())
        if m:
            section = m.group(1)
            continue
        key, _, value = line.partition("=")
        out[(section, key.strip())] = value.strip()
    return out


def rules(path: Path) -> list[str]:
    return [
        line.strip()
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]


def test_cluster_config_has_the_dev_stacks_settings():
    dev, cluster = settings(DEV_CONF), settings(CLUSTER_CONF)
    assert set(dev) == set(cluster), set(dev) ^ set(cluster)
    differ = {k for k in dev if dev[k] != cluster[k]}
    assert differ <= set(CLUSTER_VALUES), sorted(differ - set(CLUSTER_VALUES))
    for k, v in CLUSTER_VALUES.items():
        assert cluster[k] == v, (k, cluster[k])
    assert cluster[("runner", "services")] == "condure,zurl,pushpin-proxy,pushpin-handler"


def test_cluster_routes_are_the_dev_routes_to_the_realtime_service():
    dev = [r.replace("127.0.0.1:@APP_PORT@", "realtime.todo.svc.cluster.local:80") for r in rules(DEV_ROUTES)]
    assert rules(CLUSTER_ROUTES) == dev


NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("0.0.0.0", port))
        except OSError:
            return False
        return True


def _offset() -> int:
    for offset in range(31000, 40000, 37):
        if all(_port_free(p + offset) for p in (5560, 5561, 5562, 5563)):
            return offset
    pytest.fail("no free port offset for Pushpin's ZeroMQ ports")


def _start_command() -> str:
    """The shell script the Pushpin container runs (deploy/base/pushpin/deployment.yaml)."""
    dep = dc.find(dc.render(dc.DEPLOY / "base"), "Deployment", "pushpin")
    command = dep["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[:2] == ["/bin/sh", "-ec"], command
    return command[2]


@pytest.fixture
def pushpin_bin():
    missing = [b for b in ("pushpin", "condure", "zurl") if shutil.which(b) is None]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not installed: tools/pushpin/pushpin.sh install "
            "(Debian's pushpin 1.36, as tools/devstack/setup.sh installs it)",
            pytrace=False,
        )


def test_pushpin_runs_the_cluster_config(tmp_path, pushpin_bin, kubectl):
    """The container's own start script, with the paths and ports moved for this machine."""
    run = tmp_path / "run"
    etc = tmp_path / "etc"
    etc.mkdir()
    http_port, offset = _free_port(), _offset()
    conf = CLUSTER_CONF.read_text(encoding="utf-8")
    conf = conf.replace("/var/run/pushpin", str(run)).replace("/etc/pushpin-todo", str(etc))
    conf = re.sub(r"(?m)^http_port=7999$", f"http_port={http_port}", conf)
    conf = re.sub(r"(?m)^port_offset=0$", f"port_offset={offset}", conf)
    (etc / "pushpin.conf.in").write_text(conf)
    # an origin that refuses connections: Pushpin answers 502 itself (zurl reached it)
    (etc / "routes").write_text(CLUSTER_ROUTES.read_text().replace("realtime.todo.svc.cluster.local:80", "127.0.0.1:1"))
    script = _start_command().replace("/var/run/pushpin", str(run)).replace("/etc/pushpin-todo", str(etc))
    run.mkdir()
    bad = subprocess.run(["/bin/sh", "-ec", script], env={"PUSHPIN_SIG_KEY": "a|b", "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, timeout=10)
    assert bad.returncode != 0 and "bad or empty key" in bad.stderr
    proc = subprocess.Popen(
        ["/bin/sh", "-ec", script],
        env={"PUSHPIN_SIG_KEY": "0123abcd", "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert _wait_file(run / "pushpin.conf"), "the start script wrote no pushpin.conf"
        assert re.search(r"(?m)^sig_key=0123abcd$", (run / "pushpin.conf").read_text())
        publish = f"http://127.0.0.1:{5561 + offset}/publish/"
        body = _wait_http(publish, data=b'{"items":[]}', proc=proc)
        assert body == (200, "Published\n")
        status, _ = _wait_http(f"http://127.0.0.1:{http_port}/realtime/events", proc=proc)
        assert status == 502
        listening = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True).stdout
        assert re.search(rf"0\.0\.0\.0:{5561 + offset}\b", listening), "publish API not on every interface"
        assert re.search(rf"0\.0\.0\.0:{http_port}\b", listening), "client port not on every interface"
        for internal in (5560, 5562, 5563):
            assert re.search(rf"127\.0\.0\.1:{internal + offset}\b", listening), f"{internal} not on 127.0.0.1"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    assert proc.returncode == 0, proc.stdout.read() if proc.stdout else ""


def _wait_file(path: Path, timeout=10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size:
            return True
        time.sleep(0.1)
    return False


def _wait_http(url, data=None, proc=None, timeout=20):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"pushpin exited {proc.returncode}:\n{proc.stdout.read()}", pytrace=False)
        try:
            with NO_PROXY.open(urllib.request.Request(url, data=data), timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()
        except OSError as err:
            last = err
            time.sleep(0.25)
    pytest.fail(f"{url} did not answer in {timeout}s: {last}", pytrace=False)
