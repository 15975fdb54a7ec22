r"""AdaMerging: merging coefficients learned by entropy minimisation on unlabelled test inputs.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.
Official code: github.com/EnnengYang/AdaMerging, read at its newest stored snapshot (commit cea1165):
`src/main_task_wise_adamerging.py`, `src/main_layer_wise_adamerging.py`, `src/main_task_arithmetic.py`.
The paper's full text was not available here (only its abstract and third-party summaries), so the formula
lines cite the official code by file and line ("l." = main_layer_wise_adamerging.py), not equation numbers.

The idea
--------
Task arithmetic (Ilharco et al., 2023) merges K models fine-tuned from one pretrained encoder θ_0 into
one multi-task encoder by adding their task vectors τ_k = θ_k − θ_0 with one coefficient,

$$ \theta_{MTL} = \theta_0 + \lambda \sum_{k=1}^K \tau_k \qquad\text{(task arithmetic;
   main_task_arithmetic.py l. 47–49 uses } \lambda = 0.3). $$

AdaMerging learns the coefficients instead, one per task (**task-wise**) or one per task and per layer
(**layer-wise**; a "layer" is each parameter tensor in the official code):

$$ \theta_{MTL} = \theta_0 + \sum_{k=1}^K \lambda_k \tau_k, \qquad
   \theta^l_{MTL} = \theta^l_0 + \sum_{k=1}^K \lambda^l_k \tau^l_k , $$

chosen without labels: the Shannon entropy of the merged model's predictions on **unlabelled test
inputs** of every task (each through its own frozen head) stands in for the loss,

$$ \min_{\lambda}\ \sum_{k=1}^K \frac{1}{|\mathcal B_k|}\sum_{x_i \in \mathcal B_k}
   H\big(f_k(\theta_{MTL}(\lambda); x_i)\big), \qquad H(p) = -\sum_c p_c \log p_c . $$

The gradient.  With p = softmax(z), ∂H/∂z_c = −p_c (log p_c + H): logits of classes more likely than
exp(−H) are pushed up, the rest down — the prediction sharpens.  By the chain rule through the merge,
∂θ^l_{MTL}/∂λ^l_k = τ^l_k, so ∂L/∂λ^l_k = ⟨∂L/∂θ^l, τ^l_k⟩: a coefficient grows when its task vector
points along the entropy's descent in that layer.  Task-wise sums these over layers.

The premise.  Entropy is a good surrogate only where lower entropy goes with higher accuracy: the paper
shows the two strongly correlated on its eight tasks; the experiment measures that correlation on its own
tasks first (the first pass's tasks had none).

Official-code details we follow (main_layer_wise_adamerging.py; the task-wise file is the same with a
(1, K) coefficient, its lines 88–102): λ initialised at 0.3 ("prior", l. 86–88), clamped to [0, 1] in
the forward pass (`torch.clamp`, l. 98: gradient 1 inside, 0 outside), the pretrained coefficient fixed
at 1 (l. 85, 99), one coefficient per parameter tensor and task, the per-task heads frozen (only
`lambdas_raw` is trained), softmax entropy (l. 130), the loss a sum over tasks of the batch-mean entropy
on shuffled *test* loaders (l. 169–179; `get_dataloader_shuffle` returns `test_loader_shuffle`,
datasets/common.py l. 141–143), Adam lr 1e-3, β = (0.9, 0.999) (l. 152), 500 steps (l. 151).

Deviations.  The official loop breaks at `i > 0` (l. 181), so each step sums the entropies of two
batches of 16 per task; we take one batch of 64 per task.  Our step count (300) and rate (tuned on
validation among 1e-3, 3e-3, 1e-2) differ; ViT-B/32 on eight datasets becomes a small MLP encoder on
shifted digits (`experiment.py`).

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/merging-averaging/adamerging.ipynb
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ....autograd import ops
from ....autograd.tensor import Tensor
from ..state import check_compatible, check_state, linear_layers

CATALOG_ENTRY = {
    "slug": "adamerging",
    "title": "AdaMerging: Adaptive Model Merging for Multi-Task Learning",
    "authors": "Enneng Yang, Zhenyi Wang, Li Shen, Shiwei Liu, Guibing Guo, Xingwei Wang, Dacheng Tao",
    "year": 2023,
    "arxiv": "2310.02575",
    "family": "merging-averaging",
    "notebook": "notebooks/merging-averaging/adamerging.ipynb",
    "verified": "official-code",
    "verification_note": (
        "Checked against EnnengYang/AdaMerging (commit cea1165): src/main_layer_wise_adamerging.py l. 85–99"
        " (pretrained coefficient 1, prior 0.3, clamp to [0,1], one λ per parameter tensor and task), l. 130"
        " (softmax entropy), l. 151–181 (Adam 1e-3, 500 steps, summed per-task batch-mean entropy on "
        "shuffled test loaders, frozen heads); main_task_wise_adamerging.py l. 88–102 (one λ per task); "
        "main_task_arithmetic.py l. 47 (λ = 0.3). Paper full text not read (abstract and summaries only): "
        "equation numbers not confirmed. Deviations: one batch of 64 per task per step (official: two of "
        "16), 300 steps, Adam rate tuned on validation (toy: MLP encoder on shifted digits)."
    ),
    "summary": (
        "Merge task vectors with coefficients learned per task or per layer by minimising the entropy of the "
        "merged model's predictions on unlabeled test inputs of all tasks, instead of one hand-picked "
        "task-arithmetic coefficient."
    ),
    "equations": [
        "τ_k = θ_k − θ_0;  task arithmetic: θ = θ_0 + λ Σ_k τ_k",
        "task-wise: θ = θ_0 + Σ_k λ_k τ_k;  layer-wise: θ^l = θ_0^l + Σ_k λ_k^l τ_k^l",
        "min_λ Σ_k mean_{x∈B_k} H(f_k(θ(λ); x)),  H(p) = −Σ_c p_c log p_c  (unlabelled test inputs)",
    ],
}

__all__ = [
    "task_vector",
    "add_task_vectors",
    "entropy",
    "merge_coefficients",
    "merged_encoder",
    "adamerging",
    "task_arithmetic",
    "forward",
    "normalized_mlp",
]


# --- task vectors (Ilharco et al., 2023) ---------------------------------------------------------------
def task_vector(sd_ft, sd_base) -> OrderedDict:
    """τ = θ_ft − θ_0 (Ilharco et al., 2023: the task vector)."""
    ft, base = check_compatible([sd_ft, sd_base], "[sd_ft, sd_base]")
    return OrderedDict((k, ft[k] - base[k]) for k in ft)  # τ_k = θ_k − θ_0 (task_vectors.py l. 24)


def add_task_vectors(sd_base, task_vectors, coeffs) -> OrderedDict:
    """θ_0 + Σ_k λ_k τ_k.  `coeffs[k]` is a number (task-wise: one λ per task) or a dict name → number
    (layer-wise: one λ per task and tensor; missing names count as 0).  Works on arrays, and on Tensors
    for the coefficients (then the result holds Tensors, differentiable in the coefficients)."""
    base = check_state(sd_base, "sd_base")
    tvs = check_compatible(list(task_vectors), "task_vectors") if len(task_vectors) else []
    if tvs and list(tvs[0]) != list(base):
        raise ValueError(f"add_task_vectors: task vectors have keys {list(tvs[0])}, expected {list(base)}")
    if len(coeffs) != len(tvs):
        raise ValueError(
            f"add_task_vectors: `coeffs` must have one entry per task vector ({len(tvs)}), got {len(coeffs)}"
        )
    out = OrderedDict()
    for name, w0 in base.items():
        acc = w0
        for tau, lam in zip(tvs, coeffs):
            c = lam.get(name, 0.0) if isinstance(lam, dict) else lam
            acc = acc + c * tau[name]  # θ^l = θ^l_0 + Σ_k λ^l_k τ^l_k (layer-wise, l. 119)
        out[name] = acc if isinstance(acc, Tensor) else np.asarray(acc).astype(w0.dtype)
    return out


def entropy(logits):
    """Per-row Shannon entropy of softmax(logits): H = −Σ_c p_c log p_c (Tensor → Tensor, array → array)."""
    if isinstance(logits, Tensor):
        logp = ops.log_softmax(logits, dim=-1)
        return -(ops.exp(logp) * logp).sum(axis=-1)  # H(p) = −Σ_c p_c log p_c (l. 130–131)
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    return -(np.exp(logp) * logp).sum(axis=-1)


def merge_coefficients(lam_raw, names, granularity: str):
    """The clamped coefficients as a list (one entry per task) of scalars ("task") or name → scalar dicts
    ("layer"), from a raw array/Tensor of shape (K,) or (len(names), K)."""
    lam = (
        ops.clip(lam_raw, 0.0, 1.0)  # clamp(λ, 0, 1) (layer-wise l. 98)
        if isinstance(lam_raw, Tensor)
        else np.clip(np.asarray(lam_raw), 0.0, 1.0)
    )
    if granularity == "task":
        return [lam[k] for k in range(lam.shape[0])]
    if granularity == "layer":
        return [{n: lam[i, k] for i, n in enumerate(names)} for k in range(lam.shape[1])]
    raise ValueError(f"`granularity` must be 'task' or 'layer', got {granularity!r}")


def merged_encoder(theta0, task_vectors, lam_raw, granularity: str) -> OrderedDict:
    """θ_0 + Σ_k clamp(λ_k)·τ_k (task-wise) or per tensor (layer-wise)."""
    names = list(theta0)
    return add_task_vectors(theta0, task_vectors, merge_coefficients(lam_raw, names, granularity))


def task_arithmetic(theta0, task_vectors, lam: float) -> OrderedDict:
    """θ_0 + λ Σ_k τ_k."""
    return add_task_vectors(theta0, task_vectors, [float(lam)] * len(task_vectors))  # θ_0 + λ Σ_k τ_k


def _with_head(encoder, head):
    sd = OrderedDict(encoder)
    sd.update(head)
    return sd


_EPS = 1e-12


def forward(sd, x):
    """Logits of the toy model: ReLU MLP encoder, L2-normalised features f̂ = f/√(‖f‖² + ε), linear head —
    the normalisation mirrors CLIP, whose frozen heads see unit-norm image features, so a merge cannot lower
    the entropy just by scaling the features up.  Arrays → NumPy; any Tensor → autograd."""
    layers = linear_layers(sd)
    use_tensor = any(isinstance(v, Tensor) for v in sd.values())
    h = Tensor(np.asarray(x)) if use_tensor else np.asarray(x, dtype=np.float64)
    for i, (wk, bk) in enumerate(layers):
        w, b = sd[wk], sd[bk]
        if i == len(layers) - 1:
            if use_tensor:
                h = h / ops.sqrt((h * h).sum(axis=-1, keepdims=True) + _EPS)
            else:
                h = h / np.sqrt((h * h).sum(axis=-1, keepdims=True) + _EPS)
        if use_tensor:
            h = ops.matmul(h, ops.transpose(w if isinstance(w, Tensor) else Tensor(np.asarray(w)), 0, 1)) + b
        else:
            h = h @ np.asarray(w, dtype=np.float64).T + b
        if i < len(layers) - 1:
            h = ops.relu(h) if use_tensor else np.maximum(h, 0.0)
    return h


def normalized_mlp(sizes, rng, dtype):
    """nn.Sequential(Linear, ReLU, …, Linear, ReLU, L2-normalise, Linear): the trainable twin of `forward`
    (keys 0.*, 2.*, …, and the head last)."""
    from .... import nn

    class L2Normalize(nn.Module):
        def forward(self, h):
            return h / ops.sqrt((h * h).sum(axis=-1, keepdims=True) + _EPS)

    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        if i == len(sizes) - 2:
            layers.append(L2Normalize())
        layers.append(nn.Linear(a, b, dtype=dtype, rng=rng))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def adamerging(
    theta0,
    task_vectors,
    heads,
    unlabeled,
    *,
    granularity: str = "layer",
    steps: int = 150,
    lr: float = 1e-2,
    batch_size: int = 64,
    prior: float = 0.3,
    seed: int = 0,
    forward_fn=None,
) -> dict:
    """Learn the merging coefficients by entropy minimisation.

    `theta0`: encoder state dict; `task_vectors`: one per task (same keys); `heads`: one head state dict per
    task (frozen, its keys continue the encoder's layers); `unlabeled`: one array of inputs per task.
    Returns {"lambdas": clamped coefficients (K,) or (layers, K), "state": merged encoder,
    "loss": entropy per step}.
    """
    from ....nn.module import Parameter
    from ....optim import Adam

    th0 = check_compatible([theta0] + list(task_vectors), "[theta0] + task_vectors")[0]
    K = len(task_vectors)
    if not (len(heads) == len(unlabeled) == K) or K == 0:
        raise ValueError(
            f"adamerging: need one head and one unlabeled set per task vector ({K}), got "
            f"{len(heads)} heads and {len(unlabeled)} sets"
        )
    names = list(th0)
    shape = (K,) if granularity == "task" else (len(names), K)
    if granularity not in ("task", "layer"):
        raise ValueError(f"adamerging: `granularity` must be 'task' or 'layer', got {granularity!r}")
    th0 = OrderedDict((k, v.astype(np.float64)) for k, v in th0.items())
    tvs = [OrderedDict((k, np.asarray(v, dtype=np.float64)) for k, v in tv.items()) for tv in task_vectors]
    heads = [OrderedDict((k, np.asarray(v, dtype=np.float64)) for k, v in h.items()) for h in heads]
    lam_raw = Parameter(np.full(shape, float(prior)))  # λ init 0.3 (l. 86–88)
    opt = Adam([lam_raw], lr=lr, betas=(0.9, 0.999))  # only λ is trained (l. 152)
    rng = np.random.default_rng(seed)
    forward_fn = forward if forward_fn is None else forward_fn
    losses = []
    for _ in range(int(steps)):
        enc = merged_encoder(th0, tvs, lam_raw, granularity)
        total = None
        for k in range(K):
            x = np.asarray(unlabeled[k])
            idx = rng.choice(len(x), size=min(batch_size, len(x)), replace=False)
            h = entropy(forward_fn(_with_head(enc, heads[k]), x[idx])).mean()  # batch-mean entropy of task k
            total = h if total is None else total + h  # summed over tasks
        opt.zero_grad()
        total.backward()
        opt.step()
        losses.append(float(total.data))
    lam = np.clip(lam_raw.data, 0.0, 1.0)
    return {"lambdas": lam, "state": merged_encoder(th0, tvs, lam, granularity), "loss": np.array(losses)}
