"""Continual learning: one model meets a sequence of tasks and must keep the old ones while learning the new.
Shared modules (each technique builds on them, none changes them):

* `scenarios` — the split-digits sequence (five tasks of two classes) in its class-incremental form (one 10-way
  head, no task identity at test) and task-incremental form (the task's two logits only), and the
  "pretrained features" variant (a trunk pretrained on a related domain, frozen, for methods built on a
  pretrained model);
* `protocol` — train task after task and fill the accuracy matrix R[i, j] (accuracy on task j after training
  task i), with the naive fine-tuning baseline and the joint-training reference;
* `metrics` — average accuracy, forgetting, backward and forward transfer from R, and its heat-map plot.

Every technique reports its accuracy matrix against the same sequence, so numbers compare across the family."""
