"""A pytest benchmark and regression harness for the unintuitive phenomena of deep learning.

Benchmarks import the science core (`harness.data`, `harness.models`, `harness.train`, ...), the
operations in `harness.ops` and `harness.kits`, and `Metric`, which declares how a metric is
judged. The layers and what may import what: docs/architecture.md.
"""

from harness.results.schema import Metric

__version__ = "0.1.0"
__all__ = ["Metric", "__version__"]
