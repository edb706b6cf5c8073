"""Rules for one object shape: declared members in order, then the undeclared ones.

With ``property_order="any"`` a shape with few declared keys takes its members in any
order instead (``_any_order_sequence``): the state remembers which declared keys are
used, so each appears at most once and the required ones exactly when the object ends.

Declared keys appear in their declaration order, each at most once (a key terminal is
the key's every JSON spelling). Undeclared keys come after them; their terminals
exclude every declared key, so no key can be written twice through the two routes.
Undeclared keys are split into classes by the patterns they match, each class with the
intersection of the schemas that apply (patterns and additionalProperties of every
contributing subschema). Repeated undeclared keys cannot be excluded by a context-free
grammar and are not.

Objects with at least ``SPLIT_NAMES_FROM`` declared names spell them in pieces along
their radix tree (``key_tree``), undeclared names included, so that the lexer's expected
sets stay small after each member; the language is the same.

The member sequence is a small automaton over (declared index, members so far, which
witnesses are met): the count only as far as ``minProperties``/``maxProperties`` need
it, the witnesses (negated key rules, see ``nodes.Witness``) as a bit mask.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from constrain.byte_dfa import ByteDFA
from constrain.ir import NonTerminal, Symbol
from constrain.json_schema.context import Inexpressible
from constrain.json_schema.key_tree import key_symbols, undeclared_key
from constrain.json_schema.nodes import (
    ANY_VALUE,
    NOTHING,
    TRUE,
    KeyRule,
    Node,
    ObjectShape,
    StringAtom,
    Values,
    Witness,
)

if TYPE_CHECKING:
    from constrain.json_schema.to_grammar import GrammarBuilder

SPLIT_NAMES_FROM = 10  # objects with this many declared names spell them in pieces

Variant = tuple[tuple[Symbol, ...], int]  # symbols of one member, and the witnesses it meets
Member = tuple[list[Variant], bool]  # a declared key's variants, and whether it is required
Region = tuple[frozenset[str], int, ByteDFA]  # patterns matched, witnesses applicable, keys


def object_rules(builder: GrammarBuilder, shape: ObjectShape, depth: int) -> NonTerminal | None:
    """The nonterminal of ``shape``'s objects at ``depth``; None when it has none."""
    options = builder.ctx.options
    few = len(shape.properties) <= options.any_order_max_properties
    split = _names_split(shape) and not (options.property_order == "any" and few)
    try:
        members = _declared_members(builder, shape, depth, split)
        extras = _undeclared_members(builder, shape, depth, split)
    except Inexpressible as error:
        builder.ctx.refuse("not", str(error), shape.pointer)
        return object_rules(builder, replace(shape, witnesses=()), depth)
    if members is None:
        return None
    layout = builder.layout
    nt = NonTerminal(builder.fresh("object"))
    if shape.min_properties == 0 and not shape.witnesses and not any(required for _, required in members):
        builder.rule(nt, layout.empty("{", depth))
    if shape.max_properties != 0:
        any_order = options.property_order == "any" and len(members) <= options.any_order_max_properties
        sequence = _any_order_sequence if any_order else _member_sequence
        body = sequence(builder, members, extras, shape, depth)
        builder.rule(nt, layout.open("{", depth), body, layout.close("{", depth))
    return nt


def _names_split(shape: ObjectShape) -> bool:
    """Whether the declared names are spelled in pieces (``key_tree``): only for many names,
    where the lexer's products of whole names grow large, and only for Unicode names."""
    return len(shape.declared_keys) >= SPLIT_NAMES_FROM and all(
        _is_unicode(key) for key in shape.declared_keys
    )


def _is_unicode(key: str) -> bool:
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _declared_members(
    builder: GrammarBuilder, shape: ObjectShape, depth: int, split: bool
) -> list[Member] | None:
    """The declared keys that may appear; None if a required one cannot."""
    members: list[Member] = []
    colon = builder.layout.colon(depth)
    for key, value in shape.properties:
        required = key in shape.required
        if value == NOTHING or not builder.scalars.key_allowed(shape.names, key):
            if required:
                return None
            continue
        name = _name_symbols(builder, shape, key, split)
        applicable = [i for i, w in enumerate(shape.witnesses) if _witness_applies(builder, w, key)]
        matched = frozenset(p for p in _witness_patterns(shape) if builder.scalars.pattern_matches(p, key))
        variants = _split_by_witnesses(builder, shape, value, matched, applicable)
        members.append(
            (
                [((*name, colon, builder.value(node, depth + 1)), mask) for node, mask in variants],
                required,
            )
        )
    return members


def _name_symbols(builder: GrammarBuilder, shape: ObjectShape, key: str, split: bool) -> tuple[Symbol, ...]:
    """The symbols of the declared name ``key``: its pieces when ``split``, else one terminal."""
    if split:
        return key_symbols(builder, shape.declared_keys, key)
    terminal = builder.terminal(("key", key), "KEY", lambda: builder.scalars.key_literal_dfa(key))
    assert terminal is not None
    return (terminal,)


def _witness_applies(builder: GrammarBuilder, witness: Witness, key: str) -> bool:
    return key not in witness.excluded and builder.scalars.key_allowed(witness.names, key)


def _witness_patterns(shape: ObjectShape) -> list[str]:
    rules = [rule for w in shape.witnesses for rule in w.rules or ()]
    return list(dict.fromkeys(p for rule in rules for p, _ in rule.patterns))


def _split_by_witnesses(
    builder: GrammarBuilder, shape: ObjectShape, value: Node, matched: frozenset[str], applicable: list[int]
) -> list[tuple[Node, int]]:
    """``value`` cut by whether it breaks each applicable witness's rules (mask bit set)."""
    algebra = builder.algebra
    variants = [(value, 0)]
    for index in applicable:
        rules = shape.witnesses[index].rules
        if rules is None:
            obeys = NOTHING  # every value meets this witness
        else:
            obeys = algebra.intersect(*(_rule_value(builder, rule, matched, closed=False) for rule in rules))
        breaks = algebra.complement_nested(obeys, "not", shape.pointer)
        split = [
            (algebra.intersect_nested(node, breaks, shape.pointer), mask | 1 << index)
            for node, mask in variants
        ]
        split += [(algebra.intersect_nested(node, obeys, shape.pointer), mask) for node, mask in variants]
        variants = [(node, mask) for node, mask in split if node != NOTHING]
    return variants


def _rule_value(builder: GrammarBuilder, rule: KeyRule, matched: frozenset[str], *, closed: bool) -> Node:
    """What one subschema asks of a value whose key matches exactly the patterns ``matched``.

    ``closed``: an unspecified ``additionalProperties`` follows the compile option (the
    shape's own rules); a witness's rules read it as "anything", as the algebra does.
    """
    nodes = [node for pattern, node in rule.patterns if pattern in matched]
    if nodes:
        return builder.algebra.intersect(*nodes)
    if rule.additional is not None:
        return rule.additional
    return NOTHING if closed and not builder.ctx.options.additional_properties_default else ANY_VALUE


def _undeclared_members(
    builder: GrammarBuilder, shape: ObjectShape, depth: int, split: bool
) -> list[tuple[NonTerminal, int]]:
    """One undeclared key with its value, per set of witnesses met; empty if no key is allowed.

    With the names ``split`` and no pattern, witness or ``propertyNames`` to cut the
    undeclared keys into classes, they are the tree's undeclared route (``key_tree``).
    """
    plain = not shape.witnesses and shape.names == TRUE and not any(rule.patterns for rule in shape.key_rules)
    if split and plain:
        value = _undeclared_value(builder, shape)
        if value == NOTHING:
            return []
        nt = NonTerminal(builder.fresh("member"))
        key_nt = undeclared_key(builder, shape.declared_keys)
        builder.rule(nt, key_nt, builder.layout.colon(depth), builder.value(value, depth + 1))
        return [(nt, 0)]
    key = ("undeclared", shape)
    if key not in builder.cache:
        builder.cache[key] = _key_classes(builder, shape)
    by_mask: dict[int, NonTerminal] = {}
    colon = builder.layout.colon(depth)
    for key_dfa, variants in builder.cache[key]:
        key_terminal = builder.terminal(("key class", key_dfa), "KEYS", lambda key_dfa=key_dfa: key_dfa)
        assert key_terminal is not None
        for value, mask in variants:
            if mask not in by_mask:
                by_mask[mask] = NonTerminal(builder.fresh("member"))
            builder.rule(by_mask[mask], key_terminal, colon, builder.value(value, depth + 1))
    return sorted(((nt, mask) for mask, nt in by_mask.items()), key=lambda pair: pair[1])


def _key_classes(builder: GrammarBuilder, shape: ObjectShape) -> list[tuple[ByteDFA, list[tuple[Node, int]]]]:
    """(key automaton, value variants) for each class of undeclared keys.

    Classes are cut by every pattern of the key rules and witnesses, and by which
    witnesses apply. Without ``propertyNames`` anywhere they are cut from decoded key
    values (small automata) and JSON-escaped once at the end, several times cheaper.
    """
    patterns = [p for rule in shape.key_rules for p, _ in rule.patterns] + _witness_patterns(shape)
    if not patterns and not shape.witnesses:
        return _single_key_class(builder, shape)
    scalars = builder.scalars
    decoded = shape.names == TRUE and all(w.names == TRUE for w in shape.witnesses)

    def keys_except(names, excluded: frozenset[str]) -> ByteDFA:
        if decoded:
            return scalars.decoded_keys_except(excluded)
        keys = scalars.string_dfa(names)
        return keys.difference(scalars.string_dfa(Values(excluded))) if excluded else keys

    def inside_of(region: ByteDFA, language: ByteDFA) -> ByteDFA:
        """``region ∩ language``; the pattern's own (shared) automaton when ``region`` is every
        undeclared key and no declared key matches, so that its escaping is shared too."""
        if (
            decoded
            and region is keys
            and not any(language.matches(k) for k in _utf8_keys(shape.declared_keys))
        ):
            return language
        return region.intersect(language)

    def cut(regions: list[Region], language: ByteDFA, pattern: str | None, bit: int) -> list[Region]:
        split = []
        for matched, applies, region in regions:
            builder.ctx.budget.check_time(shape.pointer)
            inside, outside = inside_of(region, language), region.difference(language)
            if not inside.is_empty:
                split.append((matched | {pattern} if pattern else matched, applies | bit, inside))
            if not outside.is_empty:
                split.append((matched, applies, outside))
        return split

    keys = keys_except(shape.names, shape.declared_keys)
    regions: list[Region] = [] if keys.is_empty else [(frozenset(), 0, keys)]
    for pattern in dict.fromkeys(patterns):
        if decoded:
            language = scalars.decoded_pattern(pattern)
        else:
            language = scalars.string_dfa(StringAtom(pattern=pattern, pointer=shape.pointer))
        regions = cut(regions, language, pattern, 0)
    for index, witness in enumerate(shape.witnesses):
        regions = cut(regions, keys_except(witness.names, witness.excluded), None, 1 << index)
    classes = []
    for matched, applies, region in regions:
        rules = shape.key_rules
        value = builder.algebra.intersect(
            *(_rule_value(builder, rule, matched, closed=True) for rule in rules)
        )
        applicable = [i for i in range(len(shape.witnesses)) if applies >> i & 1]
        variants = _split_by_witnesses(builder, shape, value, matched, applicable) if value != NOTHING else []
        if variants:
            classes.append((scalars.encoded(region, shape.pointer) if decoded else region, variants))
    return classes


def _utf8_keys(keys: frozenset[str]) -> list[bytes]:
    """The keys that are Unicode, as UTF-8 (a key with a lone surrogate is no decoded value)."""
    return [key.encode("utf-8") for key in keys if _is_unicode(key)]


def _single_key_class(
    builder: GrammarBuilder, shape: ObjectShape
) -> list[tuple[ByteDFA, list[tuple[Node, int]]]]:
    """Without patterns or witnesses, all undeclared keys form one class with one value schema.

    The value comes first: a closed object (``additionalProperties: false``) needs no
    key automaton at all. The keys are built as JSON literals directly (every literal
    but the declared keys'), which is much cheaper than escaping a decoded complement.
    """
    value = _undeclared_value(builder, shape)
    if value == NOTHING:
        return []
    if shape.names == TRUE:
        keys = builder.scalars.encoded_keys_except(shape.declared_keys)
    else:
        keys = builder.scalars.string_dfa(shape.names)
        if shape.declared_keys:
            keys = keys.difference(builder.scalars.string_dfa(Values(shape.declared_keys)))
    return [] if keys.is_empty else [(keys, [(value, 0)])]


def _undeclared_value(builder: GrammarBuilder, shape: ObjectShape) -> Node:
    """The value of an undeclared key no pattern matches (NOTHING if there is none)."""
    return builder.algebra.intersect(
        *(_rule_value(builder, rule, frozenset(), closed=True) for rule in shape.key_rules)
    )


class _States:
    """The nonterminals of a member automaton's states, made on first reference and queued.

    A state is ``(position, members so far, witnesses met)``; both member automata explore
    only the states reachable from the start, in worklist order.
    """

    def __init__(self, builder: GrammarBuilder):
        self._builder = builder
        self._by_state: dict[tuple[int, int, int], NonTerminal] = {}
        self.todo: list[tuple[int, int, int]] = []

    def __call__(self, position: int, count: int, met: int) -> NonTerminal:
        key = (position, count, met)
        if key not in self._by_state:
            self._by_state[key] = NonTerminal(self._builder.fresh("members"))
            self.todo.append(key)
        return self._by_state[key]

    def pop(self) -> tuple[tuple[int, int, int], NonTerminal]:
        key = self.todo.pop()
        return key, self._by_state[key]


def _count_bounds(shape: ObjectShape) -> tuple[int | None, int, int, int]:
    """``(maxProperties, count cap, count that may end the object, all-witnesses-met mask)``.

    The count is capped at ``maxProperties`` (exact) or, without one, at
    ``max(minProperties, 1)``, which then means "at least".
    """
    low, high = shape.min_properties, shape.max_properties
    cap = high if high is not None else max(low, 1)
    return high, cap, max(low, 1), (1 << len(shape.witnesses)) - 1


def _member_sequence(
    builder: GrammarBuilder,
    members: list[Member],
    extras: list[tuple[NonTerminal, int]],
    shape: ObjectShape,
    depth: int,
) -> NonTerminal:
    """Non-empty member lists: state (i, c, m) = next declared index, members so far, witnesses met.

    ``c`` is capped at ``maxProperties`` (exact) or, without one, at ``max(minProperties, 1)``
    (meaning "at least"); the at-least-one bound is what the empty-object rule leaves.
    Once every witness is met, the undeclared members are a plain bounded repetition.
    """
    high, cap, final, complete = _count_bounds(shape)
    comma = builder.layout.comma(depth)
    state = _States(builder)
    any_extra = _any_of(builder, [nt for nt, _ in extras])
    start = state(0, 0, 0)
    while state.todo:
        (i, count, met), nt = state.pop()
        separator = (comma,) if count > 0 else ()
        room = high is None or count < high
        if i < len(members):
            variants, required = members[i]
            for unit, mask in variants if room else ():
                builder.rule(nt, *separator, *unit, state(i + 1, min(count + 1, cap), met | mask))
            if not required:
                builder.rule(nt, state(i + 1, count, met))
        elif met != complete:
            for extra, mask in extras if room else ():
                builder.rule(nt, *separator, extra, state(i, min(count + 1, cap), met | mask))
        else:
            _rest(builder, nt, any_extra, comma, count, final, high)
    return start


def _any_order_sequence(
    builder: GrammarBuilder,
    members: list[Member],
    extras: list[tuple[NonTerminal, int]],
    shape: ObjectShape,
    depth: int,
) -> NonTerminal:
    """Non-empty member lists in any order: state (u, c, m) = declared keys used (bit mask),
    members so far, witnesses met.

    ``c`` is capped as in ``_member_sequence``. A state may end the object once every
    required key is used, the count reaches ``max(minProperties, 1)`` and every witness
    is met. There are up to ``2**len(members)`` key sets, which is why only small shapes
    come here.
    """
    high, cap, final, complete = _count_bounds(shape)
    needed = sum(1 << i for i, (_, required) in enumerate(members) if required)
    comma = builder.layout.comma(depth)
    state = _States(builder)
    start = state(0, 0, 0)
    while state.todo:
        (used, count, met), nt = state.pop()
        builder.ctx.budget.check_time(shape.pointer)
        if used & needed == needed and count >= final and met == complete:
            builder.rule(nt)
        if high is not None and count >= high:
            continue
        separator = (comma,) if count > 0 else ()
        after = min(count + 1, cap)
        for i, (variants, _) in enumerate(members):
            for unit, mask in variants if not used >> i & 1 else ():
                builder.rule(nt, *separator, *unit, state(used | 1 << i, after, met | mask))
        for extra, mask in extras:
            builder.rule(nt, *separator, extra, state(used, after, met | mask))
    return start


def _rest(
    builder: GrammarBuilder,
    nt: NonTerminal,
    extra: NonTerminal | None,
    comma: Symbol,
    count: int,
    final: int,
    high: int | None,
) -> None:
    """The undeclared members after ``count`` members: as many as the bounds still allow."""
    more_low = max(final - count, 0)
    more_high = None if high is None else high - count
    if extra is None:
        if more_low == 0:
            builder.rule(nt)
    elif count > 0:
        builder.rule(nt, *builder.repeater.repeat((comma, extra), more_low, more_high))
    elif more_high is None or more_high > 0:
        rest_high = None if more_high is None else more_high - 1
        builder.rule(nt, extra, *builder.repeater.repeat((comma, extra), more_low - 1, rest_high))


def _any_of(builder: GrammarBuilder, alternatives: list[NonTerminal]) -> NonTerminal | None:
    if len(alternatives) <= 1:
        return alternatives[0] if alternatives else None
    nt = NonTerminal(builder.fresh("member"))
    for alternative in alternatives:
        builder.rule(nt, alternative)
    return nt
