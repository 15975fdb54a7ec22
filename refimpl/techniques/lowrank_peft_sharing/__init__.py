"""Low-rank adapters, parameter-efficient fine-tuning and weight sharing (one module per paper)."""
