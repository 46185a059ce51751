"""/v1/openapi.json, generated from the routes' `Operation`s and the models they name.

Schemas come from `msgspec.json.schema_components` over every model an
operation reads or answers with, under ``#/components/schemas``; every error
answer is one shared response component with the `ErrorBody` schema. Every
operation also lists the 401 (TCP without the token) and 500 answers, since
any request can meet them. tests/api/test_meta.py checks that every HTTP
route of the app is documented.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, version

import msgspec

from citizen.api.bodies import JSON
from citizen.api.models import ErrorBody
from citizen.api.operations import ALWAYS, ERROR_RESPONSES, BodyOperation, Operation, Raw

REF = "#/components/schemas/{name}"


def _types(operations: list[Operation]) -> list[object]:
    """Every msgspec type the operations name, once each, the error body first."""
    found: list[object] = [ErrorBody]
    for op in operations:
        named = [p.schema for p in op.params]
        if not isinstance(op.response, Raw):
            named.append(op.response)
        if isinstance(op, BodyOperation):
            named.append(op.request)
        found.extend(t for t in named if t not in found)
    return found


def _operation(
    op: Operation, types: list[object], schemas: tuple[dict[str, object], ...]
) -> dict[str, object]:
    def schema(t: object) -> dict[str, object]:
        return dict(schemas[types.index(t)])  # by equality: list[Friend] is made afresh

    out: dict[str, object] = {"tags": [op.tag], "summary": op.summary}
    if op.description:
        out["description"] = op.description
    out["operationId"] = op.operation_id
    if op.params:
        params: list[dict[str, object]] = []
        for p in op.params:
            param_schema = schema(p.schema)
            param: dict[str, object] = {"name": p.name, "in": p.location}
            param["required"] = True if p.location == "path" else p.required
            if "description" in param_schema:
                param["description"] = param_schema.pop("description")
            param["schema"] = param_schema
            params.append(param)
        out["parameters"] = params
    if isinstance(op, BodyOperation):
        out["requestBody"] = {
            "required": op.request_required,
            "content": {JSON: {"schema": schema(op.request)}},
        }
    elif op.raw_request is not None:
        raw = op.raw_request
        out["requestBody"] = {
            "required": True,
            "content": {raw.media_type: {"schema": dict(raw.schema)}},
        }
    if isinstance(op.response, Raw):
        content = {op.response.media_type: {"schema": dict(op.response.schema)}}
    else:
        content = {JSON: {"schema": schema(op.response)}}
    responses: dict[str, object] = {str(op.status): {"description": op.ok, "content": content}}
    for error in (*op.errors, *ALWAYS):
        responses.setdefault(str(error.status), {"$ref": f"#/components/responses/{error.name}"})
    out["responses"] = responses
    return out


def openapi_document(operations: Iterable[Operation]) -> dict[str, object]:
    """The OpenAPI 3.1 document of `operations`, as JSON-ready data.

    Raises:
        ValueError: two operations have the same path and method.
    """
    ops = list(operations)
    types = _types(ops)
    schemas, components = msgspec.json.schema_components(types, ref_template=REF)
    paths: dict[str, dict[str, object]] = {}
    for op in ops:
        item = paths.setdefault(op.path, {})
        method = op.method.lower()
        if method in item:
            raise ValueError(f"OpenAPI: {op.method} {op.path} is described twice")
        item[method] = _operation(op, types, schemas)
    try:
        api_version = version("citizen-cloud")
    except PackageNotFoundError:
        api_version = "0"
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Citizen Cloud local API",
            "version": api_version,
            "description": (
                "The household daemon's local API, on the Unix socket DATA_DIR/api.sock "
                "(no token) and, when `[api] tcp_port` is set, on 127.0.0.1 with "
                "`Authorization: Bearer <DATA_DIR/api.token>`."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{}, {"bearerToken": []}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(components.items())),
            "responses": {
                error.name: {
                    "description": error.description,
                    "content": {JSON: {"schema": {"$ref": REF.format(name="ErrorBody")}}},
                }
                for error in ERROR_RESPONSES
            },
            "securitySchemes": {
                "bearerToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The token in DATA_DIR/api.token; TCP listener only.",
                }
            },
        },
    }
