"""The host's per-request limits and its shutdown, beside real Spin 4.0.2 where Spin has the same
behaviour.

- Memory: `--max-instance-memory <bytes>` (Spin's own flag, and `SPIN_MAX_INSTANCE_MEMORY`). A
  request whose component grows its memory past the limit fails with 500 on both runtimes; one
  under the limit is served on both. The host's 500 is an RFC 9457 problem naming the limit.
- Time (host only: Spin 4.0.2 applies `--request-timeout` to WASIp3 components alone, and this
  app's components are WASIp2): the host answers 504 (a problem) when a component's own code runs
  past `--request-timeout` (epoch interruption) or when it waits past it on the host.
- Shutdown (host): SIGTERM stops accepting, lets a request in flight finish, then exits.
"""

from __future__ import annotations

import os
import threading
import time

import requests

from test_parity import HEAD, component, serve_both, stop_all
from conftest import start

PROBLEM = "application/problem+json"
LIMIT = 64 << 20  # bytes


def test_memory_past_the_instance_limit_fails_on_both_runtimes(runtimes, tmp_path):
    body = HEAD + component("mem", "/...")
    started = serve_both(runtimes, tmp_path, body, args=["--max-instance-memory", str(LIMIT)])
    answers = {}
    try:
        for r, s in started.items():
            assert s.serves, f"{r} did not serve:\n{s.output}"
            under = s.get("/?alloc=16")
            over = s.get("/?alloc=128")
            answers[r] = (under, over)
    finally:
        outputs = stop_all(started)
    for r, (under, over) in answers.items():
        assert under.status_code == 200 and under.json()["allocated"] == 16 << 20, (r, under.text)
        assert over.status_code == 500, f"{r} served 128 MiB past a {LIMIT}-byte limit: {over.status_code} {over.text[:200]}\n{outputs[r]}"
    over = answers["host"][1]
    assert over.headers["content-type"] == PROBLEM, over.headers
    problem = over.json()
    assert problem["status"] == 500 and problem["type"].endswith("/memory-limit"), problem
    assert str(LIMIT) in problem["detail"], problem


def test_the_same_limit_from_the_environment(runtimes, tmp_path):
    """`SPIN_MAX_INSTANCE_MEMORY` sets the limit on both (the status is the same; Spin's 500 has an
    empty body, the host's is a problem, as in the test above)."""
    body = HEAD + component("mem", "/...")
    started = serve_both(runtimes, tmp_path, body, env={"SPIN_MAX_INSTANCE_MEMORY": str(LIMIT)})
    answers = {}
    try:
        for r, s in started.items():
            assert s.serves, f"{r} did not serve:\n{s.output}"
            answers[r] = (s.get("/?alloc=16").status_code, s.get("/?alloc=128").status_code)
    finally:
        outputs = stop_all(started)
    for r, (under, over) in answers.items():
        assert (under, over) == (200, 500), f"{r}: 16 MiB -> {under}, 128 MiB -> {over} under a {LIMIT}-byte limit\n{outputs[r]}"


def test_a_component_running_past_the_deadline_is_interrupted_with_504(tmp_path):
    folder = tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    from test_parity import folder_with

    folder_with(folder, HEAD + component("slow", "/..."))
    s = start("host", folder, {}, ["--request-timeout", "1s"])
    try:
        assert s.serves, s.output
        t0 = time.monotonic()
        busy = s.get("/?busy=5000")
        busy_s = time.monotonic() - t0
        t0 = time.monotonic()
        asleep = s.get("/?sleep=5000")
        asleep_s = time.monotonic() - t0
        quick = s.get("/?busy=100")
    finally:
        output = s.stop()
    for what, r, took in (("busy", busy, busy_s), ("sleep", asleep, asleep_s)):
        assert r.status_code == 504, f"{what}: {r.status_code} {r.text}\n{output}"
        assert r.headers["content-type"] == PROBLEM and r.json()["type"].endswith("/request-timeout"), r.text
        assert took < 3.5, f"{what}: answered after {took:.1f}s with a 1 s deadline"
    assert quick.status_code == 200 and quick.json()["busy_ms"] == 100, quick.text


def test_sigterm_lets_the_request_in_flight_finish_then_exits(tmp_path):
    from test_parity import folder_with

    folder_with(tmp_path, HEAD + component("slow", "/..."))
    s = start("host", tmp_path, {}, [])
    assert s.serves, s.output
    result = {}

    def slow():
        result["r"] = s.get("/?sleep=2000")

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.5)  # the request is in the component now
    os.killpg(s.proc.pid, 15)
    time.sleep(0.3)
    try:
        requests.get(f"http://127.0.0.1:{s.port}/.well-known/spin/health", timeout=2)
        refused = False
    except requests.ConnectionError:
        refused = True
    t.join(10)
    s.proc.wait(10)
    output = s.stop()
    assert refused, "the host still accepted a connection after SIGTERM"
    r = result.get("r")
    assert r is not None and r.status_code == 200 and r.json()["slept_ms"] == 2000, (r, output)
    assert "every request answered" in output, output
    assert s.proc.returncode == 0, output
