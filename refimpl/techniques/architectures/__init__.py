"""Architectures: layers and networks that change how weights enter the computation — weights as tokens,
learnable kernel spacings and global convolutions, memories and key–value bottlenecks, self-modifying weight
matrices, routing and weight sharing.

Shared modules (each technique builds on them, none changes them):

* `sequences` — sequence toys with a known rule: copy after a delay, a long-range dependency (the label is
  fixed by two tokens far apart), associative recall (key–value pairs, then a query key);
* `tabular` — tabular toys whose target depends on known feature interactions (pairwise and three-way
  products, a threshold rule), with the interaction terms returned so a model can be judged on them;
* `patches` — the 8×8 digits cut into non-overlapping patches, the token sequences of a tiny vision transformer.

New layers that are general go into `refimpl.nn` (with gradient checks); paper-specific ones stay in the
technique's package.
"""
