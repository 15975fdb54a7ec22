"""Quantization techniques (one module or package per paper).  Shared by two or more of them:
`quantizers.py` (integer grids with the "divide" / "torch" rounding conventions, the STE, GPTQ),
`fp_formats.py` (FP8/FP4 minifloats: E4M3FN / E5M2 / E2M1 codecs, E2M1 packing, round-to-format),
`ptq.py` (the post-training pipeline: trained toy models, input capture, weight substitution); Numba
kernels in `_kernels.py`, reached through `quantizers.KERNELS`."""
