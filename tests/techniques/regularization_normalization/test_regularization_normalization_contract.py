"""Family contract over the registry (regularization-normalization).

- a structurally reparameterized model in its deploy form gives the outputs of its training form
  (float64, ≤ 1e-10);
- a weight parametrization passes gradients to θ and to its own learnable hyperparameters.

A technique module opts in by defining `contract_examples(seed=0) -> list[dict]` with either
{"kind": "reparam", "name", "train": Module, "deploy": Module, "x": ndarray} or
{"kind": "parametrization", "name", "layer": Module (parametrized), "x": ndarray,
 "hyper": [Parameter, ...] (the transform's learnable hyperparameters)}.
"""

import numpy as np
import pytest

from refimpl import catalog
from refimpl.autograd.tensor import Tensor, no_grad

FAMILY = "regularization-normalization"
TECHS = [t for t in catalog.entries().values() if t.family == FAMILY]


def _examples():
    out = []
    for t in TECHS:
        mod = t.load()
        if hasattr(mod, "contract_examples"):
            out += [(t.slug, ex) for ex in mod.contract_examples(seed=0)]
    return out


EXAMPLES = _examples()


def test_family_has_entries():
    assert TECHS, "no technique registered for the family"


@pytest.mark.parametrize(
    "slug,ex",
    [e for e in EXAMPLES if e[1]["kind"] == "reparam"],
    ids=lambda v: v if isinstance(v, str) else v["name"],
)
def test_deploy_form_equals_training_form(slug, ex):
    x = np.asarray(ex["x"], dtype=np.float64)
    for m in (ex["train"], ex["deploy"]):
        for p in m.parameters():
            assert p.data.dtype == np.float64, f"{slug}: contract must run in float64"
    with no_grad():
        a = ex["train"](Tensor(x)).data
        b = ex["deploy"](Tensor(x)).data
    err = float(np.max(np.abs(a - b)))
    assert err <= 1e-10, f"{slug} / {ex['name']}: deploy form differs from training form by {err:.3e}"
    assert sum(p.data.size for p in ex["deploy"].parameters()) <= sum(
        p.data.size for p in ex["train"].parameters()
    )


@pytest.mark.parametrize(
    "slug,ex",
    [e for e in EXAMPLES if e[1]["kind"] == "parametrization"],
    ids=lambda v: v if isinstance(v, str) else v["name"],
)
def test_parametrization_passes_gradients(slug, ex):
    layer = ex["layer"]
    theta = layer.parametrizations.weight.original
    layer.zero_grad()
    out = layer(Tensor(np.asarray(ex["x"])))
    (out * out).sum().backward()
    assert theta.grad is not None and np.any(theta.grad != 0), f"{slug}: no gradient reaches θ"
    assert ex["hyper"], f"{slug}: a parametrization example must list its learnable hyperparameters"
    for h in ex["hyper"]:
        assert h.grad is not None and np.all(np.isfinite(h.grad)) and np.any(h.grad != 0), (
            f"{slug}: no gradient reaches the hyperparameter of shape {h.data.shape}"
        )
