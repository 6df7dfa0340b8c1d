"""AUTO-mode complexity scorer: pure functions from a conversation to a tier.

How the score is built:

1. **Window.** The last user turn is the query; it is scanned through a bounded window
   (``max_query_chars``: its head and tail), earlier turns contribute only their count
   and lengths, so the work is bounded on any input.
2. **Signals** (each in [0, 1], see ``router.features.SIGNALS``): query length (log
   scale); reasoning/proof words; code (keywords, syntax, fences, file names); math and
   quantities; multiple steps/parts; constraints and negations; system design; technical
   vocabulary; simple-task markers (greetings, rewrites, one-line lookups; weighted
   negatively); a lexical-difficulty score (mean of per-word weights fitted on labeled
   prompts, shrunk to neutral for short texts; ``router.fitting``); conversation context
   (prior turns, their size); tools offered; attachments.
3. **Score.** ``z = bias + sum(weight[s] * signal[s])``; ``value = 100 * sigmoid(z)``;
   ``score = round(value)``. Weights and bias live in :class:`RouterConfig`.
4. **Complexity.** ``score <= simple_max`` -> simple; ``<= medium_max`` -> medium; else complex.
5. **Confidence.** 0.5 on a cut point, rising linearly to 1.0 at ``confidence_band``
   score points from the nearest cut point.
6. **Reasoning.** The tier and score, the (up to three) signals that pushed the score up
   most, and the one that pulled it down most.

Offline tools: ``router.evaluation`` (APGR, CPT, ROC-AUC, bootstrap), ``router.calibration``
(cut points for a tier mix, replay of logged decisions), ``router.crossval`` (out-of-fold
scores for the fitted word table).
"""

from router.complexity import COMPLEXITIES, Complexity
from router.config import DEFAULT_CONFIG, RouterConfig, decode_config
from router.features import SIGNALS
from router.scorer import decide, score_conversation
from router.types import Conversation, Decision, Message

__all__ = [
    "COMPLEXITIES",
    "DEFAULT_CONFIG",
    "SIGNALS",
    "Complexity",
    "Conversation",
    "Decision",
    "Message",
    "RouterConfig",
    "decide",
    "decode_config",
    "score_conversation",
]
