"""General operations on trained, seed-stacked models ({name: [S, ...]} weights or a per-seed
forward), each usable by any phenomenon:

- `attacks` — FGSM, PGD, sign noise, evolution; adversarial training as a trainer loss.
- `fooling` — fooling images by gradient ascent and by evolution; distance to the data.
- `spectral` — layer spectral norms, the Lipschitz bound, local gains, worst directions.
- `directions` — top-k label purity of units against random directions.
- `prune`, `weight_sharing`, `quantize`, `storage` — magnitude pruning, k-means sharing, int8,
  and what a compressed layer costs to store.
- `distill` — the distillation loss (soft targets at a temperature).
- `landscape` — Hessian-vector products, top eigenvalues (of one seed, or of every seed at once,
  warm-started), exact Hessians, lines and planes, filter-normalized directions, ε-sharpness.
- `agreement` — pairwise disagreement of predictions.
- `gradient_signal` — gradient variance across targets and per-example SNR.
- `continual` — task sequences, accuracy-matrix metrics, EWC and replay.
- `transfer` — copying first layers between networks, frozen or fine-tuned.
- `lesion` — deleting residual blocks at test time.
- `pretraining` — greedy layer-wise denoising-autoencoder pretraining.
- `randomization` — Zhang et al.'s randomized datasets, trained as one batch.
- `random_features` — min-norm least squares on random ReLU features (double descent).
- `fourier` — amplitudes of integer frequencies on a periodic grid (spectral bias).
- `collapse` — neural collapse: within-class variability NC1, distance from a simplex frame.

One-paper constructions live in `harness.kits`.
"""
