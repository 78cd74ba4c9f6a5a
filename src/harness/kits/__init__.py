"""One-paper kits: the constructions, models and losses that a single paper's experiment needs
and no other phenomenon uses. General operations live in `harness.ops`.

- `construction` — Zhang et al. 2017, Theorem 1: the 2n+d-weight net that fits any labels.
- `conditioning` — Shalev-Shwartz et al. 2017 §4: piecewise-linear curves, whitened convolutions.
- `decomposition` — Shalev-Shwartz et al. 2017 §3: tuple parity, end to end against decomposed.
- `step_functions` — Shalev-Shwartz et al. 2017 §5: learning through floor(), its surrogates.
- `hat` — Serrà et al. 2018: hard attention to the task against forgetting.
"""
