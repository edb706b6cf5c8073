"""Multi-region infilling with an autoregressive model: fill the holes of a template, left to right.

A template such as ``'{"name": <hole>, "tags": [<hole>]}'`` fixes some text and leaves holes.
The model writes each hole in turn, conditioned on everything before it, and the additive-
infilling checker (:mod:`constrain.infill`) guarantees that the rest of the template stays
completable: while hole j is written, a token t is acceptable iff

    text so far + t, Hole(), fixed text j+1, Hole(), fixed text j+2, ...

can still be completed into a word of the grammar. So the output is always a word of the
grammar, and each hole can always be closed eventually. The holes are unbounded in the checks
because bounded holes over a 50k-token vocabulary cost seconds per check; each hole's token
budget is enforced by the writer instead: on the last token of the budget the model's likeliest
closing tokens are tried first, and if the budget still runs out where the hole cannot close,
the hole is cut back to the last point where it could (the model's context too). Only a hole
that never passed such a point raises :class:`~constrain.generation.IncompleteOutputError`;
invalid text is never returned.

Tokens are checked AWRS-style, in the order of a sample without replacement from the model
(Gumbel keys; logit order when greedy), and the first acceptable one is taken: only drawn tokens
are checked, never a full vocabulary mask, and the result is an exact draw from the model
restricted to the acceptable tokens. The model ends a hole by producing the start of the next
fixed text (or EOS): a drawn token whose bytes end with a prefix of the fixed text is read as
"the rest of the hole, then the fixed text", if the fixed text can follow there.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from constrain.compiled_grammar import CompiledGrammar
from constrain.errors import ConstrainError
from constrain.generation import IncompleteOutputError, prompt_token_ids
from constrain.infill import Checker, Hole, Verdict

__all__ = ["HOLE_MARKER", "FillResult", "fill"]

HOLE_MARKER = "<hole>"
_FIRST_SORTED = 16
_CLOSING_CANDIDATES = 32


@dataclass(frozen=True)
class FillResult:
    """The filled template; ``str(result)`` is its text, ``holes`` the text written into each hole.

    ``n_checks`` counts checker calls during generation and ``n_rejected`` the drawn tokens refused.
    """

    text: str
    holes: tuple[str, ...]
    n_checks: int
    n_rejected: int
    seconds: float
    check_seconds: float

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class _Template:
    """Fixed texts ``fixed[0] hole[0] fixed[1] ... hole[n-1] fixed[n]`` and each hole's token budget."""

    fixed: tuple[bytes, ...]
    budgets: tuple[int, ...]


def fill(
    model: Any,
    tokenizer: Any,
    template: str | Sequence[str | bytes | Hole],
    grammar: CompiledGrammar,
    *,
    prompt: str | None = None,
    max_tokens_per_hole: int = 32,
    temperature: float = 0.0,
    seed: int | None = None,
    chat: bool = True,
) -> FillResult:
    """Fill every hole of ``template`` with ``model`` so that the whole text is a word of ``grammar``.

    ``template`` is a string with ``<hole>`` markers or a list of texts and ``Hole()`` /
    ``Hole(max_tokens=k)`` objects (``k`` overrides ``max_tokens_per_hole`` for that hole).
    ``grammar`` must be compiled for the model's vocabulary. ``prompt`` is the instruction the
    model sees before the template (by default, the template with its holes shown as ``___``).
    Raises :class:`ConstrainError` before generating if the template cannot be completed, and
    :class:`~constrain.generation.IncompleteOutputError` if a hole cannot be closed within its budget.
    """
    started = time.perf_counter()
    parsed = _parse_template(template, max_tokens_per_hole)
    _check_options(grammar, temperature)
    checks = _Checks(Checker(grammar))
    _check_completable(checks, parsed)
    instruction = prompt if prompt is not None else _default_prompt(parsed)
    context = prompt_token_ids(tokenizer, instruction, chat)
    writer = _Writer(model, tokenizer, grammar, checks, parsed, temperature, seed)
    holes = writer.run(context)
    text = b"".join(part for pair in zip(parsed.fixed, [*holes, b""], strict=True) for part in pair)
    _assert_word(grammar, text)
    return FillResult(
        text=text.decode("utf-8", errors="replace"),
        holes=tuple(hole.decode("utf-8", errors="replace") for hole in holes),
        n_checks=checks.n_checks,
        n_rejected=writer.n_rejected,
        seconds=time.perf_counter() - started,
        check_seconds=checks.seconds,
    )


class _Checks:
    """Exact checks (no time limit: a fill has no fallback for an unknown verdict), counted and timed."""

    def __init__(self, checker: Checker):
        self.checker = checker
        self.n_checks = 0
        self.seconds = 0.0

    def completable(self, segments: list) -> bool:
        started = time.perf_counter()
        verdict = self.checker.check(segments)
        self.seconds += time.perf_counter() - started
        self.n_checks += 1
        return verdict == Verdict.COMPLETABLE


class _Writer:
    """Writes the holes one token at a time, feeding the model incrementally (KV cache)."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        grammar: CompiledGrammar,
        checks: _Checks,
        template: _Template,
        temperature: float,
        seed: int | None,
    ):
        self.model = model
        self.tokenizer = tokenizer
        self.vocab = grammar.vocab
        self.checks = checks
        self.template = template
        self.temperature = temperature
        self.generator = torch.Generator()
        if seed is None:
            self.generator.seed()
        else:
            self.generator.manual_seed(seed)
        self.history: list[int] = []  # the model's context: prompt, fixed text and chosen tokens
        self.n_fed = 0  # how much of ``history`` the KV cache holds
        self.past: Any = None
        self.n_rejected = 0
        self._closers_by_hole: dict[int, torch.Tensor] = {}

    def run(self, context: list[int]) -> list[bytes]:
        fixed = self.template.fixed
        written = fixed[0]
        self.history = list(context)
        held = self._append_fixed(fixed[0])
        holes = []
        for j, budget in enumerate(self.template.budgets):
            content, tail = self._write_hole(j, budget, written, held)
            holes.append(content)
            written += content + fixed[j + 1]
            held = self._append_fixed(fixed[j + 1][len(tail) :])
        return holes

    def _append_fixed(self, text: bytes) -> list[int]:
        """Append the tokens of ``text`` to the context but hold back the last one, returned.

        This is token healing: ``'{"name": '`` ends in a lone space token that the model would
        never produce before a value (it writes ``' "'``), so conditioning on it derails the
        model. The held-back token's bytes are already in the text; the model writes them again.
        """
        tokens = self._encode(text)
        spelled = b"".join(self.vocab.token_bytes[t] for t in tokens)
        if tokens and spelled == text and len(self.history) + len(tokens) > 1:
            self.history += tokens[:-1]
            return tokens[-1:]
        self.history += tokens
        return []

    def _write_hole(self, j: int, budget: int, written: bytes, held: list[int]) -> tuple[bytes, bytes]:
        """The hole's content and the part of the next fixed text its last token already wrote.

        If the budget runs out where the hole cannot close, the content is cut back to the last
        point where it could (and the model's context with it).
        """
        healed = b"".join(self.vocab.token_bytes[t] for t in held)
        content = b""
        closable = (0, len(self.history), held) if self._can_stop(j, written) else None
        for used in range(budget):
            choice = self._choose(self._next_logits(), j, written + content, healed, last=used == budget - 1)
            if choice.token not in self.vocab.eos_token_ids:
                self.history.append(choice.token)
            healed = choice.healed
            if choice.stop:
                return content + choice.content, choice.tail
            content += choice.content
            if not healed and self._can_stop(j, written + content):
                closable = (len(content), len(self.history), [])
        if closable is None:
            partial = (written + content).decode("utf-8", errors="replace")
            raise IncompleteOutputError(
                f"hole {j} used its {budget} tokens without ever reaching a point where it can close; "
                f"increase max_tokens_per_hole; partial output: {partial[-200:]!r}",
                partial=partial,
                token_ids=(),
            )
        size, history_length, restored = closable
        self._truncate(history_length)
        self.history += restored
        return content[:size], b""

    def _truncate(self, length: int) -> None:
        del self.history[length:]
        if self.n_fed > length:
            self.past = None
            self.n_fed = 0

    def _next_logits(self) -> torch.Tensor:
        """Logits after the whole history, feeding only what the KV cache lacks."""
        if len(self.history) == self.n_fed:
            raise ConstrainError("the model needs some context: give a non-empty prompt or fixed text")
        device = getattr(self.model, "device", None)
        inputs = torch.tensor([self.history[self.n_fed :]], dtype=torch.long, device=device)
        with torch.inference_mode():
            output = self.model(input_ids=inputs, past_key_values=self.past, use_cache=True)
        self.past = output.past_key_values
        self.n_fed = len(self.history)
        return output.logits[0, -1].float().cpu()

    def _choose(self, logits: torch.Tensor, j: int, text: bytes, healed: bytes, last: bool) -> _Choice:
        """The first acceptable reading of the drawn tokens, in the model's (sampled) order.

        On the budget's ``last`` token, closing readings come first (content after which the hole
        closes at once): among the model's likeliest tokens, then among all tokens that end with
        the start of the next fixed text, best first; only then is the ordinary reading used.
        """
        logits = logits[: self.vocab.size]
        order = _draw_order(logits, self.temperature, self.generator)
        if last:
            head = list(itertools.islice(order, _CLOSING_CANDIDATES))
            closers = self._closers(j)
            closers = closers[torch.argsort(logits[closers], descending=True, stable=True)].tolist()
            for token in itertools.chain(head, closers):
                choice = self._reading(token, j, text, healed, closing=True)
                if choice is not None:
                    return choice
                self.n_rejected += 1
            order = itertools.chain(head, order)
        for token in order:
            choice = self._reading(token, j, text, healed, closing=False)
            if choice is not None:
                return choice
            self.n_rejected += 1
        raise ConstrainError("internal error: no token can continue a completable template")

    def _closers(self, j: int) -> torch.Tensor:
        """Ids of the tokens whose bytes end with a non-empty prefix of the fixed text after hole j."""
        if j not in self._closers_by_hole:
            following = self.template.fixed[j + 1]
            ids = [
                t for t, data in enumerate(self.vocab.token_bytes) if data and _closing_cuts(data, following)
            ]
            self._closers_by_hole[j] = torch.tensor(ids, dtype=torch.long)
        return self._closers_by_hole[j]

    def _reading(self, token: int, j: int, text: bytes, healed: bytes, closing: bool) -> _Choice | None:
        """How ``token`` can be read here: closing the hole (preferred), content, or not at all.

        With ``closing``, content is acceptable only if the hole can close right after it.
        """
        if token in self.vocab.eos_token_ids:
            # Held-back bytes are written again first, so that the model's context spells the text.
            return _Choice(token, True, b"", b"", b"") if not healed and self._can_stop(j, text) else None
        data = self.vocab.token_bytes[token]
        if not data:
            return None
        if healed.startswith(data):
            if closing and not self._can_stop(j, text):
                return None
            return _Choice(token, False, b"", b"", healed[len(data) :])
        if not data.startswith(healed):
            return None
        data = data[len(healed) :]
        for cut in _closing_cuts(data, self.template.fixed[j + 1]):
            if self._can_stop(j, text + data[:cut]):
                return _Choice(token, True, data[:cut], data[cut:], b"")
        hole = [] if closing else [Hole()]
        if self.checks.completable([text + data, *hole, *self._after(j)]):
            return _Choice(token, False, data, b"", b"")
        return None

    def _can_stop(self, j: int, text: bytes) -> bool:
        return self.checks.completable([text, *self._after(j)])

    def _after(self, j: int) -> list[bytes | Hole]:
        """The template after hole ``j``: fixed text j+1, then the later holes and texts."""
        rest: list[bytes | Hole] = [self.template.fixed[j + 1]]
        for text in self.template.fixed[j + 2 :]:
            rest += [Hole(), text]
        return rest

    def _encode(self, data: bytes) -> list[int]:
        return list(self.tokenizer.encode(data.decode("utf-8"), add_special_tokens=False)) if data else []


@dataclass(frozen=True)
class _Choice:
    """A drawn token read as hole ``content`` (then, if ``stop``, the fixed text's first ``tail`` bytes).

    ``healed`` is what remains of the held-back bytes the model still has to write again.
    """

    token: int
    stop: bool
    content: bytes
    tail: bytes
    healed: bytes


def _closing_cuts(data: bytes, following: bytes) -> list[int]:
    """Cuts of a token's bytes into hole content and a non-empty prefix of the fixed text after it.

    Longest fixed-text part first; the cut must leave the fixed text's rest on a UTF-8 boundary.
    """
    cuts = []
    for cut in range(len(data)):
        tail = data[cut:]
        rest = following[len(tail) :]
        if following.startswith(tail) and not (rest and 0x80 <= rest[0] < 0xC0):
            cuts.append(cut)
    return cuts


def _draw_order(logits: torch.Tensor, temperature: float, generator: torch.Generator):
    """Token ids in the order of a sample without replacement (Gumbel-top-k), or by logit if greedy."""
    keys = logits.clamp(min=torch.finfo(torch.float32).min / 2)
    if temperature > 0:
        keys = keys / temperature - torch.empty_like(keys).exponential_(generator=generator).log()
    first = torch.topk(keys, min(_FIRST_SORTED, len(keys))).indices.tolist()
    yield from first
    tried = set(first)
    yield from (t for t in torch.argsort(keys, descending=True, stable=True).tolist() if t not in tried)


def _parse_template(template: object, default_budget: int) -> _Template:
    if isinstance(default_budget, bool) or not isinstance(default_budget, int) or default_budget < 1:
        raise ConstrainError(f"max_tokens_per_hole must be a positive int, got {default_budget!r}")
    if isinstance(template, str):
        texts = template.split(HOLE_MARKER)
        items: list[object] = [part for text in texts for part in (text, Hole())][:-1]
    elif isinstance(template, Sequence) and not isinstance(template, bytes | bytearray):
        items = list(template)
    else:
        raise ConstrainError(f"template must be a str with {HOLE_MARKER} markers or a list, got {template!r}")
    fixed: list[bytes] = [b""]
    budgets: list[int] = []
    for index, item in enumerate(items):
        if isinstance(item, Hole):
            budgets.append(_hole_budget(item, index, default_budget))
            fixed.append(b"")
        elif isinstance(item, str | bytes):
            fixed[-1] += item.encode("utf-8") if isinstance(item, str) else item
        else:
            raise ConstrainError(
                f"template item {index} is a {type(item).__name__}: expected str, bytes or Hole"
            )
    if not budgets:
        raise ConstrainError(f"the template has no hole: mark them with {HOLE_MARKER} or Hole()")
    if any(not text for text in fixed[1:-1]):
        raise ConstrainError("two holes are adjacent: put fixed text between them or merge them into one")
    for text in fixed:
        try:
            text.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ConstrainError(f"the template's fixed text {text!r} is not UTF-8: {error}") from None
    return _Template(tuple(fixed), tuple(budgets))


def _hole_budget(hole: Hole, index: int, default_budget: int) -> int:
    if hole.tokens is not None:
        raise ConstrainError(
            f"template item {index} is Hole(tokens={hole.tokens}): fill supports Hole() and "
            "Hole(max_tokens=k) (an autoregressive model decides where a hole ends)"
        )
    if hole.max_tokens is not None and hole.max_tokens < 1:
        raise ConstrainError(f"template item {index} is Hole(max_tokens={hole.max_tokens}): give k >= 1")
    return default_budget if hole.max_tokens is None else hole.max_tokens


def _check_completable(checks: _Checks, template: _Template) -> None:
    """Refuse, before any generation, a template that no fill of its holes completes."""
    segments: list[bytes | Hole] = [template.fixed[0]]
    for text in template.fixed[1:]:
        segments += [Hole(), text]
    if not checks.completable(segments):
        raise ConstrainError("the template cannot become a word of the grammar, whatever the holes hold")


def _check_options(grammar: object, temperature: float) -> None:
    if not isinstance(grammar, CompiledGrammar):
        raise ConstrainError(f"grammar must be a CompiledGrammar, got {type(grammar).__name__}")
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, int | float)
        or not 0 <= temperature < float("inf")
    ):
        raise ConstrainError(f"temperature must be a finite number >= 0, got {temperature!r}")


def _default_prompt(template: _Template) -> str:
    shown = "___".join(text.decode("utf-8") for text in template.fixed)
    return f"Fill in each ___ of the following so that it is valid; write the whole text.\n\n{shown}"


def _assert_word(grammar: CompiledGrammar, text: bytes) -> None:
    """A last, cheap guard: the matcher must accept the filled text (the checker promised it)."""
    matcher = grammar.matcher()
    if not matcher.advance_bytes(text) or not matcher.is_accepting():
        raise ConstrainError("internal error: the filled template is not a word of the grammar")
