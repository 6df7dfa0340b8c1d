"""Cut points for a target mix, and the replay arithmetic."""

from __future__ import annotations

import pytest

from router.calibration import LoggedDecision, Mix, mix_of, parse_mix, replay, thresholds_for_mix


def test_parse_mix_normalises_and_rejects() -> None:
    assert parse_mix("50,35,15") == Mix(0.5, 0.35, 0.15)
    assert parse_mix("1,1,2") == Mix(0.25, 0.25, 0.5)
    for bad in ("50,50", "-1,1,1", "0,0,0"):
        with pytest.raises(ValueError, match="mix"):
            parse_mix(bad)


def test_thresholds_hit_the_mix_on_uniform_scores() -> None:
    scores = list(range(100)) * 3  # 0..99 uniformly
    found = thresholds_for_mix(scores, Mix(0.5, 0.35, 0.15))
    assert (found.simple_max, found.medium_max) == (49, 84)
    assert found.achieved == mix_of(scores, 49, 84)
    assert found.achieved.simple == pytest.approx(0.5)
    assert found.achieved.complex == pytest.approx(0.15)


def test_thresholds_on_lumpy_scores_stay_ordered() -> None:
    found = thresholds_for_mix([10] * 90 + [90] * 10, Mix(0.5, 0.3, 0.2))
    assert 0 <= found.simple_max < found.medium_max <= 100


def test_replay_keeps_unmoved_rows_and_estimates_moved_ones() -> None:
    rows = [
        LoggedDecision(score=10, tier="simple", request_succeeded=True, response_tokens=100, cost_millicents=100),
        LoggedDecision(score=40, tier="simple", request_succeeded=False, response_tokens=200, cost_millicents=200),
        LoggedDecision(score=60, tier="medium", request_succeeded=True, response_tokens=100, cost_millicents=500),
        LoggedDecision(score=90, tier="complex", request_succeeded=True, response_tokens=None, cost_millicents=3000),
    ]
    actual, new = replay(rows, simple_max=30, medium_max=95)
    assert actual.counts == {"simple": 2, "medium": 1, "complex": 1}
    assert actual.cost_millicents == 3800
    assert actual.success_rate == pytest.approx(0.75)
    assert new.counts == {"simple": 1, "medium": 3, "complex": 0}
    assert new.moved == 2
    # score 40 -> medium: 200 tokens * 5 mc/token; score 90 -> medium, no tokens: medium's mean cost 500.
    assert new.cost_millicents == pytest.approx(100 + 1000 + 500 + 500)
    # kept rows: True, True; moved rows take medium's success rate (1.0).
    assert new.success_rate == pytest.approx(1.0)


def test_replay_with_same_cut_points_changes_nothing() -> None:
    rows = [LoggedDecision(score=s, tier=t, cost_millicents=c) for s, t, c in ((5, "simple", 1), (70, "complex", 9))]
    actual, new = replay(rows, 30, 60)
    assert new.moved == 0
    assert new.counts == actual.counts
    assert new.cost_millicents == actual.cost_millicents
