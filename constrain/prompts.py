"""Prompts built from a JSON Schema: what to generate, described in words the model can use.

The grammar already forces the output's *shape*; what it cannot force is *meaning*. A small
model fills a field called ``total`` far better when the prompt says "the invoice total in
euros, e.g. 129.5". So the schema's titles, descriptions and examples (of nested properties
too, through local ``$ref``\\ s as Pydantic emits them) are turned into a short field list,
which goes after a one-line instruction and, for extraction, before the source text.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["describe_schema", "extraction_prompt", "generation_prompt"]

_MAX_DEPTH = 6  # nested property levels described; deeper (or recursive) schemas stop here
_MAX_EXAMPLES = 3


def generation_prompt(schema: Any, request: str | None = None) -> str:
    """A prompt asking for one JSON value of ``schema`` (parsed JSON Schema), for ``request`` if given."""
    if request:
        lines = [request.strip(), "", *_with_description("Answer with a JSON value", schema)]
    else:
        lines = _with_description("Generate a JSON value", schema)
    return "\n".join([*lines, "Answer with the JSON only."])


def extraction_prompt(schema: Any, text: str, instructions: str | None = None) -> str:
    """A prompt asking to extract ``schema``'s fields from ``text``, after ``instructions`` if given."""
    lead = instructions or "Extract the information described below from the text"
    lines = _with_description(lead.strip().rstrip(".:"), schema, examples=False)
    return "\n".join([*lines, "Answer with the JSON only.", "", "Text:", text.strip()])


def describe_schema(schema: Any, examples: bool = True) -> list[str]:
    """One line per described property, indented by nesting: name, type, required, description.

    ``examples=False`` leaves the schema's examples out: extraction prompts do, because a small
    model copies an example value instead of reading it from the text.
    """
    if not isinstance(schema, dict):
        return []
    return _property_lines(schema, schema, 0, examples)


def _with_description(lead: str, schema: Any, examples: bool = True) -> list[str]:
    root = schema if isinstance(schema, dict) else {}
    title = root.get("title")
    head = f"{lead} for {title!r}" if isinstance(title, str) else lead
    lines = [head + "."]
    if isinstance(root.get("description"), str):
        lines.append(root["description"].strip())
    fields = describe_schema(schema, examples)
    if fields:
        lines += ["Fields:", *fields]
    else:
        lines.append("It must match this JSON Schema: " + json.dumps(schema, ensure_ascii=False))
    return lines


def _property_lines(root: dict[str, Any], schema: dict[str, Any], depth: int, examples: bool) -> list[str]:
    schema = _resolved(root, schema)
    properties = schema.get("properties")
    if not isinstance(properties, dict) or depth >= _MAX_DEPTH:
        return []
    required = schema.get("required") if isinstance(schema.get("required"), list) else []
    lines = []
    for name, subschema in properties.items():
        sub = _resolved(root, subschema) if isinstance(subschema, dict) else {}
        lines.append("  " * depth + "- " + _property_line(name, sub, name in required, examples))
        lines += _property_lines(root, _object_part(root, sub), depth + 1, examples)
    return lines


def _property_line(name: str, schema: dict[str, Any], required: bool, examples: bool) -> str:
    facts = [_type_name(schema)] + (["required"] if required else [])
    line = f"{name} ({', '.join(f for f in facts if f)})"
    words = [schema[key].strip() for key in ("title", "description") if isinstance(schema.get(key), str)]
    if words and words[0].lower().replace(" ", "_") == name.lower():
        words = words[1:]  # Pydantic's automatic title repeats the field name
    if words:
        line += ": " + " ".join(w.rstrip(".") + "." for w in words)
    given = schema.get("examples")
    if examples and isinstance(given, list) and given:
        shown = ", ".join(json.dumps(e, ensure_ascii=False) for e in given[:_MAX_EXAMPLES])
        line += f" Examples: {shown}"
    if isinstance(schema.get("enum"), list):
        line += " One of: " + ", ".join(json.dumps(v, ensure_ascii=False) for v in schema["enum"])
    return line


def _type_name(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        return " or ".join(str(k) for k in kind)
    if kind == "array" and isinstance(schema.get("items"), dict):
        return f"array of {_type_name(schema['items']) or 'values'}"
    if isinstance(kind, str):
        return kind
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list):
            names = [_type_name(s) for s in schema[key] if isinstance(s, dict)]
            return " or ".join(n for n in names if n)
    return "object" if "properties" in schema else ""


def _object_part(root: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """The object schema to describe below a property: itself, its items, or its one non-null branch."""
    if "properties" in schema:
        return schema
    if isinstance(schema.get("items"), dict):
        return _resolved(root, schema["items"])
    for key in ("anyOf", "oneOf"):
        branches = [_resolved(root, s) for s in schema.get(key, []) if isinstance(s, dict)]
        objects = [b for b in branches if "properties" in b]
        if len(objects) == 1:
            return objects[0]
    return {}


def _resolved(root: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Follow a local ``$ref`` (``#/$defs/Name``); the referring schema's own keys win."""
    reference = schema.get("$ref")
    if not isinstance(reference, str) or not reference.startswith("#/"):
        return schema
    target: Any = root
    for part in reference[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(target, dict) or part not in target:
            return schema
        target = target[part]
    if not isinstance(target, dict):
        return schema
    return {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
