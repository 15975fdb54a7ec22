"""The lowrank-peft-sharing family's pretrain → adapt pipeline: the shifted task, the shared pretrained
trunk, and one adaptation run."""

import numpy as np

from refimpl.experiments import tasks
from refimpl.techniques.lowrank_peft_sharing import transfer as T


def test_shifted_digits_are_the_classes_relabelled_and_mirrored():
    old, new = T.shifted_digits()
    plain = tasks.digits(classes=(5, 6, 7, 8, 9))
    assert set(np.unique(old.y_train)) == set(np.unique(new.y_train)) == set(range(5))
    np.testing.assert_array_equal(new.x_test.reshape(-1, 8, 8), plain.x_test.reshape(-1, 8, 8)[:, :, ::-1])
    np.testing.assert_array_equal(new.y_test, plain.y_test)


def test_head_only_run_keeps_the_old_task_exactly_and_counts_nothing():
    r = T.adaptation_run(0, 1e-3, None, pre_epochs=2, epochs=1)
    assert r["trainable_trunk_parameters"] == 0
    assert r["old_task_test_accuracy"] == r["old_task_test_accuracy_before"]  # frozen trunk, untouched head
    assert 0 <= r["test_accuracy"] <= 1 and "val_accuracy" in r
