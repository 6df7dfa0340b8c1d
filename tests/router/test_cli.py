"""The router CLI on files and stdin (no database)."""

from __future__ import annotations

import argparse
import io
import json
import random
from pathlib import Path

import pytest

from gateway.cli.router import add_router_commands, conversation_from_json


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gateway")
    sub = parser.add_subparsers(dest="command", required=True)
    add_router_commands(sub)
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


def test_score_reads_stdin_json_lines(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    lines = [
        {"id": "a", "messages": [{"role": "user", "content": "hello"}]},
        {
            "id": "b",
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "Design a distributed cache with failover."}]}
            ],
        },
    ]
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(json.dumps(x) for x in lines) + "\n"))
    assert run(["router", "score"]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [o["id"] for o in out] == ["a", "b"]
    assert set(out[0]) == {"id", "score", "confidence", "tier", "reasoning"}
    assert out[0]["tier"] == "simple"
    assert out[1]["score"] > out[0]["score"]


def test_conversation_from_json_counts_attachments_and_tools() -> None:
    conv = conversation_from_json(
        {
            "system": "be brief",
            "tools": [{"name": "a"}, {"name": "b"}],
            "messages": [
                {"role": "user", "content": [{"type": "image_url", "image_url": {}}, {"type": "text", "text": "what?"}]}
            ],
        }
    )
    assert conv.n_tools == 2
    assert conv.n_attachments == 1
    assert [m.role for m in conv.messages] == ["system", "user"]
    assert conv.messages[-1].text == "what?"


def _labeled(path: Path, n: int = 400) -> None:
    rng = random.Random(4)
    with path.open("w") as f:
        for i in range(n):
            hard = rng.random()
            prompt = "What is 2+2?" if hard < 0.5 else "Prove, step by step, that the algorithm terminates. " * 6
            f.write(
                json.dumps(
                    {
                        "id": str(i),
                        "source": "s1" if i % 2 else "s2",
                        "prompt": prompt,
                        "weak_correct": rng.random() > hard,
                        "strong_correct": rng.random() > hard / 4,
                    }
                )
                + "\n"
            )


def test_eval_json_reports_routers_per_source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "dev.jsonl"
    _labeled(data)
    assert run(["router", "eval", "--data", str(data), "--cv", "0", "--bootstrap", "20", "--format", "json"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    groups = result["labeled"]["groups"]
    assert set(groups) == {"all", "s1", "s2"}
    names = [r["name"] for r in groups["all"]]
    assert names == ["scorer", "length", "random"]
    scorer = groups["all"][0]
    assert scorer["apgr"]["low"] <= scorer["apgr"]["value"] <= scorer["apgr"]["high"]
    assert scorer["apgr"]["value"] > groups["all"][2]["apgr"]["value"]
    assert result["timing"]["p50_us"] > 0
    assert "bootstrap all: 20/20" in captured.err


def test_eval_table_on_chat_cases(capsys: pytest.CaptureFixture[str]) -> None:
    cases = Path(__file__).resolve().parents[2] / "router" / "data" / "chat_cases.jsonl"
    assert run(["router", "eval", "--data", str(cases), "--no-bench"]) == 0
    out = capsys.readouterr().out
    assert "tier accuracy" in out
    assert "expected \\ got" in out


def test_calibrate_from_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "dev.jsonl"
    _labeled(data)
    assert run(["router", "calibrate", "--data", str(data), "--mix", "50,30,20", "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    t = result["thresholds"]
    assert 0 <= t["simple_max"] < t["medium_max"] <= 100
    assert t["n"] == 400


def test_calibrate_needs_a_source(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["router", "calibrate"]) == 2
    assert "--data" in capsys.readouterr().err
