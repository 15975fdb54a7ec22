"""Quantization techniques (one module per paper; shared base in `_base.py`, the post-training pipeline
in `_ptq.py`, Numba kernels in `_kernels.py`)."""
