"""Theory of learning dynamics: each technique is a theorem or an analytic prediction made visible.  The
closed form (or its numerical solution) is the reference value, a simulation is the experiment, and the
plot shows both.  The family's contract (tests/techniques/theory_dynamics) checks, for every technique,
that the prediction and the mean of a few small simulations agree.  Shared: `kernels.py` (the arc-cosine
kernels of ReLU networks, used by ntk, rf-more-is-better and scale-mixture-nngp)."""
