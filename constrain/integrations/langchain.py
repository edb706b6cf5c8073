"""LangChain integration: a schema-validating output parser and a constrained local chat model.

``ConstrainOutputParser(schema)`` is a plain ``BaseOutputParser``: it parses JSON text and
validates it against the schema, raising ``OutputParserException`` otherwise, so it works
after any chat model. ``ConstrainChatModel(model="default")`` runs a local transformers model
through constrain's generation loop; its ``with_structured_output(schema)`` *constrains*
generation to the schema, so the parse cannot fail, where LangChain's usual approach for
local models is to validate and retry::

    chain = prompt | ConstrainChatModel().with_structured_output(Person)
    person = chain.invoke({"text": "..."})

Needs ``pip install constrain[langchain]`` (langchain-core).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

try:
    from langchain_core.callbacks import CallbackManagerForLLMRun
    from langchain_core.exceptions import OutputParserException
    from langchain_core.language_models import BaseChatModel, LanguageModelInput
    from langchain_core.messages import AIMessage, BaseMessage
    from langchain_core.output_parsers import BaseOutputParser
    from langchain_core.outputs import ChatGeneration, ChatResult
    from langchain_core.runnables import Runnable, RunnableLambda
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        "constrain.integrations.langchain needs langchain-core: pip install constrain[langchain]"
    ) from error

from pydantic import ConfigDict, Field

from constrain import api
from constrain.errors import ConstrainError
from constrain.prompts import describe_schema

__all__ = ["ConstrainChatModel", "ConstrainOutputParser"]

_ANY_TEXT = r"[\s\S]*"
_CODE_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)
_ROLES = {"human": "user", "ai": "assistant", "system": "system"}


def format_instructions(schema: Any) -> str:
    """What to answer: JSON of ``schema``, with its fields described (or the schema itself)."""
    document, _ = api.schema_document(schema)
    fields = describe_schema(document)
    if fields:
        return "\n".join(["Answer with a JSON object only, with these fields:", *fields])
    return "Answer with JSON only, matching this JSON Schema: " + json.dumps(document, ensure_ascii=False)


class ConstrainOutputParser(BaseOutputParser[Any]):
    """Parses JSON text and validates it against a schema (a dict, JSON text or Pydantic class).

    Returns a dict (or list, ...) for a JSON Schema and an instance for a Pydantic class;
    invalid output raises ``OutputParserException``. A surrounding Markdown code fence is allowed.
    """

    json_schema: Any
    model_config = ConfigDict(arbitrary_types_allowed=True)

    def __init__(self, json_schema: Any = None, /, **fields: Any):
        """``ConstrainOutputParser(schema)``; the schema is checked now (SchemaError...)."""
        if json_schema is not None:
            fields["json_schema"] = json_schema
        super().__init__(**fields)
        api.schema_document(self.json_schema)

    def parse(self, text: str) -> Any:
        document, model_class = api.schema_document(self.json_schema)
        body = text.strip()
        fenced = _CODE_FENCE.match(body)
        try:
            return api.parse_json_output(fenced.group(1) if fenced else body, document, model_class)
        except api.OutputValidationError as error:
            raise OutputParserException(str(error), llm_output=text) from None

    def get_format_instructions(self) -> str:
        return format_instructions(self.json_schema)

    @property
    def _type(self) -> str:
        return "constrain_json"


class ConstrainChatModel(BaseChatModel):
    """A local transformers model as a LangChain chat model, generating through constrain.

    ``model``: ``"default"`` (SmolLM2-135M-Instruct, offline), a model directory, a transformers
    model or a ``(model, tokenizer)`` pair; loaded at the first call. Without a constraint the
    output is free text; ``json_schema``, ``regex`` or ``grammar`` (Lark text or a bundled
    grammar name) constrains every call, and ``with_structured_output`` binds a schema.
    Decoding is greedy unless ``temperature`` > 0.
    """

    model: Any = "default"
    tokenizer: Any = None
    json_schema: Any = None
    regex: str | None = None
    grammar: str | None = None
    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    sampler: str = "mask"
    sampling_options: dict[str, Any] = Field(default_factory=dict)
    model_config = ConfigDict(arbitrary_types_allowed=True, protected_namespaces=())

    @property
    def _llm_type(self) -> str:
        return "constrain"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model": self.model if isinstance(self.model, str) else type(self.model).__name__,
            "max_new_tokens": self.max_new_tokens,
            "temperature": self.temperature,
            "sampler": self.sampler,
        }

    def with_structured_output(
        self, schema: dict[str, Any] | type, *, include_raw: bool = False, **kwargs: Any
    ) -> Runnable[LanguageModelInput, Any]:
        """A runnable whose generations are constrained to ``schema``; returns dicts or instances.

        The schema is checked now (SchemaError, UnsupportedSchemaError...). With
        ``include_raw`` the result is ``{"raw": AIMessage, "parsed": ..., "parsing_error": None}``.
        """
        if kwargs:
            raise ConstrainError(f"unsupported with_structured_output options: {', '.join(sorted(kwargs))}")
        document, _ = api.schema_document(schema)
        api.schema_grammar(document, api.json_schema_options())
        parser = ConstrainOutputParser(schema)
        bound = self.bind(json_schema=schema)
        if not include_raw:
            return bound | parser
        return bound | RunnableLambda(
            lambda message: {"raw": message, "parsed": parser.invoke(message), "parsing_error": None}
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        schema = kwargs.pop("json_schema", self.json_schema)
        key, ir, instructions = _constraint(
            schema, kwargs.pop("regex", self.regex), kwargs.pop("grammar", self.grammar)
        )
        sampling = {
            "max_new_tokens": self.max_new_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "seed": self.seed,
            "sampler": self.sampler,
            **self.sampling_options,
            **kwargs,
        }
        chat = _chat_messages(messages, instructions)
        result = api.run_constrained(self.model, self.tokenizer, chat, key, ir, sampling)
        text = _cut_at_stop(result.text, stop)
        message = AIMessage(
            content=text,
            response_metadata={"finish_reason": result.finish_reason, "model_name": self._llm_type},
            usage_metadata={
                "input_tokens": result.prompt_tokens,
                "output_tokens": len(result.token_ids),
                "total_tokens": result.prompt_tokens + len(result.token_ids),
            },
        )
        return ChatResult(generations=[ChatGeneration(message=message)])


def _constraint(schema: Any, regex: str | None, grammar: str | None) -> tuple[Any, Any, str | None]:
    """Cache key, grammar IR and format instructions of the one constraint given (or any text)."""
    constraints = {"json_schema": schema, "regex": regex, "grammar": grammar}
    given = [name for name, value in constraints.items() if value is not None]
    if len(given) > 1:
        raise ConstrainError(f"give at most one constraint, not {' and '.join(given)}")
    if schema is not None:
        document, _ = api.schema_document(schema)
        key, ir = api.schema_grammar(document, api.json_schema_options())
        return key, ir, format_instructions(document)
    if grammar is not None:
        return (*api.lark_constraint(grammar), None)
    return (*api.regex_constraint(regex or _ANY_TEXT), None)


def _chat_messages(messages: Sequence[BaseMessage], instructions: str | None) -> list[dict[str, str]]:
    """LangChain messages as chat-template messages; ``instructions`` end the last user turn."""
    chat = []
    for message in messages:
        role = _ROLES.get(message.type)
        if role is None:
            raise ConstrainError(f"ConstrainChatModel cannot send {message.type!r} messages to a local model")
        chat.append({"role": role, "content": _text(message)})
    if instructions:
        users = [i for i, m in enumerate(chat) if m["role"] == "user"]
        if users:
            chat[users[-1]]["content"] += "\n\n" + instructions
        else:
            chat.append({"role": "user", "content": instructions})
    return chat


def _text(message: BaseMessage) -> str:
    """A message's text, whether its content is a string or a list of content blocks."""
    if isinstance(message.content, str):
        return message.content
    parts = [
        p if isinstance(p, str) else p.get("text", "") for p in message.content if isinstance(p, str | dict)
    ]
    return "".join(parts)


def _cut_at_stop(text: str, stop: list[str] | None) -> str:
    """The text up to the first stop sequence (generation itself ends at the end token)."""
    cut = min((text.find(s) for s in stop or () if s and s in text), default=len(text))
    return text[:cut]
