"""The regularization-normalization family's contract over the registry (the form:
`tests/techniques/contracts.py`).

- a structurally reparameterized model in its deploy form gives the outputs of its training form
  (float64, ≤ 1e-10) with no more parameters;
- a weight parametrization passes gradients to θ and to its own learnable hyperparameters.

A technique module opts in by defining `contract_examples(seed=0) -> list[dict]` with either
{"kind": "reparam", "name", "train": Module, "deploy": Module, "x": ndarray} or
{"kind": "parametrization", "name", "layer": Module (parametrized), "x": ndarray,
 "hyper": [Parameter, ...] (the transform's learnable hyperparameters)};
each example is one adapter, keyed "slug:name".  The other techniques are exempt, with the reason.
"""

import numpy as np
import pytest
from contracts import family_slugs, params

from refimpl import catalog
from refimpl.autograd.tensor import Tensor, no_grad

FAMILY = "regularization-normalization"


def _declared_examples():
    out = {}
    for slug in family_slugs(FAMILY):
        mod = catalog.get(slug).load()
        if hasattr(mod, "contract_examples"):
            out.update({f"{slug}:{ex['name']}": ex for ex in mod.contract_examples(seed=0)})
    return out


CONTRACTS = _declared_examples()
EXEMPT = {
    "evonorm": "normalization-activation layers used as they are trained: no deploy-time fold and no "
    "parametrization of a weight",
    "ghost-batchnorm": "a training procedure (ghost batches, learning-rate scaling): no reparameterized "
    "deploy form and no weight parametrization",
    "mip-hypernetworks": "the weights are the output of a hypernetwork (θ0 + h(enc(γ))), not a "
    "parametrization registered on a layer's weight, and there is no deploy-time fold",
    "nested-dropout-noisy-labels": "a training-time regularizer (nested dropout of feature units): "
    "no reparameterized deploy form and no weight parametrization",
    "robust-weight-perturbation": "a training procedure (adversarial weight perturbation during "
    "adversarial training): no reparameterized deploy form and no weight parametrization",
    "weight-balancing-longtail": "a training procedure (weight decay, then a re-trained classifier with "
    "a class-balanced loss): no reparameterized deploy form and no weight parametrization",
}

REPARAM = params(FAMILY, CONTRACTS, EXEMPT, where=lambda ex: ex["kind"] == "reparam")
PARAMETRIZATION = params(FAMILY, CONTRACTS, EXEMPT, where=lambda ex: ex["kind"] == "parametrization")


@pytest.mark.parametrize("slug, ex", REPARAM)
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


@pytest.mark.parametrize("slug, ex", PARAMETRIZATION)
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
