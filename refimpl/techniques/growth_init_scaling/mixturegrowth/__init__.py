r"""MixtureGrowth: layers mixed from parameter templates; growth recombines the learned templates.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.
Official code: github.com/chaudatascience/mixturegrowth (commit a2dad07), `models/layers.py` (the template
layers `SModule`, `SLinear`, `SConv2d`), `models/template_mixing_wrn_no_bank.py` (the WRN built from them)
and `main.py` (the schedule).  Only the abstract of the paper could be read here, so formula lines cite the
official code by file:line instead of the paper's equation numbers.

The idea
--------
Growing a trained network by adding *random* weights injects noise; analysing the trained network to pick
good new weights costs an extra step.  MixtureGrowth avoids both by building every layer from **templates**.

**Template mixing.**  A layer's weight is a linear combination of K templates of its shape,

$$W_m = \sum_{k=1}^{K} \alpha_{m,k}\,T_{s,k}\qquad(\texttt{layers.py:425-433})$$

with one coefficient vector $\alpha_m \in \mathbb R^K$ per *member* m and one template set s(m) per member
(`member_template_sets` = [0, 1, 0, 1]: members 0 and 2 use set 0, members 1 and 3 use set 1).

**Two small networks.**  Members 0 and 1 are two networks of half the target width, each with its own
template set, trained one after the other (`main.py:1411-1434`: member 0 until `growth_epochs`, then
member 1 for `ensemble_train_epochs`).

**Growth.**  The grown layer of twice the width is a 2 × 2 grid of blocks, the trained members on the
diagonal and two *new* members off it (the "diag" layout, `layers.py:441-496`):

$$W = \begin{pmatrix} W_0 & W_2 \\ W_3 & W_1 \end{pmatrix},\qquad
W_2 = \sum_k \alpha_{2,k} T_{0,k},\quad W_3 = \sum_k \alpha_{3,k} T_{1,k}$$

— the new blocks are **new linear combinations of the learned templates**: already shaped by the task,
yet free to learn something new through their own coefficients.  The first layer stacks the two members'
rows (its input is not split) and the classifier puts them side by side (its output is not split), so those
layers get no new members (`layers.py:179-192`): the grown network's logits are the sum of the two members'
logits plus whatever the new blocks change inside.

**New coefficients** ("orthogonal", the default `coefs_growing`, `layers.py:372-385`): all of a layer's
C coefficient vectors are first drawn as the rows of an orthogonal-initialised C × K matrix
(`layers.py:213-221`); at growth member 2 keeps that initial vector (the loop skips it, `layers.py:373-374`)
and every later member i gets the right singular vector of the smallest singular value of the stacked
$[\alpha_0; \dots; \alpha_{i-1}]$, times `coefs_noise_growing` (default 1):

$$\alpha_i = s\cdot v_{\min}\big([\alpha_0;\dots;\alpha_{i-1}]\big)\qquad(\texttt{layers.py:375-384})$$

the unit direction least represented by the coefficients so far (exactly orthogonal to them when i < K).
After growth every template, coefficient and bias trains (`main.py:1478-1480`).

What is implemented, and deviations
-----------------------------------
* `mix`, `diag_layout` (any n_out × n_in grid, as the official docstring lays it out),
  `orthogonal_coefficients` (torch's `nn.init.orthogonal_` on a C × K matrix: QR of a Gaussian, signs from
  R's diagonal), `orthogonal_new_coefficients`, `grow_coefficients` (rules "orthogonal" and "zero";
  the official "copy" and "random" rules are not implemented), and `TemplateMLP`, the MLP analogue of the
  official WRN: d_in → h → … → h → d_out per member, grown to width 2h by `grow`.
* **An MLP, no BatchNorm.**  The official layers are convolutions followed by per-member BatchNorm that
  is concatenated at growth (`layers.py:84-118`).  Without BatchNorm the scale of the weights matters, so
  every template is He-initialised for its own fan-in, N(0, 2/fan_in) — the official
  `kaiming_normal_` on the (K, out, in) template tensor (`layers.py:764-772`) computes the fan-in as
  out·in, a far smaller scale that the BatchNorm after each convolution absorbs.
* **Biases.**  The official layers have none (BatchNorm supplies the shift).  Each member has a bias per
  layer (zero at init); the grown hidden layers concatenate them and the grown classifier adds them, so a
  grown network whose new blocks are zero is exactly the sum of the two members' logits (tested).
* **Sign of the new coefficients.**  A singular vector's sign is arbitrary (torch's too); we make its
  largest-magnitude entry positive so the rule is deterministic.
* **One growth step, two template sets, K = 2** (`num_templates_each_set` default [2, 2], `main.py:105-110`;
  `template_size` [0.5, 0.5, 1]: half width, half width, full width); the template bank shared across
  layers (`template_mixing_wrn_imagenet_bank.py`) and cross-layer sharing are not implemented.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/growth-init-scaling/mixturegrowth.ipynb
"""

from __future__ import annotations

import numpy as np

from ....autograd.tensor import Tensor
from ....nn import functional as F
from ....nn.module import Module, Parameter

CATALOG_ENTRY = {
    "slug": "mixturegrowth",
    "title": "MixtureGrowth: Growing Neural Networks by Recombining Learned Parameters",
    "authors": "Chau Pham, Piotr Teterwak, Soren Nelson, Bryan A. Plummer",
    "year": 2024,
    "arxiv": "2311.04251",
    "family": "growth-init-scaling",
    "notebook": "notebooks/growth-init-scaling/mixturegrowth.ipynb",
    "verified": "official-code",
    "verification_note": (
        "arXiv id, title and authors confirmed (abstract pages; WACV 2024). The method was read in the "
        "official code chaudatascience/mixturegrowth at commit a2dad07: template mixing "
        "models/layers.py:425-433, the 'diag' block layout 441-496, orthogonal coefficient init 213-221, "
        "the 'orthogonal' growth rule 372-385 (member 2 keeps its init, later members take the smallest "
        "right singular vector), first/last layers without new members 179-192; the schedule (member 0, "
        "then member 1, then the grown network) in main.py:1411-1480. Only the abstract of the paper "
        "could be read: equations are cited by code line, not by the paper's numbers. MLP without "
        "BatchNorm, He-initialised templates and per-member biases are our deviations; the toy is ours."
    ),
    "summary": (
        "Build every layer as a linear combination of parameter templates and train two half-width "
        "networks, each with its own template set. Grow to double width by placing the trained members on "
        "the diagonal of each layer's block grid and filling the off-diagonal blocks with new "
        "coefficient vectors over the already-trained templates (orthogonal to the old coefficients), "
        "instead of random weights; then train the grown network."
    ),
    "equations": [
        "template mixing: W_m = Σ_k α_{m,k} T_{s(m),k}, s = (0, 1, 0, 1)[m]          (layers.py:425-433)",
        "grown layer: W = [[W₀, W₂], [W₃, W₁]] (diag layout); first layer [W₀; W₁], last [W₀, W₁] (441-496)",
        "new coefficients: α_i = s · v_min([α₀; …; α_{i−1}]) for i ≥ 3, α₂ kept from init (372-385)",
        "coefficient init: rows of an orthogonal C × K matrix, C blocks per layer            (213-221)",
        "schedule: train member 0, then member 1, grow, train everything                  (main.py:1411-1480)",
    ],
}

__all__ = [
    "GROWTH_RULES",
    "mix",
    "diag_layout",
    "orthogonal_coefficients",
    "orthogonal_new_coefficients",
    "grow_coefficients",
    "TemplateMLP",
    "member_network",
    "block_sizes",
]

GROWTH_RULES = ("orthogonal", "zero")
MEMBER_TEMPLATE_SETS = (0, 1, 0, 1)  # main.py:98-103: member m mixes template set MEMBER_TEMPLATE_SETS[m]


def _positive_int(name, v, where):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
        raise ValueError(f"{where}: `{name}` must be an integer ≥ 1, got {v!r}")
    return int(v)


# --- the method on arrays or Tensors -------------------------------------------------------------------
def mix(templates, coefficients):
    """W = Σ_k α_k T_k (layers.py:425-433) for `templates` of shape (K, *shape) and `coefficients` (K,);
    arrays give an array, Tensors a Tensor (differentiable in both)."""
    ts = templates.shape if isinstance(templates, Tensor) else np.shape(templates)
    cs = coefficients.shape if isinstance(coefficients, Tensor) else np.shape(coefficients)
    if len(ts) < 2 or tuple(cs) != (ts[0],):
        raise ValueError(
            f"mix: `templates` must be (K, ...) and `coefficients` (K,), got {tuple(ts)} and {tuple(cs)}"
        )
    a = coefficients.reshape(-1, *([1] * (len(ts) - 1)))
    if isinstance(templates, Tensor) or isinstance(coefficients, Tensor):
        return (templates * a).sum(axis=0)
    return (np.asarray(templates) * a).sum(axis=0)


def diag_layout(n_out: int, n_in: int) -> np.ndarray:
    """The member placed in each block of an n_out × n_in grid ("diag", layers.py:441-496): member 0 at the
    top left, member 1 at the bottom right, the new members 2, 3, … row by row in between."""
    n_out = _positive_int("n_out", n_out, "diag_layout")
    n_in = _positive_int("n_in", n_in, "diag_layout")
    if n_out * n_in == 1:
        return np.zeros((1, 1), dtype=np.int64)
    order = [0, *range(2, n_out * n_in), 1]
    return np.array(order, dtype=np.int64).reshape(n_out, n_in)


def orthogonal_coefficients(num_combinations: int, num_templates: int, rng=None) -> np.ndarray:
    """Rows of an orthogonal-initialised (C, K) matrix (torch's `nn.init.orthogonal_`, layers.py:213-221):
    QR of a Gaussian of the taller orientation, columns signed by R's diagonal; orthonormal columns when
    C ≥ K, orthonormal rows otherwise."""
    from ....random import as_generator

    c = _positive_int("num_combinations", num_combinations, "orthogonal_coefficients")
    k = _positive_int("num_templates", num_templates, "orthogonal_coefficients")
    g = as_generator(rng).standard_normal((max(c, k), min(c, k)))
    q, r = np.linalg.qr(g)
    q = q * np.sign(np.where(np.diag(r) == 0, 1.0, np.diag(r)))
    return q if c >= k else q.T


def orthogonal_new_coefficients(previous, scale: float = 1.0) -> np.ndarray:
    """s · v_min: the right singular vector of the smallest singular value of the stacked `previous`
    coefficient vectors (rows), times `scale` (layers.py:375-384); its largest-magnitude entry (the first
    of entries tied to rounding) is made positive (a singular vector's sign is arbitrary)."""
    p = np.asarray(previous, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] < 1 or p.shape[1] < 1:
        raise ValueError(f"orthogonal_new_coefficients: `previous` must be a (n, K) matrix, got {p.shape}")
    if not np.isfinite(scale):
        raise ValueError(f"orthogonal_new_coefficients: `scale` must be finite, got {scale!r}")
    v = np.linalg.svd(p)[2][-1]  # torch.linalg.svd(prev).Vh[-1]
    a = np.abs(v)
    lead = np.flatnonzero(a >= a.max() * (1 - 1e-9))[
        0
    ]  # the first of entries tied in magnitude (to rounding)
    v = v * np.sign(v[lead])
    return float(scale) * v


def grow_coefficients(coefficients, rule: str = "orthogonal", scale: float = 1.0, num_members: int = 2):
    """The coefficient vectors of a layer after growth (layers.py:350-405): the first `num_members` (the
    trained members) are kept; with "orthogonal" member `num_members` keeps its own vector (the official
    loop skips it) and every later member i becomes `orthogonal_new_coefficients` of members 0..i−1;
    with "zero" every new member is zero."""
    if rule not in GROWTH_RULES:
        raise ValueError(f"grow_coefficients: `rule` must be one of {GROWTH_RULES}, got {rule!r}")
    coefs = [np.array(c, dtype=np.float64) for c in coefficients]
    for i in range(num_members, len(coefs)):
        if rule == "zero":
            coefs[i] = np.zeros_like(coefs[i])
        elif i > num_members:  # i == num_members: `continue` in layers.py:373-374
            coefs[i] = orthogonal_new_coefficients(np.stack(coefs[:i]), scale)
    return coefs


def block_sizes(depth: int) -> list:
    """Per layer (n_out, n_in): the block grid of the grown layer — (2, 1) for the first layer (input not
    split), (2, 2) for hidden layers, (1, 2) for the classifier (output not split), layers.py:179-192."""
    depth = _positive_int("depth", depth, "block_sizes")
    return [(2, 1)] + [(2, 2)] * (depth - 1) + [(1, 2)]


# --- the module ----------------------------------------------------------------------------------------
class TemplateMLP(Module):
    """Two template-mixed MLPs d_in → width → … → width → d_out (members 0 and 1, `depth` hidden layers,
    ReLU) that `grow()` turns into one MLP of hidden width 2·width.

    Layer l of member m applies `mix(T[l][s(m)], α[l][m])` plus its bias; the templates of set s are
    `t{l}_{s}` (K, out, in), coefficient vectors `a{l}_{m}` (K,), biases `b{l}_{m}` (out,).  Before growth,
    `forward(x, member=m)` runs member m; after `grow()`, `forward(x)` runs the grown network."""

    def __init__(self, d_in, width, d_out, *, depth=3, num_templates=2, dtype=np.float32, rng=None):
        super().__init__()
        from ....random import as_generator

        where = "TemplateMLP"
        self.d_in, self.width, self.d_out = (
            _positive_int("d_in", d_in, where),
            _positive_int("width", width, where),
            _positive_int("d_out", d_out, where),
        )
        self.depth = _positive_int("depth", depth, where)
        self.num_templates = _positive_int("num_templates", num_templates, where)
        self.dtype, self.grown = dtype, False
        rng = as_generator(rng)
        self.grids = block_sizes(self.depth)
        fans = list(zip([d_in] + [width] * self.depth, [width] * self.depth + [d_out]))
        for layer, ((fi, fo), (g_out, g_in)) in enumerate(zip(fans, self.grids)):
            for s in (0, 1):  # He init per template (see deviations)
                t = rng.standard_normal((self.num_templates, fo, fi)) * np.sqrt(2.0 / fi)
                setattr(self, f"t{layer}_{s}", Parameter(t.astype(dtype)))
            coefs = orthogonal_coefficients(g_out * g_in, self.num_templates, rng)  # layers.py:213-221
            for m in range(g_out * g_in):
                setattr(self, f"a{layer}_{m}", Parameter(coefs[m].astype(dtype)))
            for m in (0, 1):
                setattr(self, f"b{layer}_{m}", Parameter(np.zeros(fo, dtype=dtype)))

    def num_layers(self) -> int:
        return self.depth + 1

    def block(self, layer: int, member: int):
        """Member `member`'s weight block of layer `layer`: mix(T[layer][s(member)], α[layer][member])."""
        s = MEMBER_TEMPLATE_SETS[member]
        return mix(getattr(self, f"t{layer}_{s}"), getattr(self, f"a{layer}_{member}"))

    def member_parameters(self, member: int) -> list:
        """The parameters member 0 or 1 trains before growth: its template set, coefficients and biases."""
        if member not in (0, 1):
            raise ValueError(f"TemplateMLP: `member` must be 0 or 1, got {member!r}")
        s = MEMBER_TEMPLATE_SETS[member]
        return [
            p
            for layer in range(self.num_layers())
            for p in (
                getattr(self, f"t{layer}_{s}"),
                getattr(self, f"a{layer}_{member}"),
                getattr(self, f"b{layer}_{member}"),
            )
        ]

    def grow(self, rule: str = "orthogonal", scale: float = 1.0) -> TemplateMLP:
        """Grow in place to hidden width 2·width: new coefficients by `rule` (grow_coefficients), then
        `forward(x)` runs the grown network.  Returns self."""
        if self.grown:
            raise ValueError("TemplateMLP.grow: this network has already grown (one growth step)")
        for layer, (g_out, g_in) in enumerate(self.grids):
            names = [f"a{layer}_{m}" for m in range(g_out * g_in)]
            coefs = grow_coefficients([getattr(self, n).data for n in names], rule, scale)
            for n, c in zip(names, coefs):
                setattr(self, n, Parameter(c.astype(self.dtype)))
        self.grown = True
        return self

    def layer_weight(self, layer: int):
        """The grown layer's weight and bias (Tensors): blocks placed by `diag_layout`, biases
        concatenated (hidden) or summed (classifier)."""
        g_out, g_in = self.grids[layer]
        place = diag_layout(g_out, g_in)
        from ....autograd.factory import cat

        rows = [cat([self.block(layer, int(m)) for m in row], 1) for row in place]
        w = cat(rows, 0) if g_out > 1 else rows[0]
        b0, b1 = getattr(self, f"b{layer}_0"), getattr(self, f"b{layer}_1")
        b = cat([b0, b1], 0) if g_out > 1 else b0 + b1
        return w, b

    def effective_weights(self) -> list:
        """[(W, b)] of the grown network as float64 arrays (requires `grow()` first)."""
        if not self.grown:
            raise ValueError("TemplateMLP.effective_weights: call grow() first")
        out = []
        for layer in range(self.num_layers()):
            w, b = self.layer_weight(layer)
            out.append((np.asarray(w.data, np.float64), np.asarray(b.data, np.float64)))
        return out

    def forward(self, x, member=None):
        h = x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=self.dtype))
        if member is None and not self.grown:
            raise ValueError("TemplateMLP.forward: before grow(), pass `member` 0 or 1")
        if member is not None and (self.grown or member not in (0, 1)):
            raise ValueError(
                f"TemplateMLP.forward: `member` must be 0 or 1 before growth and None after, got {member!r}"
            )
        for layer in range(self.num_layers()):
            if member is None:
                w, b = self.layer_weight(layer)
            else:
                w, b = self.block(layer, member), getattr(self, f"b{layer}_{member}")
            h = F.linear(h, w) + b
            if layer < self.depth:
                h = F.relu(h)
        return h


class _Member(Module):
    """Member `member` of a TemplateMLP as a network of its own (shares the parent's parameters; train
    it on `model.member_parameters(member)`)."""

    def __init__(self, model: TemplateMLP, member: int):
        super().__init__()
        self.model, self.member = model, member

    def forward(self, x):
        return self.model(x, member=self.member)


def member_network(model: TemplateMLP, member: int) -> Module:
    """Member 0 or 1 of an ungrown `model` as a Module (for training it alone)."""
    if not isinstance(model, TemplateMLP):
        raise TypeError(f"member_network: `model` must be a TemplateMLP, got {type(model).__name__}")
    if model.grown or member not in (0, 1):
        raise ValueError(f"member_network: `member` must be 0 or 1 of an ungrown model, got {member!r}")
    return _Member(model, member)
