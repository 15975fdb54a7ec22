r"""Model soups: uniform and greedy averaging of the weights of fine-tuned models.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.
Official code: github.com/mlfoundations/model-soups (`main.py`: step 3 "Uniform Soup", step 4 "Greedy
Soup"; `finetune.py` and `hparam_info.json` for the fine-tuning sweep).

The idea
--------
Fine-tuning one pretrained model with many hyperparameter settings usually ends with keeping the best
run and discarding the rest.  Runs that start from the same pretrained weights tend to end in one
low-error basin, so their *weights* can be averaged: the soup is one model (the inference cost of one)
that can be better than the best ingredient, close to the output ensemble that costs k forward passes.
With fine-tuned parameters θ_1, …, θ_k of a network f(x, θ) (Sec. 2):

$$ \text{uniform soup:}\ f\Big(x, \tfrac1k\textstyle\sum_{i=1}^k \theta_i\Big)
   \qquad \text{output ensemble:}\ \tfrac1k\textstyle\sum_{i=1}^k f(x, \theta_i). $$

**Greedy soup** (Recipe 1): sort the ingredients by held-out validation accuracy, best first; the soup
starts as the best one; go down the list once and keep a candidate only if the uniform average of the
soup plus the candidate is *strictly* more accurate on the held-out set than the soup so far:

$$ \mathcal S \leftarrow \mathcal S \cup \{\theta_i\}\quad\text{if}\quad
   \mathrm{ValAcc}\big(\mathrm{avg}(\mathcal S \cup \{\theta_i\})\big) > \mathrm{ValAcc}\big(\mathrm{avg}(\mathcal S)\big). $$

The soup never gets worse on the held-out set than its best ingredient, by construction; whether that
carries to the test set is the claim.

Read against the official code (`main.py` of mlfoundations/model-soups, current snapshot)
--------------------------------------------------------------------------------------
* lines 152–153: the models are sorted by held-out accuracy ascending, then the list is reversed (best
  first); line 157: the soup starts with the best model; line 159: "best so far" is its accuracy;
* line 170: the candidate soup is the running average n/(n+1)·soup + 1/(n+1)·candidate (equal to the
  uniform average of the n+1 ingredients, which `greedy_soup` computes directly);
* line 181: the candidate is added only if the held-out accuracy is **strictly greater** (`>`).  The
  first-pass module used `≥` by default; `greedy_soup` now follows the code (`strict=True`), and
  `strict=False` keeps the `≥` variant for comparison.
* Ties in the ingredients' accuracies: the reversed ascending sort puts the later of two equal models
  first; we break ties by index (earlier first).  It only matters for exact ties.
* `finetune.py` fine-tunes with AdamW and a cosine schedule with warm-up; `hparam_info.json` lists the
  random sweep (learning rate, weight decay, RandAugment strength, mixup, label smoothing, epochs) over
  72 fine-tunes from one linear-probe (LP) initialisation (its "model_0").

Deviations
----------
CLIP ViT-B/32 on ImageNet with 72 fine-tunes becomes an MLP on 8×8 digits with 16 fine-tunes (see
`experiment.py`); the output ensemble averages softmax probabilities.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/merging-averaging/model-soups.ipynb
"""

from __future__ import annotations

import numpy as np

from ..state import average, check_compatible, mlp_forward

CATALOG_ENTRY = {
    "slug": "model-soups",
    "title": (
        "Model soups: averaging weights of multiple fine-tuned models improves accuracy without increasing "
        "inference time"
    ),
    "authors": (
        "Mitchell Wortsman, Gabriel Ilharco, Samir Yitzhak Gadre, Rebecca Roelofs, Raphael Gontijo-Lopes, Ari"
        " S. Morcos, Hongseok Namkoong, Ali Farhadi, Yair Carmon, Simon Kornblith, Ludwig Schmidt"
    ),
    "year": 2022,
    "arxiv": "2203.05482",
    "family": "merging-averaging",
    "notebook": "notebooks/merging-averaging/model-soups.ipynb",
    "verified": "official-code",
    "verification_note": (
        "Greedy soup read in mlfoundations/model-soups main.py: sort by held-out accuracy (lines 152-153, "
        "ascending then reversed), start from the best (157, 159), running average n/(n+1)·soup + "
        "1/(n+1)·candidate (170), accept only if held-out accuracy is strictly greater (181, '>'); "
        "uniform soup as the running sum of θ_i/k (step 3). greedy_soup follows it (strict=True; ties "
        "broken by index). Fine-tuning sweep read in finetune.py (AdamW, cosine) and hparam_info.json."
    ),
    "summary": (
        "Average the weights of several models fine-tuned from the same pretrained weights: the uniform soup "
        "averages all of them, the greedy soup adds runs in order of held-out accuracy only when the average "
        "becomes strictly more accurate on the held-out set. One model's inference cost."
    ),
    "equations": [
        "uniform soup: f(x, (1/k) Σ_i θ_i);  ensemble: (1/k) Σ_i f(x, θ_i)",
        (
            "greedy soup (Recipe 1): sort θ_i by ValAcc; S ← {θ_(1)}; add θ_i if ValAcc(avg(S ∪ {θ_i})) > "
            "ValAcc(avg(S))"
        ),
    ],
}

__all__ = ["uniform_soup", "greedy_soup", "ensemble_predict"]


def uniform_soup(states) -> dict:
    """θ_soup = (1/k) Σ_i θ_i, tensor by tensor (Sec. 2, the uniform soup)."""
    return average(states)  # (1/k) Σ_i θ_i


def greedy_soup(states, val_accuracy, *, strict: bool = True) -> dict:
    """Recipe 1 (main.py step 4).  `val_accuracy(state) -> float` scores a state dict on held-out data.

    `strict=True` (the official code) adds a candidate only on a strict improvement; `strict=False` on
    no decrease.  Returns {"state": the soup, "ingredients": indices into `states` in the order added,
    "order": all indices sorted by individual held-out accuracy, "individual": those accuracies,
    "history": held-out accuracy of the soup after each accepted ingredient}.
    """
    states = check_compatible(list(states), "states")
    if not callable(val_accuracy):
        raise TypeError(
            f"greedy_soup: `val_accuracy` must be callable state → float, got {type(val_accuracy).__name__}"
        )
    individual = np.array([float(val_accuracy(s)) for s in states])
    order = [int(i) for i in np.argsort(-individual, kind="stable")]  # best first, ties by index (Recipe 1)
    ingredients = [order[0]]  # the soup starts as the best model
    best = individual[order[0]]
    history = [best]
    for i in order[1:]:  # each candidate is tried once
        candidate = average([states[j] for j in ingredients + [i]])  # avg(S ∪ {θ_i})
        acc = float(val_accuracy(candidate))
        if acc > best or (not strict and acc >= best):  # Recipe 1: '>' in main.py line 181
            ingredients.append(i)
            best = acc
            history.append(acc)
    return {
        "state": average([states[j] for j in ingredients]),
        "ingredients": ingredients,
        "order": order,
        "individual": individual,
        "history": np.array(history),
    }


def _softmax(z, axis: int = -1):
    z = np.asarray(z, dtype=np.float64)
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def ensemble_predict(states, x) -> np.ndarray:
    """The output ensemble's class probabilities (1/k) Σ_i softmax f(x, θ_i), shape (n, classes)."""
    sds = check_compatible(states, "states")
    return np.mean([_softmax(mlp_forward(sd, x)) for sd in sds], axis=0)
