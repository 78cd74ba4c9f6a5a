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


def resolve_device(spec: str, worker: int | None = None) -> torch.device:
    """Parse `--device` (cpu, cuda, cuda:N, mps, auto) into an available torch.device.

    worker: the pytest-xdist worker's index (gw3 → 3), if any. A CUDA device named without an
    index then goes to GPU worker mod count, so `pytest -n N --device cuda` spreads the workers
    over the GPUs; an explicit cuda:N stays N for every worker."""
    spec = spec.strip().lower()
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", worker_gpu(worker, torch.cuda.device_count(), torch.cuda.current_device()))
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
    if match.group(1) is None:
        index = worker_gpu(worker, torch.cuda.device_count(), torch.cuda.current_device())
    else:
        index = int(match.group(1))
    if index >= torch.cuda.device_count():
        raise DeviceUnavailable(
            f"--device {spec} requested but only {torch.cuda.device_count()} CUDA device(s) are visible")
    return torch.device("cuda", index)


def normalise(device) -> torch.device:
    """torch.device(device) with the CUDA index filled in: tensors on the GPU report 'cuda:0', so
    a bare 'cuda' would never compare equal to where the data lives."""
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", torch.cuda.current_device())
    return device


def from_host(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A tensor made on the host, on `device` without stalling its queue: on CUDA the copy goes
    from pinned memory, non-blocking (a plain .to() from pageable memory waits for every kernel
    queued before it)."""
    if device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


def worker_gpu(worker: int | None, gpus: int, default: int) -> int:
    """The GPU for an xdist worker: worker mod gpus (the default one outside xdist)."""
    return default if worker is None or gpus < 1 else worker % gpus


def usable_cores() -> int:
    """CPU cores this process may run on: its affinity mask where the OS has one (a container or
    taskset limit), else the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def thread_count(spec: str, cores: int, workers: int = 1) -> int:
    """Intra-op threads for one pytest process: `spec` as a number, or for 'auto' half of this
    worker's share of the cores, at least 1 (1 on a 2-core machine, 4 for one of two workers on 16).

    Why half: torch's intra-op threads split every op and wait for the slowest; when another
    process takes a core, the whole team waits on a descheduled thread. Measured on the 2-core CPU:
    the smoke tier with 1 thread took 423 s quiet and 429 s beside a busy loop (1.01×), with 2
    threads it had taken 4.4× its quiet time beside one; quiet, 2 threads are faster (two files:
    38 s against 53 s). `--threads N` is the choice for a machine nobody shares."""
    if spec != "auto":
        return int(spec)
    return max(1, cores // max(1, workers) // 2)


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


def set_numerics(device: torch.device, threads: int | None = None) -> None:
    """The numerics a harness test runs with: float32 matmuls and convolutions in full IEEE
    precision — torch's defaults leave cuDNN convolutions in TF32, so a CNN would train in TF32 on
    a GPU and its baselines would not be float32 — on CUDA deterministic algorithms (`warn_only`
    where an op has no deterministic kernel) with the cuBLAS workspace they need, so a GPU baseline
    does not jitter with the order of atomic adds; denormal floats flushed to zero (they make CPU
    elementwise ops such as Adam's second moment several times slower; values below 1e-38 only);
    and `threads` intra-op threads when given. `torch_settings` / `restore_torch_settings` undo it."""
    torch.backends.fp32_precision = "ieee"
    torch.backends.cuda.matmul.fp32_precision = "ieee"
    torch.backends.cudnn.conv.fp32_precision = "ieee"
    torch.set_flush_denormal(True)
    if threads is not None:
        torch.set_num_threads(threads)
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # must precede cuBLAS's first use
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def torch_settings() -> dict:
    """The process-wide torch settings `set_numerics` changes, as they are now."""
    return {
        "threads": torch.get_num_threads(),
        "fp32_precision": (torch.backends.fp32_precision, torch.backends.cuda.matmul.fp32_precision,
                           torch.backends.cudnn.conv.fp32_precision),
        "deterministic": (torch.are_deterministic_algorithms_enabled(),
                          torch.is_deterministic_algorithms_warn_only_enabled()),
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
    }


def restore_torch_settings(saved: dict) -> None:
    """Put back what `torch_settings` read. Denormal flushing goes back to torch's default (off):
    torch has no way to read it."""
    torch.set_num_threads(saved["threads"])
    (torch.backends.fp32_precision, torch.backends.cuda.matmul.fp32_precision,
     torch.backends.cudnn.conv.fp32_precision) = saved["fp32_precision"]
    enabled, warn_only = saved["deterministic"]
    if torch_settings()["deterministic"] != (enabled, warn_only):  # its first call costs ~1.5 s: only on a change
        torch.use_deterministic_algorithms(enabled, warn_only=warn_only)
    torch.backends.cudnn.benchmark = saved["cudnn_benchmark"]
    torch.set_flush_denormal(False)


def numerics() -> str:
    """'fp32 matmul ieee, conv ieee; deterministic (warn only)': stored with each baseline entry.
    Read through the fp32_precision API: the old allow_tf32 flags refuse to be read once it is used."""
    mode = "deterministic" if torch.are_deterministic_algorithms_enabled() else "nondeterministic allowed"
    if torch.are_deterministic_algorithms_enabled() and torch.is_deterministic_algorithms_warn_only_enabled():
        mode += " (warn only)"
    return (f"fp32 matmul {torch.backends.cuda.matmul.fp32_precision}, "
            f"conv {torch.backends.cudnn.conv.fp32_precision}; {mode}")


def describe(device: torch.device) -> dict:
    """Facts that make a measurement comparable: versions, hardware, numeric flags."""
    facts = {
        "device": str(device),
        "device_class": device_class(device),
        "torch": str(torch.__version__),
        "python": platform.python_version(),
        "cpu": _cpu_model(),
        "threads": torch.get_num_threads(),
        "usable_cores": usable_cores(),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "numerics": numerics(),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        facts.update({
            "gpu": props.name,
            "gpu_memory_gib": round(props.total_memory / 2**30, 1),
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
            "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
        })
    return facts


def describe_short(device: torch.device) -> str:
    """'cpu (2 threads)' or the GPU name: the `device` field of a baseline entry."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    threads = torch.get_num_threads()
    return f"{device.type} ({threads} thread{'' if threads == 1 else 's'})"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass  # not Linux: fall back to what platform knows
    return platform.processor() or platform.machine() or f"unknown ({os.cpu_count()} cores)"
