"""The architectures family's contract over the registry (the form: `tests/techniques/contracts.py`).

An adapter is {"make": seed → the technique's module with float64 parameters, "input": rng → a float64 input
array}.  Every module must

* be reproducible: the same seed gives the same module, hence the same output;
* pass a float64 finite-difference check of the output's gradient with respect to the input;
* give every parameter a nonzero gradient from a random upstream gradient (no parameter is dead weight).
"""

import numpy as np
import pytest
from contracts import params

from refimpl import gradcheck
from refimpl.autograd.tensor import Tensor
from refimpl.techniques.architectures import arm_net as ARM
from refimpl.techniques.architectures import dcls as DCLS
from refimpl.techniques.architectures import dkvb as DKVB
from refimpl.techniques.architectures import fdconv as FD
from refimpl.techniques.architectures import hopular as HOP
from refimpl.techniques.architectures import ninformer as NIN
from refimpl.techniques.architectures import qkan_daruan as QK
from refimpl.techniques.architectures import roma_routing_alignment as ROMA
from refimpl.techniques.architectures import sgconv as SG
from refimpl.techniques.architectures import single_path_nas as SPN
from refimpl.techniques.architectures import snnk as SN
from refimpl.techniques.architectures import tanglenas as TN
from refimpl.techniques.architectures import tokenformer as TF
from refimpl.techniques.architectures import tunable_convolutions as TC
from refimpl.techniques.architectures import widenet as WN
from refimpl.techniques.architectures.self_referential_weight_matrix import SRWM

FAMILY = "architectures"

CONTRACTS = {
    # ARM-Net on 6 numerical fields (training-mode BatchNorm: batch statistics, a smooth function of the batch)
    "arm-net": {
        "make": lambda seed: ARM.ARMNet(6, n_e=3, o=4, hidden=5, rng=seed, dtype=np.float64),
        "input": lambda rng: rng.standard_normal((5, 6)),
    },
    "arm-net:softmax": {  # the dense-gate ablation
        "make": lambda seed: ARM.ARMNet(
            6, n_e=3, o=4, hidden=5, attention="softmax", rng=seed, dtype=np.float64
        ),
        "input": lambda rng: rng.standard_normal((5, 6)),
    },
    "dcls": {  # 3 elements with learnable positions in a size-16 kernel; (B, T) → (B, T − 15)
        "make": lambda seed: DCLS.DCLSConv1d(
            16,
            3,
            init_positions=np.random.default_rng([seed, 9]).uniform(0.2, 14.8, 3),
            rng=seed,
            dtype=np.float64,
        ),
        "input": lambda rng: rng.standard_normal((3, 24)),
    },
    # the output is piecewise constant in the input (the nearest-key choice): the input-gradient check passes
    # trivially away from key boundaries; the values' gradient is the meaningful check
    "dkvb": {
        "make": lambda seed: DKVB.DiscreteKeyValueBottleneck(
            DKVB.random_projections(4, 3, 6, [seed, 1]),
            np.random.default_rng([seed, 2]).standard_normal((4, 5, 3)) * 0.3,
            7,
            value_scale=1.0,
            rng=[seed, 3],
            dtype=np.float64,
        ),
        "input": lambda rng: rng.standard_normal((8, 6)),
    },
    "fdconv": {  # conv(2 → 4, 3 taps; Fourier disjoint weights, K = 2) → ReLU → mean over time → Linear(4 → 3)
        "make": lambda seed: FD.SignalClassifier("fdconv", 2, 4, 3, 2, 3, rng=seed, dtype=np.float64),
        "input": lambda rng: rng.standard_normal((3, 2, 8)),  # (B, C, L) signals
    },
    "hopular": {  # memory = 10 stored rows (3 features + target); input (B, 3) → prediction (B,)
        "make": lambda seed: HOP.Hopular(
            np.random.default_rng([seed, 1]).standard_normal((10, 3)),
            np.random.default_rng([seed, 2]).standard_normal(10),
            rng=seed,
            dtype=np.float64,
        ),
        "input": lambda rng: rng.standard_normal((4, 3)),
    },
    "ninformer": {  # patches (B, n=5, p=4) → 2 NiN blocks (d=6, h=7) → logits (B, 3)
        "make": lambda seed: NIN.PatchClassifier(4, 5, 6, 7, 3, depth=2, rng=seed, dtype=np.float64),
        "input": lambda rng: rng.standard_normal((3, 5, 4)),
    },
    "qkan-daruan": {
        "make": lambda seed: QK.KAN([2, 3, 1], "qkan", 2, dtype=np.float64, rng=seed),  # (B, 2) → (B, 1)
        "input": lambda rng: rng.uniform(-1.0, 1.0, (5, 2)),
    },
    "roma-routing-alignment": {  # soft MoE: router 7 → 3 experts, each tanh MLP 7 → 5 → 4; (B, 7) → (B, 4)
        "make": lambda seed: ROMA.SoftMoE(7, 5, 4, 3, rng=seed, dtype=np.float64),
        "input": lambda rng: rng.standard_normal((6, 7)),
    },
    "self-referential-weight-matrix": {
        "make": lambda seed: SRWM(4, rng=seed, dtype=np.float64),  # (B, L, 4) → (B, L, 4)
        "input": lambda rng: rng.normal(size=(2, 5, 4)),
    },
    "sgconv": {
        "make": lambda seed: SG.SequenceClassifier(3, 4, 32, 2, dtype=np.float64, seed=seed, d=4, alpha=0.5),
        "input": lambda rng: rng.standard_normal((2, 32, 3)),
    },
    # WideNet: shared attention + shared top-2 MoE, individual LayerNorms; (N, tokens, patch_dim) → logits
    "widenet": {
        "make": lambda seed: WN.widenet(
            4, 5, 3, d=8, heads=2, hidden=6, depth=3, experts=3, k=2, rng=seed, dtype=np.float64
        ),
        "input": lambda rng: rng.standard_normal((4, 5, 4)),
    },
    "tunable-convolutions": {
        "make": lambda seed: TC.TunableDenoiser(4, 3, 2, rng=seed, dtype=np.float64),  # ω = (½, ½) by default
        "input": lambda rng: rng.standard_normal((3, 10)),  # (N, L) signals
    },
    # superkernel net, 2 layers (k ≤ 5, width ≤ 4), thresholds at 0 → every subset on; (B, 2, L) → (B, 3)
    "single-path-nas": {
        "make": lambda seed: SPN.SuperConvNet(2, 4, 3, 2, rng=seed, dtype=np.float64),
        "input": lambda rng: rng.standard_normal((3, 2, 10)),
    },
    # the toy network with its middle exp layer replaced by SNNK (m = 4): (B, 6) → (B,)
    "snnk": {
        "make": lambda seed: SN.Net(6, 5, 4, rng=seed, dtype=np.float64),
        "input": lambda rng: rng.standard_normal((4, 6)),
    },
    # a 2-choice width supernet (widths 2/3/4): (B, 5) → logits (B, 3); α receives a gradient too
    "tanglenas": {
        "make": lambda seed: TN.SuperMLP(5, (2, 3, 4), 3, 2, rng=seed, dtype=np.float64),
        "input": lambda rng: rng.standard_normal((6, 5)),
    },
    "tanglenas:separate": {  # the DARTS ablation (a weight per candidate)
        "make": lambda seed: TN.SuperMLP(5, (2, 3, 4), 3, 2, mode="separate", rng=seed, dtype=np.float64),
        "input": lambda rng: rng.standard_normal((6, 5)),
    },
    "tokenformer": {
        "make": lambda seed: TF.TokenMLP(12, 8, 5, 6, rng=seed, dtype=np.float64),
        "input": lambda rng: rng.standard_normal((4, 12)),
    },
    # the grown network: zero-key parameter tokens appended (official τ)
    "tokenformer:grown": {
        "make": lambda seed: TF.grow_model(
            TF.TokenMLP(12, 8, 5, 6, rng=seed, dtype=np.float64), 3, seed=seed
        ),
        "input": lambda rng: rng.standard_normal((4, 12)),
    },
}
EXEMPT = {}


def _out(module, x):
    y = module(x)
    return y[0] if isinstance(y, tuple) else y


@pytest.mark.parametrize("key, adapter", params(FAMILY, CONTRACTS, EXEMPT))
def test_is_reproducible_for_a_seed(key, adapter):
    x = adapter["input"](np.random.default_rng(0))
    a = _out(adapter["make"](1), Tensor(x)).data
    b = _out(adapter["make"](1), Tensor(x)).data
    np.testing.assert_array_equal(a, b, err_msg=key)
    assert np.all(np.isfinite(a)), key


@pytest.mark.parametrize("key, adapter", params(FAMILY, CONTRACTS, EXEMPT))
def test_input_gradient_passes_a_float64_check(key, adapter):
    module = adapter["make"](2)
    x = adapter["input"](np.random.default_rng(1))
    assert x.dtype == np.float64, key
    assert gradcheck(lambda t: _out(module, t), x, mode="random", n_directions=6)


@pytest.mark.parametrize("key, adapter", params(FAMILY, CONTRACTS, EXEMPT))
def test_every_parameter_receives_a_gradient(key, adapter):
    module = adapter["make"](3)
    x = adapter["input"](np.random.default_rng(2))
    y = _out(module, Tensor(x))
    y.backward(np.random.default_rng(3).standard_normal(y.shape))
    dead = [n for n, p in module.named_parameters() if p.grad is None or not np.any(p.grad)]
    assert not dead, (key, dead)
