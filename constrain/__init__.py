"""constrain: grammar-constrained generation for autoregressive and diffusion LMs."""

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
    MatcherError,
    SchemaError,
    UnsatisfiableSchemaError,
    UnsupportedSchemaError,
    VocabularyError,
)
from constrain.grammars import load_grammar
from constrain.json_schema import check_schema
from constrain.matcher import Matcher
from constrain.vocabulary import Vocabulary

__version__ = "0.1.0"

__all__ = [
    "CompileBudgetError",
    "CompiledGrammar",
    "ConstrainError",
    "GrammarError",
    "Matcher",
    "MatcherError",
    "SchemaError",
    "UnsatisfiableSchemaError",
    "UnsupportedSchemaError",
    "Vocabulary",
    "VocabularyError",
    "__version__",
    "check_schema",
    "compile_grammar",
    "compile_ir",
    "compile_json_schema",
    "compile_regex",
    "load_grammar",
]
