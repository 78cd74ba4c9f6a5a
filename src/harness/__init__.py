"""A pytest benchmark and regression harness for the unintuitive phenomena of deep learning."""

__version__ = "0.1.0"
