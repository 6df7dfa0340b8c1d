"""``make bench`` router pieces: the cascade replayed through the gateway, the learned scorer held out.

1. **Cascade replay.** ``routerbench_train.jsonl`` records each model's response to each
   prompt. A mock upstream answers every model with its recorded response; the gateway runs
   with ``[router.cascade]`` drafters mistral-7b-chat and mixtral-8x7b-chat and escalation to
   gpt-4-1106-preview (the default check), and every prompt goes through it as an AUTO
   request with ``X-Gateway-Route-Mode: cascade``. The doubt the gateway logged
   (``routing_decisions.score``) is the router score for APGR (weak = mistral-7b-chat,
   strong = gpt-4-1106-preview); the escalation share, the realised quality of the answers
   returned and their recorded cost come with it. The check was never tuned on this file.
2. **Learned scorer held out**: k-fold and leave-one-source-out APGR/CPT with bootstrap
   intervals against prompt length and random (``router.heldout``) on the development files.
3. **Timing** (smoke figures on a shared machine): scoring p50/p99 per prompt (heuristic and
   learned), and the cascade's added time to first token for a streaming client.

Quality figures do not depend on load; timing figures do, and are labelled as such.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
from aiohttp import web

from router import DEFAULT_CONFIG, Conversation, Message, score_conversation
from router.evaluation import evaluate_routers
from router.records import model_matches
from tests.perf import gateway_target
from tests.perf.procs import Children, free_port
from tests.support.mock_upstream import openai_completion, openai_stream_events

WEAK, SECOND, STRONG = "mistral-7b-chat", "mixtral-8x7b-chat", "gpt-4-1106-preview"
_REPO = Path(__file__).resolve().parents[2]


def _data_dir() -> Path:
    """``ROUTER_DATA``, else ``shared/data/router`` beside the repository (or beside its worktree folder)."""
    if os.environ.get("ROUTER_DATA"):
        return Path(os.environ["ROUTER_DATA"])
    candidates = [p / "shared" / "data" / "router" for p in (_REPO.parent, _REPO.parent.parent)]
    return next((c for c in candidates if c.exists()), candidates[0])


DATA = _data_dir()


def _outcome(row: dict[str, Any], model: str) -> dict[str, Any]:
    return next(v for k, v in row["outcomes"].items() if model_matches(k, model))


class ReplayUpstream:
    """An OpenAI-dialect mock answering (model, prompt) with the recorded response, in its own thread."""

    def __init__(self, rows: list[dict[str, Any]], delay_s: float = 0.0) -> None:
        self.answers = {(m, r["prompt"]): _outcome(r, m)["response"] for r in rows for m in (WEAK, SECOND, STRONG)}
        self.delay_s = delay_s
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = json.loads(await request.read())
        model = str(body["model"])
        prompt = next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")
        text = self.answers.get((model, prompt), "")
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if body.get("stream"):
            resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
            await resp.prepare(request)
            for frame in openai_stream_events(text or "-", model, 50, 20):
                await resp.write(frame)
            await resp.write_eof()
            return resp
        return web.json_response(openai_completion(text, model, 50, 20))

    def start(self) -> ReplayUpstream:
        async def boot() -> None:
            app = web.Application()
            app.router.add_post("/v1/chat/completions", self._chat)
            self._runner = web.AppRunner(app)
            await self._runner.setup()
            await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

        threading.Thread(target=self._loop.run_forever, daemon=True).start()
        asyncio.run_coroutine_threadsafe(boot(), self._loop).result(10)
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)


def _gateway_config(path: Path) -> Path:
    models = "\n".join(
        f'[[models]]\nid = "{m}"\nprovider = "openai"\nupstream = "{m}"\ntier = "{t}"\n'
        for m, t in ((WEAK, "basic"), (SECOND, "basic"), (STRONG, "premium"))
    )
    prices = "\n".join(f'[prices."{m}"]\ninput = 100000\noutput = 300000\n' for m in (WEAK, SECOND, STRONG))
    path.write_text(
        f'[router]\nauto_provider = "openai"\n\n[router.cascade]\ndrafters = ["{WEAK}", "{SECOND}"]\n'
        f'escalate_to = "{STRONG}"\n\n{models}\n{prices}'
    )
    return path


def replay_cascade(rows: list[dict[str, Any]], workdir: Path, n_boot: int) -> dict[str, Any]:
    """Every prompt through a running gateway in cascade mode; figures from what it logged and returned."""
    upstream = ReplayUpstream(rows).start()
    db = gateway_target.BenchDatabase(workdir / "pgdata")
    port = free_port()
    config = _gateway_config(Path(tempfile.mkdtemp(prefix="gw-cascade-")) / "gateway.toml")
    answered: list[tuple[str, str, bool]] = []
    try:
        with Children(workdir / "logs") as children:
            _child, key = gateway_target.start(
                children, db, port, upstream.port, None, _REPO, extra_env={"GATEWAY_CONFIG": str(config)}
            )
            headers = {"Authorization": f"Bearer {key}", "X-Gateway-Route-Mode": "cascade"}
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=60) as client:
                for n, row in enumerate(rows, start=1):
                    r = client.post(
                        "/v1/chat/completions",
                        json={"model": "auto", "messages": [{"role": "user", "content": row["prompt"]}]},
                    )
                    r.raise_for_status()
                    escalated = r.headers.get("x-gateway-cascade") != "accepted"
                    answered.append((r.headers["x-request-id"], r.headers["x-gateway-model"], escalated))
                    if n % 100 == 0:
                        print(f"\rcascade replay: {n}/{len(rows)}", end="", file=sys.stderr, flush=True)
            time.sleep(1.0)  # the write queue flushes every few ms; give it a moment before stopping
        with psycopg.connect(db.url) as conn:
            doubt: dict[str, int] = dict(
                conn.execute(
                    "SELECT request_id::text, score FROM routing_decisions WHERE request_id = ANY(%s::uuid[])",
                    ([a[0] for a in answered],),
                ).fetchall()
            )
    finally:
        db.close()
        upstream.stop()
    print(file=sys.stderr)
    return cascade_figures(rows, answered, doubt, n_boot)


def cascade_figures(
    rows: list[dict[str, Any]], answered: list[tuple[str, str, bool]], doubt: dict[str, int], n_boot: int
) -> dict[str, Any]:
    """APGR of the logged doubt, escalation share, realised quality and recorded cost, per source and pooled."""
    groups: dict[str, list[int]] = {"all": list(range(len(rows)))}
    for i, r in enumerate(rows):
        groups.setdefault(r["source"], []).append(i)
    out: dict[str, Any] = {}
    for name, idx in groups.items():
        weak = [_outcome(rows[i], WEAK)["score"] >= 0.5 for i in idx]
        strong = [_outcome(rows[i], STRONG)["score"] >= 0.5 for i in idx]
        scores = [float(doubt.get(answered[i][0], 0)) for i in idx]
        lengths = [float(len(rows[i]["prompt"])) for i in idx]
        evals = evaluate_routers(
            {"cascade": scores, "length": lengths}, weak, strong, reference="length", n_boot=n_boot, seed=0
        )
        served = [answered[i][1] for i in idx]
        quality = statistics.fmean(_outcome(rows[i], m)["score"] for i, m in zip(idx, served, strict=True))
        cost = sum(
            _outcome(rows[i], WEAK).get("cost_usd", 0)
            + _outcome(rows[i], SECOND).get("cost_usd", 0)
            + (_outcome(rows[i], STRONG).get("cost_usd", 0) if answered[i][2] else 0)
            for i in idx
        )
        strong_cost = sum(_outcome(rows[i], STRONG).get("cost_usd", 0) for i in idx)
        out[name] = {
            "n": len(idx),
            "apgr": {e.name: [e.apgr.value, e.apgr.low, e.apgr.high] for e in evals},
            "cpt50": {e.name: e.cpt50.value for e in evals},
            "cpt80": {e.name: e.cpt80.value for e in evals},
            "escalation_share": sum(answered[i][2] for i in idx) / len(idx),
            "quality": {
                "cascade": quality,
                "weak_only": statistics.fmean(weak),
                "strong_only": statistics.fmean(strong),
            },
            "cost_vs_strong_only": cost / strong_cost if strong_cost else None,
        }
    return out


def scoring_timing(prompts: list[str], model_path: Path | None, limit: int = 2000) -> dict[str, Any]:
    """µs per prompt, p50/p99, for the heuristic and (when given) a learned model."""
    convs = [Conversation((Message("user", p),)) for p in prompts[:limit]]
    scorers: dict[str, Any] = {"heuristic": lambda c: score_conversation(c, DEFAULT_CONFIG)}
    if model_path is not None:
        from gateway.cli.router_train import load_model

        learned = load_model(str(model_path))
        scorers["learned"] = lambda c: learned.decide(c, DEFAULT_CONFIG)
    out = {}
    for name, fn in scorers.items():
        for c in convs[:50]:
            fn(c)
        spent = []
        for c in convs:
            t0 = time.perf_counter()
            fn(c)
            spent.append((time.perf_counter() - t0) * 1e6)
        spent.sort()
        out[name] = {"p50_us": spent[len(spent) // 2], "p99_us": spent[int(len(spent) * 0.99)]}
    return out


def added_ttft(rows: list[dict[str, Any]], workdir: Path, n: int, delay_s: float) -> dict[str, float]:
    """Median time to first byte of a stream, score mode vs cascade mode (mock answers after ``delay_s``)."""
    upstream = ReplayUpstream(rows, delay_s=delay_s).start()
    db = gateway_target.BenchDatabase(workdir / "pgdata")
    port = free_port()
    config = _gateway_config(Path(tempfile.mkdtemp(prefix="gw-cascade-")) / "gateway.toml")
    result: dict[str, float] = {}
    try:
        with Children(workdir / "logs") as children:
            _child, key = gateway_target.start(
                children, db, port, upstream.port, None, _REPO, extra_env={"GATEWAY_CONFIG": str(config)}
            )
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
                for mode in ("score", "cascade"):
                    ttfts = []
                    for row in rows[:n]:
                        body = {
                            "model": "auto",
                            "stream": True,
                            "messages": [{"role": "user", "content": row["prompt"]}],
                        }
                        headers = {"Authorization": f"Bearer {key}", "X-Gateway-Route-Mode": mode}
                        t0 = time.perf_counter()
                        with client.stream("POST", "/v1/chat/completions", json=body, headers=headers) as r:
                            chunks = r.iter_bytes()
                            next(chunks, b"")
                            ttfts.append((time.perf_counter() - t0) * 1000)
                            for _ in chunks:
                                pass
                    result[f"{mode}_ttft_ms_p50"] = statistics.median(ttfts)
    finally:
        db.close()
        upstream.stop()
    result["added_ttft_ms_p50"] = result["cascade_ttft_ms_p50"] - result["score_ttft_ms_p50"]
    result["upstream_delay_ms"] = delay_s * 1000
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.perf.router_bench", description=__doc__.splitlines()[0])
    p.add_argument("--limit", type=int, default=0, help="replay only this many prompts (0: all; smoke runs)")
    p.add_argument("--bootstrap", type=int, default=200)
    p.add_argument("--skip-learned", action="store_true", help="skip the held-out learned-scorer figures")
    p.add_argument("--learned-limit", type=int, default=0, help="records for the learned figures (0: all)")
    p.add_argument("--ttft-requests", type=int, default=20)
    p.add_argument("--ttft-delay-ms", type=float, default=50.0, help="mock upstream delay per call")
    args = p.parse_args(argv)
    workdir = _REPO / ".gateway" / "bench"
    workdir.mkdir(parents=True, exist_ok=True)
    rows = [json.loads(line) for line in (DATA / "routerbench_train.jsonl").open() if line.strip()]
    replay_rows = rows[: args.limit] if args.limit else rows
    report: dict[str, Any] = {"cascade": replay_cascade(replay_rows, workdir, args.bootstrap)}
    model_path = None
    if not args.skip_learned:
        from router.heldout import heldout_report, summary_figures
        from router.learned import FeatureConfig, encode_artifact
        from router.learned_fit import build_artifact, design
        from router.records import read_records

        items = []
        for name in ("routellm_gsm8k_mmlu.jsonl", "routerbench_train.jsonl"):
            lines = ((n, json.loads(line)) for n, line in enumerate((DATA / name).open(), start=1) if line.strip())
            got, _ = read_records(lines, weak=WEAK, strong=STRONG)
            items.extend(got)
        if args.learned_limit:
            import random

            items = random.Random(0).sample(items, min(args.learned_limit, len(items)))
        features = FeatureConfig()
        x = design([it.prompt for it in items], features)
        report["learned"] = summary_figures(heldout_report(x, items, k=5, n_boot=args.bootstrap))
        model_path = workdir / "router-model.json"
        model_path.write_bytes(encode_artifact(build_artifact(x, items, features)))
    report["timing_smoke"] = {
        "scoring": scoring_timing([r["prompt"] for r in rows], model_path),
        "cascade_ttft": added_ttft(rows, workdir, args.ttft_requests, args.ttft_delay_ms / 1000),
    }
    (workdir / "router_results.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
