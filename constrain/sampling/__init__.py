"""Samplers that draw constrained outputs from a language model exactly or with proper weights."""

from constrain.sampling.awrs import AWRSResult, awrs_step
from constrain.sampling.smc import BatchedLM, SMCResult, smc

__all__ = ["AWRSResult", "BatchedLM", "SMCResult", "awrs_step", "smc"]
