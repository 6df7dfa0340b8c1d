"""The benchmark harness behind ``make bench`` (kept out of pytest collection).

``python -m tests.perf.run`` starts a fast mock upstream, a raw aiohttp pass-through
proxy (the floor), the gateway and, when it installs, the LiteLLM proxy (the peer), then
drives each with the same load and prints throughput, latency and memory as ratios to
the floor. See ``tests/perf/README.md``.
"""
