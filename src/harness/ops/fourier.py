"""Fourier amplitudes of functions sampled on a uniform grid over one period: what spectral bias
measures (Rahaman et al. 2019) — how much of each frequency a network's residual still holds."""

from __future__ import annotations

import math

import torch


def periodic_grid(n: int, device="cpu") -> torch.Tensor:
    """n points evenly spaced over [0, 1), one period of every integer frequency."""
    return torch.arange(n, device=device, dtype=torch.float32) / n


def sum_of_sines(x: torch.Tensor, frequencies, amplitudes, phases) -> torch.Tensor:
    """Σ_k A_k·sin(2π·f_k·x + φ_k) at x [N] → [N]."""
    terms = [a * torch.sin(2 * math.pi * f * x + p) for f, a, p in zip(frequencies, amplitudes, phases, strict=True)]
    return torch.stack(terms).sum(0)


def amplitudes(values: torch.Tensor, frequencies) -> torch.Tensor:
    """The amplitude of each integer frequency in `values` [..., N] sampled on `periodic_grid(N)`:
    |DFT_f|·2/N, so A·sin(2π f x + φ) has amplitude A at f (frequencies below N/2). → [..., K]."""
    n = values.shape[-1]
    spectrum = torch.fft.rfft(values, dim=-1)
    index = torch.as_tensor(list(frequencies), device=values.device)
    if int(index.max()) >= n // 2:
        top = int(index.max())
        raise ValueError(f"frequencies up to {top} need more than {2 * top} grid points, have {n}")
    return spectrum[..., index].abs() * 2 / n
