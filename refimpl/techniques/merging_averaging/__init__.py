"""Merging and averaging of trained weights: soups, Model Stock, weight matching, AdaMerging, ensembles.
Shared by two or more techniques: `state.py` (state-dict arithmetic and evaluation) and `finetuning.py`
(the cached fine-tuning runs and the sweep of model-soups / model-stock)."""
