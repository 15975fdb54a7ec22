r"""ExSSNeT: per-task supermasks over one shared network (as SupSup), but the weights are trained too — each task
may change only the weights that no earlier task's mask selected, so every old task's subnetwork is frozen and
nothing is forgotten; a KNN test on the new task's features picks the previous mask to start the new one from.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.

Supermasks (edge-popup, the SupSup substrate)
---------------------------------------------
Every masked layer holds one weight matrix :math:`W` shared by all tasks and, per task t, a real score matrix
:math:`S_t` of the same shape.  Task t's subnetwork uses (`topk_mask`, `SupermaskLinear`)

.. math::

    M_t = \operatorname{top}_k(\lvert S_t\rvert), \qquad y = (W \odot M_t)\,x ,

where :math:`\operatorname{top}_k` sets to 1 the fraction k (the density) of entries with the largest values and
0 elsewhere.  The scores are learned by the straight-through estimator of edge-popup (Ramanujan et al.,
arXiv 1911.13299): the mask's Jacobian is replaced by the identity, so with :math:`G = \partial L/\partial(W\odot M_t)`

.. math::

    \frac{\partial L}{\partial S_t} \approx G \odot W \odot \operatorname{sign}(S_t).

SupSup stops here: :math:`W` stays at its random signed-constant initialisation
(:math:`\pm\sqrt{2/\text{fan-in}}`), so no task can forget, but every task is limited to subsets of random weights.

Exclusive subnetwork training (the paper's first idea)
------------------------------------------------------
After the scores of task t are learned, ExSSNeT trains :math:`W` on task t too, but only where task t's mask
is on and no earlier mask is (`exclusive_mask`):

.. math::

    E_t = M_t \wedge \neg\bigl(M_1 \vee \dots \vee M_{t-1}\bigr), \qquad
    W \leftarrow W - \eta\,\mathrm{opt}\!\left(E_t \odot \frac{\partial L_t}{\partial W}\right).

A weight some task j < t uses is never touched again, so :math:`W\odot M_j` — task j's whole network — is the
same after task t as after task j: zero forgetting by construction (`masked_gradient` zeroes the gradient
before the optimiser; with a fresh Adam per phase and no weight decay a zero gradient moves nothing).  Weights
no task has used yet (most of them, at a density of a few per cent) are free for task t to shape, which SupSup
cannot do.

KNN knowledge transfer, KKT (the paper's second idea)
-----------------------------------------------------
Before task t's scores are trained (`knn_task_similarity`, `kkt_init`): for every earlier task j, the new
task's training inputs are passed through the network under mask :math:`M_j` to the penultimate layer; a
k-nearest-neighbour classifier (Euclidean, majority vote) is fitted on the first 66 % of these features with
the new task's labels and scored on the remaining 34 %.  The earlier task with the best KNN accuracy — if it
beats chance, 1/(classes per task) — gives its scores: :math:`S_t \leftarrow S_{j^*}`; otherwise :math:`S_t`
keeps its random initialisation.  The new mask then starts from a subnetwork whose features already separate
the new classes.

What was read, and what is ours
-------------------------------
The abstract and the authors' code (github.com/prateeky2806/exessnet) were read; the full text with its equation
numbers was not reachable, so lines cite the code: `models/module_util.py` (``GetSubnet``: sort, keep the top
k of ``|scores|``, straight-through backward), `models/modules.py` (``MultitaskMaskConv``: one score tensor per
task over the shared weight), `trainers/weights.py` (``get_editable_weights_mask_dict`` "exclusive": the current
mask minus every earlier one; ``train``: the weight gradient multiplied by it before ``optimizer.step``),
`main_vision.py` (mask epochs, then weight epochs, per task; ``sim_init = "knn_best"``), `utils/my_utils.py`
(``findSimilarTasks``: features of the new task's data under each old mask, a 66/34 split, KNN accuracy;
``score_transfer``: copy the scores).  As in the code, the layers have no bias, the weights start as signed
constants, and a single learning rate drives both phases (the code uses ``train_weight_lr`` for both whenever
weight epochs are on).  Ours: the toy (an MLP on 8×8 digits), its widths and density, the epoch counts, and the
KNN's k (10 instead of the code's 200, the toy having ~120 fitting points per task).

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/continual-learning/exssnet.ipynb
"""

from __future__ import annotations

import numpy as np

from .... import nn
from ....autograd.tensor import Tensor, no_grad
from ....nn import functional as F

CATALOG_ENTRY = {
    "slug": "exssnet",
    "title": "Exclusive Supermask Subnetwork Training for Continual Learning",
    "authors": "Prateek Yadav, Mohit Bansal",
    "year": 2023,
    "arxiv": "2210.10209",
    "family": "continual-learning",
    "notebook": "notebooks/continual-learning/exssnet.ipynb",
    "verified": "official-code",
    "verification_note": "arXiv id confirmed (ACL Findings 2023; an ICLR 2023 submission before).  The abstract "
    "and the authors' code (prateeky2806/exessnet: models/module_util.py GetSubnet, trainers/weights.py exclusive "
    "gradient mask, utils/my_utils.py findSimilarTasks / score_transfer, main_vision.py) were read; the full "
    "text's equation numbers were not reachable, so the code is cited instead.  The toy, widths, density, epochs "
    "and the KNN's k = 10 (code: 200) are ours.",
    "summary": "SupSup-style per-task supermasks (top-k edge-popup scores) over shared weights, plus training of "
    "the weights each new mask selects that no earlier mask uses (exclusive, so old tasks never change) and a "
    "KNN test that starts a new task's mask from the most useful earlier one.",
    "equations": [
        "M_t = top_k(|S_t|),  y = (W ⊙ M_t) x,  ∂L/∂S_t ≈ (∂L/∂(W⊙M_t)) ⊙ W ⊙ sign(S_t)   (edge-popup STE)",
        "E_t = M_t ∧ ¬(M_1 ∨ … ∨ M_{t−1}),  W ← W − η·opt(E_t ⊙ ∂L_t/∂W)   (exclusive weight training)",
        "j* = argmax_j KNN-acc(features of task t under M_j);  S_t ← S_{j*} if acc > 1/C   (KKT)",
    ],
}

__all__ = [
    "CATALOG_ENTRY",
    "topk_mask",
    "exclusive_mask",
    "masked_gradient",
    "knn_accuracy",
    "SupermaskLinear",
    "SupermaskMLP",
    "knn_task_similarity",
    "kkt_init",
]


def topk_mask(scores, density: float) -> np.ndarray:
    """M = top_k(scores): 1 on the n − ⌊(1 − density)·n⌋ largest entries, 0 elsewhere (GetSubnet's count).

    Ties: a stable ascending sort, the first ⌊(1 − density)·n⌋ are dropped — among equal scores the higher
    flat index is kept."""
    s = np.asarray(scores, dtype=np.float64)
    if not 0.0 < density <= 1.0:
        raise ValueError(f"topk_mask: `density` must be in (0, 1], got {density}")
    if s.size == 0:
        raise ValueError("topk_mask: `scores` must not be empty")
    order = np.argsort(s.ravel(), kind="stable")
    drop = int((1.0 - density) * s.size)
    m = np.ones(s.size)
    m[order[:drop]] = 0.0
    return m.reshape(s.shape)


def exclusive_mask(current, previous) -> np.ndarray:
    """E_t = M_t ∧ ¬(M_1 ∨ … ∨ M_{t−1}): the weights task t may train (trainers/weights.py "exclusive")."""
    cur = np.asarray(current).astype(bool)
    out = cur.copy()
    for j, m in enumerate(previous):
        m = np.asarray(m).astype(bool)
        if m.shape != cur.shape:
            raise ValueError(f"exclusive_mask: `previous[{j}]` must have shape {cur.shape}, got {m.shape}")
        out &= ~m
    return out.astype(np.float64)


def masked_gradient(grad, editable) -> np.ndarray:
    """E_t ⊙ ∂L/∂W: the gradient with every weight an earlier task uses zeroed (before the optimiser step)."""
    g, e = np.asarray(grad), np.asarray(editable)
    if g.shape != e.shape:
        raise ValueError(
            f"masked_gradient: `editable` must have the gradient's shape {g.shape}, got {e.shape}"
        )
    return g * e.astype(g.dtype)


def knn_accuracy(x_fit, y_fit, x_eval, y_eval, k: int) -> float:
    """Accuracy of a k-nearest-neighbour majority vote (Euclidean; ties in the vote go to the smaller label,
    ties in distance to the earlier fitting point)."""
    x_fit, x_eval = np.asarray(x_fit, dtype=np.float64), np.asarray(x_eval, dtype=np.float64)
    y_fit, y_eval = np.asarray(y_fit), np.asarray(y_eval)
    if not 1 <= k <= len(x_fit):
        raise ValueError(f"knn_accuracy: `k` must be in [1, {len(x_fit)}] (the fitting points), got {k}")
    d = ((x_eval[:, None, :] - x_fit[None, :, :]) ** 2).sum(-1)
    nearest = np.argsort(d, axis=1, kind="stable")[:, :k]
    votes = y_fit[nearest]
    labels = np.unique(y_fit)
    counts = (votes[:, :, None] == labels[None, None, :]).sum(1)
    return float(np.mean(labels[np.argmax(counts, axis=1)] == y_eval))


class SupermaskLinear(nn.Module):
    """y = (W ⊙ M_t) x with M_t = top_k(|S_t|) of the active task t (`self.task`); no bias (as the code).

    The mask is built from the scores' values and carries the straight-through gradient ∂M/∂S = sign(S):
    M = M_value + (|S| − const(|S|)), whose value is exactly M_value (the bracket is exactly 0)."""

    def __init__(self, in_features: int, out_features: int, n_tasks: int, density: float, rng=None):
        super().__init__()
        if not 0.0 < density <= 1.0:
            raise ValueError(f"SupermaskLinear: `density` must be in (0, 1], got {density}")
        if n_tasks < 1:
            raise ValueError(f"SupermaskLinear: `n_tasks` must be ≥ 1, got {n_tasks}")
        g = np.random.default_rng(rng)
        std = np.sqrt(2.0 / in_features)  # signed constant, kaiming gain for ReLU (models/init.py)
        self.weight = nn.Parameter(
            (np.sign(g.standard_normal((out_features, in_features))) * std).astype(np.float32)
        )
        bound = 1.0 / np.sqrt(in_features)  # kaiming_uniform(a=√5) of the scores (module_util.mask_init)
        for t in range(n_tasks):
            s = g.uniform(-bound, bound, (out_features, in_features)).astype(np.float32)
            setattr(self, f"scores_{t}", nn.Parameter(s))
        self.n_tasks, self.density, self.task = n_tasks, density, 0

    def scores(self, t: int) -> nn.Parameter:
        if not 0 <= t < self.n_tasks:
            raise ValueError(f"SupermaskLinear: task must be in [0, {self.n_tasks}), got {t}")
        return getattr(self, f"scores_{t}")

    def mask(self, t: int) -> np.ndarray:
        """M_t as an array (no gradient)."""
        return topk_mask(np.abs(self.scores(t).data), self.density)

    def forward(self, x):
        s = self.scores(self.task)
        a = s.abs()
        m = Tensor(topk_mask(a.data, self.density).astype(a.data.dtype)) + (
            a - Tensor(a.data)
        )  # STE (GetSubnet)
        return F.linear(x, self.weight * m)


class SupermaskMLP(nn.Module):
    """in → hidden → hidden → C, ReLU, every layer a SupermaskLinear; `features` is the penultimate layer's
    pre-activation (the code's ``linear[:3]``), used by KKT.

    As in the code, the output has C = classes-per-task units shared by all tasks (each task's labels are its
    classes' positions 0..C−1).  With `classes` (task t → its C global labels) the C logits are placed at the task's
    global labels of an `n_outputs`-wide vector (zeros elsewhere), so the family's 10-way task-masked protocol
    scores it unchanged."""

    def __init__(self, sizes=(64, 64, 64, 2), n_tasks=5, density=0.05, seed=0, classes=None, n_outputs=10):
        super().__init__()
        if len(sizes) != 4:
            raise ValueError(f"SupermaskMLP: `sizes` must be (in, hidden, hidden, out), got {sizes}")
        self.l1 = SupermaskLinear(sizes[0], sizes[1], n_tasks, density, rng=[seed, 1])
        self.l2 = SupermaskLinear(sizes[1], sizes[2], n_tasks, density, rng=[seed, 2])
        self.l3 = SupermaskLinear(sizes[2], sizes[3], n_tasks, density, rng=[seed, 3])
        self.placement = None
        if classes is not None:
            if len(classes) != n_tasks or any(len(c) != sizes[3] for c in classes):
                raise ValueError(
                    f"SupermaskMLP: `classes` must hold {n_tasks} tuples of {sizes[3]} labels, got {classes}"
                )
            self.placement = np.zeros((n_tasks, sizes[3], n_outputs), dtype=np.float32)
            for t, c in enumerate(classes):
                self.placement[t, np.arange(sizes[3]), list(c)] = 1.0

    @property
    def layers(self):
        return [self.l1, self.l2, self.l3]

    def set_task(self, t: int) -> None:
        for layer in self.layers:
            layer.scores(t)  # validates
            layer.task = t

    def features(self, x):
        return self.l2(F.relu(self.l1(x)))

    def forward(self, x):
        z = self.l3(F.relu(self.features(x)))
        if self.placement is None:
            return z
        return z @ Tensor(self.placement[self.l3.task])


def knn_task_similarity(model: SupermaskMLP, x, y, n_learned: int, k: int = 10, fit_share: float = 0.66):
    """KNN accuracy of the new task's data (x, y) in the features of each earlier task's subnetwork j < n_learned
    (my_utils.findSimilarTasks: the first `fit_share` fits, the rest is scored)."""
    x, y = np.asarray(x, dtype=np.float32), np.asarray(y)
    if len(x) != len(y) or len(x) < 2:
        raise ValueError(
            f"knn_task_similarity: `x` and `y` must have the same length ≥ 2, got {len(x)}, {len(y)}"
        )
    cut = int(len(x) * fit_share)
    current = model.layers[0].task
    acc = np.zeros(n_learned)
    with no_grad():
        for j in range(n_learned):
            model.set_task(j)
            f = model.features(Tensor(x)).data
            acc[j] = knn_accuracy(f[:cut], y[:cut], f[cut:], y[cut:], min(k, cut))
    model.set_task(current)
    return acc


def kkt_init(model: SupermaskMLP, t: int, similarity, n_classes: int) -> int | None:
    """S_t ← S_{j*} with j* = argmax similarity, if it beats chance 1/n_classes ("knn_best"); returns j* or None."""
    sim = np.asarray(similarity, dtype=np.float64)
    if sim.size == 0 or sim.max() <= 1.0 / n_classes:
        return None
    j = int(np.argmax(sim))
    for layer in model.layers:
        layer.scores(t).data[...] = layer.scores(j).data
    return j
