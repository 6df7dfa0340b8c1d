"""The lexical word table: it learns the direction of the gain, and CV scores out of fold."""

from __future__ import annotations

import random

from router.crossval import out_of_fold_values
from router.fitting import cross_val_lexical, fit_lexicon, lexical_raw, render_table, tokens


def _docs(n: int, seed: int) -> tuple[list[list[str]], list[float]]:
    rng = random.Random(seed)
    docs, gains = [], []
    for _ in range(n):
        hard = rng.random() < 0.5
        words = ["the", "question", "scenario" if hard else "capital", rng.choice(["x", "y", "z"])]
        docs.append(sorted(set(words)))
        gains.append(1.0 if hard and rng.random() < 0.8 else 0.0)
    return docs, gains


def test_fit_learns_which_words_predict_gain() -> None:
    docs, gains = _docs(600, 1)
    table = fit_lexicon(docs, gains)
    assert table["scenario"] > 0.1 > -0.1 > table["capital"]
    assert lexical_raw(table, ["scenario", "the"]) > lexical_raw(table, ["capital", "the"])
    assert lexical_raw(table, ["unseen"]) == 0.0


def test_cross_validation_is_out_of_fold() -> None:
    docs, gains = _docs(300, 2)
    oof = cross_val_lexical(docs, gains, k=5)
    hard = [v for v, d in zip(oof, docs, strict=True) if "scenario" in d]
    easy = [v for v, d in zip(oof, docs, strict=True) if "capital" in d]
    assert min(hard) > max(easy)


def test_out_of_fold_values_rank_hard_prompts_higher() -> None:
    prompts = ["Moral scenario: did I do something wrong? " * 3] * 60 + ["What is the capital of France?"] * 60
    gains = [1.0] * 60 + [0.0] * 60
    values = out_of_fold_values(prompts, gains, k=3)
    assert min(values[:60]) > max(values[60:])


def test_render_table_round_trips() -> None:
    source = render_table({"alpha": 0.5, "beta": -0.25, "tiny": 0.0})
    namespace: dict[str, object] = {}
    exec(source, namespace)
    text = namespace["TABLE_TEXT"]
    assert isinstance(text, str)
    assert text.split() == ["alpha:0.5000", "beta:-0.2500"]
    assert tokens("Beta, alpha; ALPHA") == ["alpha", "beta"]
