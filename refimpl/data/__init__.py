"""Small datasets, bundled or generated (nothing is downloaded), and minibatch iteration.

- `digits`: the 8x8 handwritten digits (UCI, CC BY 4.0) with stratified splits, label noise, long
  tails, class subsets and 28x28 upsampling.
- `toy`: seeded generators: moons, spirals, blobs, teacher-student regression, modular arithmetic,
  sparse parity.
- `text`: ~300 KB of Shakespeare (public domain) and a character-level tokenizer and windows.
- `loader`: `batches` and `DataLoader`, seeded per epoch.
"""

from .digits import digits_subset, label_noise, load_digits, long_tailed, upsample_28
from .loader import DataLoader, Split, batches
from .text import CharTokenizer, char_dataset, load_text, random_windows
from .toy import (
    make_blobs,
    make_modular_arithmetic,
    make_moons,
    make_sparse_parity,
    make_spirals,
    make_teacher_student,
)

__all__ = [
    "Split",
    "load_digits",
    "label_noise",
    "long_tailed",
    "upsample_28",
    "digits_subset",
    "make_moons",
    "make_spirals",
    "make_blobs",
    "make_teacher_student",
    "make_modular_arithmetic",
    "make_sparse_parity",
    "load_text",
    "CharTokenizer",
    "char_dataset",
    "random_windows",
    "batches",
    "DataLoader",
]
