"""Sparsity and pruning techniques: one package per paper; what two or more share is in `masks.py`."""
