"""The layers of docs/architecture.md, enforced on every module's import statements."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "harness"
CORE = {"seeds", "devices", "stats", "timing", "data", "local_files", "models", "train", "stacked", "trained_models"}
# layer → the layers it may import (by statement anywhere in the module)
ALLOWED = {
    "core": {"core", "fetch"},
    "fetch": set(),  # harness/data_fetch.py: the standard library only
    "ops": {"core", "ops"},
    "kits": {"core", "ops", "kits"},
    "results": {"results", "stats"},
    "plugin": {"core", "ops", "results", "plugin", "reporting", "stats", "faults"},
    "faults": {"core"},
    "reporting": {"reporting", "results", "stats"},
    "cli": {"results", "reporting", "stats", "faults", "fetch"},
    "package": {"results"},  # harness/__init__.py re-exports Metric
}
NEVER = {  # third-party imports a layer must not make
    "core": {"pytest", "matplotlib"}, "ops": {"pytest", "matplotlib"}, "kits": {"pytest", "matplotlib"},
    "results": {"torch", "pytest", "matplotlib"}, "reporting": {"torch", "pytest"},
    "cli": {"pytest", "matplotlib"}, "plugin": {"matplotlib"}, "package": {"torch", "pytest"},
    "faults": {"pytest", "matplotlib"}, "fetch": {"torch", "numpy", "pytest", "matplotlib"},
}


def layer_of(module: str) -> str:
    """'harness.plugin.claim' → 'plugin'; 'harness.train' → 'core'; 'harness.stats' stays nameable."""
    parts = module.split(".")
    if parts == ["harness"]:
        return "package"
    head = parts[1]
    if head == "data_fetch":
        return "fetch"
    if head in CORE:
        return "stats" if head == "stats" else "core"
    return head  # ops, kits, plugin, results, reporting, faults, cli


def modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        found.append((".".join(parts[:-1] if parts[-1] == "__init__" else parts), path))
    return found


def imports(path: Path) -> list[tuple[str, bool]]:
    """(imported module, at module level?) for every import statement in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            found += [(name, id(node) in top) for name in names]
    return found


def target_layer(name: str) -> str | None:
    """The harness layer an imported name lands in (None outside the harness)."""
    parts = name.split(".")
    if parts[0] != "harness":
        return None
    if len(parts) == 1 or parts[1] in ("Metric", "__version__"):
        return "results" if len(parts) > 1 and parts[1] == "Metric" else "package"
    return layer_of(".".join(parts[:2]))


def violations(module: str, path: Path) -> list[str]:
    layer = "stats" if module == "harness.stats" else layer_of(module)
    allowed = ALLOWED.get(layer, {"core"}) | ({"stats"} if layer != "stats" else set())
    broken = []
    for name, at_top in imports(path):
        root = name.split(".")[0]
        target = target_layer(name)
        if root == "benchmarks":
            broken.append(f"{name}: nothing in src/ imports benchmarks/")
        elif root in NEVER.get(layer if layer != "stats" else "core", set()):
            broken.append(f"{name}: the {layer} layer never imports {root}")
        elif target and target not in allowed and target != layer:
            broken.append(f"{name}: {layer} may import only {sorted(allowed)}")
        elif layer == "plugin" and target == "reporting" and at_top:
            broken.append(f"{name}: the plugin imports reporting only where it shows something (inside a function)")
        elif root == "matplotlib" and module != "harness.reporting.plots":
            broken.append(f"{name}: only harness.reporting.plots imports matplotlib")
    return broken


@pytest.mark.parametrize(("module", "path"), modules(), ids=[m for m, _ in modules()])
def test_imports_follow_the_layers(module, path):
    broken = violations(module, path)
    assert not broken, f"{module} ({path.relative_to(SRC.parent)}):\n  " + "\n  ".join(broken)


@pytest.mark.parametrize(("module", "source", "expected"), [
    ("harness.train", "import pytest\n", "never imports pytest"),
    ("harness.models", "from harness.plugin.claim import Claim\n", "core may import only"),
    ("harness.ops.prune", "from harness.results import baselines\n", "ops may import only"),
    ("harness.results.runs", "import torch\n", "never imports torch"),
    ("harness.plugin.outcome", "from harness.reporting import terminal\n", "inside a function"),
    ("harness.data", "from benchmarks.memorization import test_random_labels\n", "nothing in src/ imports benchmarks"),
    ("harness.reporting.site", "import matplotlib\n", "only harness.reporting.plots"),
])
def test_the_rules_catch_each_kind_of_breach(tmp_path, module, source, expected):
    """Negative controls: a module that breaks a rule is reported, with the rule."""
    path = tmp_path / "module.py"
    path.write_text(source)
    assert any(expected in line for line in violations(module, path)), violations(module, path)


@pytest.mark.parametrize(("module", "absent"), [
    ("harness.plugin", ("matplotlib", "harness.reporting")),
    ("harness.cli", ("torch", "matplotlib")),
    ("harness.results.compare", ("torch",)),
])
def test_importing_loads_only_what_is_needed(module, absent):
    code = f"import sys, {module}; print(sorted(m for m in sys.modules if m.split('.')[0] in {absent!r} " \
           f"or any(m.startswith(a + '.') or m == a for a in {absent!r})))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]", f"importing {module} loaded {out}"
