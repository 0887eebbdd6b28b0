"""What docs/api.md lists for each public module is exactly its ``__all__``, and every
name there exists."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def documented() -> dict[str, list[str]]:
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    sections = re.split(r"(?m)^### `([\w.]+)`\n", text)
    out = {}
    for name, body in zip(sections[1::2], sections[2::2]):
        listing = body.strip().split("\n\n")[-1]
        out[name] = re.findall(r"`([\w.]+)`", listing)
    return out


DOCUMENTED = documented()


def test_every_public_package_module_is_documented() -> None:
    package = ROOT / "src" / "pymetrix"
    public = {
        ".".join(("pymetrix", *path.relative_to(package).with_suffix("").parts)).removesuffix(
            ".__init__"
        )
        for path in package.rglob("*.py")
        if not any(part.startswith("_") and part != "__init__.py" for part in path.parts[-3:])
        and "static" not in path.parts
    }
    public = {name for name in public if not name.split(".")[-1].startswith("_")}
    undocumented = public - set(DOCUMENTED) - {"pymetrix.cli", "pymetrix.demo"}
    assert undocumented == set()


@pytest.mark.parametrize("module", sorted(DOCUMENTED))
def test_all_matches_the_documented_names(module: str) -> None:
    mod = importlib.import_module(module)
    assert sorted(mod.__all__) == sorted(DOCUMENTED[module])
    for name in mod.__all__:
        assert hasattr(mod, name), f"{module}.{name}"
