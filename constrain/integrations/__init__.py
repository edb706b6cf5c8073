"""Adapters to other frameworks; each needs its optional extra (``pip install constrain[langchain]``).

The submodules import their framework at import time, so this package imports none of them.
"""
