"""Theory of generalization, memorization and scaling: each technique is a bound, a closed form or a
mechanism with a guarantee, set against a simulation on one plot.  The family's contract
(tests/techniques/theory_generalization) asks each technique for a small prediction/simulation pair, with the
same checks as theory-dynamics.  No code is shared by two or more of them yet, so the family has no shared
module."""
