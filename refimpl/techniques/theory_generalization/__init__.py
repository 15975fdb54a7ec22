"""Theory of generalization, memorization and scaling: each technique is a bound, a closed form or a
mechanism with a guarantee, set against a simulation on one plot.  The family's contract
(tests/techniques/theory_generalization) asks each technique for a small prediction/simulation pair, with the
same checks as theory-dynamics.  Shared modules: `fitting` (power laws y = a·x^(−α) + e by nonlinear least
squares, and percentile bootstrap intervals over repeated curves — learning-curve-power-laws,
pretraining-infinite-compute, scaling-law-estimation), `spectral` (the empirical spectral density, the Hill
heavy-tail exponent and the Marchenko–Pastur law — farms), `bounds` (the Occam/PAC-Bayes kl bound and its
Pinsker relaxation — prompt-pac-bayes) and `pools` (small models trained at several sizes: a character-LM MLP
with AdamW — pretraining-infinite-compute — and digits MLPs for learning-curve points — learning-curve-power-laws).
Each technique renames the shared constants to its paper's symbols."""
