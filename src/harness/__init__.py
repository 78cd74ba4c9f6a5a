"""A pytest benchmark and regression harness for the unintuitive phenomena of deep learning.

Benchmarks import the science core (`harness.data`, `harness.models`, `harness.train`, ...), the
operations in `harness.ops` and `harness.kits`, and `Metric`, which declares how a metric is
judged. The layers and what may import what: docs/architecture.md.
"""

from importlib.metadata import PackageNotFoundError, version

from harness.results.schema import Metric

try:
    __version__ = version("harness")  # one source: the installed distribution's metadata (pyproject.toml)
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"
__all__ = ["Metric", "__version__"]
