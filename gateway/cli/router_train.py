"""``gateway router train`` and the learned-model parts of ``router score|eval``: the I/O around router/.

Reads training files (the three formats of the router data README) and, with
``--from-db``, the organization's own labels (:mod:`gateway.routing.labels`), fits the
learned scorer (:mod:`router.learned_fit`), measures it held out (:mod:`router.heldout`),
and writes the artifact, or stores it in ``gateway_router_models`` with ``--save``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import msgspec

from router.evaluation import RouterEval
from router.learned import FeatureConfig, LearnedScorer, ModelArtifact, decode_artifact, encode_artifact
from router.records import Labeled, RecordError, read_records
from router.report import table
from router.types import Conversation, Message

# The pair the README names for routerbench_train.jsonl: the default when none is given.
DEFAULT_WEAK = "mistral-7b-chat"
DEFAULT_STRONG = "gpt-4-1106-preview"


class Progress:
    """Progress on stderr (a few updates a second at most)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done == total or now - self.last > 0.5:
            self.last = now
            print(f"\r{self.label}: {done}/{total}", end="\n" if done == total else "", file=sys.stderr, flush=True)


def _lines(path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    with Path(path).open(encoding="utf-8") as handle:
        for n, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    yield n, json.loads(line)
                except json.JSONDecodeError as exc:
                    raise RecordError(f"line {n}: not JSON ({exc.msg})") from None


def read_files(paths: Sequence[str], weak: str, strong: str) -> tuple[list[Labeled], dict[str, Any]]:
    """Labeled records of every file and a per-file account (used, skipped).

    Raises:
        RecordError: A malformed record, with its file and line.
    """
    items: list[Labeled] = []
    account: dict[str, Any] = {}
    for path in paths:
        try:
            got, skipped = read_records(_lines(path), weak=weak, strong=strong, default_source=Path(path).stem)
        except RecordError as exc:
            raise RecordError(f"{path}: {exc}") from None
        items.extend(got)
        account[Path(path).name] = {"used": len(got), "skipped": skipped}
    return items, account


def load_model(path: str) -> LearnedScorer:
    """A model file as a ready scorer (``ValueError``/``msgspec`` errors on a bad file)."""
    return LearnedScorer(decode_artifact(Path(path).read_bytes()), model_id=Path(path).name)


def _features(args: argparse.Namespace) -> FeatureConfig:
    features = FeatureConfig(
        n_buckets=1 << args.bits,
        char_ngrams=tuple(int(n) for n in args.char_ngrams.split(",") if n) if args.char_ngrams else (),
        char_max_chars=args.char_chars,
    )
    problems = features.problems()
    if problems:
        raise ValueError("; ".join(problems))
    return features


def _print_report(report: dict[str, dict[str, list[RouterEval]]]) -> None:
    for scheme, groups in report.items():
        title = {"kfold": "k-fold (within the data)", "loso": "leave-one-source-out (unseen families)"}[scheme]
        print(f"\n#### {title}")
        for group, evals in groups.items():
            print(f"\n== {group} (n={evals[0].n}) ==")
            rows = []
            for e in evals:
                d = e.apgr_vs_reference
                rows.append(
                    [
                        e.name,
                        f"{e.apgr.value:.3f} [{e.apgr.low:.3f}, {e.apgr.high:.3f}]",
                        "" if d is None else f"{d.value:+.3f} [{d.low:+.3f}, {d.high:+.3f}]",
                        f"{e.cpt50.value:.3f} [{e.cpt50.low:.3f}, {e.cpt50.high:.3f}]",
                        f"{e.cpt80.value:.3f} [{e.cpt80.low:.3f}, {e.cpt80.high:.3f}]",
                    ]
                )
            print(table(["router", "APGR [95% CI]", "vs length", "CPT50 [CI]", "CPT80 [CI]"], rows))
    print(
        "\nheuristic = the built-in scorer; its word table was fitted on routellm_gsm8k_mmlu.jsonl, so its"
        " gsm8k/mmlu rows are in-sample (not evidence). learned = refitted without the prompt's fold/source."
    )


def gather(args: argparse.Namespace) -> tuple[list[Labeled], dict[str, Any]]:
    """Records from ``--data`` files and, with ``--from-db``, the organization's labels."""
    items, account = read_files(args.data or [], args.weak, args.strong)
    if getattr(args, "from_db", False):
        from gateway.routing.labels import read_db_labels

        if not args.database_url or not args.org:
            raise RecordError("--from-db needs --database-url URL and --org ORG")
        db_items, db_account = read_db_labels(args.database_url, args.org)
        items.extend(db_items)
        account["database"] = db_account
    return items, account


def cmd_train(args: argparse.Namespace) -> int:
    """Fit a learned scorer, measure it held out, write (and optionally store) the artifact."""
    from router.heldout import heldout_report, summary_figures
    from router.learned_fit import FitParams, build_artifact, design

    try:
        features = _features(args)
        items, account = gather(args)
    except (RecordError, ValueError, OSError) as exc:
        print(f"gateway router train: {exc}", file=sys.stderr)
        return 2
    if len(items) < 20 or not any(it.need > 0 for it in items):
        print(
            f"gateway router train: {len(items)} usable records, need at least 20 with some where the strong model"
            " did better (check --weak/--strong against the files' models)",
            file=sys.stderr,
        )
        return 2
    params = FitParams(l2=args.l2, iterations=args.iterations)
    x = design([it.prompt for it in items], features, Progress("features"))
    training = {
        "files": account,
        "weak_model": args.weak,
        "strong_model": args.strong,
        "trained_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    artifact = build_artifact(x, items, features, params, training)
    if args.cv > 1:
        report = heldout_report(
            x, items, k=args.cv, n_boot=args.bootstrap, seed=args.seed, params=params, progress=Progress("folds")
        )
        artifact = msgspec.structs.replace(artifact, metrics=summary_figures(report))
        if args.format == "table":
            _print_report(report)
    Path(args.out).write_bytes(encode_artifact(artifact))
    print(f"\nwrote {args.out}: {len(artifact.hashed)} hashed weights, {len(items)} records", file=sys.stderr)
    if args.save:
        from gateway.routing.models import save_model_cli

        if not args.database_url or not args.org:
            print("gateway router train: --save needs --database-url URL and --org ORG", file=sys.stderr)
            return 2
        model_id = save_model_cli(args.database_url, args.org, Path(args.out).stem, artifact)
        print(f"stored as router model {model_id}; point the organization at it with model_id in the router config")
    if args.format == "json":
        sys.stdout.write(json.dumps({"out": args.out, "training": artifact.training, "metrics": artifact.metrics}))
        sys.stdout.write("\n")
    return 0


def cmd_eval_model(args: argparse.Namespace) -> int:
    """Held-out figures of the model's recipe on ``--data`` (refitted per fold), plus the stored model.

    The stored model's own scores are listed as ``stored``: they are evidence only on sources
    it was not trained on (its training sources are printed next to them).
    """
    from router.heldout import heldout_report, summary_figures
    from router.learned_fit import FitParams, design

    try:
        scorer = load_model(args.model)
        items, _account = gather(args)
    except (RecordError, ValueError, OSError, msgspec.ValidationError) as exc:
        print(f"gateway router eval: {exc}", file=sys.stderr)
        return 2
    if not items:
        print("gateway router eval: no records for the chosen --weak/--strong pair", file=sys.stderr)
        return 2
    art: ModelArtifact = scorer.artifact
    params = FitParams(**art.training.get("params", {}))
    x = design([it.prompt for it in items], art.features, Progress("features"))
    from router import DEFAULT_CONFIG

    stored = [scorer.decide(Conversation((Message("user", it.prompt),)), DEFAULT_CONFIG).value for it in items]
    report = heldout_report(
        x,
        items,
        k=args.cv,
        n_boot=args.bootstrap,
        seed=args.seed,
        params=params,
        progress=Progress("folds"),
        extra={"stored": stored},
    )
    trained_on = sorted(art.training.get("sources", {}))
    if args.format == "json":
        print(json.dumps({"trained_on": trained_on, "figures": summary_figures(report)}))
        return 0
    print(f"stored model trained on sources {trained_on}: its rows are in-sample on those sources")
    _print_report(report)
    return 0


def add_train_options(p: argparse.ArgumentParser) -> None:
    """Options shared by ``train`` and ``eval --model``: data, pair, database."""
    p.add_argument("--data", action="append", metavar="FILE", help="training records (repeatable)")
    p.add_argument("--weak", default=DEFAULT_WEAK, help=f"weak model of multi-model records ({DEFAULT_WEAK})")
    p.add_argument("--strong", default=DEFAULT_STRONG, help=f"strong model ({DEFAULT_STRONG})")
    p.add_argument("--from-db", action="store_true", help="add the organization's labels from the database")
    p.add_argument("--database-url", help="PostgreSQL for --from-db / --save")
    p.add_argument("--org", help="organization (slug, name or id) for --from-db / --save")


def add_train_command(rsub: Any) -> argparse.ArgumentParser:
    """``router train``."""
    p: argparse.ArgumentParser = rsub.add_parser("train", help="fit the learned prompt scorer, write an artifact")
    add_train_options(p)
    p.add_argument("--out", required=True, metavar="MODEL", help="artifact path (JSON)")
    p.add_argument("--save", action="store_true", help="also store it in the database for --org")
    p.add_argument("--cv", type=int, default=5, help="folds for the held-out figures (0: skip)")
    p.add_argument("--bootstrap", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--bits", type=int, default=18, help="hash space: 2**bits buckets")
    p.add_argument("--char-ngrams", default="4", help="character n-gram orders, comma-separated ('' for none)")
    p.add_argument("--char-chars", type=int, default=600, help="characters read for character n-grams")
    p.add_argument("--l2", type=float, default=1e-5)
    p.add_argument("--iterations", type=int, default=150)
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(func=cmd_train)
    return p
