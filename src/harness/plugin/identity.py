"""A benchmark test's names: its group, where it stands in the table, and its baseline key.

The group names the baseline file (`<device class>/<group>.yaml`) and the section of the report. It
is a group marker on the test (`pytestmark = pytest.mark.<group>`) or else the test's folder: any
folder directly under a `benchmarks/` folder, or a folder named like a declared group. Groups are
declared in the pytest ini (`harness_groups`, one "name: description" per line); without that
option the suite's own groups below are the declared ones. The ids are stable across layouts: a
baseline key names the file and the test, never the folder, so moving a file between groups keeps
its entries findable.
"""

from __future__ import annotations

from pathlib import Path

import pytest

DEFAULT_GROUPS = {
    "memorization": "Zhang et al. 2017, Belkin et al. 2019: memorization, generalization, double descent",
    "compression": "Han et al., Hinton et al., Frankle & Carbin: pruning, quantization, distillation",
    "adversarial": "Szegedy, Goodfellow, Nguyen, Madry: adversarial examples",
    "landscape": "Goodfellow, Li, Keskar, Dauphin, Saxe, Cohen, Frankle: loss landscapes and stability",
    "initialization": "Glorot, He, Erhan, Yosinski: initialization, order, pretraining, transfer",
    "forgetting": "McCloskey & Cohen, Kirkpatrick, Serrà: catastrophic forgetting",
    "gradient_failures": "Shalev-Shwartz, Shamir & Shammah 2017: failures of gradient-based learning",
    "architecture": "Veit et al. 2016: residual networks as ensembles",
    "dynamics": "Power, Rahaman, Papyan: what long training does (grokking, spectral bias, neural collapse)",
    "perf": "the harness's own performance",
}


GROUPS_KEY = pytest.StashKey[dict]()
INI = "harness_groups"


def declare_groups(config) -> dict[str, str]:
    """The groups this project declares ({name: description}), registered as markers."""
    lines = config.getini(INI)
    groups = dict(DEFAULT_GROUPS) if not lines else {}
    for line in lines:
        name, _, about = line.partition(":")
        name = name.strip()
        if not name.isidentifier():
            raise pytest.UsageError(f"{INI}: {line!r} does not start with a group name (a Python identifier); "
                                    f"write one group per line as 'name: description'")
        groups[name] = about.strip() or name
    for name, about in groups.items():
        config.addinivalue_line("markers", f"{name}: {about}")
    config.stash[GROUPS_KEY] = groups
    return groups


def folder_group(item) -> str | None:
    """The group the test's folder names: a declared group's name, or any folder directly under a
    `benchmarks/` folder (registered as a group marker the first time it is seen)."""
    folder = Path(str(item.path)).parent
    groups = item.config.stash[GROUPS_KEY]
    if folder.name in groups:
        return folder.name
    if folder.parent.name == "benchmarks" and folder.name.isidentifier():
        groups[folder.name] = f"tests under benchmarks/{folder.name}/"
        item.config.addinivalue_line("markers", f"{folder.name}: {groups[folder.name]}")
        return folder.name
    return None


def group_of(item) -> str:
    groups = item.config.stash[GROUPS_KEY]
    marked = sorted({m.name for m in item.iter_markers() if m.name in groups})
    if len(marked) == 1:
        return marked[0]
    if len(marked) > 1:
        pytest.fail(f"{item.nodeid}: a test belongs to one group, found markers {marked}; keep one",
                    pytrace=False)
    if folder_group(item):
        return folder_group(item)
    pytest.fail(f"{item.nodeid}: a test that records claims needs a group: put its file under "
                f"benchmarks/<group>/, or mark it (`pytestmark = pytest.mark.<group>`) with a group declared "
                f"in your pytest configuration ({INI} = [\"<group>: what it holds\"] under "
                f"[tool.pytest.ini_options] in pyproject.toml); declared: {', '.join(groups)}", pytrace=False)


def where(item) -> str:
    """'memorization/random_labels::label_noise_is_memorized[noise=0.2]': group/module::test[params]."""
    name = Path(str(item.path)).stem.removeprefix("test_")
    params = f"[{item.callspec.id}]" if hasattr(item, "callspec") else ""
    return f"{group_of(item)}/{name}::{item.originalname.removeprefix('test_')}{params}"


def baseline_key(item, tier: str) -> str:
    """'test_random_labels.py::test_memorizes[noise=0.2-smoke]': the entry's key in the group file."""
    base = f"{Path(str(item.path)).name}::{item.originalname}"
    params = f"{item.callspec.id}-" if hasattr(item, "callspec") else ""
    return f"{base}[{params}{tier}]"


def title_of(module) -> str:
    """The first paragraph of a benchmark's docstring, on one line: 'M1 — networks memorize random
    labels (Zhang et al. 2017, ...)'; empty for a module without one."""
    return " ".join((getattr(module, "__doc__", None) or "").strip().partition("\n\n")[0].split())
