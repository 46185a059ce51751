"""schemathesis against a real daemon's /v1/openapi.json over TCP: no 5xx, answers as documented."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis.errors import Unsatisfiable

schemathesis = pytest.importorskip(
    "schemathesis", reason="schemathesis is not installed (pip install -e '.[test]')"
)

from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis import Case, GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from citizen.api.routes import openapi_document  # noqa: E402
from tests.api.tcp_daemon import TcpApi, start_with_tcp  # noqa: E402
from tests.daemons import Daemon  # noqa: E402

MAX_EXAMPLES = 100
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def daemon_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TcpApi]:
    d = Daemon(tmp_path_factory.mktemp("schemathesis") / "alpha", "alpha")
    try:
        yield start_with_tcp(d)
    finally:
        d.kill()


def _cases() -> list[tuple[str, str, GenerationMode]]:
    """Every documented operation with valid input; with invalid input where it takes any."""
    paths = openapi_document()["paths"]
    assert isinstance(paths, dict)
    out = []
    for path, item in paths.items():
        for method, operation in item.items():
            out.append((path, method, GenerationMode.POSITIVE))
            if "parameters" in operation or "requestBody" in operation:
                out.append((path, method, GenerationMode.NEGATIVE))
    return out


@pytest.mark.parametrize(("path", "method", "mode"), _cases())
def test_operation_conforms_to_the_document(
    daemon_api: TcpApi, path: str, method: str, mode: GenerationMode
) -> None:
    schema = schemathesis.openapi.from_url(
        f"{daemon_api.url}/v1/openapi.json", headers=daemon_api.auth(), timeout=60
    )
    operation = schema[path][method]

    @given(case=operation.as_strategy(mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Case[Any]) -> None:
        response = case.call_and_validate(
            base_url=daemon_api.url, headers=daemon_api.auth(), checks=CHECKS, timeout=120
        )
        assert response.status_code != 401, "the token did not reach the daemon"

    try:
        check()
    except Unsatisfiable:
        pytest.skip(f"no {mode.value} input can be generated for {method.upper()} {path}")


def test_a_response_off_the_document_is_caught(daemon_api: TcpApi) -> None:
    doc = openapi_document()
    status = doc["paths"]["/v1/status"]["get"]  # type: ignore[index]
    schema = status["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/Status"}
    doc["components"]["schemas"]["Status"]["properties"]["pid"] = {"type": "string"}  # type: ignore[index]
    case = schemathesis.openapi.from_dict(doc)["/v1/status"]["get"].Case()
    with pytest.raises(BaseExceptionGroup) as caught:
        case.call_and_validate(
            base_url=daemon_api.url, headers=daemon_api.auth(), checks=CHECKS, timeout=120
        )
    assert "/properties/pid" in str(caught.value.exceptions[0])
