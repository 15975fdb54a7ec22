"""Layers with PyTorch's names, constructor arguments and default initialisation.

Each learnable layer takes `dtype` (default float32) and `rng` (None → the library's default
generator, an int seed, or a np.random.Generator) for its initialisation, and checks its input's
shape with a ValueError naming what it expected and what it got.
"""

from .activation import GELU, Dropout, Flatten, Identity, LeakyReLU, ReLU, Sigmoid, SiLU, Tanh, get_activation
from .attention import MultiHeadAttention
from .container import ModuleList, Sequential
from .conv import AvgPool2d, Conv1d, Conv2d, MaxPool2d
from .embedding import Embedding
from .linear import Linear
from .loss import CrossEntropyLoss, MSELoss
from .mlp import MLP
from .norm import BatchNorm1d, BatchNorm2d, GroupNorm, LayerNorm, RMSNorm
from .transformer import CharTransformerLM, TransformerBlock

__all__ = [
    "Linear",
    "CrossEntropyLoss",
    "MSELoss",
    "Conv1d",
    "Conv2d",
    "MaxPool2d",
    "AvgPool2d",
    "Embedding",
    "LayerNorm",
    "BatchNorm1d",
    "BatchNorm2d",
    "GroupNorm",
    "RMSNorm",
    "Dropout",
    "ReLU",
    "GELU",
    "Tanh",
    "SiLU",
    "Sigmoid",
    "LeakyReLU",
    "Identity",
    "Flatten",
    "Sequential",
    "ModuleList",
    "MLP",
    "MultiHeadAttention",
    "TransformerBlock",
    "CharTransformerLM",
    "get_activation",
]
