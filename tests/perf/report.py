"""Turning measurements into ratios to the floor, goal checks and the printed table."""

from __future__ import annotations

from tests.perf.results import TargetResult

FLOOR = "floor"
# The goals for the gateway, each relative to the floor or the peer in the same run.
MIN_FLOOR_SHARE = 0.5
MAX_ADDED_P50_MS = 1.0
MIN_PEER_MULTIPLE = 10.0
# Against the previous release (``--baseline``) in the same run: within 5%.
MIN_BASELINE_SHARE = 0.95


def _div(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b <= 0:
        return None
    return a / b


def _rate(r: TargetResult, kind: str) -> float | None:
    load = r.rps if kind == "rps" else r.sps
    return load.rate if load is not None else None


def _ttft(r: TargetResult) -> float | None:
    return r.ttft.ttft_p50_ms if r.ttft is not None else None


def ratios(results: list[TargetResult]) -> dict[str, dict[str, float | None]]:
    """Each target's figures divided by the floor's in the same dialect, keyed ``target/dialect``."""
    floors = {r.dialect: r for r in results if r.target == FLOOR and r.error is None}
    out: dict[str, dict[str, float | None]] = {}
    for r in results:
        f = floors.get(r.dialect)
        if f is None or r.target == FLOOR:
            continue
        out[f"{r.target}/{r.dialect}"] = {
            "rps": _div(_rate(r, "rps"), _rate(f, "rps")),
            "sps": _div(_rate(r, "sps"), _rate(f, "sps")),
            "added_p50": _div(r.added_p50_ms, f.added_p50_ms),
            "added_p99": _div(r.added_p99_ms, f.added_p99_ms),
            "ttft_p50": _div(_ttft(r), _ttft(f)),
            "peak_rss": _div(r.peak_rss_mb, f.peak_rss_mb),
        }
    return out


def goals(results: list[TargetResult], dialect: str = "openai") -> list[str]:
    """PASS/FAIL lines for the gateway's goals; empty when the gateway was not measured."""
    by = {r.target: r for r in results if r.dialect == dialect and r.error is None}
    gw, floor, peer = by.get("gateway"), by.get(FLOOR), by.get("litellm")
    if gw is None:
        return []
    lines: list[str] = []

    def check(label: str, value: float | None, ok: bool) -> None:
        shown = "n/a" if value is None else f"{value:.2f}"
        lines.append(f"  [{'PASS' if ok else 'FAIL'}] {label}: {shown}")

    if floor is not None:
        for kind, label in (("rps", "req/s"), ("sps", "streams/s")):
            share = _div(_rate(gw, kind), _rate(floor, kind))
            check(
                f"{label} >= {MIN_FLOOR_SHARE:.1f}x floor",
                share,
                share is not None and share >= MIN_FLOOR_SHARE,
            )
    p50 = gw.added_p50_ms
    check(f"added p50 < {MAX_ADDED_P50_MS:.0f} ms", p50, p50 is not None and p50 < MAX_ADDED_P50_MS)
    for mine, theirs in (("gateway", "baseline"), ("gateway-budget", "baseline-budget")):
        ours, base = by.get(mine), by.get(theirs)
        if ours is None or base is None:
            continue
        for kind, label in (("rps", "req/s"), ("sps", "streams/s")):
            share = _div(_rate(ours, kind), _rate(base, kind))
            ok = share is not None and share >= MIN_BASELINE_SHARE
            check(f"{mine} {label} >= {MIN_BASELINE_SHARE:.2f}x {theirs}", share, ok)
    budget = by.get("gateway-budget")
    if budget is not None:
        for kind, label in (("rps", "req/s"), ("sps", "streams/s")):
            share = _div(_rate(budget, kind), _rate(gw, kind))
            ok = share is not None and share >= 0.9
            check(f"{label} with budgets on >= 0.9x budgets off", share, ok)
    if peer is not None:
        for kind, label in (("rps", "req/s"), ("sps", "streams/s")):
            multiple = _div(_rate(gw, kind), _rate(peer, kind))
            ok = multiple is not None and multiple >= MIN_PEER_MULTIPLE
            check(f"{label} >= {MIN_PEER_MULTIPLE:.0f}x litellm", multiple, ok)
    return lines


def _num(value: float | None, fmt: str = "{:,.0f}") -> str:
    return "-" if value is None else fmt.format(value)


def _errors(r: TargetResult) -> str:
    loads = [x for x in (r.rps, r.sps, r.latency, r.ttft) if x is not None]
    return str(sum(x.error_count for x in loads))


def render(results: list[TargetResult], rat: dict[str, dict[str, float | None]]) -> str:
    """The two tables ``make bench`` prints: absolute figures, then ratios to the floor."""
    head = ("target", "req/s @64", "streams/s @256", "added p50/p99 @1 ms", "TTFT p50 ms", "RSS MB", "errors")
    rows: list[tuple[str, ...]] = [head]
    failures: list[str] = []
    for r in results:
        name = f"{r.target} [{r.dialect}]"
        if r.error is not None:
            # The whole message is in results.json; the table shows its end, where the cause is.
            tail = r.error if len(r.error) <= 600 else "..." + r.error[-600:]
            failures.append(f"{name}: {tail}")
        added = f"{_num(r.added_p50_ms, '{:.3f}')} / {_num(r.added_p99_ms, '{:.3f}')}"
        rows.append(
            (
                name,
                _num(_rate(r, "rps")),
                _num(_rate(r, "sps")),
                added,
                _num(_ttft(r), "{:.2f}"),
                _num(r.peak_rss_mb, "{:.1f}"),
                _errors(r) if r.error is None else "ERROR",
            )
        )
    rows.append(("",) * len(head))
    rows.append(("x floor", "req/s", "streams/s", "added p50 / p99", "TTFT p50", "RSS", ""))
    for key, v in rat.items():
        x = "{:.2f}x"
        added = f"{_num(v['added_p50'], x)} / {_num(v['added_p99'], x)}"
        rows.append(
            (
                key,
                _num(v["rps"], x),
                _num(v["sps"], x),
                added,
                _num(v["ttft_p50"], x),
                _num(v["peak_rss"], x),
                "",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    if failures:
        lines += ["", "errors:"] + [f"  {f}" for f in failures]
    return "\n".join(lines)
