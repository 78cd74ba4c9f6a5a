"""Operations on trained, seed-stacked weights: pruning, weight sharing, quantization, and the
losses some phenomena train with (distillation). Each works on {name: [S, ...]} stacks."""
