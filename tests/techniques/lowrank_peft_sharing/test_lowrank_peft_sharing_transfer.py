"""The lowrank-peft-sharing family's pretrain → adapt pipeline: the two digit tasks, the pipeline itself."""

import numpy as np
import pytest

from refimpl.techniques.lowrank_peft_sharing import transfer as T


def test_digit_tasks_labels_and_mirror():
    t = T.digit_tasks(0, "5-9")
    m = T.digit_tasks(0, "5-9 mirrored")
    for s in (t.a, t.b):
        assert set(np.unique(s.y_train)) == set(range(5))
    np.testing.assert_array_equal(m.b.x_train.reshape(-1, 8, 8), t.b.x_train.reshape(-1, 8, 8)[:, :, ::-1])
    with pytest.raises(ValueError, match="new_task"):
        T.digit_tasks(0, "rotated")


def test_pipeline_head_only_keeps_old_task_exactly():
    base = T.pretrain(0, epochs=2)
    r = T.adapt(base, lambda bb: bb.requires_grad_(False), epochs=1)
    assert r["trainable_trunk"] == 0 and r["trainable"] == 128 * 5 + 5
    assert r["acc_old"] == base.acc_a
