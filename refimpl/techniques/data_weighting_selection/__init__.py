"""Data weighting, pruning and selection: per-sample weights in the loss, example scores recorded during
training, subset selection and resampling, and pools with known structure to select from."""
