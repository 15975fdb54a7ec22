"""`Module` and `Parameter`, with PyTorch's names: parameters, buffers, submodules, train/eval,
state_dict / load_state_dict (saved as .npz, loaded without pickle), and `functional_call`.

Parameters are kept both in `_parameters` (for traversal) and in the instance `__dict__` (so
`self.weight` is a plain attribute lookup on the hot path).  A parametrized attribute is removed from
`__dict__`; `__getattr__` then computes it (see `refimpl.nn.parametrize`).
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict

import numpy as np

from ..autograd.tensor import Tensor

__all__ = ["Module", "Parameter", "functional_call", "save_state_dict", "load_state_dict_file"]


class Parameter(Tensor):
    """A Tensor that a Module registers as a learnable parameter (requires_grad=True by default)."""

    def __init__(self, data, requires_grad: bool = True, dtype=None):
        if isinstance(data, Tensor):
            data = data.data
        arr = np.array(data, dtype=dtype if dtype is not None else None, copy=None)
        if dtype is None and arr.dtype.kind != "f":
            arr = arr.astype(np.float32)
        super().__init__(arr, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter(" + super().__repr__()[len("tensor(") :]


class Module:
    """Base class of layers and models: subclasses set attributes in `__init__` and define `forward`."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_parametrized", {})
        object.__setattr__(self, "training", True)

    # --- attribute bookkeeping -------------------------------------------------------------------
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"call Module.__init__() in {type(self).__name__}.__init__ before setting attributes"
            )
        params, modules, buffers = self._parameters, self._modules, self._buffers
        if name in self._parametrized:
            raise AttributeError(
                f"'{name}' is parametrized; assign to "
                f"parametrizations.{name}.original or remove the parametrization first"
            )
        if isinstance(value, Parameter):
            modules.pop(name, None)
            buffers.pop(name, None)
            params[name] = value
        elif isinstance(value, Module):
            params.pop(name, None)
            buffers.pop(name, None)
            modules[name] = value
        elif name in params:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(
                    f"cannot assign {type(value).__name__} to parameter '{name}' (expected a Parameter or None)"
                )
            if value is None:
                params[name] = None
        elif name in buffers:
            buffers[name] = value
        object.__setattr__(self, name, value)

    def __getattr__(self, name):
        # only reached when normal lookup fails: parametrized attributes are computed here
        d = self.__dict__
        parametrized = d.get("_parametrized")
        if parametrized and name in parametrized:
            return d["_modules"]["parametrizations"]._modules[name]()
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for store in (self._parameters, self._buffers, self._modules):
            store.pop(name, None)
        if name in self.__dict__:
            object.__delattr__(self, name)

    def register_buffer(self, name: str, value) -> None:
        """A non-learnable array saved in the state dict (e.g. BatchNorm's running statistics)."""
        value = None if value is None else np.asarray(value)
        self._buffers[name] = value
        object.__setattr__(self, name, value)

    def register_parameter(self, name: str, param) -> None:
        setattr(self, name, param)

    # --- traversal -------------------------------------------------------------------------------
    def named_children(self):
        yield from self._modules.items()

    def children(self):
        for _, m in self.named_children():
            yield m

    def named_modules(self, prefix: str = "", memo=None):
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is not None:
                yield from m.named_modules(f"{prefix}.{name}" if prefix else name, memo)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_parameters(self, prefix: str = "", recurse: bool = True):
        seen = set()
        mods = self.named_modules(prefix) if recurse else [(prefix, self)]
        for mp, m in mods:
            for name, p in m._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mp}.{name}" if mp else name), p

    def parameters(self, recurse: bool = True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = ""):
        for mp, m in self.named_modules(prefix):
            for name, b in m._buffers.items():
                if b is not None:
                    yield (f"{mp}.{name}" if mp else name), b

    def num_parameters(self, trainable_only: bool = True) -> int:
        return sum(p.data.size for p in self.parameters() if p.requires_grad or not trainable_only)

    # --- modes and grads -------------------------------------------------------------------------
    def train(self, mode: bool = True):
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    def requires_grad_(self, flag: bool = True):
        for p in self.parameters():
            p.requires_grad = flag
        return self

    def apply(self, fn):
        for m in self.modules():
            fn(m)
        return self

    def to(self, dtype):
        """Cast every floating parameter and buffer to `dtype`, in place (e.g. np.float64 for gradchecks)."""
        dtype = np.dtype(dtype)
        for m in self.modules():
            for p in m._parameters.values():
                if p is not None and p.data.dtype.kind == "f":
                    p.data = p.data.astype(dtype)
                    p.grad = None
            for name, b in list(m._buffers.items()):
                if b is not None and b.dtype.kind == "f":
                    m.register_buffer(name, b.astype(dtype))
        return self

    def double(self):
        return self.to(np.float64)

    def float(self):
        return self.to(np.float32)

    # --- calling ----------------------------------------------------------------------------------
    def forward(self, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # --- state ----------------------------------------------------------------------------------
    def state_dict(self) -> OrderedDict:
        """Name → ndarray copy of every parameter and buffer."""
        sd = OrderedDict()
        for mp, m in self.named_modules():
            for name, p in m._parameters.items():
                if p is not None:
                    sd[f"{mp}.{name}" if mp else name] = p.data.copy()
            for name, b in m._buffers.items():
                if b is not None:
                    sd[f"{mp}.{name}" if mp else name] = np.array(b, copy=True)
        return sd

    def load_state_dict(self, state_dict, strict: bool = True) -> None:
        """Copy arrays into parameters and buffers; shape mismatches and (if strict) missing or
        unexpected keys raise a KeyError/ValueError naming them."""
        own = self.state_dict()
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            raise KeyError(f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}")
        for key, value in state_dict.items():
            if key not in own:
                continue
            value = np.asarray(getattr(value, "data", value))
            if value.shape != own[key].shape:
                raise ValueError(
                    f"load_state_dict: '{key}' expects shape {own[key].shape}, got {value.shape}"
                )
            mod_path, _, leaf = key.rpartition(".")
            mod = self.get_submodule(mod_path)
            if leaf in mod._parameters:
                mod._parameters[leaf].data = value.astype(own[key].dtype, copy=True)
            else:
                mod.register_buffer(leaf, value.astype(own[key].dtype, copy=True))

    def get_submodule(self, path: str) -> Module:
        mod = self
        if path:
            for part in path.split("."):
                if part not in mod._modules:
                    raise KeyError(
                        f"no submodule '{part}' in '{path}' ({type(mod).__name__} has {list(mod._modules)})"
                    )
                mod = mod._modules[part]
        return mod

    def save(self, path) -> None:
        save_state_dict(self.state_dict(), path)

    def load(self, path, strict: bool = True) -> None:
        self.load_state_dict(load_state_dict_file(path), strict=strict)

    # --- printing -------------------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self):
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, m in self._modules.items():
            sub = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({name}): {sub}")
        return lines[0] + ")" if len(lines) == 1 else "\n".join(lines) + "\n)"


def save_state_dict(state_dict, path) -> None:
    """Save name → array as an uncompressed .npz (no pickle)."""
    np.savez(path, **{k: np.asarray(v) for k, v in state_dict.items()})


def load_state_dict_file(path) -> OrderedDict:
    """Load a .npz written by `save_state_dict`, refusing pickled objects."""
    with np.load(path, allow_pickle=False) as f:
        return OrderedDict((k, f[k]) for k in f.files)


@contextlib.contextmanager
def _swapped(module: Module, params: dict):
    saved = []
    try:
        for name, value in params.items():
            path, _, leaf = name.rpartition(".")
            mod = module.get_submodule(path)
            if not isinstance(value, Tensor):
                value = Tensor(np.asarray(value))
            saved.append((mod, leaf, mod.__dict__.get(leaf, _MISSING)))
            mod.__dict__[leaf] = value
        yield
    finally:
        for mod, leaf, old in reversed(saved):
            if old is _MISSING:
                del mod.__dict__[leaf]
            else:
                mod.__dict__[leaf] = old


_MISSING = object()


def functional_call(module: Module, params: dict, *args, **kwargs):
    """Run `module(*args, **kwargs)` with the tensors in `params` (name → Tensor) standing in for the
    module's own parameters (or for the effective value of a parametrized weight), as
    `torch.func.functional_call` does.  Gradients flow to the given tensors, not to the module's."""
    with _swapped(module, params):
        return module(*args, **kwargs)
