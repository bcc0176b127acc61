"""The house by layer: imports point down, never up, and no module imports itself in a circle.

Every import in app/ (at the top of a module or inside a function alike) is read from the source
and checked against the layers below, highest first. docs/architecture.md draws the same layers.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app"

# Highest first; a module may import its own layer and the ones after it.
LAYERS = (
    ("serving", ("app.serving",)),
    ("factory", ("app",)),  # create_app, the composition root
    ("api and cli", ("app.api", "app.commands")),
    ("services", ("app.services",)),
    ("gateways and storage", ("app.cognito", "app.captcha", "app.breached", "app.storage")),
    ("telemetry", ("app.telemetry",)),
    (
        "vocabulary",
        (
            "app.schemas",
            "app.attribution",
            "app.fields",
            "app.languages",
            "app.identity",
            "app.patterns",
            "app.messages",
            "app.errors",
            "app.config",
        ),
    ),
)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in APP.rglob("*.py")}


def layer_of(module: str) -> int:
    """The index in LAYERS of the longest prefix that names ``module``'s room."""
    best, rank = -1, -1
    for index, (_name, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), index
    assert rank >= 0, f"{module} is in no layer: add its room to LAYERS"
    return rank


def imports_of(module: str) -> Iterator[str]:
    """The modules of app/ that ``module`` imports, wherever in it the import stands."""
    tree = ast.parse(MODULES[module].read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert not node.level, f"{module}: the app imports by absolute names only"
            base = node.module or ""
            # `from app import errors` imports the module app.errors; `from app import x`, app.
            names = [f"{base}.{alias.name}" for alias in node.names]
            names = [name for name in names if name in MODULES] or [base]
        else:
            continue
        yield from (name for name in names if name in MODULES)


GRAPH = {module: set(imports_of(module)) - {module} for module in MODULES}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_module_imports_only_its_own_layer_and_the_ones_below(module):
    upward = sorted(name for name in GRAPH[module] if layer_of(name) < layer_of(module))
    assert upward == [], f"{module} ({LAYERS[layer_of(module)][0]}) imports a higher layer"


def test_no_modules_import_each_other_in_a_circle():
    cycles = []
    state: dict[str, str] = {}  # "open" while on the path, "done" after

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for name in sorted(GRAPH[module]):
            if state.get(name) == "open":
                cycles.append([*path[path.index(name) :], name])
            elif name not in state:
                visit(name, [*path, name])
        state[module] = "done"

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_the_check_sees_an_upward_import():
    # The rule is only as good as the reading of imports: services importing a view is caught.
    assert layer_of("app.api.register") < layer_of("app.services.signup")
    assert "app.storage.repository" in GRAPH["app.services.records"]
