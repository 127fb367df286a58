"""tools/dapr/find.sh: which Dapr the stack runs when the user already has one (issue 23). The
binaries here are stand-ins that print a version: what is tested is the search and the version
check, not Dapr (the external-services stage runs the stack on a real Dapr found this way)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

FIND = Path(__file__).resolve().parents[2] / "tools" / "dapr" / "find.sh"


def fake_dapr(folder: Path, version: str, scheduler: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "daprd").write_text(f"#!/bin/sh\n[ \"$1\" = --version ] && echo {version}\n")
    (folder / "daprd").chmod(0o755)
    if scheduler:
        (folder / "scheduler").write_text("#!/bin/sh\nexit 0\n")
        (folder / "scheduler").chmod(0o755)
    return folder


def find(what: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    base = {"PATH": "/usr/bin:/bin", "HOME": str(home)}
    return subprocess.run([str(FIND), what], capture_output=True, text=True, env={**base, **env}, timeout=30)


@pytest.mark.parametrize("what", ["daprd", "scheduler"])
def test_todo_dapr_bin_with_1_18_is_used(tmp_path, what):
    d = fake_dapr(tmp_path / "dapr", "1.18.3")
    r = find(what, tmp_path, TODO_DAPR_BIN=str(d))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(d / what)


def test_todo_dapr_bin_with_another_version_is_an_error_naming_both(tmp_path):
    d = fake_dapr(tmp_path / "dapr", "1.17.2")
    r = find("daprd", tmp_path, TODO_DAPR_BIN=str(d))
    assert r.returncode == 1 and r.stdout == ""
    assert "1.17.2" in r.stderr and "1.18" in r.stderr and "TODO_DAPR_BIN" in r.stderr


def test_todo_dapr_bin_without_a_scheduler_is_an_error(tmp_path):
    d = fake_dapr(tmp_path / "dapr", "1.18.3", scheduler=False)
    r = find("scheduler", tmp_path, TODO_DAPR_BIN=str(d))
    assert r.returncode == 1 and "no executable scheduler" in r.stderr


def test_todo_dapr_bin_build_means_the_projects_own(tmp_path):
    fake_dapr(tmp_path / "home" / ".dapr" / "bin", "1.18.3")
    r = find("daprd", tmp_path, TODO_DAPR_BIN="build")
    assert r.returncode == 0 and r.stdout == ""


def test_dapr_init_folder_is_found(tmp_path):
    d = fake_dapr(tmp_path / "home" / ".dapr" / "bin", "1.18.1")
    r = find("daprd", tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == str(d / "daprd")


def test_path_comes_before_dapr_init_folder(tmp_path):
    fake_dapr(tmp_path / "home" / ".dapr" / "bin", "1.18.1")
    on_path = fake_dapr(tmp_path / "onpath", "1.18.3")
    r = find("daprd", tmp_path, PATH=f"{on_path}:/usr/bin:/bin")
    assert r.stdout.strip() == str(on_path / "daprd")


def test_another_version_on_path_is_passed_over_with_a_message(tmp_path):
    home_bin = fake_dapr(tmp_path / "home" / ".dapr" / "bin", "1.18.2")
    old = fake_dapr(tmp_path / "old", "1.16.0")
    r = find("daprd", tmp_path, PATH=f"{old}:/usr/bin:/bin")
    assert r.returncode == 0 and r.stdout.strip() == str(home_bin / "daprd")
    assert "1.16.0" in r.stderr


def test_nothing_found_means_build(tmp_path):
    r = find("daprd", tmp_path)
    assert r.returncode == 0 and r.stdout == "" and r.stderr == ""
