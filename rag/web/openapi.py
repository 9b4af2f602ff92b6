"""The OpenAPI schema as version 3.0.3, the version the bundled Swagger UI renders at /docs.

FastAPI writes OpenAPI 3.1.0, whose schemas are JSON Schema 2020-12; Swagger UI 4 (the
swagger-ui-bundle package, the only copy served offline) refuses it with "Unable to render this
definition". The 3.1 forms our models produce have exact 3.0 equivalents, rewritten here:

    {"anyOf": [X, {"type": "null"}]}   ->  X with "nullable": true
    {"examples": [v, ...]}             ->  {"example": v}
    {"const": v}                       ->  {"enum": [v]}
    {"exclusiveMinimum": 0}            ->  {"minimum": 0, "exclusiveMinimum": true}
"""

from __future__ import annotations

from typing import Any

OPENAPI_VERSION = "3.0.3"
_NULL = {"type": "null"}
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf")
_SCHEMA_ONE = ("items", "additionalProperties", "not")


def as_openapi_30(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` (OpenAPI 3.1, as FastAPI writes it) rewritten as OpenAPI 3.0.3.

    Example: {"openapi": "3.1.0", ... {"anyOf": [{"type": "integer"}, {"type": "null"}]}}
        -> {"openapi": "3.0.3", ... {"type": "integer", "nullable": true}}
    """
    out = _walk(document)
    out["openapi"] = OPENAPI_VERSION
    return out


def _walk(node: Any) -> Any:
    """Every Schema Object of an OpenAPI document converted: the values of "schema" keys and of
    components.schemas; everything else copied as it is."""
    if isinstance(node, list):
        return [_walk(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "schema" and isinstance(value, dict):
            out[key] = schema_30(value)
        elif key == "schemas" and isinstance(value, dict):
            out[key] = {name: schema_30(s) for name, s in value.items()}
        else:
            out[key] = _walk(value)
    return out


def schema_30(schema: dict[str, Any]) -> dict[str, Any]:
    """One JSON Schema 2020-12 schema as an OpenAPI 3.0 Schema Object.

    Example: {"anyOf": [{"type": "string"}, {"type": "null"}], "title": "Llm"}
        -> {"type": "string", "title": "Llm", "nullable": True}
    """
    out = dict(schema)
    choices = out.get("anyOf")
    if isinstance(choices, list) and _NULL in choices:
        rest = [c for c in choices if c != _NULL]
        del out["anyOf"]
        if len(rest) == 1 and "$ref" in rest[0]:
            out["allOf"] = rest  # 3.0 ignores the siblings of a $ref, so nullable goes beside
        elif len(rest) == 1:
            out = {**rest[0], **out}
        elif rest:
            out["anyOf"] = rest
        out["nullable"] = True
    if out.get("type") == "null":
        del out["type"]
        out["nullable"] = True
    if isinstance(out.get("examples"), list):
        examples = out.pop("examples")
        if examples:
            out.setdefault("example", examples[0])
    if "const" in out:
        out["enum"] = [out.pop("const")]
    for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(out.get(bound), int | float) and not isinstance(out[bound], bool):
            out[limit], out[bound] = out[bound], True
    for key in _SCHEMA_MAPS:
        if isinstance(out.get(key), dict):
            out[key] = {name: schema_30(s) for name, s in out[key].items()}
    for key in _SCHEMA_LISTS:
        if isinstance(out.get(key), list):
            out[key] = [schema_30(s) for s in out[key]]
    for key in _SCHEMA_ONE:
        if isinstance(out.get(key), dict):
            out[key] = schema_30(out[key])
    return out
