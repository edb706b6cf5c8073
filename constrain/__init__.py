"""constrain: grammar-constrained generation for autoregressive and diffusion LMs."""

from constrain.api import choice, grammar, json, regex
from constrain.compiled_grammar import (
    CompiledGrammar,
    compile_grammar,
    compile_ir,
    compile_json_schema,
    compile_regex,
)
from constrain.errors import (
    CompileBudgetError,
    ConstrainError,
    GrammarError,
    IncompleteOutputError,
    InfillError,
    MatcherError,
    ModelLoadError,
    SamplingError,
    SchemaError,
    UnsatisfiableSchemaError,
    UnsupportedSchemaError,
    VocabularyError,
)
from constrain.grammars import load_grammar
from constrain.json_schema import check_schema
from constrain.matcher import Matcher
from constrain.structured import structured
from constrain.vocabulary import Vocabulary

__version__ = "0.1.0"

# Generation needs torch and transformers, which take seconds to import; load them on first use.
_LAZY = {
    "GenerationResult": "constrain.generation",
    "generate": "constrain.generation",
    "LogitsProcessor": "constrain.logits_processor",
    "apply_bitmask": "constrain.bitmask",
    "load_default_model": "constrain.models",
    "load_model": "constrain.models",
    "fill": "constrain.template_fill",
    "FillResult": "constrain.template_fill",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'constrain' has no attribute {name!r}")


__all__ = [
    "CompileBudgetError",
    "CompiledGrammar",
    "ConstrainError",
    "FillResult",
    "GenerationResult",
    "GrammarError",
    "IncompleteOutputError",
    "InfillError",
    "LogitsProcessor",
    "Matcher",
    "MatcherError",
    "ModelLoadError",
    "SamplingError",
    "SchemaError",
    "UnsatisfiableSchemaError",
    "UnsupportedSchemaError",
    "Vocabulary",
    "VocabularyError",
    "__version__",
    "apply_bitmask",
    "check_schema",
    "choice",
    "compile_grammar",
    "compile_ir",
    "compile_json_schema",
    "compile_regex",
    "fill",
    "generate",
    "grammar",
    "json",
    "load_default_model",
    "load_grammar",
    "load_model",
    "regex",
    "structured",
]
