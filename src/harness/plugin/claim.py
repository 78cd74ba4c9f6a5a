"""What a benchmark test talks to: the `claim` fixture's object.

A test records its per-seed metrics (with a direction and tolerance each), states the paper's
claims about them, and times a representative unit. Checks made inside `with claim.guards():`
are labelled guards: checks of construction or arithmetic (a weight count, an exact sparsity, a
bound that is a theorem), failing the test like a claim but shown apart from the evidence.
Checks never raise here: the plugin fails the test once, after the body returns, with every
failing sentence and the baseline comparison.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math

import numpy as np

from harness.plugin import verdicts
from harness.results.schema import Curve, Matrix, Metric, TimeSummary, Verdict
from harness.stats import NonFiniteMetric, as_values, summarize


class Claim:
    """Per-test record of metrics, claim verdicts, config, curves, matrices and timing.

    `config` starts as the test module's tier preset (its `TIERS[tier]`, as the `cfg` fixture
    gives it), so `record` needs a config only when a test measured something else.
    """

    def __init__(self, where: str, tier: str, seeds: list[int], config=None):
        self.where, self.tier, self.seeds = where, tier, list(seeds)
        self.metrics: dict[str, np.ndarray] = {}
        self.specs: dict[str, Metric] = {}
        self.verdicts: list[Verdict] = []
        self.non_finite: set[str] = set()  # recorded, failed as NaN/inf, so not judged again
        self.config: dict = _as_dict(config) if config is not None else {}
        self.curves: dict[str, Curve] = {}
        self.matrices: dict[str, Matrix] = {}
        self.notes: dict = {}
        self.time_s: TimeSummary | None = None
        self._kind = "claim"  # "guard" inside `with guards()`

    # --- recording -------------------------------------------------------------------------
    def record(self, values: dict, specs: dict[str, Metric], config=None, seeds=None) -> None:
        """Store per-seed values for each metric in `specs` (one value per seed each).

        `seeds` names the seeds the values came from when they are not the session's (--seeds).

        A NaN/inf metric becomes a failing verdict (and is never stored in a baseline); a value
        without a spec is an error, so every stored metric has a direction and tolerance.
        """
        missing = set(specs) - set(values)
        if missing:
            raise KeyError(f"{self.where}: metrics {sorted(missing)} declared but not in the results")
        for name, spec in specs.items():
            try:
                self.metrics[name] = as_values(values[name], f"{self.where} {name}")
            except NonFiniteMetric as err:
                self.verdicts.append(Verdict("claim", "finite", False, str(err), name))
                self.non_finite.add(name)
                continue
            self.specs[name] = spec
        if seeds is not None:
            self.seeds = [int(x) for x in seeds]
        if config is not None:
            self.config = _as_dict(config)

    # --- for the report --------------------------------------------------------------------
    def curve(self, name: str, x, y, *, xlabel: str, ylabel: str, label: str | None = None,
              figure: str | None = None, log: str = "") -> None:
        """A curve for the report (`y` one row per seed, or one row): learning curves, sweeps.

        Curves with the same `figure` share one set of axes (conditions to compare: pruned and
        fine-tuned, plain and residual), each shown in the legend by its `label`; by default a
        curve is a figure of its own, named after it. `log` ("x", "y", "xy") puts those axes on a
        log scale: say it where the claim is a slope or a ratio over decades.
        """
        if log not in ("", "x", "y", "xy"):
            raise ValueError(f"log must be '', 'x', 'y' or 'xy', got {log!r}")
        self.curves[name] = Curve(x=_plain(x), y=_plain(y), xlabel=xlabel, ylabel=ylabel,
                                  figure=figure or name, label=label, log=log)

    def matrix(self, name: str, values, *, rows=None, columns=None, row_label: str = "row",
               column_label: str = "column", log: bool = False) -> None:
        """A table of numbers drawn as a heatmap (`values` rows × columns, or seeds × rows ×
        columns, drawn as the mean over seeds); `rows`/`columns` name its rows and columns, `log`
        colours it on a log scale (a loss surface spanning decades)."""
        self.matrices[name] = Matrix(values=_plain(values), rows=_names(rows), columns=_names(columns),
                                     row_label=row_label, column_label=column_label, log=log)

    def note(self, name: str, value) -> None:
        """Anything else worth keeping in the run record (a count, a list), neither compared nor drawn."""
        self.notes[name] = _plain(value)

    def values(self, metric: str) -> np.ndarray:
        if metric not in self.metrics:
            raise KeyError(f"{self.where}: no metric {metric!r} recorded (have {sorted(self.metrics)})")
        return self.metrics[metric]

    # --- claims ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def guards(self):
        """Checks made in this block are guards (bookkeeping: construction, arithmetic, theorems),
        not evidence for the phenomenon; they fail a test the same way and are labelled apart."""
        self._kind = "guard"
        try:
            yield self
        finally:
            self._kind = "claim"

    def _add(self, verdict: Verdict) -> Verdict:
        verdict = dataclasses.replace(verdict, kind=self._kind)
        self.verdicts.append(verdict)
        return verdict

    @property
    def strict(self) -> bool:
        """In the full tier thresholds must hold on the one-sided 95% bound, not only the mean."""
        return self.tier == "full"

    def _judge(self, metrics: tuple[str, ...], judge) -> Verdict:
        """The verdict of `judge()`, or — when one of the metrics was not finite (it already failed
        with its values) — a skipped verdict that says so, the same for every claim method."""
        broken = [m for m in metrics if m in self.non_finite]
        if broken:
            verdict = Verdict("claim", "not judged", None, f"{self.where}: not judged, {', '.join(broken)} "
                              f"{'is' if len(broken) == 1 else 'are'} not finite (failed above)", metrics[0])
        else:
            verdict = judge()
        return self._add(verdict)

    def _threshold(self, metric, op, bound):
        return self._judge((metric,), lambda: verdicts.threshold(
            self.where, metric, summarize(self.values(metric), metric), op, bound, strict=self.strict))

    def at_least(self, metric: str, bound: float) -> Verdict:
        return self._threshold(metric, ">=", bound)

    def above(self, metric: str, bound: float) -> Verdict:
        return self._threshold(metric, ">", bound)

    def at_most(self, metric: str, bound: float) -> Verdict:
        return self._threshold(metric, "<=", bound)

    def below(self, metric: str, bound: float) -> Verdict:
        return self._threshold(metric, "<", bound)

    def each_within(self, metric: str, low: float | None = None, high: float | None = None, *, but: int = 0) -> Verdict:
        """Every seed in [low, high]; `but`: how many seeds may lie outside."""
        return self._judge((metric,), lambda: verdicts.per_seed(
            self.where, metric, self.values(metric).tolist(), low, high, but=but))

    def each_above(self, metric: str, bound: float, *, but: int = 0) -> Verdict:
        """Every seed > bound (strictly: a gap of exactly 0 is no gap); `but`: how many seeds may not be."""
        return self._judge((metric,), lambda: verdicts.per_seed(
            self.where, metric, self.values(metric).tolist(), bound, None, open_ends=True, but=but))

    def greater(self, metric_a: str, metric_b: str, margin: float = 0.0, *, paired: bool = False) -> Verdict:
        return self._judge((metric_a, metric_b), lambda: verdicts.difference(
            self.where, metric_a, self.values(metric_a).tolist(), metric_b, self.values(metric_b).tolist(),
            margin, paired=paired))

    def greater_samples(self, name_a: str, a, name_b: str, b, margin: float = 0.0) -> Verdict:
        """mean(a) − mean(b) > margin (Welch) for independent samples that are not per-seed metrics,
        e.g. one value per disjoint pair of seeds."""
        return self._add(verdicts.difference(self.where, name_a, [float(v) for v in a], name_b,
                                             [float(v) for v in b], margin, paired=False))

    def check(self, name: str, passed: bool, observed: str, expected: str) -> Verdict:
        return self._add(verdicts.custom(self.where, name, passed, observed, expected))

    # --- outcome ---------------------------------------------------------------------------
    def claim_verdicts(self) -> list[Verdict]:
        """The checks a test states (claims and guards), not its baseline comparison."""
        return [v for v in self.verdicts if v.kind in ("claim", "guard")]

    def failures(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.passed is False]


def _as_dict(config) -> dict:
    return _described(dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config))


def _described(value):
    """A config value as the record stores it: a user's optimizer class, factory or loss object
    by its name (and a partial's options), everything else as it is."""
    if isinstance(value, dict):
        return {k: _described(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_described(v) for v in value]
    if isinstance(value, functools.partial):
        options = ", ".join(f"{k}={v!r}" for k, v in value.keywords.items())
        return f"{_described(value.func)}({options})"
    if callable(value):
        named = value if hasattr(value, "__qualname__") else type(value)
        return f"{named.__module__}.{named.__qualname__}"
    return value


def _names(labels) -> list[str] | None:
    return None if labels is None else [str(label) for label in labels]


def _plain(value):
    """Tensors/arrays → nested lists of floats (NaN → None) for JSON."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, float):
        return None if not math.isfinite(value) else value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value
