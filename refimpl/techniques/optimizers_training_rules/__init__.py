"""Optimizers and training rules: LAMB/LARS, Lion and Lion-𝒦, sharpness-aware training for free (with SAM),
NoProp; and, in wave 2, target-projection SGD (tpSGD), optimistic online mirror descent, Sinkhorn with
sparse Newton steps, layer-wise clipping for DP federated learning, forward-only GNN training and equilibrium
propagation with Jacobian homeostasis.  No code is shared by two or more of them, so the family has no shared
module; SAF's flatness / sharpness measures live in its own package (`saf/sharpness.py`)."""
