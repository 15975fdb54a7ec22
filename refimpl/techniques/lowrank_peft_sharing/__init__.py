"""Low-rank adapters, parameter-efficient fine-tuning and weight sharing (one module per paper).  Shared by
two or more of them: `adapters.py` (the weight-adapter protocol and LoRA, the family's baseline) and
`transfer.py` (the pretrain → adapt pipeline on the digits)."""
