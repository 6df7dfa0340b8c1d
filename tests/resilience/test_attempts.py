"""The attempt loop through scripted upstream objects: retries, Retry-After, fallbacks, refusals."""

from __future__ import annotations

import asyncio
import random

import pytest

from gateway.catalog import DEFAULT_MODELS, Catalog
from gateway.config import ModelEntry
from gateway.errors import GatewayError, InvalidRequest, RateLimited, UpstreamTimeout, UpstreamUnavailable
from gateway.providers.upstream import UpstreamResponse
from gateway.resilience.attempts import RetryPolicy, Served, run_attempts
from gateway.resilience.circuit import CircuitBreaker, CircuitPolicy
from gateway.resilience.deadlines import Deadline
from gateway.resilience.deployments import Deployment
from tests.resilience.fakes import FakeProvider, FakeResponse

CAT = Catalog(DEFAULT_MODELS)


def model(model_id: str) -> ModelEntry:
    found = CAT.get(model_id)
    assert found is not None
    return found


SONNET = model("claude-sonnet-5")
GPT = model("gpt-5.4")


class Clock:
    def __init__(self) -> None:
        self.t = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.t

    async def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.t += s


def dep(name: str, model: ModelEntry, script: list[FakeResponse | GatewayError], failures: int = 2) -> Deployment:
    provider = FakeProvider(name, script=script)  # type: ignore[arg-type]
    circuit = CircuitBreaker(CircuitPolicy(failures=failures))
    return Deployment(name, model.id, provider, model.upstream, circuit)


def run(
    pools: dict[str, list[Deployment]], *, candidates: list[ModelEntry] | None = None, **kw: object
) -> tuple[Served, Clock]:
    clock = Clock()

    async def send(model: ModelEntry, d: Deployment, wait: float) -> UpstreamResponse:
        return await d.provider.send(b"{}", first_byte_timeout_s=wait)

    policy = kw.pop("policy", RetryPolicy(max_attempts=4, budget_s=30.0, max_wait_s=10.0))
    served = asyncio.run(
        run_attempts(
            (candidates or [SONNET])[0],
            lambda: (candidates or [SONNET])[1:],
            pools,
            send,
            policy=policy,  # type: ignore[arg-type]
            deadline=Deadline(at=600.0),
            first_byte_s=60.0,
            stream=True,
            clock=clock,
            sleep=clock.sleep,
            rng=random.Random(3),
        )
    )
    return served, clock


def calls(d: Deployment) -> int:
    return d.provider.calls  # type: ignore[attr-defined, no-any-return]


def test_healthy_path_is_one_attempt() -> None:
    a = dep("a", SONNET, [])
    served, clock = run({SONNET.id: [a]})
    assert served.attempts == 1 and served.deployment is a and served.fell_back_from is None
    assert clock.slept == [] and a.in_flight == 1
    served.deployment.end(0.0, ok=True)
    assert a.in_flight == 0


def test_retryable_status_moves_to_the_other_deployment_at_once() -> None:
    a = dep("a", SONNET, [FakeResponse(529, b'{"type":"error","error":{"type":"overloaded_error","message":"busy"}}')])
    b = dep("b", SONNET, [])
    served, _ = run({SONNET.id: [a, b]}, candidates=[SONNET])
    # Whichever was picked first, the request was served by the healthy one within two attempts.
    assert served.deployment is b
    assert served.attempts == calls(a) + calls(b)
    assert [f.status for f in served.failures] == ([529] if calls(a) else [])


def test_connection_error_and_first_byte_timeout_are_retried() -> None:
    a = dep("a", SONNET, [UpstreamUnavailable("reset"), UpstreamTimeout("no headers")], failures=5)
    served, clock = run({SONNET.id: [a]})
    assert served.attempts == 3 and calls(a) == 3
    assert len(clock.slept) == 2, "the same deployment again waits a jittered backoff"


def test_retry_after_is_honoured_before_the_same_deployment_is_tried_again() -> None:
    a = dep("a", SONNET, [FakeResponse(429, b"{}", {"retry-after": "7"})])
    served, clock = run({SONNET.id: [a]})
    assert served.attempts == 2
    assert clock.slept[0] == pytest.approx(7.0)


def test_long_retry_after_goes_to_the_client() -> None:
    a = dep("a", SONNET, [FakeResponse(429, b"{}", {"retry-after": "120"})])
    with pytest.raises(RateLimited) as err:
        run({SONNET.id: [a]}, candidates=[SONNET])
    assert err.value.retry_after_s == 120.0
    assert calls(a) == 1


def test_refusals_are_not_retried_nor_fallen_back() -> None:
    a = dep("a", SONNET, [FakeResponse(400, b'{"error":{"message":"bad"}}')])
    g = dep("g", GPT, [])
    with pytest.raises(InvalidRequest):
        run({SONNET.id: [a], GPT.id: [g]}, candidates=[SONNET, GPT])
    assert calls(a) == 1 and calls(g) == 0


def test_exhausted_model_falls_back() -> None:
    a = dep("a", SONNET, [FakeResponse(500)] * 2)
    g = dep("g", GPT, [])
    served, _ = run(
        {SONNET.id: [a], GPT.id: [g]},
        candidates=[SONNET, GPT],
        policy=RetryPolicy(max_attempts=4, budget_s=30.0),
    )
    # Two 500s open a's circuit (failures=2); the fallback serves.
    assert served.model is GPT and served.fell_back_from == SONNET.id
    assert served.attempts == 3 and calls(a) == 2


def test_attempt_budget_ends_with_the_last_failure() -> None:
    a = dep("a", SONNET, [FakeResponse(503, b"{}", {"retry-after": "1"})] * 5)
    with pytest.raises(UpstreamUnavailable) as err:
        run({SONNET.id: [a]}, policy=RetryPolicy(max_attempts=2, budget_s=30.0))
    assert calls(a) == 2 and err.value.retry_after_s == 1.0


def test_all_circuits_open_is_a_503_with_retry_after() -> None:
    a = dep("a", SONNET, [])
    for _ in range(2):
        assert a.begin(0.0)
        a.end(0.0, ok=False)
    with pytest.raises(UpstreamUnavailable) as err:
        run({SONNET.id: [a]})
    assert err.value.code == "no_deployment_available"
    assert err.value.retry_after_s is not None and err.value.retry_after_s >= 1.0
    assert calls(a) == 0
