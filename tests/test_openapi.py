"""rag/web/openapi.py: FastAPI's OpenAPI 3.1 schema rewritten as 3.0.3, which the bundled
Swagger UI 4 renders (issue #23: /docs said "Unable to render this definition")."""

from __future__ import annotations

import json

from rag.web.openapi import OPENAPI_VERSION, as_openapi_30, schema_30


def test_the_api_schema_has_no_3_1_forms_left() -> None:
    from fastapi import FastAPI

    from rag.web.routes import router

    app = FastAPI(title="rag")
    app.include_router(router(None), prefix="/api")  # type: ignore[arg-type]  # schema only

    document = as_openapi_30(app.openapi())
    text = json.dumps(document)

    assert document["openapi"] == OPENAPI_VERSION == "3.0.3"
    assert '"type": "null"' not in text and '"const"' not in text
    k = document["components"]["schemas"]["Ask"]["properties"]["k"]
    assert k["type"] == "integer" and k["nullable"] is True
    assert (k["minimum"], k["maximum"]) == (1, 50)
    date_from = document["components"]["schemas"]["Search"]["properties"]["date_from"]
    assert date_from["example"] == "2021-04" and "examples" not in date_from
    assert set(document["paths"]) == {"/api/retrieve", "/api/ask", "/api/articles", "/api/health"}


def test_schema_30_rewrites_each_3_1_form() -> None:
    ref = {"$ref": "#/components/schemas/Search"}
    assert schema_30({"anyOf": [ref, {"type": "null"}], "title": "S"}) == {
        "allOf": [ref],
        "title": "S",
        "nullable": True,
    }
    assert schema_30({"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]}) == {
        "anyOf": [{"type": "string"}, {"type": "integer"}],
        "nullable": True,
    }
    assert schema_30({"const": "a", "examples": ["x", "y"]}) == {"enum": ["a"], "example": "x"}
    assert schema_30({"type": "number", "exclusiveMinimum": 0}) == {
        "type": "number",
        "minimum": 0,
        "exclusiveMinimum": True,
    }
    nested = schema_30({"properties": {"const": {"items": {"anyOf": [{"type": "null"}]}}}})
    assert nested == {"properties": {"const": {"items": {"nullable": True}}}}
