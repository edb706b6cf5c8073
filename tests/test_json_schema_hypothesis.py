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
import pytest
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


# --- hypothesis-jsonschema: generated valid instances and their mutations (drafts 04 to 07) ------------

try:
    from hypothesis_jsonschema import from_schema
except ImportError:  # the test extra is not installed
    from_schema = None

needs_generator = pytest.mark.skipif(from_schema is None, reason="hypothesis-jsonschema is not installed")
DRAFTS = {
    "http://json-schema.org/draft-04/schema#": jsonschema.Draft4Validator,
    "http://json-schema.org/draft-06/schema#": jsonschema.Draft6Validator,
    "http://json-schema.org/draft-07/schema#": jsonschema.Draft7Validator,
}
OBJECT_KEYS = ["a", "b", "c", "d"]
# No \d or \w: Python's (which jsonschema and the generator use) are Unicode, ECMA-262's ASCII.
PATTERNS = ["^[a-c]*$", "b", "^x[0-9]{2}", "é|z", "^$|^[^a]"]
FORMATS = ["date", "date-time", "time", "email", "ipv4", "ipv6", "uuid"]

legacy_leaves = st.one_of(
    st.builds(lambda t: {"type": t}, st.sampled_from(["null", "boolean", "integer", "number", "string"])),
    st.builds(lambda v: {"enum": v}, st.lists(scalars, min_size=1, max_size=3, unique_by=json.dumps)),
    st.builds(
        lambda lo, hi: {"type": "integer", "minimum": lo, "maximum": lo + hi}, st.integers(-5, 5), counts
    ),
    st.builds(
        lambda lo, exclusive: {"type": "number", "minimum": lo, "exclusiveMinimum": exclusive},
        st.sampled_from([-1.5, 0, 2]),
        st.booleans(),
    ),
    st.builds(lambda n: {"type": "integer", "multipleOf": n}, st.sampled_from([2, 3])),
    st.builds(lambda lo, hi: {"type": "string", "minLength": lo, "maxLength": lo + hi}, counts, counts),
    st.builds(lambda p: {"type": "string", "pattern": p}, st.sampled_from(PATTERNS)),
    st.builds(lambda f: {"type": "string", "format": f}, st.sampled_from(FORMATS)),
)


def legacy_structures(children):
    """Objects and arrays whose keys can be put in declaration order (no combinator over objects)."""
    properties = st.dictionaries(st.sampled_from(OBJECT_KEYS), children, max_size=4)
    return st.one_of(
        st.builds(
            lambda props, required, extra: {
                "type": "object",
                "properties": props,
                "required": [k for k in props if k in required],
                "additionalProperties": extra,
            },
            properties,
            st.sets(st.sampled_from(OBJECT_KEYS)),
            st.one_of(st.booleans(), children),
        ),
        st.builds(
            lambda s, lo: {"type": "array", "items": s, "minItems": lo, "maxItems": lo + 2}, children, counts
        ),
        st.builds(
            lambda first, rest: {"type": "array", "items": first, "additionalItems": rest},
            st.lists(children, min_size=1, max_size=2),
            st.one_of(st.booleans(), children),
        ),
    )


def legacy_combinations(children):
    """Everything above plus combinators, for the any-order runs."""
    return st.one_of(
        legacy_structures(children),
        st.builds(lambda s: {"anyOf": s}, st.lists(children, min_size=1, max_size=2)),
        st.builds(lambda s: {"allOf": s}, st.lists(children, min_size=1, max_size=2)),
        st.builds(lambda s: {"not": s}, legacy_leaves),
        st.builds(
            lambda props, deps: {"type": "object", "properties": props, "dependencies": deps},
            st.dictionaries(st.sampled_from(OBJECT_KEYS), children, max_size=3),
            st.dictionaries(
                st.sampled_from(OBJECT_KEYS),
                st.lists(st.sampled_from(OBJECT_KEYS), max_size=2, unique=True),
                max_size=2,
            ),
        ),
        st.builds(
            lambda pattern, value: {
                "type": "object",
                "patternProperties": {pattern: value},
                "maxProperties": 3,
            },
            st.sampled_from(["^a", "b$"]),
            children,
        ),
    )


def with_draft(body: dict, draft: str) -> dict:
    return {"$schema": draft, **body}


drafts = st.sampled_from(sorted(DRAFTS))
ordered_schemas = st.builds(with_draft, st.recursive(legacy_leaves, legacy_structures, max_leaves=6), drafts)
combined_schemas = st.builds(
    with_draft, st.recursive(legacy_leaves, legacy_combinations, max_leaves=6), drafts
)


def in_declared_order(schema: object, instance: object) -> object:
    """``instance`` with each object's keys in the order its (structural) schema declares them."""
    if not isinstance(schema, dict):
        return instance
    if isinstance(instance, dict):
        declared = list(schema.get("properties", {}))
        keys = [k for k in declared if k in instance] + [k for k in instance if k not in declared]
        extra = schema.get("additionalProperties", {})
        return {k: in_declared_order(schema.get("properties", {}).get(k, extra), instance[k]) for k in keys}
    if isinstance(instance, list):
        items = schema.get("items", {})
        if isinstance(items, list):
            rest = schema.get("additionalItems", {})
            return [
                in_declared_order(items[i] if i < len(items) else rest, v) for i, v in enumerate(instance)
            ]
        return [in_declared_order(items, value) for value in instance]
    return instance


def has_exponent(instance: object) -> bool:
    """Floats json.dumps writes as ``1e+16``: a documented restriction of bounded numbers."""
    if isinstance(instance, float):
        return "e" in repr(instance) or instance != instance or instance in (float("inf"), float("-inf"))
    if isinstance(instance, dict):
        return any(has_exponent(v) for v in instance.values())
    if isinstance(instance, list):
        return any(has_exponent(v) for v in instance)
    return False


def shuffled(data, instance: object) -> object:
    """``instance`` with the keys of every object in a random order."""
    if isinstance(instance, dict):
        keys = data.draw(st.permutations(list(instance)), label="key order")
        return {key: shuffled(data, instance[key]) for key in keys}
    if isinstance(instance, list):
        return [shuffled(data, value) for value in instance]
    return instance


mutant_values = st.one_of(scalars, st.just([]), st.just({}), st.just({"a": 1}), st.just([None, "x"]))


def mutate(draw, instance: object) -> object:
    """One random edit somewhere in ``instance``: replace a value, drop or add a key or item."""
    if isinstance(instance, dict) and instance and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(instance)))
        edit = draw(st.sampled_from(["recurse", "drop", "add"]))
        if edit == "recurse":
            return {**instance, key: mutate(draw, instance[key])}
        if edit == "drop":
            return {k: v for k, v in instance.items() if k != key}
        return {**instance, draw(st.sampled_from([*OBJECT_KEYS, "zz"])): draw(mutant_values)}
    if isinstance(instance, list) and instance and draw(st.booleans()):
        index = draw(st.integers(0, len(instance) - 1))
        edit = draw(st.sampled_from(["recurse", "drop", "add"]))
        if edit == "recurse":
            return [*instance[:index], mutate(draw, instance[index]), *instance[index + 1 :]]
        if edit == "drop":
            return instance[:index] + instance[index + 1 :]
        return [*instance, draw(mutant_values)]
    return draw(mutant_values)


def compile_or_skip(schema: dict, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return constrain.compile_ir(schema_to_grammar(schema, **options), BYTES)
        except (UnsupportedSchemaError, CompileBudgetError, SchemaError):
            assume(False)


def check_generated_and_mutated(schema: dict, data, compiled, order) -> None:
    validator = DRAFTS[schema["$schema"]](schema, format_checker=jsonschema.FormatChecker())
    try:
        valid = data.draw(from_schema(schema), label="valid instance")
    except Exception:  # schemas the generator cannot handle (unsatisfiable ones, say)
        assume(False)
    assume(validator.is_valid(valid) and not has_exponent(valid))
    text = json.dumps(order(valid), ensure_ascii=False)
    assert accepts(compiled, text), f"valid instance rejected: {text}"
    mutant = data.draw(st.composite(lambda draw: mutate(draw, valid))(), label="mutant")
    mutant_text = json.dumps(order(mutant), ensure_ascii=False)
    if not validator.is_valid(mutant):
        assert not accepts(compiled, mutant_text), f"invalid mutant accepted: {mutant_text}"
    elif not has_exponent(mutant):
        assert accepts(compiled, mutant_text), f"valid mutant rejected: {mutant_text}"


SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)


@needs_generator
@SETTINGS
@given(schema=ordered_schemas, data=st.data())
def test_generated_instances_in_declared_order_are_accepted_and_mutants_judged(schema, data):
    compiled = compile_or_skip(schema)
    check_generated_and_mutated(schema, data, compiled, lambda instance: in_declared_order(schema, instance))


@needs_generator
@SETTINGS
@given(schema=combined_schemas, data=st.data())
def test_generated_instances_in_any_order_are_accepted_and_mutants_judged(schema, data):
    compiled = compile_or_skip(schema, property_order="any")
    check_generated_and_mutated(schema, data, compiled, lambda instance: shuffled(data, instance))


@SETTINGS
@given(
    required=st.sets(st.sampled_from(OBJECT_KEYS)),
    members=st.dictionaries(st.sampled_from([*OBJECT_KEYS, "e"]), scalars, max_size=5),
    order=st.permutations(range(5)),
    duplicate=st.sampled_from([*OBJECT_KEYS, "e", None]),
)
def test_any_order_objects_match_jsonschema_and_reject_duplicate_keys(required, members, order, duplicate):
    schema = {
        "type": "object",
        "properties": {
            key: {"type": ["null", "boolean", "integer", "number", "string"]} for key in OBJECT_KEYS
        },
        "required": sorted(required),
        "additionalProperties": {"type": "integer"},
    }
    compiled = constrain.compile_ir(schema_to_grammar(schema, property_order="any"), BYTES)
    keys = sorted(members, key=lambda k: order[[*OBJECT_KEYS, "e"].index(k)])
    shuffled = {key: members[key] for key in keys}
    text = json.dumps(shuffled, ensure_ascii=False)
    assert accepts(compiled, text) == jsonschema.Draft202012Validator(schema).is_valid(shuffled), text
    if duplicate in shuffled and duplicate in OBJECT_KEYS:
        doubled = text[:-1] + f', "{duplicate}": null}}'
        assert not accepts(compiled, doubled), doubled
