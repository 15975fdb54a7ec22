"""Representations and statistical weighting: what a network's (or an estimator's) weights say about data —
fixed class vectors, clustering and masked-modelling objectives, unrolled inference, relevance propagation —
and weightings of points, classes and units (metric-space magnitude, averaged F1 scores, ordinal shrinkage,
treatment-effect weights, poisoned pretrained weights).

Shared modules (each technique builds on them, none changes them):

* `toys` — 2-D point clouds with known boundary and injected outliers (`point_cloud`, `with_outliers`) and
  Gaussian few-shot tasks with a known Bayes classifier (`few_shot_gaussian_task`); the 8×8 digits come from
  `refimpl.experiments.tasks.digits`;
* `metrics` — the rank AUROC (Mann–Whitney, ties ½), clustering accuracy under the best one-to-one matching of
  clusters to labels (Hungarian), normalised mutual information, and the confusion matrix.
"""
