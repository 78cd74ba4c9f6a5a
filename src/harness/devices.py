"""Which device to run on, its class key for baselines, and synchronisation for timing.

The device is decided here once: `resolve_device("auto")` picks CUDA, then MPS, then CPU;
an explicitly requested device that is absent is an error, never a silent CPU run.
"""

from __future__ import annotations

import os
import platform
import re

import torch


class DeviceUnavailable(ValueError):
    """The requested device does not exist on this machine."""


def resolve_device(spec: str) -> torch.device:
    """Parse `--device` (cpu, cuda, cuda:N, mps, auto) into an available torch.device."""
    spec = spec.strip().lower()
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "mps":
        if not _mps_available():
            raise DeviceUnavailable("--device mps requested but MPS is not available in this torch build/machine")
        return torch.device("mps")
    match = re.fullmatch(r"cuda(?::(\d+))?", spec)
    if match is None:
        raise DeviceUnavailable(f"unknown device {spec!r}; use cpu, cuda, cuda:N, mps or auto")
    if not torch.cuda.is_available():
        why = "this torch is a CPU-only build" if torch.version.cuda is None else "no CUDA device is visible"
        raise DeviceUnavailable(f"--device {spec} requested but CUDA is unavailable ({why}); use --device cpu or auto")
    index = int(match.group(1) or torch.cuda.current_device())
    if index >= torch.cuda.device_count():
        raise DeviceUnavailable(
            f"--device {spec} requested but only {torch.cuda.device_count()} CUDA device(s) are visible")
    return torch.device("cuda", index)


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()


def device_class(device: torch.device) -> str:
    """Key under which baselines are stored: 'cpu', 'mps' or 'cuda-<normalised GPU name>'."""
    if device.type == "cuda":
        return "cuda-" + normalise_name(torch.cuda.get_device_name(device))
    return device.type


def normalise_name(name: str) -> str:
    """'NVIDIA H100 80GB HBM3' -> 'nvidia-h100-80gb-hbm3'."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def synchronize(device: torch.device) -> None:
    """Wait for queued work so a host clock measures finished work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def describe(device: torch.device) -> dict:
    """Facts that make a measurement comparable: versions, hardware, numeric flags."""
    facts = {
        "device": str(device),
        "device_class": device_class(device),
        "torch": str(torch.__version__),
        "python": platform.python_version(),
        "cpu": _cpu_model(),
        "threads": torch.get_num_threads(),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        facts.update({
            "gpu": props.name,
            "gpu_memory_gib": round(props.total_memory / 2**30, 1),
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
            "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
            "tf32_cudnn": torch.backends.cudnn.allow_tf32,
        })
    return facts


def describe_short(device: torch.device) -> str:
    """'cpu (2 threads)' or the GPU name: the `device` field of a baseline entry."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{device.type} ({torch.get_num_threads()} threads)"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass  # not Linux: fall back to what platform knows
    return platform.processor() or platform.machine() or f"unknown ({os.cpu_count()} cores)"
