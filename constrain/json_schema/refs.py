"""Where a ``$ref`` points: identifiers, anchors and JSON pointers inside one document.

Every location is named by its JSON pointer into the root document, the one canonical
name a referenced schema gets (and the key of its grammar nonterminal). Only references
that stay inside the document resolve; any other raises ``UnsupportedSchemaError``
(nothing is ever fetched).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urldefrag, urljoin

from constrain.errors import SchemaError, UnsupportedSchemaError
from constrain.json_schema.drafts import (
    DEFAULT_DRAFT,
    DRAFT4,
    SCHEMA_KEYWORDS,
    SCHEMA_LIST_KEYWORDS,
    SCHEMA_MAP_KEYWORDS,
    draft_of,
)

# The base URI of a document without "$id"; refs that name it resolve locally.
DEFAULT_BASE_URI = "https://constrain.invalid/schema.json"


@dataclass(frozen=True)
class Location:
    """A schema inside the document: its pointer, the base URI and dialect in force there."""

    pointer: str
    base_uri: str
    draft: int


def escape_pointer_token(token: str | int) -> str:
    return str(token).replace("~", "~0").replace("/", "~1")


def child_pointer(pointer: str, *tokens: str | int) -> str:
    return pointer + "".join("/" + escape_pointer_token(t) for t in tokens)


def split_pointer(pointer: str) -> list[str]:
    """The unescaped tokens of a JSON pointer (``~1`` is ``/``, ``~0`` is ``~``)."""
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise ValueError(f"not a JSON pointer: {pointer!r}")
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


def _join(base: str, reference: str) -> str:
    """``urljoin`` that also handles fragment-only references against ``urn:`` bases."""
    if reference.startswith("#"):
        return urldefrag(base).url + reference
    return urljoin(base, reference)


def _strip_empty_fragment(uri: str) -> str:
    return uri[:-1] if uri.endswith("#") else uri


class SchemaDocument:
    """An index of one schema document's resources (``$id``) and anchors.

    ``resolve`` turns a reference into the ``Location`` of its target, raising
    ``SchemaError`` for a target that does not exist and ``UnsupportedSchemaError``
    for one outside the document.
    """

    def __init__(self, root: Any):
        self.root = root
        self._locations: dict[str, Location] = {}
        self._resources: dict[str, str] = {}  # absolute URI without fragment -> pointer
        self._anchors: dict[str, str] = {}  # absolute URI with "#name" -> pointer
        self._dynamic_anchors: dict[str, list[str]] = {}  # name -> pointers
        self._recursive_anchors: list[str] = []  # pointers of resources with $recursiveAnchor: true
        draft = draft_of(root, DEFAULT_DRAFT)
        self._walk(
            root,
            Location("", self._resource_uri(root, DEFAULT_BASE_URI, draft) or DEFAULT_BASE_URI, draft),
            True,
        )
        self._resources.setdefault(DEFAULT_BASE_URI, "")

    # -- indexing ------------------------------------------------------------------

    @staticmethod
    def _resource_uri(schema: Any, base: str, draft: int) -> str | None:
        """The new base URI a schema's ``$id`` (``id`` in draft-04) establishes, if any."""
        if not isinstance(schema, dict):
            return None
        identifier = schema.get("id" if draft <= DRAFT4 else "$id")
        if not isinstance(identifier, str) or identifier.startswith("#"):
            return None
        return _strip_empty_fragment(_join(base, identifier))

    def _walk(self, schema: Any, location: Location, is_resource: bool) -> None:
        self._locations[location.pointer] = location
        if not isinstance(schema, dict):
            return
        if is_resource:
            self._resources.setdefault(location.base_uri, location.pointer)
        self._index_names(schema, location)
        for keyword, value in schema.items():
            for tokens, child in _subschemas(keyword, value):
                pointer = child_pointer(location.pointer, keyword, *tokens)
                draft = draft_of(child, location.draft, pointer)
                is_child_resource = self._resource_uri(child, location.base_uri, draft) is not None
                self._walk(child, self._child_location(child, pointer, location), is_child_resource)

    def _child_location(self, child: Any, pointer: str, parent: Location) -> Location:
        draft = draft_of(child, parent.draft, pointer)
        base = self._resource_uri(child, parent.base_uri, draft) or parent.base_uri
        return Location(pointer, base, draft)

    def _index_names(self, schema: dict[str, Any], location: Location) -> None:
        pointer, base = location.pointer, location.base_uri
        legacy_id = schema.get("id" if location.draft <= DRAFT4 else "$id")
        if isinstance(legacy_id, str) and legacy_id.startswith("#") and len(legacy_id) > 1:
            self._anchors[urldefrag(base).url + legacy_id] = pointer
        for keyword in ("$anchor", "$dynamicAnchor"):
            name = schema.get(keyword)
            if isinstance(name, str):
                self._anchors.setdefault(urldefrag(base).url + "#" + name, pointer)
        if isinstance(schema.get("$dynamicAnchor"), str):
            self._dynamic_anchors.setdefault(schema["$dynamicAnchor"], []).append(pointer)
        if schema.get("$recursiveAnchor") is True:
            self._recursive_anchors.append(pointer)

    # -- lookup --------------------------------------------------------------------

    def location(self, pointer: str) -> Location:
        """The location of any pointer, also inside keywords the index does not walk."""
        if pointer in self._locations:
            return self._locations[pointer]
        tokens = split_pointer(pointer)
        parent = self.location(child_pointer("", *tokens[:-1]))
        child = self.value_at(pointer)
        location = self._child_location(child, pointer, parent)
        self._locations[pointer] = location
        return location

    def value_at(self, pointer: str, *, referrer: str = "") -> Any:
        """The raw value a pointer addresses; SchemaError naming ``referrer`` if absent."""
        node = self.root
        for token in split_pointer(pointer):
            if isinstance(node, dict) and token in node:
                node = node[token]
            elif isinstance(node, list) and token.isdigit() and (token == "0" or token[0] != "0"):
                if int(token) >= len(node):
                    raise SchemaError(f"reference target {pointer!r} does not exist", pointer=referrer)
                node = node[int(token)]
            else:
                raise SchemaError(f"reference target {pointer!r} does not exist", pointer=referrer)
        return node

    def resolve(self, reference: str, at: Location, keyword: str = "$ref") -> Location:
        """The target of ``reference`` written at ``at`` (a schema's own location)."""
        if not isinstance(reference, str):
            raise SchemaError(f"'{keyword}' must be a string", pointer=child_pointer(at.pointer, keyword))
        where = child_pointer(at.pointer, keyword)
        absolute = _join(at.base_uri, reference)
        uri, fragment = urldefrag(absolute)
        fragment = unquote(fragment)
        if fragment and not fragment.startswith("/"):
            anchored = self._anchors.get(uri + "#" + fragment)
            if anchored is None:
                if uri in self._resources:
                    raise SchemaError(f"anchor {fragment!r} is not defined", pointer=where)
                raise UnsupportedSchemaError(keyword, f"remote reference {reference!r}", pointer=where)
            return self.location(anchored)
        if uri not in self._resources:
            raise UnsupportedSchemaError(keyword, f"remote reference {reference!r}", pointer=where)
        target = self._resources[uri] + fragment
        self.value_at(target, referrer=where)
        return self.location(target)

    def resolve_dynamic(self, reference: str, at: Location) -> Location:
        """``$dynamicRef``: exact when the dynamic anchor it names is defined once."""
        target = self.resolve(reference, at, "$dynamicRef")
        name = unquote(urldefrag(reference).fragment)
        pointers = self._dynamic_anchors.get(name, [])
        if target.pointer in pointers and len(pointers) > 1:
            raise UnsupportedSchemaError(
                "$dynamicRef",
                f"dynamic anchor {name!r} is defined {len(pointers)} times; dynamic scope is not tracked",
                pointer=child_pointer(at.pointer, "$dynamicRef"),
            )
        return target

    def resolve_recursive(self, reference: str, at: Location) -> Location:
        """``$recursiveRef`` (2019-09): exact when at most the root sets ``$recursiveAnchor``."""
        where = child_pointer(at.pointer, "$recursiveRef")
        if reference != "#":
            raise UnsupportedSchemaError("$recursiveRef", "only '#' is supported", pointer=where)
        target = self.resolve("#", at, "$recursiveRef")
        if target.pointer not in self._recursive_anchors:
            return target
        if self._recursive_anchors == [target.pointer] or self._recursive_anchors[0] == "":
            return self.location(self._recursive_anchors[0])
        raise UnsupportedSchemaError("$recursiveRef", "nested $recursiveAnchor resources", pointer=where)


def _subschemas(keyword: str, value: Any) -> list[tuple[tuple[str | int, ...], Any]]:
    """The (pointer tokens, subschema) pairs a keyword holds, for indexing."""
    found: list[tuple[tuple[str | int, ...], Any]] = []
    if keyword in SCHEMA_LIST_KEYWORDS and isinstance(value, list):
        found += [((i,), child) for i, child in enumerate(value) if isinstance(child, dict | bool)]
    elif keyword in SCHEMA_KEYWORDS and isinstance(value, dict | bool):
        found.append(((), value))
    elif keyword in SCHEMA_MAP_KEYWORDS and isinstance(value, dict):
        found += [((name,), child) for name, child in value.items() if isinstance(child, dict | bool)]
    return found
