"""The LangChain integration with the real langchain-core: the output parser's contract, and
chains around ConstrainChatModel whose structured output is constrained, not retried."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field

pytest.importorskip("langchain_core")

from langchain_core.exceptions import OutputParserException
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.output_parsers import BaseOutputParser
from langchain_core.prompts import ChatPromptTemplate

from constrain.errors import ConstrainError, UnsupportedSchemaError
from constrain.integrations.langchain import (
    ConstrainChatModel,
    ConstrainOutputParser,
    _chat_messages,
    _cut_at_stop,
)

PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 20, "description": "full name"},
        "age": {"type": "integer", "minimum": 0, "maximum": 150},
    },
    "required": ["name", "age"],
}


class Person(BaseModel):
    name: str = Field(max_length=20, description="full name")
    age: int = Field(ge=0, le=150)


# ---------------------------------------------------------------- no model needed


def test_output_parser_fits_the_base_output_parser_contract():
    parser = ConstrainOutputParser(PERSON)
    assert isinstance(parser, BaseOutputParser)
    assert parser.parse('{"name": "Ada", "age": 36}') == {"name": "Ada", "age": 36}
    assert parser.parse('```json\n{"name": "Ada", "age": 36}\n```') == {"name": "Ada", "age": 36}
    assert parser.invoke(AIMessage(content='{"name": "Ada", "age": 36}')) == {"name": "Ada", "age": 36}
    assert ConstrainOutputParser(Person).parse('{"name": "Ada", "age": 36}') == Person(name="Ada", age=36)
    instructions = parser.get_format_instructions()
    assert "JSON" in instructions and "- name (string, required): full name." in instructions


@pytest.mark.parametrize("text", ['{"name": "Ada"}', '{"name": "Ada", "age": -1}', "not json", ""])
def test_output_parser_rejects_invalid_output(text):
    with pytest.raises(OutputParserException):
        ConstrainOutputParser(PERSON).parse(text)
    with pytest.raises(OutputParserException):
        ConstrainOutputParser(Person).parse(text)


def test_chat_model_is_a_base_chat_model_and_checks_schemas_early():
    chat = ConstrainChatModel(model="/nonexistent/model")
    assert isinstance(chat, BaseChatModel)
    with pytest.raises(UnsupportedSchemaError):
        chat.with_structured_output({"type": "array", "items": {"type": "object"}, "uniqueItems": True})
    with pytest.raises(ConstrainError, match="at most one constraint"):
        ConstrainChatModel(regex="a", grammar="sql").invoke("hi")


def test_messages_become_chat_template_messages_with_instructions_last():
    chat = _chat_messages([SystemMessage("Be brief."), HumanMessage("Who?"), AIMessage("Ada.")], "As JSON.")
    assert chat == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Who?\n\nAs JSON."},
        {"role": "assistant", "content": "Ada."},
    ]
    assert _cut_at_stop("abc. def", [".", "x"]) == "abc" and _cut_at_stop("abc", None) == "abc"


# ---------------------------------------------------------------- the real model


PROMPT = ChatPromptTemplate.from_messages([("human", "Who is described here? {text}")])
TEXT = "Alan Turing died at 41."


@pytest.mark.model
def test_prompt_chat_model_and_parser_chain(default_model):
    chat = ConstrainChatModel(model="default", json_schema=PERSON, max_new_tokens=30)
    value = (PROMPT | chat | ConstrainOutputParser(PERSON)).invoke({"text": TEXT})
    assert value == {"name": "Alan Turing", "age": 41}


@pytest.mark.model
def test_with_structured_output_returns_a_pydantic_instance(default_model):
    chat = ConstrainChatModel(model=default_model, max_new_tokens=30)
    person = (PROMPT | chat.with_structured_output(Person)).invoke({"text": TEXT})
    assert person == Person(name="Alan Turing", age=41)
    raw = (PROMPT | chat.with_structured_output(PERSON, include_raw=True)).invoke({"text": TEXT})
    assert raw["parsed"] == {"name": "Alan Turing", "age": 41} and isinstance(raw["raw"], AIMessage)
    assert raw["raw"].usage_metadata["output_tokens"] > 5


@pytest.mark.model
def test_constrained_and_free_text_invocations(default_model):
    answer = ConstrainChatModel(regex="yes|no").invoke("Is Paris in France? Answer yes or no.")
    assert answer.content in {"yes", "no"} and answer.response_metadata["finish_reason"] == "eos"
    free = ConstrainChatModel(max_new_tokens=4).invoke("Say hello.")
    assert isinstance(free.content, str) and free.response_metadata["finish_reason"] in {
        "eos",
        "max_new_tokens",
    }
