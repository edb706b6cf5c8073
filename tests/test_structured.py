"""@constrain.structured: refusals at class creation, lazy model loading, generate and extract."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field

import constrain
from constrain.errors import ConstrainError, UnsatisfiableSchemaError, UnsupportedSchemaError
from constrain.models import ModelLoadError


def test_unsupported_field_type_fails_at_class_creation():
    with pytest.raises(UnsupportedSchemaError, match="uniqueItems") as caught:

        @constrain.structured
        class Tagged(BaseModel):
            tags: set[str]

    assert caught.value.pointer == "/properties/tags"


def test_unsatisfiable_field_fails_at_class_creation():
    with pytest.raises(UnsatisfiableSchemaError):

        @constrain.structured(max_new_tokens=10)
        class Impossible(BaseModel):
            size: int = Field(ge=5, le=1)


def test_only_pydantic_models_can_be_decorated():
    with pytest.raises(ConstrainError, match="Pydantic BaseModel"):
        constrain.structured(dict)


def test_existing_methods_are_not_replaced():
    with pytest.raises(ConstrainError, match=r"replace Report\.extract"):

        @constrain.structured
        class Report(BaseModel):
            text: str

            @classmethod
            def extract(cls, source: str) -> Report:
                return cls(text=source)


def test_decoration_does_not_load_the_model():
    """A model that cannot be loaded only fails at the first call, with ModelLoadError."""

    @constrain.structured(model="/nonexistent/model")
    class Note(BaseModel):
        text: str

    assert callable(Note.generate) and callable(Note.extract)
    with pytest.raises(ModelLoadError):
        Note.generate("a note")
    with pytest.raises(ModelLoadError, match="unknown model 'other'"):
        Note.extract("some text", model="other")  # a call may choose another model


@constrain.structured(max_new_tokens=40)
class Person(BaseModel):
    """Someone mentioned in a text."""

    name: str = Field(max_length=24, description="the person's full name")
    age: int = Field(ge=0, le=130, description="age in years")


@pytest.mark.model
def test_extract_reads_the_fields_from_the_text(default_model):
    person = Person.extract("Grace Hopper, born in 1906, was 85 when she died.")
    assert isinstance(person, Person)
    assert person.name == "Grace Hopper" and person.age == 85  # greedy: deterministic


@pytest.mark.model
def test_generate_returns_a_valid_instance_and_calls_override_defaults(default_model):
    person = Person.generate("Invent a fictional pirate.", temperature=0, max_new_tokens=30)
    assert isinstance(person, Person) and 0 <= person.age <= 130 and len(person.name) <= 24
