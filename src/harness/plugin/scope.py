"""What the plugin changes in torch, and for which tests: only harness tests.

A harness test is one that asks for a harness fixture (`claim`, `cfg`, `bench`, `device`, `tier`,
`seeds`, `local_dataset`: all of them rest on `harness_session`). Before such a test's setup the
process gets the harness's numerics (`devices.set_numerics`: float32 in IEEE precision, denormals
flushed, deterministic algorithms on CUDA, the `--threads` count); after the last harness test of a
run of consecutive ones, torch's settings are put back as they were. A plain test collected in the
same session therefore sees torch exactly as it would without the plugin.
"""

from __future__ import annotations

import torch

from harness import devices


def is_harness_test(item) -> bool:
    return "harness_session" in getattr(item, "fixturenames", ())


class TorchScope:
    """Applies the harness numerics on `enter` and restores what was there on `leave`."""

    def __init__(self, device: torch.device, threads: int):
        self.device, self.threads = device, threads
        self.saved: dict | None = None

    def enter(self) -> None:
        if self.saved is None:
            self.saved = devices.torch_settings()
            devices.set_numerics(self.device, self.threads)

    def leave(self) -> None:
        if self.saved is not None:
            devices.restore_torch_settings(self.saved)
            self.saved = None

    def describe(self) -> dict:
        """The environment facts as a harness test sees them (threads and numerics included)."""
        was_outside = self.saved is None
        self.enter()
        try:
            return devices.describe(self.device)
        finally:
            if was_outside:
                self.leave()
