"""The HTML report as a person sees it: rendered in headless Chromium, not read as text.

A report of two runs, the second with one planted regression among 30 passing phenomena: the
page loads, every figure resolves, and the regression — its sentence and its figure — sits above
the fold of a 1280×900 window. The page's own load-time check leaves what it found on <body>
(data-images, data-broken-images, data-broke-top), which `--dump-dom` shows after the page ran.
Skipped where Chromium is not installed (`apt-get install chromium`; README says how)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from fake_records import phenomenon_record, run_record

from harness.reporting import site
from harness.results.schema import Curve, Verdict

pytest.importorskip("matplotlib")
CHROMIUM = next((shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(name)), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium to render the report: apt-get install "
                                                         "chromium (see README, 'The report in a browser')")
WINDOW = (1280, 900)
REGRESSION = "memorization/t07::t07 acc fell from 0.910±0.010 (n=3) to 0.610±0.010 (n=3), mean tolerance 0.030"


def night(commit: str, created: str, regressed: bool):
    tests = []
    for i in range(30):
        broken = regressed and i == 7
        values = [0.60, 0.61, 0.62] if broken else [0.90, 0.91, 0.92]
        test = phenomenon_record(f"benchmarks/memorization/test_t{i:02d}.py::test_t{i:02d}", values,
                                 outcome="failed" if broken else "passed",
                                 curves={"acc_by_epoch": Curve(x=[1, 2, 3, 4], y=[[0.3, 0.5, 0.7, v] for v in values],
                                                               xlabel="epoch", ylabel="acc", figure="acc_by_epoch")})
        claim = Verdict("claim", ">= 0.500", True, f"t{i:02d} acc: observed, expected >= 0.500", "acc", [0.5, None])
        baseline = Verdict("baseline", "acc", not broken, REGRESSION if broken else f"t{i:02d} acc held", "acc",
                           [0.88, None])
        tests.append(test.__class__(**{**test.__dict__, "verdicts": [claim, baseline],
                                       "metrics": {"acc": test.metrics["acc"].__class__(
                                           **{**test.metrics["acc"].__dict__, "baseline_mean": 0.91})},
                                       "about": f"T{i:02d} — a phenomenon (A. Author 2026)"}))
    return run_record(tests, commit=commit, created=created)


def render(page: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--window-size={WINDOW[0]},{WINDOW[1]}",
                           "--hide-scrollbars", "--virtual-time-budget=5000", *args, page.as_uri()],
                          capture_output=True, text=True, timeout=180, check=False)


def loaded(page: Path) -> dict[str, int]:
    dom = render(page, "--dump-dom").stdout
    body = re.search(r"<body([^>]*)>", dom)
    assert body, f"Chromium rendered no page: {dom[:300]}"
    found = dict(re.findall(r'data-([a-z-]+)="(-?\d+)"', body.group(1)))
    assert {"images", "broken-images", "broke-top"} <= set(found), f"the page's load-time check did not run: {body.group(0)}"
    return {name: int(value) for name, value in found.items()} | {"has-sentence": REGRESSION in dom}


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    return site.write_report([night("aaa1111", "2026-11-28T02:00:00Z", False),
                              night("bbb2222", "2026-11-29T02:00:00Z", True)], out)


def test_the_regression_is_above_the_fold_and_every_figure_loads(report, tmp_path):
    seen = loaded(report)
    assert seen["images"] > 30 and seen["broken-images"] == 0
    assert 0 <= seen["broke-top"] < WINDOW[1] // 2, seen  # the first broken test starts in the top half
    assert seen["has-sentence"]
    shot = tmp_path / "report.png"
    render(report, f"--screenshot={shot}")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_a_missing_figure_is_seen(report, tmp_path):
    """Negative control: the check that every image resolves can fail."""
    copy = tmp_path / "report"
    shutil.copytree(report.parent, copy)
    next((copy / "plots").rglob("*--metrics.png")).unlink()
    seen = loaded(copy / "index.html")
    assert seen["broken-images"] == 1
