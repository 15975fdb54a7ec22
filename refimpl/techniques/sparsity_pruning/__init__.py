"""Sparsity and pruning techniques (one module per paper; shared base in `_base.py`)."""
