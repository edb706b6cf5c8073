"""``@constrain.structured``: Pydantic models that generate and extract instances of themselves.

The decorator gives a ``BaseModel`` subclass two classmethods::

    @constrain.structured
    class Invoice(BaseModel):
        number: str = Field(description="the invoice number")
        total: float

    Invoice.generate("An invoice for two hours of consulting")  # -> Invoice
    Invoice.extract(email_text)                                  # -> Invoice

The schema is compiled to a grammar at decoration, so a field the engine cannot enforce
exactly (a ``set[str]`` means ``uniqueItems``) fails at class creation with
UnsupportedSchemaError, not at the first call. The model is only loaded at the first call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, overload

from constrain import api
from constrain.errors import ConstrainError
from constrain.prompts import extraction_prompt, generation_prompt

__all__ = ["structured"]

Model = TypeVar("Model", bound=type)
_SCHEMA_OPTIONS = ("whitespace", "max_whitespace", "additional_properties", "lenient")


@overload
def structured(cls: Model, /) -> Model: ...
@overload
def structured(*, model: Any = "default", **defaults: Any) -> Callable[[Model], Model]: ...


def structured(cls: Model | None = None, /, *, model: Any = "default", **defaults: Any) -> Any:
    """Add ``generate(prompt, **sampling)`` and ``extract(text, instructions=None, **sampling)``.

    ``model``: any form :func:`constrain.json` accepts (default ``"default"``, loaded at the
    first call). ``defaults``: sampling options (``max_new_tokens``, ``temperature``...) and
    schema options (``whitespace``...) used unless a call overrides them. ``extract`` decodes
    greedily (``temperature=0``) unless told otherwise: extraction has one right answer.
    """
    if cls is None:
        return lambda target: _decorate(target, model, defaults)
    return _decorate(cls, model, defaults)


def _decorate(cls: Model, model: Any, defaults: dict[str, Any]) -> Model:
    if not (isinstance(cls, type) and hasattr(cls, "model_json_schema") and hasattr(cls, "model_validate")):
        raise ConstrainError(f"@constrain.structured decorates Pydantic BaseModel subclasses, not {cls!r}")
    clashes = [name for name in ("generate", "extract") if name in vars(cls)]
    if clashes:
        raise ConstrainError(f"@constrain.structured would replace {cls.__name__}.{clashes[0]}; rename it")
    schema_options = {name: defaults[name] for name in _SCHEMA_OPTIONS if name in defaults}
    document, _ = api.schema_document(cls)
    api.schema_grammar(document, api.json_schema_options(**schema_options))  # refuse bad fields now

    def generate(owner: type, prompt: str, **sampling: Any) -> Any:
        """A new instance of this model for ``prompt`` (field descriptions are added to it)."""
        return _run(owner, generation_prompt(owner.model_json_schema(), prompt), {**defaults, **sampling})

    def extract(owner: type, text: str, instructions: str | None = None, **sampling: Any) -> Any:
        """The instance of this model that ``text`` describes, extracted greedily by default."""
        prompt = extraction_prompt(owner.model_json_schema(), text, instructions)
        return _run(owner, prompt, {"temperature": 0.0, **defaults, **sampling})

    def _run(owner: type, prompt: str, options: dict[str, Any]) -> Any:
        chosen = options.pop("model", model)
        return api.json(chosen, owner, prompt, **options)

    generate.__qualname__ = f"{cls.__qualname__}.generate"
    extract.__qualname__ = f"{cls.__qualname__}.extract"
    type.__setattr__(cls, "generate", classmethod(generate))
    type.__setattr__(cls, "extract", classmethod(extract))
    return cls
