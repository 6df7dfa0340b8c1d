"""Out-of-fold scoring on a labeled file, for honest evaluation of the fitted lexical table.

The shipped word table was fitted on the whole development file, so scoring that file
with it would be in-sample. Here each fold is scored with a table refitted on the other
folds; every other weight is the configuration's (hand-set, not fitted).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from router.config import DEFAULT_CONFIG, RouterConfig
from router.features import query_signals, window
from router.fitting import fit_lexicon, folds, tokens
from router.scorer import decide


def out_of_fold_values(
    prompts: Sequence[str],
    gains: Sequence[float],
    config: RouterConfig = DEFAULT_CONFIG,
    *,
    k: int = 5,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> list[float]:
    """Unrounded scores (``Decision.value``) of single-turn prompts, each with a table fitted out of fold.

    Args:
        prompts: The user prompts.
        gains: ``strong_correct - weak_correct`` per prompt (what the table is fitted on).
        config: Weights and cut points for everything but the table.
        k: Number of folds.
        seed: Fold assignment and SGD shuffling seed.
        progress: Called with ``(folds done, k)``.
    """
    docs = [tokens(p, config.max_query_chars) for p in prompts]
    out = [0.0] * len(prompts)
    for n_done, fold in enumerate(folds(len(prompts), k, seed), start=1):
        held = set(fold)
        train = [i for i in range(len(prompts)) if i not in held]
        table = fit_lexicon([docs[i] for i in train], [gains[i] for i in train], seed=seed)
        for i in fold:
            text = prompts[i]
            signals = query_signals(window(text, config.max_query_chars), table)
            signals.update(context=0.0, tools=0.0, attachments=0.0)
            out[i] = decide(signals, len(text), config).value
        if progress is not None:
            progress(n_done, k)
    return out
