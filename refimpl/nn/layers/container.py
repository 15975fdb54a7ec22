"""Containers: `Sequential` (a chain of modules) and `ModuleList` (a list whose modules are registered).

Children are registered under the names "0", "1", … so state-dict keys read "0.weight", "2.bias", as
in PyTorch; `Sequential(OrderedDict(name=module, …))` keeps the given names.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ..module import Module

__all__ = ["Sequential", "ModuleList"]


def _check_module(m, cls, where):
    if not isinstance(m, Module):
        raise TypeError(f"{cls}: {where} must be a Module, got {type(m).__name__}")
    return m


class Sequential(Module):
    """y = fₙ(… f₂(f₁(x))).  Indexable (an int gives a module, a slice a new Sequential), iterable, sized."""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], (OrderedDict, dict)):
            for name, m in modules[0].items():
                setattr(self, str(name), _check_module(m, "Sequential", f"entry {name!r}"))
        else:
            for i, m in enumerate(modules):
                setattr(self, str(i), _check_module(m, "Sequential", f"argument {i}"))

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x

    def append(self, module: Module) -> Sequential:
        setattr(self, str(len(self._modules)), _check_module(module, "Sequential", "`module`"))
        return self

    def __getitem__(self, i):
        if isinstance(i, slice):
            return Sequential(OrderedDict(list(self._modules.items())[i]))
        return self._modules[self._name(i)]

    def __setitem__(self, i: int, module: Module) -> None:
        setattr(self, self._name(i), _check_module(module, "Sequential", "`module`"))

    def _name(self, i: int) -> str:
        n = len(self._modules)
        if not isinstance(i, (int, np.integer)) or not -n <= i < n:
            raise IndexError(f"Sequential: index must be an int in [-{n}, {n}), got {i!r}")
        return list(self._modules)[i % n]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())


class ModuleList(Module):
    """A list of modules registered as children (so their parameters are found); it has no forward."""

    def __init__(self, modules=None):
        super().__init__()
        for m in modules or ():
            self.append(m)

    def append(self, module: Module) -> ModuleList:
        setattr(self, str(len(self._modules)), _check_module(module, "ModuleList", "`module`"))
        return self

    def extend(self, modules) -> ModuleList:
        for m in modules:
            self.append(m)
        return self

    def _index(self, i: int) -> str:
        n = len(self._modules)
        if not isinstance(i, (int, np.integer)) or not -n <= i < n:
            raise IndexError(f"ModuleList: index must be an int in [-{n}, {n}), got {i!r}")
        return str(i % n)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return ModuleList(list(self._modules.values())[i])
        return self._modules[self._index(i)]

    def __setitem__(self, i: int, module: Module) -> None:
        setattr(self, self._index(i), _check_module(module, "ModuleList", "`module`"))

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def forward(self, *args, **kwargs):
        raise TypeError("ModuleList has no forward(); iterate over it and call its modules")
