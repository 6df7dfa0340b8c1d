"""Resilience: deployments, retries before the first byte, fallbacks, circuit breakers, deadlines.

Each module is one small, mostly pure piece (no I/O, clocks passed in) that the attempt loop
(``gateway.resilience.attempts``) puts together:

- ``retry``: which failures are retried, backoff with full jitter, and the provider's
  ``Retry-After`` / ``retry-after-ms`` / ``x-ratelimit-reset-*`` hints.
- ``circuit``: a per-deployment circuit breaker (closed, open, half-open with one probe).
- ``deployments``: the deployments serving a catalog model and how one is picked.
- ``fallback``: the chain of models a request may fall back to.
- ``deadlines``: connect, first-byte, idle and total deadlines (``X-Gateway-Timeout-Ms``).
- ``keepalive``: SSE keep-alive frames during long upstream silences.
"""
