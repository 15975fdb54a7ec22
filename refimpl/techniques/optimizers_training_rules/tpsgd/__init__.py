r"""tpSGD (target projection SGD): every layer of an MLP learns, on its own, to hit a target that is a fixed
random projection of the one-hot label; no gradient crosses a layer.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.  No
official code was found; the paper's method section was not reachable here (its abstract and a third-party
restatement of its layer loss and update were), so the level is `reconstructed` and the assumptions are
listed below and in the notebook.  The paper also trains RNNs and CNNs; one feed-forward MLP is enough to
show the rule here.

The idea
--------
Backprop sends the output error back through every layer's weights.  Direct random target projection
(DRTP, Frenkel et al. 2021) replaced that signal for hidden layer i by a fixed random projection of the
label alone, :math:`B_i^\top y^*`, used as if it were the gradient of the layer's output.  tpSGD turns the
projection into a *target* and gives each layer a real loss against it:

.. math::

    t_i = P_i\,y^*,\qquad y_i = \sigma(W_i\,\bar y_{i-1} + b_i),\qquad
    J_i = \tfrac12\,\lVert t_i - y_i \rVert^2

with :math:`\bar y_{i-1}` the previous layer's output treated as a constant (a forward pass only).  The
layer-local gradient is a delta rule gated by the layer's own activation derivative,

.. math::

    \frac{\partial J_i}{\partial W_i} = -\big[(t_i - y_i)\odot\sigma'(z_i)\big]\,\bar y_{i-1}^\top,
    \qquad W_i \leftarrow W_i - \eta\,\frac{\partial J_i}{\partial W_i}.

Compare DRTP's update, :math:`\Delta W_i = \eta\,[(P_i y^*)\odot\sigma'(z_i)]\,\bar y_{i-1}^\top` (the
same projected label, used as a fixed push): tpSGD's signal is the *residual* :math:`t_i - y_i`, which
vanishes once the layer reaches its target, whereas DRTP keeps pushing every unit towards saturation in
the target's direction.  That residual — a loss with the layer's own output in it — is the paper's idea
("generalizes direct random target projection to arbitrary loss functions"); `drtp.py` beside this file
is the same network without it.

The output layer's target is the label itself (:math:`P = I`): it is trained with softmax cross-entropy on
its own detached input, exactly as a linear classifier on fixed features would be.

Why all layers step together
----------------------------
The local losses touch disjoint parameter sets and every layer's input is detached, so one backward pass
of :math:`\sum_i J_i` gives each layer exactly :math:`\partial J_i/\partial W_i` and nothing else (a
test proves it: every other layer's weights set to NaN leave layer i's gradient unchanged).  Plain SGD on
the sum is therefore L independent layer-wise SGD steps taken on the same minibatch — the paper's
"layer-by-layer with only forward passes", in one sweep.

What is assumed (reconstructed)
-------------------------------
* Hidden activation tanh; projection entries :math:`P_i \sim U(-1, 1)` i.i.d., fixed at initialisation
  (a target inside tanh's range).  The paper's distribution and scale were not read.
* The ½ in :math:`J_i` and the batch mean are our convention (the ½ is absorbed by the learning rate).
* The output layer's loss is softmax cross-entropy (the paper allows any loss; which one it used for
  the classifier layer was not read).
* SGD with momentum 0.9 and a cosine-decayed rate (`train_layerwise`), the same for every method compared.

The experiment (`experiment.py`), the DRTP ablation (`drtp.py`) and the reference cases (`cases.py`) sit
beside this file.

Notebook: notebooks/optimizers-training-rules/tpsgd.ipynb
"""

from __future__ import annotations

import numpy as np

from ....autograd.tensor import Tensor, no_grad
from ....nn import Linear, Module, ModuleList

CATALOG_ENTRY = {
    "slug": "tpsgd",
    "title": "Learning with Local Gradients at the Edge",
    "authors": "Michael Lomnitz, Zachary Daniels, David Zhang, Michael Piacentino",
    "year": 2022,
    "arxiv": "2208.08503",
    "family": "optimizers-training-rules",
    "notebook": "notebooks/optimizers-training-rules/tpsgd.ipynb",
    "verified": "reconstructed",
    "verification_note": "Paper confirmed (arXiv 2208.08503; AAAI-23, SRI) from its abstract; the method section "
    "and equation numbers were not reachable and no official code was found (papers-with-code lists none). "
    "The layer loss J_i = ‖P_i y* − y_i‖² and the delta-rule update gated by σ'(z_i) follow a third-party "
    "restatement of the paper (junaidaliop.github.io/zij/math/tpsgd); equation numbers are therefore not "
    "cited. The DRTP ablation follows the official DRTP code (ChFrenkel/DirectRandomTargetProjection: "
    "function.py L61-62, the hidden layer's output gradient replaced by labels·B; models.py L145-147, the "
    "hook after the activation; module.py L96-97, B fixed at initialisation). tanh units, P_i ~ U(−1, 1), "
    "the ½ and batch mean in J_i, cross-entropy for the output layer and SGD with momentum are our choices.",
    "summary": "Backprop-free training: each hidden layer regresses its output onto a fixed random projection "
    "of the one-hot label with its own local loss (forward passes only, no gradient between layers); the "
    "output layer is fitted to the label on its detached input.",
    "equations": [
        "t_i = P_i y*,  P_i fixed random (d_i × C),  y* one-hot   (tpSGD local target; eq. no. not confirmed)",
        "y_i = σ(z_i),  z_i = W_i ȳ_{i−1} + b_i,  ȳ_{i−1} = stop_gradient(y_{i−1})   (layer-local forward)",
        "J_i = ½ ‖t_i − y_i‖²,  ∂J_i/∂W_i = −[(t_i − y_i) ⊙ σ'(z_i)] ȳ_{i−1}ᵀ   (tpSGD layer loss and update)",
        "J_out = CE(softmax(W_out ȳ_L + b_out), y*)   (output layer: target = the label)",
        "DRTP ablation: ΔW_i = η [(P_i y*) ⊙ σ'(z_i)] ȳ_{i−1}ᵀ   (Frenkel et al. 2021; no residual)",
    ],
}

__all__ = [
    "one_hot",
    "projected_target",
    "layer_loss",
    "TargetProjectionMLP",
    "tpsgd_losses",
    "train_layerwise",
    "hidden_features",
]


def one_hot(y, n_classes: int, dtype=np.float32) -> np.ndarray:
    """y* as rows: (B,) integer labels in [0, n_classes) → (B, C)."""
    y = np.asarray(y)
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise ValueError(f"y must be a 1-D array of integer labels, got shape {y.shape} dtype {y.dtype}")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"y must lie in [0, {n_classes}), got labels in [{y.min()}, {y.max()}]")
    out = np.zeros((y.size, int(n_classes)), dtype=dtype)
    out[np.arange(y.size), y] = 1.0
    return out


def projected_target(P, y) -> np.ndarray:
    """t = P y* for every example (rows): P (d, C), y (B,) labels → (B, d).  A constant, not a graph node."""
    P = np.asarray(P)
    if P.ndim != 2:
        raise ValueError(f"P must be a (d, C) matrix, got shape {P.shape}")
    return one_hot(y, P.shape[1], P.dtype) @ P.T  # t_i = P_i y*


def layer_loss(y_i: Tensor, t_i) -> Tensor:
    """J_i = ½ ‖t_i − y_i‖², summed over units and averaged over the batch (tpSGD layer loss)."""
    t = Tensor(np.asarray(t_i, dtype=y_i.data.dtype))
    if t.shape != y_i.shape:
        raise ValueError(f"t_i must have y_i's shape {y_i.shape}, got {t.shape}")
    r = t - y_i
    return 0.5 * (r * r).sum(axis=-1).mean()


class TargetProjectionMLP(Module):
    """x → tanh(W_1 x + b_1) → … → tanh(W_L ȳ + b_L) → W_out ȳ + b_out (logits), with one fixed projection
    P_i ~ U(−1, 1) of shape (d_i, C) per hidden layer.  `forward` is ordinary inference; `local_forward`
    is the training pass, each layer fed its predecessor's *detached* output."""

    def __init__(self, sizes, n_classes: int, dtype=np.float32, rng=None):
        super().__init__()
        from ....random import as_generator

        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(
                f"sizes must be [d_in, d_1, ..., d_L] with L ≥ 1 and every size ≥ 1, got {sizes}"
            )
        if int(n_classes) < 2:
            raise ValueError(f"n_classes must be ≥ 2, got {n_classes}")
        rng = as_generator(rng)
        self.n_classes = int(n_classes)
        self.hidden = ModuleList([Linear(a, b, dtype=dtype, rng=rng) for a, b in zip(sizes[:-1], sizes[1:])])
        self.out = Linear(sizes[-1], self.n_classes, dtype=dtype, rng=rng)
        # fixed, not Parameters: drawn after the weights so the weights match an MLP of the same seed
        self.P = [rng.uniform(-1.0, 1.0, (d, self.n_classes)).astype(dtype) for d in sizes[1:]]

    def forward(self, x):
        h = x if isinstance(x, Tensor) else Tensor(np.asarray(x))
        for layer in self.hidden:
            h = layer(h).tanh()
        return self.out(h)

    def local_forward(self, x):
        """([y_1, ..., y_L], logits) with every layer's input detached: no gradient crosses a layer."""
        h = x if isinstance(x, Tensor) else Tensor(np.asarray(x))
        ys = []
        for layer in self.hidden:
            y_i = layer(h.detach()).tanh()  # y_i = σ(W_i ȳ_{i−1} + b_i)
            ys.append(y_i)
            h = y_i
        return ys, self.out(h.detach())


def tpsgd_losses(net: TargetProjectionMLP, x, y) -> list:
    """[J_1, ..., J_L, J_out]: each hidden layer's ½‖P_i y* − y_i‖² and the output layer's cross-entropy,
    each a function of that layer's parameters only."""
    from ....nn import functional as F

    ys, logits = net.local_forward(x)
    losses = [layer_loss(y_i, projected_target(P, y)) for y_i, P in zip(ys, net.P)]  # J_i, t_i = P_i y*
    return [*losses, F.cross_entropy(logits, np.asarray(y))]  # J_out: target = the label


def train_layerwise(
    net: Module,
    losses_fn,
    x,
    y,
    epochs: int,
    *,
    lr: float,
    batch_size: int = 32,
    seed: int = 0,
    momentum: float = 0.9,
    cosine: bool = True,
    params=None,
) -> dict:
    """Minibatch SGD (momentum, rate decayed to 0 along a cosine over epochs when `cosine`) on
    Σ losses_fn(net, xb, yb).  For tpSGD the terms are layer-local, so this is one independent SGD step per
    layer; the same loop trains the baselines (backprop: one cross-entropy term).  `params` restricts the
    trained parameters (default: all of `net`'s).  Returns {"loss": (epochs, n_terms) epoch-mean terms}."""
    from .... import optim
    from ....data import batches
    from ....optim.lr_scheduler import CosineAnnealingLR

    if int(epochs) < 1:
        raise ValueError(f"epochs must be ≥ 1, got {epochs}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    params = list(net.parameters() if params is None else params)
    opt = optim.SGD(params, lr=lr, momentum=momentum)
    sched = CosineAnnealingLR(opt, T_max=int(epochs)) if cosine else None
    x, y = np.asarray(x), np.asarray(y)
    hist = []
    for epoch in range(int(epochs)):
        sums, n = None, 0
        for xb, yb in batches(x, y, batch_size=batch_size, seed=seed, epoch=epoch):
            opt.zero_grad()
            terms = losses_fn(net, Tensor(xb), yb)
            total = terms[0]
            for t in terms[1:]:
                total = total + t
            total.backward()
            opt.step()
            vals = np.array([float(t.data) for t in terms])
            sums = vals if sums is None else sums + vals
            n += 1
        hist.append(sums / n)
        if sched is not None:
            sched.step()
    return {"loss": np.array(hist)}


def hidden_features(net: TargetProjectionMLP, x) -> list:
    """The hidden layers' outputs [y_1, ..., y_L] on x (NumPy, no graph)."""
    with no_grad():
        ys, _ = net.local_forward(x)
    return [y_i.data for y_i in ys]
