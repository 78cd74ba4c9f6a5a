"""The fixtures a benchmark test asks for: `claim` (records metrics and states claims), `cfg`
(the module's tier preset), `bench` (times a unit), `device`, `tier`, `seeds` and
`local_dataset`."""

from __future__ import annotations

import pytest
import torch

from harness import local_files
from harness.plugin.claim import Claim
from harness.plugin.identity import where
from harness.plugin.session import SESSION, HarnessSession
from harness.results.schema import TimeSummary
from harness.timing import benchmark_rounds, summarize_rounds, synced

CLAIM = pytest.StashKey[Claim]()


@pytest.fixture(scope="session")
def harness_session(pytestconfig) -> HarnessSession:
    return pytestconfig.stash[SESSION]


@pytest.fixture(scope="session")
def device(harness_session) -> torch.device:
    """The torch.device chosen by --device."""
    return harness_session.device


@pytest.fixture(scope="session")
def tier(harness_session) -> str:
    """'smoke' or 'full' (--tier)."""
    return harness_session.tier


@pytest.fixture(scope="session")
def seeds(harness_session) -> list[int]:
    """Seeds K..K+N-1: N from --seeds, else the tier's default; K from --seed-offset (default 0)."""
    return harness_session.seeds


@pytest.fixture(scope="module")
def cfg(request, tier):
    """The test module's config for this tier: its `TIERS[tier]`."""
    return tier_config(request.module, tier, required=True)


def tier_config(module, tier: str, *, required: bool):
    tiers = getattr(module, "TIERS", None)
    if tiers is None and not required:
        return None
    if not isinstance(tiers, dict) or tier not in tiers:
        raise pytest.UsageError(f"{module.__name__}: the `cfg` fixture needs a module-level "
                                f"TIERS = {{'smoke': Config(...), 'full': Config(...)}} with a {tier!r} entry")
    return tiers[tier]


@pytest.fixture(scope="session")
def local_dataset(device):
    """local_dataset("mnist" | "fashion-mnist" | "cifar10") → the real dataset on the device, read
    from $HARNESS_DATA_DIR (`harness data fetch NAME` puts it there); when the files are absent the
    test is skipped with a reason naming it."""
    loaders = {"mnist": local_files.load_mnist, "fashion-mnist": local_files.load_fashion_mnist,
               "cifar10": local_files.load_cifar10}
    loaded = {}

    def load(name: str):
        if name not in loaders:
            raise ValueError(f"unknown local dataset {name!r}; use one of {', '.join(loaders)}")
        if name not in loaded:
            try:
                loaded[name] = loaders[name]().to(device)
            except local_files.DataUnavailable as err:
                pytest.skip(f"needs {name} files: {err}")
        return loaded[name]
    return load


@pytest.fixture
def claim(request, harness_session) -> Claim:
    """Record metrics and state claims; checked (with the baseline) when the test body returns.
    Its config is the module's tier preset until `claim.record(..., config=...)` says otherwise."""
    book = Claim(where(request.node), harness_session.tier, harness_session.seeds,
                 config=tier_config(request.module, harness_session.tier, required=False))
    request.node.stash[CLAIM] = book
    return book


@pytest.fixture
def bench(request, benchmark, device, claim):
    """bench(fn, rounds=5, warmup=1): time a representative unit through pytest-benchmark,
    synchronising the device after each call; the time lands in the record and baseline.
    Five rounds is the fewest with which `harness compare` can ever call a slowdown significant
    (Mann-Whitney p < 0.01 needs 1 / C(2n, n) < 0.01)."""
    def run(fn, *, rounds: int = 5, warmup: int = 1):
        result = benchmark.pedantic(synced(fn, device), rounds=rounds, warmup_rounds=warmup, iterations=1)
        timed = benchmark_rounds(benchmark)
        claim.time_s = TimeSummary(**summarize_rounds(timed)) if timed else None
        return result
    return run
