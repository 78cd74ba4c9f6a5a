"""Planted faults change what they claim to, and leave no trace once removed."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from harness import faults, train
from harness.data import load_dataset
from harness.models import build, mlp
from harness.train import TrainConfig


def observe(kind: str):
    if kind == "init":
        return build(lambda: mlp([4, 3]), 0)[0].weight.detach().clone()
    if kind == "optimizer":
        params = [torch.zeros(2, requires_grad=True)]
        return train._optimizer(params, TrainConfig(epochs=1)).param_groups[0]["betas"]  # as the trainer looks it up
    if kind == "data":
        return load_dataset("digits").y.clone()
    x = torch.linspace(-1, 1, 12).view(3, 4) / 3
    return F.linear(x, torch.full((2, 4), 1 / 3), torch.full((2,), 1 / 7))


def same(a, b) -> bool:
    return torch.equal(a, b) if isinstance(a, torch.Tensor) else a == b


@pytest.mark.parametrize("kind", list(faults.FAULTS))
def test_a_planted_fault_changes_its_target_and_is_removed_cleanly(kind):
    clean = observe(kind)
    remove = faults.plant(kind)
    try:
        planted = observe(kind)
    finally:
        remove()
    assert not same(planted, clean), f"planting {kind} changed nothing"
    assert same(observe(kind), clean), f"removing {kind} left a trace"


def test_each_fault_is_what_its_name_says():
    remove = faults.plant("init")
    try:
        halved = build(lambda: mlp([4, 3]), 0)[0].weight
    finally:
        remove()
    torch.testing.assert_close(halved, 0.5 * build(lambda: mlp([4, 3]), 0)[0].weight)
    clean_y = load_dataset("digits").y
    remove = faults.plant("data")
    try:
        shifted = load_dataset("digits").y
    finally:
        remove()
    changed = (shifted != clean_y).nonzero().flatten()
    assert changed.tolist() == list(range(0, len(clean_y), faults.LABEL_STRIDE))


def test_an_unknown_fault_is_refused():
    with pytest.raises(ValueError, match="unknown fault 'gremlins'"):
        faults.plant("gremlins")


def test_faults_refuses_no_jobs(tmp_path, capsys):
    from harness import cli
    assert cli.main(["faults", "--out", str(tmp_path), "--jobs", "0"]) == 2
    assert "--jobs must be at least 1" in capsys.readouterr().err


TOY = '''
import torch
from harness import Metric
from harness.data import load_dataset
from harness.models import mlp
from harness.train import TrainConfig, TrainData, train


def test_tiny_training(claim, device):
    # one seed, so the stored spread is 0 and the band is abs_tol: any fault that changes the loss shows
    digits = load_dataset("digits", device).subset(n_train=256)
    result = train(lambda: mlp([64, 16, 10]), TrainData.of(digits), [0], TrainConfig(epochs=10, batch_size=64), device)
    loss = torch.nn.functional.cross_entropy(result.forward(digits.x)[0], digits.y)
    claim.record({"train_loss": [loss]}, {"train_loss": Metric("target", abs_tol=1e-5)}, seeds=[0])
    claim.below("train_loss", 3.0)
'''


def test_harness_faults_reports_who_catches_each_fault(pytester, monkeypatch, capsys):
    """End to end: a clean run is green against its baseline, and every planted fault turns it red."""
    from harness import cli

    monkeypatch.delenv("CI", raising=False)
    (pytester.path / "benchmarks" / "memorization").mkdir(parents=True)
    (pytester.path / "benchmarks" / "memorization" / "test_tiny.py").write_text(TOY)
    pytester.runpytest_subprocess("benchmarks", "--update-baselines", "-p", "no:cacheprovider") \
        .assert_outcomes(passed=1)
    monkeypatch.chdir(pytester.path)
    out_dir = pytester.path.parent / f"{pytester.path.name}-faults"  # outside the project, as --out may be
    assert cli.main(["faults", "--out", str(out_dir), "--jobs", "2"]) == 0
    out = capsys.readouterr().out
    share = f"--threads {faults.side_by_side(2, 1 + len(faults.FAULTS))[1]}"  # two runs side by side share the cores
    assert all(share in line for line in out.splitlines() if line.startswith("harness faults: ")), out
    for kind in ["none", *faults.FAULTS]:
        (row,) = [line for line in out.splitlines() if line.startswith(kind + " ")]
        assert row.split()[1:3] == (["1", "0"] if kind == "none" else ["1", "1"]), row
