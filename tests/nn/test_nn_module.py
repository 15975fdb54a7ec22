"""Module bookkeeping: registration, traversal, modes, state_dict round trips and their errors."""

import numpy as np
import pytest

import refimpl as rf
from refimpl import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 3, rng=0)
        self.fc2 = nn.Linear(3, 2, rng=1)
        self.scale = nn.Parameter(np.ones(2))
        self.register_buffer("steps", np.zeros(()))

    def forward(self, x):
        return self.fc2(self.fc1(x).relu()) * self.scale


def test_named_parameters_buffers_modules():
    net = Net()
    assert [n for n, _ in net.named_parameters()] == [
        "scale",
        "fc1.weight",
        "fc1.bias",
        "fc2.weight",
        "fc2.bias",
    ]
    assert [n for n, _ in net.named_buffers()] == ["steps"]
    assert [n for n, _ in net.named_modules()] == ["", "fc1", "fc2"]
    assert net.num_parameters() == 2 + 4 * 3 + 3 + 3 * 2 + 2


def test_shared_parameter_counted_once():
    net = Net()
    net.fc3 = net.fc1
    assert len(list(net.parameters())) == 5


def test_train_eval_and_zero_grad():
    net = Net()
    net.eval()
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    net(rf.tensor(np.ones((2, 4), dtype=np.float32))).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_state_dict_round_trip_npz(tmp_path):
    a, b = Net(), Net()
    b.fc1.weight.data[...] = 0
    a.steps[...] = 7
    a.save(tmp_path / "m.npz")
    b.load(tmp_path / "m.npz")
    x = rf.tensor(np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32))
    np.testing.assert_array_equal(a(x).data, b(x).data)
    assert float(b.steps) == 7
    with np.load(tmp_path / "m.npz", allow_pickle=False) as f:
        assert set(f.files) == set(a.state_dict())


def test_state_dict_errors_name_keys():
    net = Net()
    sd = net.state_dict()
    missing = dict(sd)
    del missing["fc2.bias"]
    with pytest.raises(KeyError, match="fc2.bias"):
        net.load_state_dict(missing)
    extra = dict(sd, bogus=np.zeros(1))
    with pytest.raises(KeyError, match="bogus"):
        net.load_state_dict(extra)
    bad = dict(sd)
    bad["fc1.weight"] = np.zeros((4, 3))
    with pytest.raises(ValueError, match=r"fc1.weight.*\(3, 4\).*\(4, 3\)"):
        net.load_state_dict(bad)
    net.load_state_dict(missing, strict=False)  # non-strict ignores what is missing


def test_to_double_casts_parameters_and_buffers():
    net = Net().double()
    assert all(p.dtype == np.float64 for p in net.parameters())
    assert net.steps.dtype == np.float64


def test_assigning_non_parameter_to_parameter_slot_fails():
    net = Net()
    with pytest.raises(TypeError, match="scale"):
        net.scale = np.ones(2)


def test_module_without_init_call_errors():
    class Bad(nn.Module):
        def __init__(self):
            self.x = 1

    with pytest.raises(AttributeError, match="Module.__init__"):
        Bad()
