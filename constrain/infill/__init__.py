"""Additive infilling for diffusion LMs: can a canvas with holes still become a word of the grammar?

``Checker(compiled_grammar).check([b'{"a": ', Hole(), b'}'])`` answers exactly (or TIMEOUT);
see :mod:`constrain.infill.checker` for the method.
"""

from constrain.infill.checker import Checker, Verdict
from constrain.infill.segments import Hole, InfillError

__all__ = ["Checker", "Hole", "InfillError", "Verdict"]
