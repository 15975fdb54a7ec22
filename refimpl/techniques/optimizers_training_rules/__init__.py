"""Optimizers and training rules: LAMB/LARS, Lion and Lion-𝒦, sharpness-aware training for free (with SAM),
NoProp.  The shared flatness/sharpness measures live in `_base`."""
