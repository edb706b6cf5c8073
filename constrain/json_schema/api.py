"""The JSON Schema front end: ``schema_to_grammar`` and ``check_schema``.

Pipeline: parse the input (dict, bool, JSON text or Pydantic model class) -> index the
document (``refs``) -> lower to typed nodes (``lower``, ``simplify``) -> rules
(``to_grammar``). Everything the schema says is enforced exactly or refused with
``UnsupportedSchemaError``; ``lenient=True`` drops what cannot be enforced, with a
``SchemaWarning`` naming keyword and pointer.

Decisions a user can observe:

* Object keys: declared properties appear in declaration order (``properties`` order;
  across ``allOf``/``$ref``, a schema's own properties first, then its subschemas';
  keys only named by ``required`` come after those some ``properties`` lists), then any
  undeclared keys. With ``property_order="any"``, objects with at most
  ``any_order_max_properties`` declared keys take their keys in any order (undeclared
  ones interleaved too), each declared key at most once; larger objects keep the
  declaration order, since the any-order automaton has a state per subset of keys.
  A ``const``/``enum`` object keeps its own key order (in both modes). Undeclared keys
  are never a declared key, but may repeat among themselves (no CFG can forbid that).
* Numbers: ``integer`` admits integer-valued decimals (``3``, ``3.0``); exponent forms
  (``1e5``) only where the sign alone decides a bound (see ``json_lexemes.numbers``).
  ``const``/``enum`` numbers compare by value (``1`` admits ``1.0``).
* ``format`` is asserted for the formats ``json_lexemes`` knows; the other formats the
  specification defines (``regex``, ``idn-hostname``, ...) are refused; custom ones are
  annotations (ignored with a warning). Strings admit every JSON escaping of a valid value.
* ``uniqueItems`` is enforced where implied (at most one item, disjoint item schemas)
  or when items are among a few scalar values; otherwise refused.
* ``unevaluatedProperties``/``unevaluatedItems`` are supported where no in-place
  applicator (``allOf``, ``$ref``, ...) contributes evaluations; otherwise refused.
* ``$dynamicRef``/``$recursiveRef`` are supported where they resolve statically (the
  anchor is defined once, or only the root is recursive); remote references are refused.
* A reference cycle that never reaches a property or item (``A = anyOf[A, B]``) means
  its least fixed point (``B``).
* ``whitespace="pretty"`` lays values out exactly as ``json.dumps(value, indent=2)``,
  nesting up to ``layout.PRETTY_MAX_DEPTH`` levels (deeper values are rejected).
"""

from __future__ import annotations

import json
from typing import Any

from constrain.errors import CompileBudgetError, SchemaError
from constrain.ir import Grammar
from constrain.json_schema.context import Options, PropertyOrder, Whitespace
from constrain.json_schema.layout import Layout
from constrain.json_schema.lower import Lowerer
from constrain.json_schema.to_grammar import GrammarBuilder

MAX_ANY_ORDER_PROPERTIES = 10  # 2**10 subsets of keys: past this the automaton outgrows the budget


def schema_to_grammar(
    schema: Any,
    *,
    whitespace: Whitespace = "flexible",
    max_whitespace: int = 20,
    lenient: bool = False,
    additional_properties_default: bool = True,
    budget_seconds: float = 2.0,
    max_rules: int = 100_000,
    property_order: PropertyOrder = "schema",
    any_order_max_properties: int = 6,
) -> Grammar:
    """The grammar of the JSON texts that are instances of ``schema``.

    ``schema``: a dict or bool, a JSON text, or a Pydantic model class.
    ``whitespace``: ``"flexible"`` (JSON whitespace in every gap, at most
    ``max_whitespace`` characters per gap), ``"compact"`` (none) or ``"pretty"`` (exactly
    ``json.dumps(value, indent=2)``'s layout). Declared properties appear in declaration
    order, then any other allowed keys. ``property_order="any"`` accepts the keys of
    objects with at most ``any_order_max_properties`` (at most 10) declared properties in any order,
    each declared key at most once and ``required`` exact; objects with more keep the
    declaration order. Generation wants ``"schema"`` (the default): a model writes keys
    in the order the schema lists them, and a fixed order keeps the grammar small.
    ``additional_properties_default=False`` closes objects whose schemas declare
    properties but say nothing about others.

    Raises SchemaError (invalid or unsatisfiable schema), UnsupportedSchemaError (a
    keyword that cannot be enforced exactly; not when ``lenient``) and
    CompileBudgetError (past ``budget_seconds`` of CPU time or ``max_rules``), each with the JSON
    pointer of the part concerned.
    """
    if whitespace not in ("flexible", "compact", "pretty"):
        raise ValueError(f"whitespace must be 'flexible', 'compact' or 'pretty', not {whitespace!r}")
    if max_whitespace < 0:
        raise ValueError("max_whitespace must be >= 0")
    if property_order not in ("schema", "any"):
        raise ValueError(f"property_order must be 'schema' or 'any', not {property_order!r}")
    if not 0 <= any_order_max_properties <= MAX_ANY_ORDER_PROPERTIES:
        raise ValueError(f"any_order_max_properties must be in 0..{MAX_ANY_ORDER_PROPERTIES}")
    options = Options(
        whitespace=whitespace,
        max_whitespace=max_whitespace,
        lenient=lenient,
        additional_properties_default=additional_properties_default,
        budget_seconds=budget_seconds,
        max_rules=max_rules,
        property_order=property_order,
        any_order_max_properties=any_order_max_properties,
    )
    lowerer = Lowerer(_as_document(schema), options)
    builder = GrammarBuilder(lowerer, Layout(whitespace, max_whitespace))
    try:
        return builder.build(lowerer.root())
    except RecursionError as error:
        raise CompileBudgetError("the schema is nested too deeply to compile") from error


def check_schema(
    schema: Any,
    *,
    whitespace: Whitespace = "flexible",
    max_whitespace: int = 20,
    lenient: bool = False,
    additional_properties_default: bool = True,
    budget_seconds: float = 2.0,
    max_rules: int = 100_000,
    property_order: PropertyOrder = "schema",
    any_order_max_properties: int = 6,
) -> None:
    """Raise exactly what ``schema_to_grammar`` would raise with these options; else None.

    It compiles the schema to the grammar IR (no vocabulary is involved), which is
    where every refusal and budget overrun happens.
    """
    schema_to_grammar(
        schema,
        whitespace=whitespace,
        max_whitespace=max_whitespace,
        lenient=lenient,
        additional_properties_default=additional_properties_default,
        budget_seconds=budget_seconds,
        max_rules=max_rules,
        property_order=property_order,
        any_order_max_properties=any_order_max_properties,
    )


def _as_document(schema: Any) -> Any:
    """The schema as parsed JSON: dicts and bools pass, text is parsed, models export theirs."""
    if isinstance(schema, dict | bool):
        return schema
    if isinstance(schema, str | bytes):
        try:
            return json.loads(schema)
        except json.JSONDecodeError as error:
            raise SchemaError(f"the schema is not valid JSON: {error}") from error
    if isinstance(schema, type) and hasattr(schema, "model_json_schema"):
        return schema.model_json_schema()
    raise SchemaError(
        f"a schema must be a dict, a bool, JSON text or a Pydantic model, not {type(schema).__name__}"
    )
