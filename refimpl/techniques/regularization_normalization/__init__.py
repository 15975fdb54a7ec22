"""Regularization and normalization techniques (one module or package per paper).  Shared by two or more of
them: `folding.py` (BatchNorm folding for structural reparameterization) and `training.py` (a minimal SGD
step for the demos' short loops)."""
