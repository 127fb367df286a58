"""Reads names and limits out of the Rust sources, so contract documents can be compared with them.

Small, strict regex readers: each raises `LookupError` when the item it looks for is not where
it should be (renamed, moved, or written in a form the reader does not understand), so a change
on the Rust side makes the comparison fail loudly instead of comparing against nothing.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TASKS_SRC = ROOT / "crates" / "tasks" / "src"
EVENTS_SRC = ROOT / "crates" / "events" / "src"


def _read(path: Path) -> str:
    if not path.is_file():
        raise LookupError(f"{path} is missing")
    return path.read_text(encoding="utf-8")


def _block(text: str, header_regex: str, what: str, path: Path) -> str:
    """The body of the first `{ ... }` block whose header matches, up to the `}` at column 0."""
    m = re.search(header_regex + r"\s*\{\n(.*?)\n\}", text, re.DOTALL)
    if not m:
        raise LookupError(f"{what} not found in {path}")
    return m.group(1)


def str_list_const(path: Path, owner: str, name: str) -> list[str]:
    """`impl <owner> { pub const <name>: &'static [&'static str] = &["a", "b"]; }` -> ["a", "b"]."""
    body = _block(_read(path), rf"impl\s+{re.escape(owner)}", f"impl {owner}", path)
    m = re.search(rf"pub const {re.escape(name)}: &'static \[&'static str\] = &\[(.*?)\];", body, re.DOTALL)
    if not m:
        raise LookupError(f"{owner}::{name} not found in {path}")
    return re.findall(r'"([^"\\]*)"', m.group(1))


def struct_fields(path: Path, name: str) -> list[str]:
    """The JSON names of a struct's serialised fields (honours `rename`, `skip`, `skip_serializing`)."""
    text = _read(path)
    header = re.search(rf"((?:#\[[^\n]*\]\n)*)pub struct {re.escape(name)}\s*\{{", text)
    if not header:
        raise LookupError(f"struct {name} not found in {path}")
    if "rename_all" in header.group(1):
        raise LookupError(f"struct {name} in {path} uses rename_all, which this reader does not apply")
    body = _block(text, rf"pub struct {re.escape(name)}", f"struct {name}", path)
    fields: list[str] = []
    attrs: list[str] = []
    for line in body.splitlines():
        line = line.strip()
        if line.startswith("#["):
            attrs.append(line)
            continue
        m = re.match(r"pub (\w+):", line)
        if not m:
            continue
        serde = " ".join(a for a in attrs if a.startswith("#[serde("))
        attrs = []
        if re.search(r"\bskip(_serializing)?\b(?!_if)", serde):
            continue
        rename = re.search(r'rename\s*=\s*"([^"]+)"', serde)
        fields.append(rename.group(1) if rename else m.group(1))
    if not fields:
        raise LookupError(f"struct {name} in {path} has no public fields")
    return fields


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def enum_values(path: Path, name: str) -> list[str]:
    """The wire names of a unit enum: `#[serde(rename = "...")]` per variant, or `rename_all = "snake_case"`."""
    text = _read(path)
    header = re.search(rf"((?:#\[[^\n]*\]\n)*)pub enum {re.escape(name)}\s*\{{", text)
    if not header:
        raise LookupError(f"enum {name} not found in {path}")
    snake = 'rename_all = "snake_case"' in header.group(1)
    body = _block(text, rf"pub enum {re.escape(name)}", f"enum {name}", path)
    values: list[str] = []
    rename = None
    for line in body.splitlines():
        line = line.strip()
        if line.startswith("//") or not line:
            continue
        m = re.match(r'#\[serde\(rename\s*=\s*"([^"]+)"\)\]', line)
        if m:
            rename = m.group(1)
            continue
        if line.startswith("#["):
            continue
        m = re.match(r"([A-Z]\w*),?$", line)
        if not m:
            raise LookupError(f"enum {name} in {path}: cannot read variant line {line!r}")
        if rename:
            values.append(rename)
        elif snake:
            values.append(_snake(m.group(1)))
        else:
            raise LookupError(f"enum {name} in {path}: variant {m.group(1)} has no serde name")
        rename = None
    return values


def int_const(path: Path, name: str) -> int:
    """`pub const NAME: <int type> = 64 * 1024;` -> 65536 (digits, `_` and `*` only)."""
    m = re.search(rf"pub const {re.escape(name)}: [iu](?:8|16|32|64|size) = ([0-9_ *]+);", _read(path))
    if not m:
        raise LookupError(f"integer const {name} not found in {path}")
    value = 1
    for factor in m.group(1).split("*"):
        value *= int(factor.strip().replace("_", ""))
    return value


def str_const(path: Path, name: str) -> str:
    """`pub const NAME: &str = "...";` -> its value."""
    m = re.search(rf'pub const {re.escape(name)}: &str = "([^"\\]*)";', _read(path))
    if not m:
        raise LookupError(f"string const {name} not found in {path}")
    return m.group(1)
