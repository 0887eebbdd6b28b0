"""docs/guarantees.md names a test for each promise: every one it names exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = re.compile(r"`((?:[\w/]+/)?test_\w+\.py)(?:::(\w+))?(?:::(\w+))?`")


def defined(path: Path) -> dict[str, set[str]]:
    """Top-level test functions (under "") and test classes with their methods."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: dict[str, set[str]] = {"": set()}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names[""].add(node.name)
        elif isinstance(node, ast.ClassDef):
            names[node.name] = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
    return names


def test_every_test_the_guarantees_name_exists() -> None:
    text = (ROOT / "docs" / "guarantees.md").read_text(encoding="utf-8")
    references = REFERENCE.findall(text)
    assert len(references) >= 25
    missing = []
    for file, first, second in references:
        path = ROOT / "tests" / file
        if not path.is_file():
            missing.append(file)
            continue
        if not first:
            continue
        names = defined(path)
        if second:
            # A contract test named through a class that inherits it.
            found = first in names and (second in names[first] or second.startswith("test_"))
            if found and second not in names[first]:
                contract = defined(ROOT / "src" / "pymetrix" / "testing.py")
                found = second in contract.get("StoreContract", set())
        else:
            found = first in names[""] or first in names
        if not found:
            missing.append(f"{file}::{first}" + (f"::{second}" if second else ""))
    assert missing == []
