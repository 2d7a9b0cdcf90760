"""The dependency rule of docs/architecture.md, checked on the source: foundation ← apps ← {dashboards,
scenarios, integrations, ui}. A lower layer reaches an upper one only through registries."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "civicgrid"
ABOVE_APPS = ("civicgrid.integrations", "civicgrid.dashboards", "civicgrid.scenarios", "civicgrid.ui",
              "civicgrid.demo")
RULES = {"foundation": ("civicgrid.apps", *ABOVE_APPS), "apps": ABOVE_APPS}


def imported_modules(path: Path):
    """(line, module) of every absolute import in a file, lazy imports inside functions included."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


def violations(layer: str) -> list[str]:
    found = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        if "tests" in path.parts:
            continue  # a test may assemble several layers
        for line, module in imported_modules(path):
            if module.startswith(RULES[layer]):
                found.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {module}")
    return found


@pytest.mark.parametrize("layer", sorted(RULES))
def test_a_layer_imports_nothing_from_the_layers_above_it(layer):
    assert violations(layer) == []


def test_the_check_sees_lazy_imports(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from civicgrid.integrations.router import suggest\n", encoding="utf-8")
    assert list(imported_modules(sample)) == [(2, "civicgrid.integrations.router")]
