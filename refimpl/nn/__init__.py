"""Layers, parametrizations and the functional API (PyTorch's names)."""

from . import functional, init, parametrizations, parametrize  # noqa: F401
from .layers import *  # noqa: F401,F403
from .module import Module, Parameter, functional_call, load_state_dict_file, save_state_dict  # noqa: F401
