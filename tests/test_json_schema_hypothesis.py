"""Random schemas and instances: the grammar accepts exactly what ``jsonschema`` validates.

Objects in the instances have at most one key, so the declared-order layout of keys can
never be the reason for a rejection; everything else (combinators, complements, counts,
references through ``$defs``) is compared exactly. Schemas the compiler refuses are
skipped, unsatisfiable ones must have only invalid instances.
"""

from __future__ import annotations

import json
import warnings

import jsonschema
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import constrain
from constrain.errors import CompileBudgetError, SchemaError, UnsupportedSchemaError
from constrain.json_schema import schema_to_grammar

BYTES = constrain.Vocabulary.from_token_bytes([bytes([i]) for i in range(256)] + [b""], eos_token_ids=[256])
KEYS = ["a", "b", "c"]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 5),
    st.sampled_from([0.5, -1.5, 2.0, 2.5]),
    st.text(alphabet='ab"é', max_size=3),
)
instances = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.sampled_from(KEYS), children, max_size=1),
    ),
    max_leaves=6,
)
counts = st.integers(0, 3)

leaf_schemas = st.one_of(
    st.booleans(),
    st.just({}),
    st.builds(
        lambda t: {"type": t},
        st.sampled_from(["null", "boolean", "integer", "number", "string", "array", "object"]),
    ),
    st.builds(
        lambda t: {"type": t},
        st.lists(st.sampled_from(["null", "integer", "string"]), min_size=1, max_size=2, unique=True),
    ),
    st.builds(lambda v: {"enum": v}, st.lists(scalars, min_size=1, max_size=3)),
    st.builds(lambda v: {"const": v}, instances),
    st.builds(
        lambda k, n: {k: n},
        st.sampled_from(["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"]),
        st.integers(-2, 4),
    ),
    st.builds(lambda n: {"multipleOf": n}, st.sampled_from([2, 0.5, 3])),
    st.builds(
        lambda k, n: {k: n},
        st.sampled_from(["minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties"]),
        counts,
    ),
    st.builds(lambda p: {"pattern": p}, st.sampled_from(["^a", "b", "^[ab]*$", "é"])),
    st.builds(
        lambda r: {"required": r}, st.lists(st.sampled_from(KEYS), max_size=2, unique=True).map(sorted)
    ),
    st.just({"$ref": "#/$defs/d"}),
    st.builds(
        lambda v: {"uniqueItems": True, "items": {"enum": v}}, st.lists(scalars, min_size=1, max_size=4)
    ),
)


def compound(children):
    pairs = st.lists(children, min_size=1, max_size=2)
    return st.one_of(
        st.builds(lambda s: {"items": s}, children),
        st.builds(lambda p, s: {"prefixItems": p, "items": s}, pairs, children),
        st.builds(
            lambda s, lo, hi: {"contains": s, "minContains": lo, "maxContains": hi}, children, counts, counts
        ),
        st.builds(lambda s: {"contains": s}, children),
        st.builds(lambda s: {"anyOf": s}, pairs),
        st.builds(lambda s: {"oneOf": s}, pairs),
        st.builds(lambda s: {"allOf": s}, pairs),
        st.builds(lambda s: {"not": s}, children),
        st.builds(lambda i, t, e: {"if": i, "then": t, "else": e}, children, children, children),
        st.builds(
            lambda props, extra: {
                "properties": dict(zip(KEYS, props, strict=False)),
                "additionalProperties": extra,
            },
            st.lists(children, max_size=3),
            children,
        ),
        st.builds(lambda s: {"propertyNames": s}, children),
        st.builds(
            lambda a, b: {**a, **b} if isinstance(a, dict) and isinstance(b, dict) else a, children, children
        ),
    )


# Every schema defines ``#/$defs/d`` (itself without references) for the leaves that refer to it.
definitions = st.recursive(leaf_schemas.filter(lambda s: s != {"$ref": "#/$defs/d"}), compound, max_leaves=3)
schemas = st.builds(
    lambda body, d: {"$defs": {"d": d}, "allOf": [body]},
    st.recursive(leaf_schemas, compound, max_leaves=8),
    definitions.filter(lambda s: "$ref" not in json.dumps(s)),
)


def accepts(compiled, text: str) -> bool:
    matcher = compiled.matcher()
    return all(matcher.advance(b) for b in text.encode()) and matcher.advance(256)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
@given(schema=schemas, data=st.lists(instances, min_size=1, max_size=4))
def test_grammar_agrees_with_jsonschema(schema, data):
    validator = jsonschema.Draft202012Validator(schema)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            compiled = constrain.compile_ir(schema_to_grammar(schema), BYTES)
        except (UnsupportedSchemaError, CompileBudgetError):
            assume(False)
        except SchemaError as error:
            assert "unsatisfiable" in str(error)
            assert not any(validator.is_valid(instance) for instance in data)
            return
    for instance in data:
        text = json.dumps(instance, ensure_ascii=False)
        assert accepts(compiled, text) == validator.is_valid(instance), (schema, text)
