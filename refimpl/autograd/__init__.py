"""A small reverse-mode autograd over NumPy arrays (see CONVENTIONS.md, "An op")."""

from .function import Function, straight_through, unbroadcast  # noqa: F401
from .tensor import Tensor, enable_grad, is_grad_enabled, no_grad, tensor  # noqa: F401
from .gradcheck import gradcheck, GradcheckError  # noqa: F401
