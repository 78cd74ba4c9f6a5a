"""A benchmark test's names: its group, where it stands in the table, and its baseline key.

The group is the test's folder (`benchmarks/<group>/test_*.py`) or, for a test outside such a
folder, a group marker on it. The ids are stable across layouts: a baseline key names the file
and the test, never the folder, so moving a file between groups keeps its entries findable.
"""

from __future__ import annotations

from pathlib import Path

import pytest

GROUPS = {
    "memorization": "Zhang et al. 2017: memorization and generalization",
    "compression": "Han et al., Hinton et al., Frankle & Carbin: pruning, quantization, distillation",
    "adversarial": "Szegedy, Goodfellow, Nguyen, Madry: adversarial examples",
    "landscape": "Goodfellow, Li, Keskar, Dauphin, Saxe: loss landscapes",
    "initialization": "Glorot, He, Erhan, Yosinski: initialization, order, pretraining, transfer",
    "forgetting": "McCloskey & Cohen, Kirkpatrick, Serrà: catastrophic forgetting",
    "gradient_failures": "Shalev-Shwartz, Shamir & Shammah 2017: failures of gradient-based learning",
    "architecture": "Veit et al. 2016: residual networks as ensembles",
    "perf": "the harness's own performance",
}


def folder_group(item) -> str | None:
    """The group named by the test's folder, if it is one."""
    folder = Path(str(item.path)).parent.name
    return folder if folder in GROUPS else None


def group_of(item) -> str:
    marked = sorted({m.name for m in item.iter_markers() if m.name in GROUPS})
    if len(marked) == 1:
        return marked[0]
    if len(marked) > 1:
        pytest.fail(f"{item.nodeid}: a test belongs to one group, found markers {marked}; keep one",
                    pytrace=False)
    if folder_group(item):
        return folder_group(item)
    pytest.fail(f"{item.nodeid}: a test that records claims needs a group: put its file under "
                f"benchmarks/<group>/ or mark it (e.g. `pytestmark = pytest.mark.memorization`); "
                f"groups: {', '.join(GROUPS)}", pytrace=False)


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
