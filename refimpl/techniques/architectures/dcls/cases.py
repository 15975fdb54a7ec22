"""Reference cases of DCLS: the interpolated kernel and its position gradient by hand (the catalogue's case),
and the convolution against a direct sum."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from ....nn import Parameter
from . import dcls_kernel

_P = "refimpl.techniques.architectures.dcls."


def _kernel_and_grad(w, p, size):
    w, p = Parameter(np.asarray(w, np.float64)), Parameter(np.asarray(p, np.float64))
    K = dcls_kernel(w, p, size)
    grads = []
    for i in range(size):  # the Jacobian column ∂K[i]/∂p, one backward per output entry
        p.grad = None
        w.grad = None
        dcls_kernel(w, p, size).backward(np.eye(size)[i])
        grads.append(float(p.grad[0]))
    return {"K": K.data, "dK_dp": np.array(grads)}


def reference_cases() -> list:
    return [
        ReferenceCase(
            "w2_at_p1.25_size4",
            {"w": np.array([2.0]), "p": np.array([1.25]), "size": 4},
            {"K": np.array([0.0, 1.5, 0.5, 0.0]), "dK_dp": np.array([0.0, -2.0, 2.0, 0.0])},
            _kernel_and_grad,
            function=_P + "dcls_kernel",
            note="by hand: ⌊p⌋ = 1, f = ¼: K[1] = 2·¾ = 1.5, K[2] = 2·¼ = 0.5; ∂K/∂p = w·(−1 at 1, +1 at 2)",
            atol=1e-12,
            conventions={"interpolation": "1-D linear between ⌊p⌋ and ⌊p⌋+1"},
        ),
        ReferenceCase(
            "two_elements_share_a_cell",
            {"w": np.array([1.0, -4.0]), "p": np.array([0.5, 1.75]), "size": 3},
            {"K": np.array([0.5, 0.5 - 1.0, -3.0])},
            lambda w, p, size: {"K": dcls_kernel(w, p, size).data},
            function=_P + "dcls_kernel",
            note="by hand: element 1 gives [½, ½, 0], element 2 gives −4·[0, ¼, ¾] = [0, −1, −3]; they add",
            atol=1e-12,
        ),
    ]
