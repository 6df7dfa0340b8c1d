"""``gateway router score|eval|calibrate|replay``: the router's offline tools (the I/O around router/).

Everything that computes lives in the pure ``router`` package; this module reads files,
stdin and the ``routing_decisions`` table, prints tables or JSON on stdout and progress
on stderr, and returns exit codes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import psycopg

from router import DEFAULT_CONFIG, Conversation, Message, RouterConfig, score_conversation
from router.calibration import LoggedDecision, mix_of, parse_mix, replay, thresholds_for_mix
from router.complexity import COMPLEXITIES
from router.config import decode_config
from router.crossval import out_of_fold_values
from router.evaluation import RouterEval, evaluate_routers
from router.report import ordering_accuracy, table

_JSON = msgspec.json.Encoder()
_ATTACHMENT_TYPES = {"image", "image_url", "input_image", "document", "file", "input_file", "input_audio"}


class Progress:
    """Progress on stderr, at most a few updates a second, so long runs show they are alive."""

    def __init__(self, label: str, stream: Any = None) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done == total or now - self.last > 0.25:
            self.last = now
            end = "\n" if done == total else ""
            print(f"\r{self.label}: {done}/{total}", end=end, file=self.stream, flush=True)


def _text_and_attachments(content: object) -> tuple[str, int]:
    """A message's text and attachment count, for string or content-block (OpenAI/Anthropic) content."""
    if isinstance(content, str):
        return content, 0
    if not isinstance(content, list):
        return "", 0
    texts: list[str] = []
    attachments = 0
    for block in content:
        if isinstance(block, str):
            texts.append(block)
        elif isinstance(block, dict):
            kind = block.get("type")
            if kind in _ATTACHMENT_TYPES:
                attachments += 1
            elif isinstance(block.get("text"), str):
                texts.append(block["text"])
            elif kind == "tool_result":
                inner, n = _text_and_attachments(block.get("content"))
                texts.append(inner)
                attachments += n
    return "\n".join(texts), attachments


def conversation_from_json(obj: dict[str, Any]) -> Conversation:
    """A :class:`Conversation` from ``{"messages": [...], "system"?, "tools"?, "prompt"?}``."""
    messages: list[Message] = []
    attachments = int(obj.get("n_attachments", 0))
    if isinstance(obj.get("system"), str | list):
        text, _ = _text_and_attachments(obj["system"])
        messages.append(Message("system", text))
    for m in obj.get("messages") or []:
        text, n = _text_and_attachments(m.get("content"))
        attachments += n
        messages.append(Message(str(m.get("role", "user")), text))
    if not messages and isinstance(obj.get("prompt"), str):
        messages.append(Message("user", obj["prompt"]))
    tools = obj.get("tools")
    n_tools = len(tools) if isinstance(tools, list) else int(obj.get("n_tools", 0))
    return Conversation(tuple(messages), n_tools=n_tools, n_attachments=attachments)


def _parse_lines(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    for line in lines:
        if line.strip():
            yield json.loads(line)


def _read_lines(path: str | None) -> Iterator[dict[str, Any]]:
    if path in (None, "-"):
        yield from _parse_lines(sys.stdin)
        return
    with Path(str(path)).open(encoding="utf-8") as handle:
        yield from _parse_lines(handle)


def _load_config(path: str | None) -> RouterConfig:
    return DEFAULT_CONFIG if path is None else decode_config(Path(path).read_bytes())


def _emit(obj: object) -> None:
    sys.stdout.write(_JSON.encode(obj).decode() + "\n")


def cmd_score(args: argparse.Namespace) -> int:
    """JSON lines in, one decision per line out (or a table)."""
    config = _load_config(args.config)
    rows = []
    for obj in _read_lines(args.input):
        d = score_conversation(conversation_from_json(obj), config)
        out = {"id": obj.get("id"), "score": d.score, "confidence": d.confidence, "tier": d.complexity}
        out["reasoning"] = d.reasoning
        if args.format == "json":
            _emit(out)
        else:
            rows.append([out["id"], d.score, d.confidence, d.complexity, d.reasoning])
    if args.format == "table":
        print(table(["id", "score", "conf", "tier", "reasoning"], rows))
    return 0


def _timings(prompts: list[str], config: RouterConfig, limit: int = 2000) -> dict[str, float]:
    """µs per prompt (p50/p99 over the data) and for a 100 KB prompt (median of 30)."""
    convs = [Conversation((Message("user", p),)) for p in prompts[:limit]]
    for c in convs[:50]:
        score_conversation(c, config)  # warm caches (regexes, table)
    spent = []
    for c in convs:
        t0 = time.perf_counter()
        score_conversation(c, config)
        spent.append((time.perf_counter() - t0) * 1e6)
    spent.sort()
    seed_text = " ".join(prompts[:200]) or "word "
    big = Conversation((Message("user", (seed_text * (100_000 // len(seed_text) + 1))[:100_000]),))
    big_spent = []
    for _ in range(30):
        t0 = time.perf_counter()
        score_conversation(big, config)
        big_spent.append((time.perf_counter() - t0) * 1e6)
    big_spent.sort()
    return {
        "p50_us": spent[len(spent) // 2] if spent else 0.0,
        "p99_us": spent[min(len(spent) - 1, int(len(spent) * 0.99))] if spent else 0.0,
        "prompt_100kb_us": big_spent[len(big_spent) // 2],
    }


def _eval_labeled(rows: list[dict[str, Any]], config: RouterConfig, args: argparse.Namespace) -> dict[str, Any]:
    prompts = [str(r["prompt"]) for r in rows]
    gains = [int(bool(r["strong_correct"])) - int(bool(r["weak_correct"])) for r in rows]
    if args.cv > 1:
        values = out_of_fold_values(prompts, gains, config, k=args.cv, seed=args.seed, progress=Progress("cv folds"))
    else:
        values = [score_conversation(Conversation((Message("user", p),)), config).value for p in prompts]
    rng = random.Random(args.seed)
    noise = [rng.random() for _ in rows]
    groups: dict[str, list[int]] = {"all": list(range(len(rows)))}
    for i, r in enumerate(rows):
        groups.setdefault(str(r.get("source", "all")), []).append(i)
    if len(groups) == 2:
        groups.pop(next(k for k in groups if k != "all"))
    out: dict[str, list[RouterEval]] = {}
    for name, idx in groups.items():
        routers = {
            "scorer": [values[i] for i in idx],
            "length": [float(len(prompts[i])) for i in idx],
            "random": [noise[i] for i in idx],
        }
        out[name] = evaluate_routers(
            routers,
            [bool(rows[i]["weak_correct"]) for i in idx],
            [bool(rows[i]["strong_correct"]) for i in idx],
            reference="length",
            n_boot=args.bootstrap,
            seed=args.seed,
            progress=Progress(f"bootstrap {name}"),
        )
    return {"cv_folds": args.cv, "bootstrap": args.bootstrap, "groups": out}


def _eval_chat(rows: list[dict[str, Any]], config: RouterConfig) -> dict[str, Any]:
    decisions = [score_conversation(conversation_from_json(r), config) for r in rows]
    expected = [str(r["tier"]) for r in rows]
    confusion: dict[str, dict[str, int]] = {t: dict.fromkeys(COMPLEXITIES, 0) for t in COMPLEXITIES}
    for e, d in zip(expected, decisions, strict=True):
        confusion[e][d.complexity] += 1
    return {
        "n": len(rows),
        "tier_accuracy": sum(e == d.complexity for e, d in zip(expected, decisions, strict=True)) / max(1, len(rows)),
        "ordering_accuracy": ordering_accuracy(expected, [d.value for d in decisions]),
        "confusion": confusion,
        "misses": [
            {"id": r.get("id"), "expected": e, "got": d.complexity, "score": d.score}
            for r, e, d in zip(rows, expected, decisions, strict=True)
            if e != d.complexity
        ],
    }


def _print_eval(result: dict[str, Any]) -> None:
    for name, evals in result.get("labeled", {}).get("groups", {}).items():
        print(f"\n== {name} (n={evals[0].n}) ==")
        rows = []
        for e in evals:
            d = e.apgr_vs_reference
            rows.append(
                [
                    e.name,
                    f"{e.apgr.value:.3f} [{e.apgr.low:.3f}, {e.apgr.high:.3f}]",
                    "" if d is None else f"{d.value:+.3f} [{d.low:+.3f}, {d.high:+.3f}]",
                    e.cpt50.value,
                    e.cpt80.value,
                    e.auc.value,
                ]
            )
        print(table(["router", "APGR [95% CI]", "vs length", "CPT50", "CPT80", "AUC"], rows))
    chat = result.get("chat")
    if chat:
        print(f"\n== chat cases (n={chat['n']}) ==")
        print(f"tier accuracy {chat['tier_accuracy']:.3f}, ordering accuracy {chat['ordering_accuracy']:.3f}")
        print(table(["expected \\ got", *COMPLEXITIES], [[t, *chat["confusion"][t].values()] for t in COMPLEXITIES]))
    timing = result.get("timing")
    if timing:
        print(
            f"\nspeed: p50 {timing['p50_us']:.0f} µs, p99 {timing['p99_us']:.0f} µs, "
            f"100 KB prompt {timing['prompt_100kb_us']:.0f} µs"
        )


def cmd_eval(args: argparse.Namespace) -> int:
    """APGR/CPT/AUC against length and random baselines; tier accuracy on chat cases."""
    config = _load_config(args.config)
    rows = list(_read_lines(args.data))
    labeled = [r for r in rows if "weak_correct" in r and "strong_correct" in r]
    chat = [r for r in rows if "tier" in r]
    if not labeled and not chat:
        print("no labeled rows (weak_correct/strong_correct) and no chat cases (tier)", file=sys.stderr)
        return 2
    result: dict[str, Any] = {}
    if labeled:
        result["labeled"] = _eval_labeled(labeled, config, args)
    if chat:
        result["chat"] = _eval_chat(chat, config)
    if not args.no_bench:
        texts = [str(r["prompt"]) for r in labeled] or [conversation_from_json(r).messages[-1].text for r in chat]
        result["timing"] = _timings(texts, config)
    if args.format == "json":
        _emit(result)
    else:
        _print_eval(result)
    return 0


def _day(text: str) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(text), dt.time(), tzinfo=dt.UTC)


def read_logged(url: str, start: str, end: str, org: str | None) -> list[LoggedDecision]:
    """``routing_decisions`` rows from ``start`` to ``end`` (whole UTC days, inclusive)."""
    query = (
        "SELECT score, tier, request_succeeded, response_tokens, estimated_cost_millicents"
        " FROM routing_decisions WHERE created_at >= %s AND created_at < %s"
        " AND (%s::uuid IS NULL OR organization_id = %s::uuid) ORDER BY created_at"
    )
    stop = _day(end) + dt.timedelta(days=1)
    with psycopg.connect(url) as conn:
        rows = conn.execute(query, (_day(start), stop, org, org)).fetchall()
    return [LoggedDecision(int(s), str(t), ok, tok, cost) for s, t, ok, tok, cost in rows]


def _need_db(args: argparse.Namespace) -> str | None:
    missing = [f"--{n}" for n, v in (("from", args.start), ("to", args.end)) if v is None]
    return f"--database-url needs {' and '.join(missing)}" if missing else None


def cmd_calibrate(args: argparse.Namespace) -> int:
    """Cut points that hit a target tier mix over a data file or logged decisions."""
    target = parse_mix(args.mix)
    config = _load_config(args.config)
    if args.data:
        rows = list(_read_lines(args.data))
        progress = Progress("scoring")
        scores = []
        for n, r in enumerate(rows, start=1):
            scores.append(score_conversation(conversation_from_json(r), config).score)
            progress(n, len(rows))
        source = args.data
    elif args.database_url:
        problem = _need_db(args)
        if problem:
            print(problem, file=sys.stderr)
            return 2
        scores = [r.score for r in read_logged(args.database_url, args.start, args.end, args.org)]
        source = "routing_decisions"
    else:
        print("give --data FILE or --database-url URL --from DAY --to DAY", file=sys.stderr)
        return 2
    if not scores:
        print("no rows to calibrate on", file=sys.stderr)
        return 1
    found = thresholds_for_mix(scores, target)
    current = mix_of(scores, config.simple_max, config.medium_max)
    if args.format == "json":
        _emit({"source": source, "target": target, "thresholds": found, "current": current})
        return 0
    print(f"{found.n} scores from {source}")
    rows_out: list[list[object]] = [
        ["target", "", "", target.simple, target.medium, target.complex],
        ["found", found.simple_max, found.medium_max, *msgspec.structs.astuple(found.achieved)],
        ["current", config.simple_max, config.medium_max, *msgspec.structs.astuple(current)],
    ]
    print(table(["", "simple_max", "medium_max", "simple", "medium", "complex"], rows_out))
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    """Tier mix, cost and success rate other cut points would have produced, beside what happened."""
    problem = _need_db(args)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    config = _load_config(args.config)
    simple_max = config.simple_max if args.simple_max is None else args.simple_max
    medium_max = config.medium_max if args.medium_max is None else args.medium_max
    if not 0 <= simple_max < medium_max <= 100:
        print("need 0 <= simple-max < medium-max <= 100", file=sys.stderr)
        return 2
    rows = read_logged(args.database_url, args.start, args.end, args.org)
    summaries = replay(rows, simple_max, medium_max)
    if args.format == "json":
        _emit(summaries)
        return 0
    print(f"{len(rows)} logged decisions")
    print(
        table(
            ["policy", *COMPLEXITIES, "moved", "cost (cents)", "success"],
            [
                [s.label, *(s.counts[t] for t in COMPLEXITIES), s.moved, s.cost_millicents / 1000, s.success_rate]
                for s in summaries
            ],
        )
    )
    return 0


def _db_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--database-url", help="read routing_decisions from this PostgreSQL")
    p.add_argument("--from", dest="start", metavar="YYYY-MM-DD", help="first day (UTC, inclusive)")
    p.add_argument("--to", dest="end", metavar="YYYY-MM-DD", help="last day (UTC, inclusive)")
    p.add_argument("--org", metavar="UUID", help="only this organization")


def _common(p: argparse.ArgumentParser, formats: Iterable[str] = ("table", "json")) -> None:
    p.add_argument("--config", metavar="FILE", help="router config JSON (default: built-in)")
    p.add_argument("--format", choices=list(formats), default=next(iter(formats)))


def add_router_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``router score|eval|calibrate|replay`` to the gateway CLI."""
    router = sub.add_parser("router", help="AUTO-mode complexity scorer tools")
    rsub = router.add_subparsers(dest="router_command", required=True)
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {}

    score = rsub.add_parser("score", help="JSON lines {id, messages} in, scores out")
    score.add_argument("--input", metavar="FILE", help="default: stdin")
    _common(score, ("json", "table"))
    handlers["score"] = cmd_score

    ev = rsub.add_parser("eval", help="APGR, CPT(50%%), CPT(80%%), ROC-AUC vs length and random")
    ev.add_argument("--data", required=True, metavar="FILE", help="labeled JSON lines (dev file or chat cases)")
    ev.add_argument("--cv", type=int, default=5, help="folds for the fitted word table (0/1: use shipped)")
    ev.add_argument("--bootstrap", type=int, default=200, help="bootstrap replicates for the CIs")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--no-bench", action="store_true", help="skip the µs/prompt measurement")
    _common(ev)
    handlers["eval"] = cmd_eval

    cal = rsub.add_parser("calibrate", help="cut points for a target tier mix")
    cal.add_argument("--mix", default="50,35,15", help="simple,medium,complex shares")
    cal.add_argument("--data", metavar="FILE", help="JSON lines to score")
    _db_options(cal)
    _common(cal)
    handlers["calibrate"] = cmd_calibrate

    rep = rsub.add_parser("replay", help="what-if of other cut points over logged decisions")
    _db_options(rep)
    rep.add_argument("--simple-max", type=int)
    rep.add_argument("--medium-max", type=int)
    _common(rep)
    handlers["replay"] = cmd_replay

    for name, parser in (("score", score), ("eval", ev), ("calibrate", cal), ("replay", rep)):
        parser.set_defaults(func=handlers[name])
