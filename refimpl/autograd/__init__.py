"""A small reverse-mode autograd over NumPy arrays (see CONVENTIONS.md, "An op")."""

from . import ops
from . import tensor as _tensor_module
from .function import FREED, Function, straight_through, unbroadcast  # noqa: F401
from .tensor import Tensor, enable_grad, gc_paused, graph_nodes, is_grad_enabled, no_grad, tensor  # noqa: F401

_tensor_module._OPS = ops  # Tensor's operators and methods call the ops through this
_tensor_module._FREED, _tensor_module._unbroadcast = FREED, unbroadcast  # the backward pass uses both
from . import trace as _trace  # noqa: E402
from .gradcheck import GradcheckError, gradcheck, gradgradcheck  # noqa: E402, F401
from .higher_order import grad  # noqa: E402, F401

_trace._unbroadcast = unbroadcast
from .trace import CompiledStep, TraceError, compile, recorded_effect  # noqa: E402, F401
