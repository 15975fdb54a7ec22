"""Weight parametrizations: the weight a layer's forward sees is W = f_k(… f_1(θ)) while the optimizer
updates θ (and the transforms' own parameters).  After `torch.nn.utils.parametrize`.

    register_parametrization(layer, "weight", Compander())      # W = c(θ)
    register_parametrization(layer, "weight", Mask(m))          # W = c(θ) ⊙ m      (stacks, in order)
    remove_parametrizations(layer, "weight", bake=True)         # W becomes a plain Parameter again

θ lives at `layer.parametrizations.weight.original`; transform i at `layer.parametrizations.weight[i]`.
A transform is a `Module` whose `forward(x)` returns the transformed tensor; it may define
`right_inverse(w)` (an ndarray → ndarray) so that registering it keeps the layer's current weight:
θ is then initialised to right_inverse(W).  Any technique's weight transform (compander, mask, fake
quantizer, low-rank delta) is one of these, and they compose without knowing of each other.
"""

from __future__ import annotations

import numpy as np

from .module import Module, Parameter

__all__ = ["register_parametrization", "remove_parametrizations", "is_parametrized", "ParametrizationList"]


class ParametrizationList(Module):
    """θ (`original`) and the ordered transforms applied to it."""

    def __init__(self, original: Parameter):
        super().__init__()
        self.original = original
        object.__setattr__(self, "_order", [])

    def append(self, transform: Module) -> None:
        name = str(len(self._order))
        setattr(self, name, transform)
        self._order.append(name)

    def __getitem__(self, i: int) -> Module:
        return self._modules[self._order[i]]

    def __len__(self) -> int:
        return len(self._order)

    def forward(self):
        x = self.original
        for name in self._order:
            x = self._modules[name](x)
        return x


class _Parametrizations(Module):
    """The container `module.parametrizations` (one ParametrizationList per parametrized name)."""

    def forward(self):  # pragma: no cover - not callable
        raise TypeError("module.parametrizations is a container, not a layer")


def is_parametrized(module: Module, name: str | None = None) -> bool:
    names = module.__dict__.get("_parametrized", {})
    return bool(names) if name is None else name in names


def register_parametrization(module: Module, name: str, transform: Module):
    """Make `module.<name>` equal transform(current parametrization of `name`)."""
    if not isinstance(transform, Module):
        raise TypeError(
            f"register_parametrization: `transform` must be a Module, got {type(transform).__name__}"
        )
    if is_parametrized(module, name):
        plist = module.parametrizations._modules[name]
        plist.append(transform)
        return module
    param = module._parameters.get(name)
    if param is None:
        raise ValueError(
            f"register_parametrization: {type(module).__name__} has no parameter '{name}' "
            f"(it has {list(module._parameters)})"
        )
    if hasattr(transform, "right_inverse"):
        theta = np.asarray(transform.right_inverse(param.data), dtype=param.data.dtype)
        if theta.shape != param.data.shape:
            raise ValueError(f"right_inverse returned shape {theta.shape}, expected {param.data.shape}")
        original = Parameter(theta, requires_grad=param.requires_grad)
    else:
        original = param
    if "parametrizations" not in module._modules:
        module.parametrizations = _Parametrizations()
    plist = ParametrizationList(original)
    plist.append(transform)
    setattr(module.parametrizations, name, plist)
    # the plain attribute goes away, so Module.__getattr__ computes it on access
    del module._parameters[name]
    object.__delattr__(module, name)
    module._parametrized[name] = True
    return module


def remove_parametrizations(module: Module, name: str, bake: bool = True):
    """Undo `register_parametrization`: `name` becomes a plain Parameter holding the current effective
    value (bake=True) or θ itself (bake=False)."""
    if not is_parametrized(module, name):
        raise ValueError(f"remove_parametrizations: '{name}' of {type(module).__name__} is not parametrized")
    plist = module.parametrizations._modules[name]
    from ..autograd.tensor import no_grad

    with no_grad():
        value = plist().data.copy() if bake else plist.original.data
    del module._parametrized[name]
    delattr(module.parametrizations, name)
    if not module.parametrizations._modules:
        delattr(module, "parametrizations")
    setattr(module, name, Parameter(value, requires_grad=plist.original.requires_grad))
    return module
