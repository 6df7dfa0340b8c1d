"""The console in a real headless Chromium (Debian's, driven by Playwright) against the running gateway.

Each view is opened after signing in through the page's own form; the numbers its chart
draws are read back from Chart.js and compared with what the JSON API returns for the same
seeded data. A screenshot of every view is kept under ``tests/artifacts/console/``.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.accounts import BootstrapResult
from tests.policy.helpers import Conn, add_user, budget
from tests.reports.usage_rows import Row, insert
from tests.support.mock_upstream import MockUpstream
from tests.support.server import GatewayServer

playwright_sync = pytest.importorskip("playwright.sync_api")

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "console"
TODAY = dt.datetime.now(dt.UTC).replace(hour=12, minute=0, second=0, microsecond=0)

pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)),
    reason=f"no Chromium at {CHROMIUM}: `make browser` installs Debian's package when run as root",
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_sync.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


def _h(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


class Seed:
    def __init__(self, org: BootstrapResult, finance_key: str, member_id: str, member_key: str) -> None:
        self.org = org
        self.finance_key = finance_key
        self.member_id = member_id
        self.member_key = member_key


@pytest.fixture
def seeded(gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, conn: Conn) -> Seed:
    _, finance_key = add_user(conn, org.organization_id, "cfo@acme.test", "finance")
    member_id, member_key = add_user(conn, org.organization_id, "dev@acme.test", "member")
    budget(conn, org.organization_id, "50.00", hard=False, alert_pct=70)
    rows: list[Row] = []
    plan = [
        (org.user_id, "claude-haiku-4-5", "anthropic", "basic", 120_000, True),
        (org.user_id, "gpt-5", "openai", "premium", 900_000, False),
        (member_id, "gpt-4o-mini", "openai", "basic", 45_000, True),
        (member_id, "claude-opus-4-5", "anthropic", "premium", 610_000, False),
    ]
    for day in range(6):
        at = TODAY - dt.timedelta(days=day)
        for i, (user, model, provider, tier, cost, auto) in enumerate(plan):
            rows.append(
                Row(
                    org.organization_id,
                    user,
                    at,
                    model,
                    provider,
                    tier,
                    "chat",
                    1000 + day,
                    200 + i,
                    0,
                    0,
                    cost + 1000 * day,
                    auto,
                )
            )
    insert(conn, rows)
    for day in range(4):
        for score, tier, model, ok in (
            (12, "simple", "claude-haiku-4-5", True),
            (48, "medium", "gpt-4o-mini", True),
            (81, "complex", "gpt-5", day % 2 == 0),
        ):
            conn.execute(
                "INSERT INTO routing_decisions (created_at, user_id, organization_id, provider, selected_model, tier, "
                "score, confidence, query_length, request_succeeded, response_tokens, estimated_cost_millicents) "
                "VALUES (%s, %s, %s, 'openai', %s, %s, %s, 0.8, %s, %s, 50, 1000)",
                (
                    TODAY - dt.timedelta(days=day),
                    org.user_id if day % 2 else member_id,
                    org.organization_id,
                    model,
                    tier,
                    score + day,
                    40 * score,
                    ok,
                ),
            )
    # Two stored router configuration versions, so the diff has something to show.
    cfg = httpx.get(gateway.url + "/v1/router/config", headers=_h(org.api_key)).json()
    for simple_max in (30, 35):
        cfg["simple_max"] = simple_max
        r = httpx.put(gateway.url + "/v1/router/config", headers=_h(org.api_key), json=cfg)
        assert r.status_code == 200, r.text
    return Seed(org, finance_key, member_id, member_key)


def _sign_in(browser: Any, gateway: GatewayServer, key: str, view: str) -> Any:
    page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on(
        "request", lambda r: errors.append("off-host request " + r.url) if not r.url.startswith(gateway.url) else None
    )
    page.goto(f"{gateway.url}/console#{view}")
    page.fill("#credential", key)
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector(f"#view-{view}[data-ready='1']", timeout=15_000)
    page.errors = errors
    return page


def _chart(page: Any, canvas: str) -> dict[str, Any]:
    data: dict[str, Any] = page.evaluate(
        "id => { const c = Chart.getChart(document.getElementById(id)); "
        "return {labels: c.data.labels, datasets: c.data.datasets.map(d => ({label: d.label, data: d.data}))}; }",
        canvas,
    )
    return data


def _shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    return path


def _open(page: Any, view: str) -> None:
    page.click(f"nav button[data-view='{view}']")
    page.wait_for_selector(f"#view-{view}[data-ready='1']", timeout=15_000)


def _range() -> dict[str, str]:
    return {"from": (TODAY - dt.timedelta(days=29)).date().isoformat(), "to": TODAY.date().isoformat()}


def test_finance_views_draw_the_api_numbers(browser: Any, gateway: GatewayServer, seeded: Seed) -> None:
    page = _sign_in(browser, gateway, seeded.finance_key, "spend")
    nav = page.eval_on_selector_all("nav button", "bs => bs.map(b => b.dataset.view)")
    assert nav == ["usage", "spend", "budget", "savings"]
    # Spend per day stacked by model: each bar segment is the API's cost for that day and model.
    api = httpx.get(
        gateway.url + "/v1/reports/costs", headers=_h(seeded.finance_key), params={**_range(), "group_by": "day,model"}
    ).json()
    want: dict[tuple[str, str], float] = {(r["day"], r["model"]): float(r["cost_usd"]) for r in api["rows"]}
    chart = _chart(page, "chart-spend")
    got = {
        (day, ds["label"]): v
        for ds in chart["datasets"]
        for day, v in zip(chart["labels"], ds["data"], strict=True)
        if v
    }
    assert got == pytest.approx(want) and len(want) == 24
    _shot(page, "spend")
    # Stacked by provider, per week.
    page.select_option("#spend-period", "week")
    page.wait_for_selector("#view-spend[data-ready='1']")
    page.select_option("#spend-stack", "provider")
    page.wait_for_selector("#view-spend[data-ready='1']")
    page.wait_for_function(
        "() => Chart.getChart(document.getElementById('chart-spend')).data.datasets[0].label === 'anthropic'"
    )
    weekly = httpx.get(
        gateway.url + "/v1/reports/costs",
        headers=_h(seeded.finance_key),
        params={**_range(), "group_by": "week,provider"},
    ).json()
    chart = _chart(page, "chart-spend")
    got = {
        (w, ds["label"]): v for ds in chart["datasets"] for w, v in zip(chart["labels"], ds["data"], strict=True) if v
    }
    assert got == pytest.approx({(r["week"], r["provider"]): float(r["cost_usd"]) for r in weekly["rows"]})
    top_users = page.eval_on_selector_all("#table-top-users tr td:first-child", "tds => tds.map(t => t.textContent)")
    assert top_users == ["owner@acme.test", "dev@acme.test"]  # the owner spent more
    # CSV download of the view is the API's CSV.
    with page.expect_download() as dl:
        page.click("#view-spend button.csv[data-view='spend']")
    csv_text = Path(dl.value.path()).read_bytes().decode()
    api_csv = httpx.get(
        gateway.url + "/v1/reports/costs",
        headers=_h(seeded.finance_key),
        params={**_range(), "group_by": "week,provider", "format": "csv"},
    ).text
    assert csv_text == api_csv and csv_text.count("\n") >= 3
    # Budget gauge: spent and remaining as the API says, with the alert threshold in the text.
    # The month-end projection moves with the clock, so the page is checked against the very
    # response it drew, and that response against the API's fields read a moment later.
    with page.expect_response(lambda r: r.url.endswith("/v1/budget")) as seen:
        _open(page, "budget")
    b = seen.value.json()
    later = httpx.get(gateway.url + "/v1/budget", headers=_h(seeded.finance_key)).json()
    assert {k: later[k] for k in ("month_to_date_millicents", "budget_millicents", "percent_used")} == {
        k: b[k] for k in ("month_to_date_millicents", "budget_millicents", "percent_used")
    }
    # The seeded spend covers the last six days, so how much of it falls in this month (and
    # whether it passes the $50 budget) depends on the date: past the budget, nothing remains.
    gauge = _chart(page, "chart-budget")["datasets"][0]["data"]
    remaining = max(b["budget_millicents"] - b["month_to_date_millicents"], 0)
    assert gauge == pytest.approx([b["month_to_date_millicents"] / 1e5, remaining / 1e5])
    text = page.text_content("#budget-text")
    assert f"{b['percent_used']}% of $50.00" in text and "alert at 70%" in text and b["projected_month_end_usd"] in text
    _shot(page, "budget")
    # Savings: AUTO cost against the complex tier, per day.
    _open(page, "savings")
    s = httpx.get(
        gateway.url + "/v1/reports/savings", headers=_h(seeded.finance_key), params={**_range(), "group_by": "day"}
    ).json()
    chart = _chart(page, "chart-savings")
    assert chart["labels"] == [r["day"] for r in s["rows"]]
    assert chart["datasets"][0]["data"] == pytest.approx([float(r["cost_usd"]) for r in s["rows"]])
    assert chart["datasets"][1]["data"] == pytest.approx([float(r["counterfactual_cost_usd"]) for r in s["rows"]])
    assert s["totals"]["savings_usd"] in page.text_content("#savings-text")
    _shot(page, "savings")
    assert page.errors == []
    page.close()


def test_member_sees_only_their_own_usage(browser: Any, gateway: GatewayServer, seeded: Seed) -> None:
    page = _sign_in(browser, gateway, seeded.member_key, "usage")
    assert page.eval_on_selector_all("nav button", "bs => bs.map(b => b.dataset.view)") == ["usage"]
    assert page.text_content("#usage-scope") == "(your own usage)"
    chart = _chart(page, "chart-usage")
    per_day: dict[str, float] = defaultdict(float)
    for day in range(6):
        key = (TODAY - dt.timedelta(days=day)).date().isoformat()
        per_day[key] = (45_000 + 1000 * day + 610_000 + 1000 * day) / 100_000
    assert dict(zip(chart["labels"], chart["datasets"][0]["data"], strict=True)) == pytest.approx(per_day)
    assert page.is_hidden("#view-spend") and page.is_hidden("#view-admin")
    _shot(page, "usage-member")
    page.close()
    # The API itself refuses the member what the console does not show.
    assert httpx.get(gateway.url + "/v1/budget", headers=_h(seeded.member_key)).status_code == 403


def test_admin_router_and_keys_views(browser: Any, gateway: GatewayServer, seeded: Seed, conn: Conn) -> None:
    key = seeded.org.api_key
    page = _sign_in(browser, gateway, key, "router")
    summary = httpx.get(gateway.url + "/v1/router/summary", headers=_h(key), params=_range()).json()
    hist = _chart(page, "chart-histogram")
    assert hist["datasets"][0]["data"] == [b["count"] for b in summary["score_histogram"]]
    assert sum(hist["datasets"][0]["data"]) == 12
    mix = _chart(page, "chart-tier-mix")
    assert {ds["label"]: sum(ds["data"]) for ds in mix["datasets"]} == {"simple": 4, "medium": 4, "complex": 4}
    assert page.locator("#table-decisions tr").count() == 13  # header + 12 decisions
    page.select_option("#decision-filters select[name=tier]", "complex")
    page.select_option("#decision-filters select[name=success]", "false")
    page.click("#decision-filters button[type=submit]")
    page.wait_for_function("() => document.querySelectorAll('#table-decisions tr').length === 3")
    # The diff (current against the version before) marks the threshold that changed, 35 against 30.
    diff_rows = page.eval_on_selector_all(
        "#table-config-diff tr.changed", "trs => trs.map(r => [...r.cells].map(c => c.textContent))"
    )
    assert ["simple_max", "35", "30"] in diff_rows
    assert page.locator("#cfg-a option").count() == 2
    # What-if: cut points above every logged score put everything in 'simple'.
    page.fill("#whatif-form input[name=simple_max]", "98")
    page.fill("#whatif-form input[name=medium_max]", "99")
    page.click("#whatif-form button[type=submit]")
    page.wait_for_function(
        "() => document.querySelector('#table-whatif tr:nth-child(2) td:nth-child(3)')?.textContent === '12'"
    )
    _shot(page, "router")
    # Admin: policy and keys, with a one-time reveal and a working revoke.
    _open(page, "admin")
    assert "basic, standard, premium" in page.text_content("#table-policy")
    page.fill("#key-form input[name=name]", "from-console-" + uuid.uuid4().hex[:6])
    page.click("#key-form button[type=submit]")
    page.wait_for_selector("#key-reveal:not([hidden])")
    secret = page.text_content("#key-secret")
    assert secret.startswith("gw_")
    assert httpx.get(gateway.url + "/v1/me", headers=_h(secret)).json()["role"] == "owner"
    _shot(page, "admin")
    prefix = secret.split("_")[1]
    row = page.locator("#table-keys tr", has_text=prefix)
    row.locator("button").click()
    page.wait_for_function(
        "p => [...document.querySelectorAll('#table-keys tr')]"
        ".some(r => r.textContent.includes(p) && !r.querySelector('button'))",
        arg=prefix,
    )
    revoked = conn.execute("SELECT revoked_at FROM gateway_api_keys WHERE prefix = %s", (prefix,)).fetchone()
    assert revoked is not None and revoked[0] is not None
    assert page.errors == []
    page.close()


ARENA_PAIR = ["claude-sonnet-5", "gpt-5.4"]


def _battle_and_vote(url: str, key: str, winner: str) -> None:
    made = httpx.post(url + "/v1/arena/battles", headers=_h(key), json={"prompt": "hi", "models": ARENA_PAIR})
    assert made.status_code == 201, made.text
    voted = httpx.post(url + f"/v1/arena/battles/{made.json()['id']}/vote", headers=_h(key), json={"winner": winner})
    assert voted.status_code == 200, voted.text


def _table(page: Any, table: str) -> list[list[str]]:
    rows: list[list[str]] = page.eval_on_selector_all(
        f"#{table} tr", "trs => trs.slice(1).map(r => [...r.cells].map(c => c.textContent))"
    )
    return rows


def _text(value: Any) -> str:
    """A JSON value as the page's table cell shows it (JavaScript's String())."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def test_router_cascade_share_and_arena_rankings(
    browser: Any, gateway: GatewayServer, seeded: Seed, conn: Conn
) -> None:
    key = seeded.org.api_key
    # Cascade decisions as the cascade strategy logs them: three escalated, two drafts accepted,
    # next to the seeded plain AUTO decisions (which are not cascade decisions).
    for day, reasoning in enumerate(
        [
            "cascade: drafts disagree on choice: A, B; escalating (prompt score 40)",
            "cascade: no draft succeeded; escalating (prompt score 22)",
            "cascade: 1 drafter(s) failed; judge says FAIL; escalating (prompt score 61)",
            "cascade: 2 drafts agree on choice B; returning draft 1 (prompt score 15)",
            "cascade: judge says PASS; returning draft 2 (prompt score 30)",
        ]
    ):
        conn.execute(
            "INSERT INTO routing_decisions (created_at, user_id, organization_id, provider, selected_model, tier, "
            "score, confidence, query_length, request_succeeded, response_tokens, estimated_cost_millicents, "
            "reasoning) VALUES (%s, %s, %s, 'openai', 'gpt-4o-mini', 'simple', 50, 0.7, 100, true, 20, 500, %s)",
            (TODAY - dt.timedelta(days=day), seeded.org.user_id, seeded.org.organization_id, reasoning),
        )
    # Arena votes through the API: the owner prefers gpt-5.4 three times, the member claude once, and a tie.
    for _ in range(3):
        _battle_and_vote(gateway.url, key, "gpt-5.4")
    _battle_and_vote(gateway.url, seeded.member_key, "claude-sonnet-5")
    _battle_and_vote(gateway.url, seeded.member_key, "tie")

    page = _sign_in(browser, gateway, key, "router")
    summary = httpx.get(gateway.url + "/v1/router/summary", headers=_h(key), params=_range()).json()
    c = summary["cascade"]
    assert (c["decisions"], c["escalated"], c["accepted"], c["escalation_share"]) == (5, 3, 2, 0.6)
    assert _table(page, "table-cascade") == [[str(c["decisions"]), str(c["escalated"]), str(c["accepted"]), "0.6"]]
    assert page.text_content("#cascade-text").startswith("60% of 5 cascade decisions escalated")
    assert _chart(page, "chart-cascade")["datasets"][0]["data"] == [c["escalated"], c["accepted"]]
    with page.expect_download() as dl:
        page.click("#view-router button.csv[data-view='cascade']")
    assert Path(dl.value.path()).read_text() == "decisions,escalated,accepted,escalation_share\n5,3,2,0.6\n"

    org_table = httpx.get(gateway.url + "/v1/arena/rankings", headers=_h(key), params={"scope": "org"}).json()
    assert org_table["votes"] == 5 and org_table["data"][0]["model"] == "gpt-5.4"
    cols = ["rank", "model", "rating", "lower", "upper", "votes", "wins", "losses", "ties"]
    assert _table(page, "table-rankings-org") == [[_text(r[k]) for k in cols] for r in org_table["data"]]
    mine = httpx.get(gateway.url + "/v1/arena/rankings", headers=_h(key), params={"scope": "me"}).json()
    me_cols = ["model", "rating", "elo_rating", "org_rating", "votes", "wins", "losses", "ties"]
    shown = _table(page, "table-rankings-me")
    assert len(shown) == 2 and shown == [[_text(r[k]) for k in me_cols] for r in mine["data"]]
    with page.expect_download() as dl:
        page.click("#view-router button.csv[data-view='rankings-org']")
    lines = Path(dl.value.path()).read_text().splitlines()
    assert lines[0] == ",".join(cols) and len(lines) == 1 + len(org_table["data"])
    _shot(page, "router-cascade-arena")
    assert page.errors == []
    page.close()


def test_bad_credential_stays_on_sign_in(browser: Any, gateway: GatewayServer, upstream: MockUpstream) -> None:
    page = browser.new_page()
    page.goto(gateway.url + "/console")
    page.fill("#credential", "gw_deadbeef_nope")
    page.click("#signin-form button[type=submit]")
    page.wait_for_function("() => document.getElementById('signin-error').textContent.length > 0")
    assert "not valid" in page.text_content("#signin-error")
    assert page.is_visible("#signin") and page.is_hidden("#nav")
    page.close()
