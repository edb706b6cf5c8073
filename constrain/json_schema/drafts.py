"""Dialects of JSON Schema, and the shallow rewrite of older keywords into 2020-12 form.

The rewrite is *shallow* (one schema object at a time, children untouched) on purpose:
``$ref`` pointers address the document as written, so the document itself is never
rewritten. Each rewritten keyword remembers the keyword it came from, which is how a
child's JSON pointer is still reported in the user's own terms.

Legacy keywords that cannot clash with 2020-12 (``definitions``, ``dependencies``,
array-form ``items`` with ``additionalItems``, boolean ``exclusiveMinimum``) are honoured
in every dialect: schemas in the wild often omit ``$schema`` yet use draft-07 words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from constrain.errors import SchemaError, UnsupportedSchemaError

# Dialect numbers; comparisons like ``draft <= DRAFT7`` read naturally.
DRAFT4, DRAFT6, DRAFT7, DRAFT2019, DRAFT2020 = 4, 6, 7, 2019, 2020
DEFAULT_DRAFT = DRAFT2020

_DIALECT_URIS = {
    "json-schema.org/draft-03/schema": 3,
    "json-schema.org/draft-04/schema": DRAFT4,
    "json-schema.org/draft-06/schema": DRAFT6,
    "json-schema.org/draft-07/schema": DRAFT7,
    "json-schema.org/draft/2019-09/schema": DRAFT2019,
    "json-schema.org/draft/2020-12/schema": DRAFT2020,
}

# Keywords whose value is one subschema, a map of subschemas, or a list of subschemas.
SCHEMA_KEYWORDS = frozenset(
    {
        "additionalProperties",
        "additionalItems",
        "contains",
        "propertyNames",
        "not",
        "if",
        "then",
        "else",
        "unevaluatedItems",
        "unevaluatedProperties",
        "contentSchema",
        "items",
    }
)
SCHEMA_MAP_KEYWORDS = frozenset(
    {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas", "dependencies"}
)
SCHEMA_LIST_KEYWORDS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems", "items"})


def draft_of(schema: Any, inherited: int = DEFAULT_DRAFT, pointer: str = "") -> int:
    """The dialect a schema object declares with ``$schema``, else the inherited one."""
    if not isinstance(schema, dict) or "$schema" not in schema:
        return inherited
    uri = schema["$schema"]
    if not isinstance(uri, str):
        raise SchemaError("'$schema' must be a string", pointer=pointer + "/$schema")
    key = uri.split("://", 1)[-1].rstrip("#")
    draft = _DIALECT_URIS.get(key, inherited)
    if draft == 3:
        raise UnsupportedSchemaError("$schema", "draft-03 schemas are not supported", pointer=pointer)
    return draft


@dataclass(frozen=True)
class Keywords:
    """One schema object's keywords in 2020-12 form.

    ``sources[k]`` names the keyword ``k`` was written as (when renamed), so the pointer
    of a child is ``pointer + "/" + source(k) + ...``.
    """

    values: dict[str, Any]
    sources: dict[str, str]

    def source(self, keyword: str) -> str:
        return self.sources.get(keyword, keyword)


def normalize_keywords(schema: dict[str, Any], draft: int, pointer: str = "") -> Keywords:
    """Rewrite one schema object's keywords (not its children) into 2020-12 form."""
    values = dict(schema)
    sources: dict[str, str] = {}
    if draft <= DRAFT7 and "$ref" in values:
        # Before 2019-09, keywords beside "$ref" are ignored.
        return Keywords({"$ref": values["$ref"]}, {})
    if draft <= DRAFT4 and "id" in values and "$id" not in values:
        values["$id"] = values.pop("id")
        sources["$id"] = "id"
    _rewrite_array_items(values, sources, pointer)
    _rewrite_dependencies(values, sources, pointer)
    for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        _rewrite_boolean_exclusive(values, sources, bound, exclusive)
    return Keywords(values, sources)


def _rewrite_array_items(values: dict[str, Any], sources: dict[str, str], pointer: str) -> None:
    """Array-form ``items`` + ``additionalItems`` -> ``prefixItems`` + ``items``."""
    items = values.get("items")
    if not isinstance(items, list):
        values.pop("additionalItems", None)  # only meaningful beside array-form items
        return
    if "prefixItems" in values:
        raise SchemaError(
            "'items' must be a schema when 'prefixItems' is present", pointer=pointer + "/items"
        )
    values["prefixItems"] = values.pop("items")
    sources["prefixItems"] = "items"
    if "additionalItems" in values:
        values["items"] = values.pop("additionalItems")
        sources["items"] = "additionalItems"


def _rewrite_dependencies(values: dict[str, Any], sources: dict[str, str], pointer: str) -> None:
    """``dependencies`` -> ``dependentRequired`` (list values) and ``dependentSchemas``."""
    if "dependencies" not in values:
        return
    dependencies = values.pop("dependencies")
    if not isinstance(dependencies, dict):
        raise SchemaError("'dependencies' must be an object", pointer=pointer + "/dependencies")
    for target in ("dependentRequired", "dependentSchemas"):
        if target in values:
            raise UnsupportedSchemaError(
                "dependencies", f"given together with '{target}'", pointer=pointer + "/dependencies"
            )
    for name, dependency in dependencies.items():
        target = "dependentRequired" if isinstance(dependency, list) else "dependentSchemas"
        values.setdefault(target, {})[name] = dependency
        sources[target] = "dependencies"


def _rewrite_boolean_exclusive(
    values: dict[str, Any], sources: dict[str, str], bound: str, exclusive: str
) -> None:
    """Draft-04 boolean ``exclusiveMinimum`` turns ``minimum`` exclusive."""
    flag = values.get(exclusive)
    if not isinstance(flag, bool):
        return
    del values[exclusive]
    if flag and bound in values:
        values[exclusive] = values.pop(bound)
        sources[exclusive] = bound
