"""/v1/openapi.json documents every route of the app; /metrics serves parseable Prometheus text."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator

import msgspec
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.routing import Route

from citizen.api.app import build_app
from citizen.api.context import ApiContext
from citizen.api.models import ErrorBody, Status
from citizen.api.openapi import openapi_document as document_of
from citizen.api.operations import NOT_FOUND, Operation
from citizen.api.routes import OPERATIONS, api_routes, openapi_document
from tests.api.tcp_daemon import unix_client
from tests.daemons import Daemon, pair, wait_until

EXISTING = {
    ("/v1/status", "get"),
    ("/v1/invites", "post"),
    ("/v1/invites/accept", "post"),
    ("/v1/invites/{invite_id}", "get"),
    ("/v1/friends", "get"),
    ("/v1/friends/{friend}", "delete"),
    ("/v1/openapi.json", "get"),
    ("/metrics", "get"),
}
METRICS = {
    "citizen_friends",
    "citizen_friends_online",
    "citizen_sync_messages",
    "citizen_bytes_put",
    "citizen_bytes_got",
    "citizen_docs",
    "citizen_shares_held_bytes",
    "citizen_repair_backlog",
    "citizen_under_replicated_objects",
}


def _app_operations() -> set[tuple[str, str]]:
    ctx = ApiContext(status=lambda: {})
    app = build_app(ctx, "token", api_routes(ctx))
    return {
        (route.path, method.lower())
        for route in app.routes
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    }


def _documented(doc: dict[str, object]) -> set[tuple[str, str]]:
    paths = doc["paths"]
    assert isinstance(paths, dict)
    return {(path, method) for path, item in paths.items() for method in item}


def _refs(value: object) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "$ref" and isinstance(item, str):
                yield item
            else:
                yield from _refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)


def test_every_route_is_documented_and_nothing_else() -> None:
    served, documented = _app_operations(), _documented(openapi_document())
    assert served >= EXISTING
    assert not served - documented, (
        f"undocumented routes {sorted(served - documented)}: declare each with an Operation "
        "in its route module's OPERATIONS, listed in citizen.api.routes.OPERATIONS"
    )
    assert not documented - served, f"documented but not served: {sorted(documented - served)}"


def test_every_ref_resolves() -> None:
    doc = openapi_document()
    refs = set(_refs(doc))
    assert "#/components/responses/NotFound" in refs
    for ref in refs:
        assert ref.startswith("#/"), ref
        node: object = doc
        for part in ref[2:].split("/"):
            assert isinstance(node, dict) and part in node, f"{ref} does not resolve"
            node = node[part]


def test_every_operation_lists_the_token_and_internal_errors() -> None:
    paths = openapi_document()["paths"]
    assert isinstance(paths, dict)
    for path, item in paths.items():
        for method, operation in item.items():
            assert {"200", "201"} & set(operation["responses"]), (path, method)
            assert {"401", "500"} <= set(operation["responses"]), (path, method)


def test_two_operations_on_one_path_and_method_are_refused() -> None:
    op = Operation(
        method="GET",
        path="/v1/x",
        operation_id="x",
        tag="meta",
        summary="X.",
        response=ErrorBody,
        ok="x",
        errors=(NOT_FOUND,),
    )
    with pytest.raises(ValueError, match="GET /v1/x"):
        document_of((op, op))
    assert document_of((op,))["paths"] == {
        "/v1/x": {
            "get": {
                "tags": ["meta"],
                "summary": "X.",
                "operationId": "x",
                "responses": {
                    "200": {
                        "description": "x",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/ErrorBody"}
                            }
                        },
                    },
                    "404": {"$ref": "#/components/responses/NotFound"},
                    "401": {"$ref": "#/components/responses/Unauthorized"},
                    "500": {"$ref": "#/components/responses/InternalError"},
                },
            }
        }
    }


def test_schemas_are_the_models() -> None:
    """Every schema is generated from its model: same fields, same required ones, no extras."""
    schemas = openapi_document()["components"]["schemas"]  # type: ignore[index]
    status = schemas["Status"]
    fields = msgspec.structs.fields(Status)
    assert set(status["properties"]) == {f.encode_name for f in fields}
    assert set(status["required"]) == {f.encode_name for f in fields if f.required}
    assert status["additionalProperties"] is False
    device = schemas["FriendDevice"]["properties"]
    assert device["connection"]["anyOf"] == [{"enum": ["direct", "relayed"]}, {"type": "null"}]
    named = {op.operation_id for op in OPERATIONS}
    assert len(named) == len(OPERATIONS), "operationIds are unique"


def test_document_is_valid_openapi_3_1() -> None:
    schemathesis = pytest.importorskip("schemathesis")
    doc = openapi_document()
    assert doc["openapi"] == "3.1.0"
    schemathesis.openapi.from_dict(copy.deepcopy(doc)).validate()
    # the validator does reject a broken document
    broken = copy.deepcopy(doc)
    broken["paths"]["/v1/friends"]["get"]["responses"] = "none"  # type: ignore[index]
    with pytest.raises(Exception):  # noqa: B017 - jsonschema_rs.ValidationError
        schemathesis.openapi.from_dict(broken).validate()


def _scrape(d: Daemon) -> dict[str, float]:
    with unix_client(d) as local:
        response = local.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if not sample.labels:
                values[sample.name] = sample.value
        values.setdefault(family.name, 0.0)
    return values


def test_daemon_serves_the_document_and_metrics(make_daemon: Callable[[str], Daemon]) -> None:
    d = make_daemon("alpha")
    d.init()
    d.start()
    with unix_client(d) as local:
        response = local.get("/v1/openapi.json")
    assert response.status_code == 200
    served = response.json()
    assert served == json.loads(json.dumps(openapi_document()))
    assert _documented(served) >= EXISTING

    metrics = _scrape(d)
    assert set(metrics) >= METRICS
    assert metrics["citizen_friends"] == 0
    assert metrics["citizen_friends_online"] == 0


def test_metrics_count_friends_and_friends_online(make_daemon: Callable[[str], Daemon]) -> None:
    a, b = make_daemon("alpha"), make_daemon("beta")
    for d in (a, b):
        d.init()
        d.start()
    pair(a, b)
    wait_until(lambda: _scrape(a)["citizen_friends_online"] == 1, "alpha to see beta online")
    assert _scrape(a)["citizen_friends"] == 1
    wait_until(lambda: _scrape(b)["citizen_friends_online"] == 1, "beta to see alpha online")
