"""Quantization techniques (one module per paper).  Shared by two or more of them: `quantizers.py` (integer
grids, the STE, GPTQ), `ptq.py` (the post-training pipeline: trained toy models, input capture, weight
substitution); Numba kernels in `_kernels.py`, reached through `quantizers.KERNELS`."""
