"""JSON Schema -> grammar IR compiler (see ``api`` for the pipeline)."""

from constrain.json_schema.api import check_schema, schema_to_grammar
from constrain.json_schema.context import SchemaWarning

__all__ = ["SchemaWarning", "check_schema", "schema_to_grammar"]
