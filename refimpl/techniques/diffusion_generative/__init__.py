"""Diffusion, flow matching and generative models on toy data with a known density.  Shared modules (each
technique builds on them, none changes them):

* `toys` — 2-D Gaussian mixtures (eight Gaussians, rings, moons, a grid) with exact log-density, score and noised
  law, and the 8×8 digits scaled to [−1, 1];
* `schedules` — linear and cosine noise schedules, ᾱ, SNR and the forward noising;
* `samplers` — DDPM ancestral and DDIM sampling from any noise predictor, and the exact predictor of a mixture;
* `flow` — conditional flow matching's interpolation and target, the exact marginal velocity of a mixture, Euler;
* `denoisers` — a time- (and class-) conditioned MLP and the ε-prediction and velocity losses;
* `training` — the Adam loop every technique trains with;
* `metrics` — sliced Wasserstein, unbiased MMD², NLL under the known density, mode coverage and precision.

Because every toy density is known, a sampler can be checked with the exact score before any network is
trained, and a learned model can be compared with the optimal one."""
