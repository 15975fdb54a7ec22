r"""Weight selection: initialise a small model with a subset of the weights of a larger pretrained one.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.
Official code: github.com/OscarXZQ/weight-selection (`weight_selection.py`, `weight_selection.ipynb`,
`main.py`), read at commit e9b6d0c.

The idea
--------
A small model of the same family as a large pretrained one (fewer layers, narrower layers) is usually
trained from a random initialisation, which throws the large model's knowledge away.  Weight selection
copies a *subset* of the large model's weights into the small one, then trains the small one as usual.
Three steps (paper Sec. 3; the paper has no numbered equations, so formula lines cite the section):

1. **Layer selection** — student layer i takes teacher layer i, for the first N layers ("first-N"); in
   the official script this is implicit: every student parameter is looked up under the *same name* in
   the teacher's state dict (`weight_selection.py:39-42`), so blocks 0..N−1 of the student come from blocks
   0..N−1 of the teacher.
2. **Component mapping** — each student tensor comes from the teacher tensor of the same role (same key).
3. **Element selection** — along every dimension k of a teacher tensor of size $d_k$, keep $s_k$ indices
   $I_k$, and set $W^{s} = W^{t}[I_1, I_2, \dots]$.  The official *uniform* selection
   (`weight_selection.py:14-18`) is

   $$I(d, s) = \begin{cases} (0, r, 2r, \dots, (s-1)r),\ r = d/s & d \bmod s = 0\\
   \mathrm{round}\big(\mathrm{linspace}(0,\ d-1,\ s)\big) & \text{otherwise}\end{cases}\qquad (\text{Sec. 3})$$

   with torch's rounding (half to even).  Because $I$ depends on
   $(d, s)$ only, the hidden unit kept as student unit $j$ in a layer's *output* is also the one kept along
   the next layer's *input*: the selected sub-network keeps the teacher's neuron correspondences
   ("consistency").  A student unit $j$ then receives exactly the teacher unit's weights from the selected
   units of the previous layer: for an MLP with a full-width input,
   $h^{s}_1 = \phi(W^{t}_1[I_1, :]\,x + b^{t}_1[I_1]) = h^{t}_1[I_1]$ — the first hidden layer is an exact
   copy of a subset of the teacher's units; deeper layers see only a fraction $s/d$ of their inputs, so the
   student is an initialisation, not a compressed teacher.

Selection variants (the paper's ablation of element selection; see "deviations"):
*consecutive* keeps the first $s$ indices, $I = (0, \dots, s-1)$; *random* keeps a uniformly random
sorted subset — *with consistency* one subset per hidden width, shared by the layer's output and the next
layer's input; *without consistency* a fresh subset for every dimension of every tensor.

What is implemented, and deviations
-----------------------------------
* `uniform_indices`, `consecutive_indices`, `random_indices` and `selection_indices` give the index
  sets; `select_elements` and `uniform_element_selection` apply them to an array of any rank (a conv
  kernel (out, in, kh, kw) too), as the official function does on any tensor; `element_selection` draws
  the indices of every dimension independently (the inconsistent variant on a single tensor).
* `mlp_weight_selection` selects the weights of a student MLP (a list of (W, b) layers) from a teacher's:
  first-N layer selection for the hidden layers, the classifier head from the teacher's head (its input
  axis is the student's last hidden axis).  `init_from_larger` writes them into a refimpl `MLP`.
* The head: the official script skips every key containing "head" (`weight_selection.py:40-41`) because
  the student's dataset has other classes; the notebook (cell 4) says to remove that constraint when the
  dataset is the teacher's.  `select_head=True` selects it (our toy keeps the label set), `False` leaves
  the student's random head, as the official default.
* Uniform selection is the official one (read in the code), with one precision choice: the official
  `torch.round(torch.linspace(0, d-1, s))` evaluates the points in float32, so a point that is exactly
  half-way between two integers (k(d−1)/(s−1) = m + ½) can land a few ulps either side and round either
  way.  `uniform_indices` rounds the exact value k(d−1)/(s−1), ties to even, in integer arithmetic; it
  agrees with torch everywhere except at such ties (a test checks this against torch when it is installed).
  Divisible sizes, the experiment's, never meet the question.
* The consecutive and random variants are reconstructed from the paper's ablation of element selection,
  which was not read here (only the abstract and the start of the introduction were available); the code
  has no such variants.
* Nothing is rescaled: as in the official code, selected weights are copied as they are (a hidden
  layer then receives ≈ s/d of the teacher's input, so its pre-activations shrink; the optimiser adapts).
* Toy scale: a 64-512-512-10 teacher MLP trained on the 8×8 digits instead of ImageNet-21K ViT-S /
  ConvNeXt-T; students 64-64-64-10 trained on a small subset for a few epochs (the regime where the paper
  reports the largest gains); distillation is plain Hinton KD on logits, our choice of T and α.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/growth-init-scaling/weight-selection.ipynb
"""

from __future__ import annotations

import numpy as np

CATALOG_ENTRY = {
    "slug": "weight-selection",
    "title": "Initializing Models with Larger Ones",
    "authors": "Zhiqiu Xu, Yanjie Chen, Kirill Vishniakov, Yida Yin, Zhiqiang Shen, Trevor Darrell, "
    "Lingjie Liu, Zhuang Liu",
    "year": 2024,
    "arxiv": "2311.18823",
    "family": "growth-init-scaling",
    "notebook": "notebooks/growth-init-scaling/weight-selection.ipynb",
    "verified": "official-code",
    "verification_note": (
        "Uniform element selection read in OscarXZQ/weight-selection weight_selection.py:9-21 (commit "
        "e9b6d0c): per dimension, arange(s)·(d/s) when s divides d, else round(linspace(0, d−1, s)) (the "
        "d−1 and the integer cast come from fix 8bbb7a0); first-N layer selection is implicit in the "
        "same-key loop of weight_selection.py:39-42, which skips 'head' keys (main.py:291-294 also drops a "
        "head of the wrong shape). The paper itself was read only as far as the abstract and introduction: "
        "the consecutive and random (with/without consistency) variants are reconstructed from its "
        "ablation, section numbers unchecked. Hand cases checked; the toy experiment is ours."
    ),
    "summary": (
        "Initialise a small model from a larger pretrained one of the same family: take the first N layers, "
        "and from each teacher tensor keep evenly spaced indices along every dimension (uniform element "
        "selection). The same indices along a layer's outputs and the next layer's inputs keep the "
        "teacher's neuron correspondences. Then train as usual, alone or with distillation."
    ),
    "equations": [
        "layer selection: student layer i ← teacher layer i, i < N (first-N)                 (Sec. 3)",
        "element selection: W_s = W_t[I(d₁,s₁), I(d₂,s₂), …] along every dimension         (Sec. 3)",
        "uniform: I(d,s) = (0, r, …, (s−1)r), r = d/s if s | d; else round(linspace(0, d−1, s))",
        "consistency: hidden unit set I_l shared by W_l's rows, b_l and W_{l+1}'s columns",
        "ablations: consecutive I = (0, …, s−1); random sorted subset, with / without consistency",
    ],
}

__all__ = [
    "SELECTIONS",
    "uniform_indices",
    "consecutive_indices",
    "random_indices",
    "selection_indices",
    "select_elements",
    "uniform_element_selection",
    "element_selection",
    "first_n_layers",
    "mlp_weight_selection",
    "linear_layers",
    "init_from_larger",
]

SELECTIONS = ("uniform", "consecutive", "random")


def _check_sizes(d, s, what: str) -> tuple[int, int]:
    for name, v in (("d", d), ("s", s)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{what}: `{name}` must be an integer ≥ 1, got {v!r}")
    if s > d:
        raise ValueError(f"{what}: the student size `s`={s} exceeds the teacher size `d`={d}")
    return int(d), int(s)


# --- index sets along one dimension ---------------------------------------------------------------------
def uniform_indices(d: int, s: int) -> np.ndarray:
    """The official uniform selection of s of d indices (weight_selection.py:14-18, Sec. 3): every
    (d/s)-th index when s divides d, otherwise round(linspace(0, d − 1, s)), rounding half to even."""
    d, s = _check_sizes(d, s, "uniform_indices")
    if d % s == 0:
        return np.arange(s, dtype=np.int64) * (d // s)  # step r = d/s
    if s == 1:
        return np.zeros(1, dtype=np.int64)
    # round(k(d−1)/(s−1)) in exact integer arithmetic, ties to even (torch.round's rule); see the docstring
    q, r = np.divmod(np.arange(s, dtype=np.int64) * (d - 1), s - 1)
    up = (2 * r > s - 1) | ((2 * r == s - 1) & (q % 2 == 1))
    return q + up


def consecutive_indices(d: int, s: int) -> np.ndarray:
    """Consecutive selection (the paper's ablation, reconstructed): the first s indices."""
    d, s = _check_sizes(d, s, "consecutive_indices")
    return np.arange(s, dtype=np.int64)


def random_indices(d: int, s: int, rng=None) -> np.ndarray:
    """Random selection (the paper's ablation, reconstructed): a uniformly random subset of s of the d
    indices, sorted (so s = d keeps the identity)."""
    from ....random import as_generator

    d, s = _check_sizes(d, s, "random_indices")
    return np.sort(as_generator(rng).choice(d, size=s, replace=False)).astype(np.int64)


def selection_indices(d: int, s: int, method: str = "uniform", rng=None) -> np.ndarray:
    """The index set of `method` ("uniform", "consecutive" or "random"; `rng` for "random")."""
    if method == "uniform":
        return uniform_indices(d, s)
    if method == "consecutive":
        return consecutive_indices(d, s)
    if method == "random":
        return random_indices(d, s, rng)
    raise ValueError(f"selection_indices: `method` must be one of {SELECTIONS}, got {method!r}")


# --- element selection on a tensor ------------------------------------------------------------------------
def select_elements(w, indices) -> np.ndarray:
    """w[I₁, I₂, …]: keep `indices[k]` along dimension k (one index array per dimension)."""
    w = np.asarray(w)
    indices = [np.asarray(i) for i in indices]
    if len(indices) != w.ndim:
        raise ValueError(
            f"select_elements: `indices` must give one index array per dimension of `w` ({w.ndim}), "
            f"got {len(indices)}"
        )
    for k, (i, d) in enumerate(zip(indices, w.shape)):
        if i.ndim != 1 or i.dtype.kind not in "iu" or (i.size and (i.min() < 0 or i.max() >= d)):
            raise ValueError(
                f"select_elements: `indices[{k}]` must be 1-D integers in [0, {d}), got {i.tolist()}"
            )
    return w[np.ix_(*indices)] if w.ndim else w.copy()


def _check_shape(w, s_shape, what):
    w = np.asarray(w)
    s_shape = tuple(int(s) for s in s_shape)
    if len(s_shape) != w.ndim:  # weight_selection.py:10
        raise ValueError(
            f"{what}: `s_shape` {s_shape} must have as many dimensions as the teacher tensor {w.shape}"
        )
    for k, (d, s) in enumerate(zip(w.shape, s_shape)):
        if not 1 <= s <= d:  # weight_selection.py:13: the teacher is not smaller on any dimension
            raise ValueError(f"{what}: `s_shape`[{k}] = {s} must be in [1, {d}] (teacher shape {w.shape})")
    return w, s_shape


def uniform_element_selection(w, s_shape) -> np.ndarray:
    """The official `uniform_element_selection` (weight_selection.py:9-21): uniform indices along every
    dimension of the teacher tensor `w`, giving a tensor of shape `s_shape`."""
    w, s_shape = _check_shape(w, s_shape, "uniform_element_selection")
    return select_elements(w, [uniform_indices(d, s) for d, s in zip(w.shape, s_shape)])


def element_selection(w, s_shape, method: str = "uniform", rng=None) -> np.ndarray:
    """Element selection of one tensor by `method`, each dimension's indices drawn on their own."""
    w, s_shape = _check_shape(w, s_shape, "element_selection")
    return select_elements(w, [selection_indices(d, s, method, rng) for d, s in zip(w.shape, s_shape)])


# --- layer selection and a whole MLP ---------------------------------------------------------------------
def first_n_layers(layers, n: int) -> list:
    """First-N layer selection (Sec. 3): the teacher's layers 0..n−1."""
    layers = list(layers)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= len(layers):
        raise ValueError(f"first_n_layers: `n` must be an integer in [1, {len(layers)}], got {n!r}")
    return layers[:n]


def mlp_weight_selection(
    teacher,
    student_sizes,
    method: str = "uniform",
    consistent: bool = True,
    select_head: bool = True,
    rng=None,
) -> list:
    """Weights of a student MLP with widths `student_sizes` = [d_in, h₁, …, h_k, d_out] selected from
    `teacher` = [(W, b), …] (W of shape (out, in), b of shape (out,) or None), as [(W, b) or None, …].

    Layer selection: student hidden layer i ← teacher layer i (first-N, i < k); the student head ← the
    teacher head (the last layer), or None (keep the student's own init) when `select_head` is False.
    Element selection by `method`; with `consistent` every width gets one index set, shared by a layer's
    rows and bias and the next layer's columns (uniform and consecutive are consistent by construction);
    with `consistent=False` every dimension of every tensor draws its own (only "random" differs)."""
    from ....random import as_generator

    teacher = [(np.asarray(w), None if b is None else np.asarray(b)) for w, b in teacher]
    sizes = [int(s) for s in student_sizes]
    if len(sizes) < 2 or any(s < 1 for s in sizes):
        raise ValueError(f"mlp_weight_selection: `student_sizes` must list ≥ 2 positive widths, got {sizes}")
    if method not in SELECTIONS:
        raise ValueError(f"mlp_weight_selection: `method` must be one of {SELECTIONS}, got {method!r}")
    n_student, n_teacher = len(sizes) - 1, len(teacher)
    if n_student > n_teacher:
        raise ValueError(
            f"mlp_weight_selection: the student has {n_student} layers, more than the teacher's {n_teacher}"
        )
    for i, (w, b) in enumerate(teacher):
        if w.ndim != 2 or (b is not None and b.shape != (w.shape[0],)):
            raise ValueError(
                f"mlp_weight_selection: `teacher` layer {i} must be (W (out, in), b (out,) or None), got "
                f"{w.shape} and {None if b is None else b.shape}"
            )
    rng = as_generator(rng)
    hidden = first_n_layers(teacher[:-1], n_student - 1) if n_student > 1 else []  # Sec. 3: first-N
    pairs = hidden + [teacher[-1] if select_head else None]
    shared: dict = {}  # (student axis, teacher width) → index set, for consistent selection

    def idx(axis: int, d: int) -> np.ndarray:
        s = sizes[axis]
        if not consistent:
            return selection_indices(d, s, method, rng)
        if (axis, d) not in shared:
            shared[axis, d] = selection_indices(d, s, method, rng)
        return shared[axis, d]

    out = []
    for i, pair in enumerate(pairs):
        if pair is None:
            out.append(None)
            continue
        w, b = pair
        d_out, d_in = w.shape
        if d_out < sizes[i + 1] or d_in < sizes[i]:
            raise ValueError(
                f"mlp_weight_selection: student layer {i} ({sizes[i]}→{sizes[i + 1]}) is wider than the "
                f"teacher layer it selects from ({d_in}→{d_out})"
            )
        rows = idx(i + 1, d_out)
        w_s = select_elements(w, [rows, idx(i, d_in)])  # Sec. 3: W_s = W_t[I_out, I_in]
        b_s = None if b is None else select_elements(b, [idx(i + 1, d_out)])  # consistent: = rows
        out.append((w_s, b_s))
    return out


def linear_layers(model) -> list:
    """The Linear layers of an MLP-like `model`, in order; any other module with parameters is refused."""
    from ....nn import Linear

    layers = []
    for name, m in model.named_modules():
        if isinstance(m, Linear):
            layers.append(m)
        elif any(True for _ in m.parameters(recurse=False)):
            raise ValueError(
                f"weight selection: only MLPs of Linear layers are supported; module {name!r} "
                f"({type(m).__name__}) has parameters of its own"
            )
    if not layers:
        raise ValueError("weight selection: the model has no Linear layer")
    return layers


def init_from_larger(
    student, teacher, method: str = "uniform", consistent: bool = True, select_head: bool = True, rng=None
):
    """Initialise the refimpl MLP `student` in place from the larger MLP `teacher` by weight selection
    (`mlp_weight_selection`); layers it returns None for keep their own init.  Returns `student`."""
    s_layers, t_layers = linear_layers(student), linear_layers(teacher)
    sizes = [s_layers[0].in_features] + [m.out_features for m in s_layers]
    chosen = mlp_weight_selection(
        [(m.weight.data, None if m.bias is None else m.bias.data) for m in t_layers],
        sizes,
        method=method,
        consistent=consistent,
        select_head=select_head,
        rng=rng,
    )
    for i, (layer, pair) in enumerate(zip(s_layers, chosen)):
        if pair is None:
            continue
        w, b = pair
        if (layer.bias is None) != (b is None):
            raise ValueError(f"init_from_larger: layer {i} has a bias in one model but not the other")
        layer.weight.data[...] = w.astype(layer.weight.data.dtype)
        if b is not None:
            layer.bias.data[...] = b.astype(layer.bias.data.dtype)
    return student
