"""Lowering and the set algebra, checked on the typed nodes (no engine involved)."""

from __future__ import annotations

import warnings

import pytest

from constrain.errors import SchemaError, UnsupportedSchemaError
from constrain.json_schema.context import Options, SchemaWarning
from constrain.json_schema.lower import Lowerer
from constrain.json_schema.nodes import (
    ANY,
    FALSE,
    INTEGER,
    NOTHING,
    Not,
    NumberAtom,
    StringAtom,
    Values,
    is_any,
)


def lower(schema, **options):
    lowerer = Lowerer(schema, Options(**options))
    return lowerer, lowerer.root()


def test_type_specific_keywords_leave_other_types_alone():
    _, node = lower({"minLength": 2})
    assert node.string == StringAtom(min_length=2)
    assert node.null and node.booleans == {True, False} and node.number == ANY.number


def test_integer_is_a_number_formula():
    _, node = lower({"type": "integer", "minimum": 3})
    assert node.number == NumberAtom(integer=INTEGER, minimum=3)
    assert node.string == FALSE and not node.null and not node.objects


def test_enum_merges_into_one_value_set_per_type():
    _, node = lower({"enum": ["a", "b", 1, 1.0, True, None]})
    assert node.string == Values(frozenset({"a", "b"}))
    assert node.number == Values(frozenset({1}))
    assert node.booleans == {True} and node.null


def test_all_of_of_disjoint_types_is_empty():
    lowerer, node = lower({"allOf": [{"type": "integer"}, {"type": "string"}]})
    assert lowerer.algebra.is_empty(node)


def test_all_of_merges_object_shapes_in_order():
    _, node = lower(
        {
            "allOf": [
                {"type": "object", "properties": {"b": {"type": "integer"}}, "required": ["b"]},
                {"properties": {"a": {"type": "string"}, "b": {"minimum": 2}}, "required": ["a"]},
            ]
        }
    )
    (shape,) = node.objects
    assert [key for key, _ in shape.properties] == ["b", "a"]
    assert shape.required == {"a", "b"}
    assert shape.declared("b").number == NumberAtom(integer=INTEGER, minimum=2)


def test_additional_properties_false_forbids_the_other_sides_keys():
    _, node = lower(
        {"allOf": [{"properties": {"a": {}}, "additionalProperties": False}, {"properties": {"b": {}}}]}
    )
    (shape,) = node.objects
    assert shape.declared("b") == NOTHING
    assert is_any(shape.declared("a"))


def test_required_undeclared_key_takes_the_pattern_schema():
    _, node = lower({"patternProperties": {"^n": {"type": "integer"}}, "required": ["num"]})
    (shape,) = node.objects
    assert shape.declared("num").number == NumberAtom(integer=INTEGER)
    assert shape.implicit == {"num"}


def test_explicit_properties_take_the_key_order_from_implicit_ones():
    _, node = lower({"required": ["z"], "allOf": [{"properties": {"a": {}, "z": {}}}]})
    (shape,) = node.objects
    assert [key for key, _ in shape.properties] == ["a", "z"]


def test_complement_of_scalars_is_exact_negation():
    _, node = lower({"not": {"type": "string", "maxLength": 3}})
    assert node.string == Not(StringAtom(max_length=3))
    assert node.null and node.arrays == ANY.arrays


def test_complement_of_required_and_property_value():
    _, node = lower({"type": "object", "not": {"properties": {"a": {"type": "string"}}, "required": ["a"]}})
    shapes = {(shape.properties[0][0], shape.required) for shape in node.objects}
    assert shapes == {("a", frozenset()), ("a", frozenset({"a"}))}


def test_complement_of_unique_items_is_refused_or_dropped():
    with pytest.raises(UnsupportedSchemaError) as error:
        lower({"not": {"uniqueItems": True}})
    assert error.value.keyword == "not" and error.value.pointer == "/not"
    with pytest.warns(SchemaWarning, match="'not' at /not"):
        _, node = lower({"not": {"uniqueItems": True}}, lenient=True)
    assert node == ANY


def test_one_of_with_disjoint_branches_is_a_plain_union():
    _, node = lower({"oneOf": [{"type": "string"}, {"type": "object", "required": ["a"]}]})
    assert node.string == ANY.string and len(node.objects) == 1 and not node.null


def test_one_of_with_overlapping_numbers_is_exclusive():
    lowerer, node = lower({"oneOf": [{"type": "integer", "minimum": 0}, {"type": "integer", "maximum": 10}]})
    dfa = lowerer.scalars.number_dfa(node.number)
    assert [dfa.matches(t) for t in (b"-5", b"0", b"10", b"11")] == [True, False, False, True]


def test_one_of_overlap_only_matters_where_siblings_allow():
    schema = {
        "type": "object",
        "oneOf": [
            {"properties": {"a": {}}, "required": ["a"], "additionalProperties": False},
            {"properties": {"b": {}}, "required": ["b"], "additionalProperties": {"type": "integer"}},
        ],
    }
    _, node = lower(schema)
    assert len(node.objects) == 2


def test_one_of_that_cannot_be_made_disjoint_is_refused():
    schema = {
        "type": "array",
        "oneOf": [{"items": {"type": "integer"}}, {"uniqueItems": True, "maxItems": 2}],
    }
    with pytest.raises(UnsupportedSchemaError) as error:
        lower(schema)
    assert error.value.keyword == "oneOf" and error.value.pointer == "/oneOf"
    with pytest.warns(SchemaWarning):
        _, node = lower(schema, lenient=True)
    assert len(node.arrays) == 2


def test_negated_key_rules_become_witnesses():
    _, node = lower(
        {"type": "object", "not": {"additionalProperties": {"type": "integer"}, "properties": {"a": {}}}}
    )
    (shape,) = node.objects
    (witness,) = shape.witnesses
    assert witness.excluded == {"a"} and witness.rules[0].additional is not None


def test_oneof_discriminated_by_const_is_provably_disjoint():
    lowerer, _ = lower({})
    branches = [
        Lowerer({"properties": {"k": {"const": c}}, "required": ["k"]}, Options()).root() for c in ("x", "y")
    ]
    assert lowerer.algebra.overlap(*branches) == {"null", "boolean", "number", "string", "array"}


def test_if_then_else_splits_on_the_condition():
    lowerer, node = lower(
        {"type": "integer", "if": {"minimum": 10}, "then": {"maximum": 20}, "else": {"minimum": 5}}
    )
    dfa = lowerer.scalars.number_dfa(node.number)
    assert [dfa.matches(t) for t in (b"4", b"5", b"9", b"10", b"20", b"21")] == [
        False,
        True,
        True,
        True,
        True,
        False,
    ]


def test_recursion_through_anyof_is_the_least_fixed_point():
    lowerer, node = lower({"anyOf": [{"$ref": "#"}, {"type": "integer"}]})
    assert lowerer.algebra.expand(node).number == NumberAtom(integer=INTEGER)


def test_recursive_reference_in_a_value_position_stays_a_reference():
    lowerer, node = lower({"properties": {"next": {"$ref": "#"}}})
    (shape,) = node.objects
    assert shape.declared("next").refs == ("#/properties/next",)
    assert lowerer.ctx.body("#/properties/next").refs == ("#",)


def test_unsatisfiable_contains_is_empty():
    lowerer, node = lower({"type": "array", "contains": {"type": "string"}, "maxItems": 0})
    assert lowerer.algebra.is_empty(node)


@pytest.mark.parametrize(
    ("schema", "pointer"),
    [
        ({"type": "integr"}, "/type"),
        ({"minLength": -1}, "/minLength"),
        ({"properties": {"a": 3}}, "/properties"),
        ({"required": "a"}, "/required"),
        ({"multipleOf": 0}, "/multipleOf"),
        ({"allOf": []}, "/allOf"),
        ({"items": {"maxItems": "3", "type": "array"}}, "/items/maxItems"),
        ({"$ref": "#/$defs/missing"}, "/$ref"),
        ({"enum": 3}, "/enum"),
        ({"anyOf": [{"not": 5}]}, "/anyOf/0/not"),
    ],
)
def test_invalid_keyword_values_name_their_pointer(schema, pointer):
    with pytest.raises(SchemaError) as error:
        lower(schema)
    assert error.value.pointer == pointer


def test_unknown_formats_are_annotations_with_a_warning():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, node = lower({"type": "string", "format": "made-up"})
    assert node.string == ANY.string
    assert any("made-up" in str(w.message) for w in caught)
