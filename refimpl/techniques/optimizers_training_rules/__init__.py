"""Optimizers and training rules: LAMB/LARS, Lion and Lion-𝒦, sharpness-aware training for free (with SAM),
NoProp.  No code is shared by two or more of them, so the family has no shared module; SAF's flatness /
sharpness measures live in its own package (`saf/sharpness.py`)."""
