"""schemathesis over the whole served document: no 5xx, and every answer matches what the document says.

The document is fetched from the running gateway (``/schema/openapi.json``), so the test
covers exactly what clients see. Each operation is called with an owner's key, so the
handlers are exercised past authentication; a handful of examples per operation keeps it
well under a minute.
"""

from __future__ import annotations

from typing import Any

import httpx
import hypothesis
import schemathesis
from schemathesis import checks
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok

from gateway.accounts import BootstrapResult
from tests.support.mock_upstream import MockUpstream
from tests.support.server import GatewayServer

CHECKS = [
    checks.not_a_server_error,
    checks.response_schema_conformance,
    checks.status_code_conformance,
    checks.content_type_conformance,
]
SETTINGS = hypothesis.settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
    phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
)


def _proxy_example(doc: dict[str, Any], path: str) -> dict[str, Any] | None:
    if path not in ("/v1/chat/completions", "/v1/messages"):
        return None
    example: dict[str, Any] = doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["example"]
    return example


def test_every_operation_conforms(gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult) -> None:
    # Driven by hand rather than through schemathesis' pytest plugin, which does not load under pytest 9.
    loaded = schemathesis.openapi.from_url(gateway.url + "/schema/openapi.json")
    doc = httpx.get(gateway.url + "/schema/openapi.json").json()
    headers = {"authorization": f"Bearer {org.api_key}"}
    failures: dict[str, str] = {}
    operations = 0
    for result in loaded.get_all_operations():
        if not isinstance(result, Ok):
            failures[f"unloadable operation {operations}"] = str(result.err())
            continue
        operation = result.ok()
        operations += 1

        @SETTINGS
        @hypothesis.given(case=operation.as_strategy())
        def run(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        # The documented example of each proxy door goes first and in full: a real answer
        # from the provider, checked against the response schema like every generated case.
        example = _proxy_example(doc, operation.path)
        if example is not None:
            operation.Case(body=example, media_type="application/json").call_and_validate(
                headers=headers, checks=CHECKS
            )
        try:
            run()
        except (FailureGroup, AssertionError) as exc:  # collected so one run reports every failing operation
            failures[operation.label] = str(exc)[:1500]
    assert operations >= 25
    assert failures == {}
    # Generated bodies reached the provider through both doors, so the proxy was exercised, not just refused.
    assert {r.path for r in upstream.requests} >= {"/v1/chat/completions", "/v1/messages"}


def test_docs_page_loads_only_packaged_assets(gateway: GatewayServer) -> None:
    page = httpx.get(gateway.url + "/schema")
    assert page.status_code == 200 and "<rapi-doc" in page.text
    assert "http://" not in page.text.replace(gateway.url, "") and "https://" not in page.text
    js = httpx.get(gateway.url + "/console/assets/vendor/rapidoc-min.js")
    assert js.status_code == 200 and len(js.content) > 100_000


def test_document_names_proxy_shapes_report_parameters_and_error_bodies(gateway: GatewayServer) -> None:
    doc = httpx.get(gateway.url + "/schema/openapi.json").json()
    chat = doc["paths"]["/v1/chat/completions"]["post"]
    assert chat["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/ChatCompletionRequest")
    assert chat["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/ChatCompletion")
    msgs = doc["paths"]["/v1/messages"]["post"]
    assert msgs["responses"]["401"]["content"]["application/json"]["schema"]["$ref"].endswith("/AnthropicError")
    params = {p["name"] for p in doc["paths"]["/v1/reports/costs"]["get"]["parameters"]}
    assert params == {"from", "to", "group_by", "tz", "format", "user_id", "organization_id"}
    for name in ("ChatCompletionRequest", "MessagesRequest", "Message", "Report", "RouterConfig", "OpenAIError"):
        assert name in doc["components"]["schemas"]
    bad = httpx.get(gateway.url + "/v1/keys")
    assert set(bad.json()["error"]) == {"message", "type", "param", "code"}  # the OpenAIError shape
