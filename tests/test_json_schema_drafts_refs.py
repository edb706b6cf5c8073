"""Dialect normalisation and reference resolution, at the schema level (no automata)."""

from __future__ import annotations

import pytest

from constrain.errors import SchemaError, UnsupportedSchemaError
from constrain.json_schema.drafts import DRAFT4, DRAFT7, DRAFT2019, DRAFT2020, draft_of, normalize_keywords
from constrain.json_schema.refs import SchemaDocument, child_pointer, split_pointer


@pytest.mark.parametrize(
    ("uri", "draft"),
    [
        ("http://json-schema.org/draft-04/schema#", DRAFT4),
        ("http://json-schema.org/draft-07/schema", DRAFT7),
        ("https://json-schema.org/draft/2019-09/schema", DRAFT2019),
        ("https://json-schema.org/draft/2020-12/schema", DRAFT2020),
        ("https://example.com/custom-meta", DRAFT2020),
    ],
)
def test_draft_of_reads_the_schema_uri(uri, draft):
    assert draft_of({"$schema": uri}) == draft


def test_draft_03_is_refused_and_bad_schema_uri_is_an_error():
    with pytest.raises(UnsupportedSchemaError):
        draft_of({"$schema": "http://json-schema.org/draft-03/schema#"})
    with pytest.raises(SchemaError, match="must be a string"):
        draft_of({"$schema": 3})


def test_array_items_become_prefix_items_and_additional_items_the_rest():
    keywords = normalize_keywords({"items": [{"type": "integer"}], "additionalItems": False}, DRAFT7)
    assert keywords.values == {"prefixItems": [{"type": "integer"}], "items": False}
    assert keywords.source("prefixItems") == "items"
    assert keywords.source("items") == "additionalItems"


def test_additional_items_without_array_items_is_dropped():
    assert normalize_keywords({"items": {}, "additionalItems": False}, DRAFT7).values == {"items": {}}


def test_dependencies_split_by_value_kind():
    keywords = normalize_keywords({"dependencies": {"a": ["b"], "c": {"required": ["d"]}}}, DRAFT7)
    assert keywords.values == {
        "dependentRequired": {"a": ["b"]},
        "dependentSchemas": {"c": {"required": ["d"]}},
    }
    assert keywords.source("dependentSchemas") == "dependencies"


def test_boolean_exclusive_bounds_of_draft_04():
    values = normalize_keywords(
        {"minimum": 1, "exclusiveMinimum": True, "maximum": 5, "exclusiveMaximum": False}, DRAFT4
    )
    assert values.values == {"exclusiveMinimum": 1, "maximum": 5}
    assert values.source("exclusiveMinimum") == "minimum"


def test_ref_siblings_are_dropped_before_2019_only():
    schema = {"$ref": "#/definitions/a", "type": "string"}
    assert normalize_keywords(schema, DRAFT7).values == {"$ref": "#/definitions/a"}
    assert normalize_keywords(schema, DRAFT2020).values == schema


def test_draft_04_id_is_renamed():
    assert normalize_keywords({"id": "http://x/y.json"}, DRAFT4).values == {"$id": "http://x/y.json"}
    assert normalize_keywords({"id": "not-an-identifier"}, DRAFT7).values == {"id": "not-an-identifier"}


def test_pointer_escapes_round_trip():
    pointer = child_pointer("", "a/b", "c~d", 0)
    assert pointer == "/a~1b/c~0d/0"
    assert split_pointer(pointer) == ["a/b", "c~d", "0"]


def test_resolve_local_pointers_with_escapes_and_percent_encoding():
    document = SchemaDocument({"$defs": {"a/b": {}, "c~d": {}, "e%f": {}, "list": [{}, {"x": 1}]}})
    root = document.location("")
    assert document.resolve("#/$defs/a~1b", root).pointer == "/$defs/a~1b"
    assert document.resolve("#/$defs/c~0d", root).pointer == "/$defs/c~0d"
    assert document.resolve("#/$defs/e%25f", root).pointer == "/$defs/e%f"
    assert document.resolve("#/$defs/list/1", root).pointer == "/$defs/list/1"
    assert document.resolve("#", root).pointer == ""


def test_resolve_anchors_and_embedded_identifiers():
    document = SchemaDocument(
        {
            "$id": "https://example.com/root.json",
            "$defs": {
                "a": {"$anchor": "here"},
                "b": {"$id": "sub/b.json", "$defs": {"c": {"$anchor": "deep"}}},
                "legacy": {"$id": "#old"},
            },
        }
    )
    root = document.location("")
    assert document.resolve("#here", root).pointer == "/$defs/a"
    assert document.resolve("sub/b.json", root).pointer == "/$defs/b"
    assert document.resolve("https://example.com/sub/b.json#deep", root).pointer == "/$defs/b/$defs/c"
    inside_b = document.location("/$defs/b")
    assert inside_b.base_uri == "https://example.com/sub/b.json"
    assert document.resolve("#deep", inside_b).pointer == "/$defs/b/$defs/c"
    assert document.resolve("#/$defs/c", inside_b).pointer == "/$defs/b/$defs/c"
    assert document.resolve("#old", root).pointer == "/$defs/legacy"


def test_urn_identifiers_resolve_fragment_references():
    document = SchemaDocument({"$id": "urn:uuid:deadbeef-1234", "$defs": {"x": {}}})
    assert document.resolve("#/$defs/x", document.location("")).pointer == "/$defs/x"
    assert document.resolve("urn:uuid:deadbeef-1234#/$defs/x", document.location("")).pointer == "/$defs/x"


def test_remote_and_missing_references():
    document = SchemaDocument({"$defs": {}})
    root = document.location("")
    with pytest.raises(UnsupportedSchemaError, match="remote reference") as error:
        document.resolve("https://json-schema.org/draft/2020-12/schema", root)
    assert error.value.keyword == "$ref" and error.value.pointer == "/$ref"
    with pytest.raises(SchemaError, match="does not exist"):
        document.resolve("#/$defs/missing", root)
    with pytest.raises(SchemaError, match="anchor 'nope' is not defined"):
        document.resolve("#nope", root)


def test_pointers_into_unknown_keywords_resolve():
    document = SchemaDocument({"components": {"schemas": {"Pet": {"type": "object"}}}})
    assert (
        document.resolve("#/components/schemas/Pet", document.location("")).pointer
        == "/components/schemas/Pet"
    )


def test_dynamic_ref_with_a_single_dynamic_anchor_is_a_ref():
    document = SchemaDocument({"$dynamicAnchor": "node", "items": {"$dynamicRef": "#node"}})
    assert document.resolve_dynamic("#node", document.location("/items")).pointer == ""
    twice = SchemaDocument({"$dynamicAnchor": "n", "$defs": {"x": {"$id": "x.json", "$dynamicAnchor": "n"}}})
    with pytest.raises(UnsupportedSchemaError, match="defined 2 times"):
        twice.resolve_dynamic("#n", twice.location(""))


def test_recursive_ref_goes_to_the_root_anchor():
    document = SchemaDocument({"$recursiveAnchor": True, "$defs": {"x": {"$recursiveRef": "#"}}})
    assert document.resolve_recursive("#", document.location("/$defs/x")).pointer == ""
