"""Budget alerts: decided once in PostgreSQL, e-mailed later by a background sender.

Deciding happens in the write queue's batch transaction, right after the spend counter
moved: for each threshold (the organization's ``budget_alert_threshold`` and 100%) the
spend reached, a row is inserted into ``gateway_budget_alerts``, whose primary key
(organization, month, threshold) makes "exactly once per threshold per month" hold across
any number of processes. The same transaction queues one ``email_logs`` row per owner and
admin: ``pending`` when SendGrid is configured, ``skipped`` when it is not. When one batch
reaches both thresholds, both are recorded but only the higher one is e-mailed.

Sending happens off the request path (``AlertMailer``): pending rows are claimed with
``FOR UPDATE SKIP LOCKED`` (so two processes never send the same row), sent through
SendGrid, and marked ``sent`` with the message id, or ``failed`` with the error and a
next attempt time (exponential backoff, bounded attempts). A row claimed by a process that
died is reclaimed after a lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import date
from typing import Any

import msgspec
import psycopg
from psycopg_pool import AsyncConnectionPool, PoolClosed

from gateway.policy.budget_state import SpendChange, next_month
from gateway.policy.sendgrid import SendGridClient, SendGridError
from pricing.money import format_usd, usd_to_millicents

log = logging.getLogger(__name__)

EMAIL_TYPE = "budget_alert"
_json = msgspec.json.Encoder()

_ORGS_SQL = """
SELECT id::text, name, monthly_budget, COALESCE(budget_alert_threshold, 80)
FROM organizations WHERE id = ANY(%s::uuid[]) AND monthly_budget IS NOT NULL
"""

_ALERT_SQL = """
INSERT INTO gateway_budget_alerts (organization_id, month, threshold_pct, spent_millicents, budget_millicents)
VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING threshold_pct
"""

_RECIPIENTS_SQL = """
SELECT u.id::text, u.email FROM org_memberships m JOIN users u ON u.id = m.user_id
WHERE m.organization_id = %s AND m.role IN ('owner', 'admin') AND u.deleted_at IS NULL
ORDER BY u.email
"""

_EMAIL_SQL = """
INSERT INTO email_logs (org_id, user_id, email_type, recipient_email, subject, status, metadata)
VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb)
"""

_CLAIM_SQL = """
UPDATE email_logs e
SET status = 'sending', metadata = e.metadata || jsonb_build_object('claimed_at', NOW())
WHERE e.id IN (
    SELECT id FROM email_logs
    WHERE email_type = %(type)s AND (
        status = 'pending'
        OR (status = 'failed' AND COALESCE((metadata->>'attempts')::int, 0) < %(max)s
            AND COALESCE((metadata->>'next_attempt_at')::timestamptz, NOW()) <= NOW())
        OR (status = 'sending' AND (metadata->>'claimed_at')::timestamptz < NOW() - make_interval(secs => %(lease)s)))
    ORDER BY created_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
RETURNING e.id::text, e.recipient_email, e.subject, COALESCE(e.metadata->>'body', e.subject),
          COALESCE((e.metadata->>'attempts')::int, 0)
"""

_SENT_SQL = """
UPDATE email_logs SET status = 'sent', sendgrid_message_id = %s, sent_at = NOW(), error_message = NULL,
    metadata = metadata || jsonb_build_object('attempts', %s::int)
WHERE id = %s
"""

_FAILED_SQL = """
UPDATE email_logs SET status = 'failed', error_message = %s,
    metadata = metadata || jsonb_build_object('attempts', %s::int,
        'next_attempt_at', NOW() + make_interval(secs => %s))
WHERE id = %s
"""


def _thresholds(alert_pct: int) -> list[int]:
    pct = min(100, max(1, alert_pct))
    return sorted({pct, 100})


async def record_crossings(
    conn: Any, changes: Sequence[SpendChange], *, email_enabled: bool, known: set[tuple[str, date, int]]
) -> int:
    """Insert alert rows (and their e-mail rows) for thresholds the spend reached. Returns alerts added.

    ``known`` holds (org, month, threshold) already recorded, so a busy organization above its
    threshold does not try the insert on every batch; it is only a shortcut, the primary key decides.
    """
    if not changes:
        return 0
    orgs: dict[str, tuple[str, int, int]] = {}
    if all(c.org is not None for c in changes):  # the settlement read them along
        for c in changes:
            if c.org is not None and c.org[1] is not None:
                orgs[c.organization_id] = (c.org[0], c.org[1], c.org[2])
    else:
        rows = await (await conn.execute(_ORGS_SQL, ([c.organization_id for c in changes],))).fetchall()
        orgs = {str(r[0]): (str(r[1]), usd_to_millicents(r[2]), int(r[3])) for r in rows}
    added = 0
    for change in changes:
        if change.organization_id not in orgs:
            continue
        name, budget, alert_pct = orgs[change.organization_id]
        reached = [
            t
            for t in _thresholds(alert_pct)
            if change.after_millicents * 100 >= budget * t and (change.organization_id, change.month, t) not in known
        ]
        new: list[int] = []
        for t in reached:
            params = (change.organization_id, change.month, t, change.after_millicents, budget)
            got = await (await conn.execute(_ALERT_SQL, params)).fetchone()
            if got is not None:
                new.append(t)
            else:
                # Only a row someone else already committed is certain; ours may still roll back.
                known.add((change.organization_id, change.month, t))
        if new:
            added += len(new)
            await _queue_emails(conn, change, name, budget, max(new), email_enabled)
    return added


async def _queue_emails(
    conn: Any, change: SpendChange, org_name: str, budget: int, threshold: int, email_enabled: bool
) -> None:
    spent = change.after_millicents
    pct = spent * 100 / budget if budget else 100.0
    subject = f"Budget alert: {org_name} has used {pct:.0f}% of its monthly LLM budget"
    body = (
        f"{org_name} has spent {format_usd(spent)} of its {format_usd(budget)} monthly LLM budget "
        f"({pct:.1f}%, alert threshold {threshold}%) in {change.month:%B %Y}.\n"
        f"The budget resets on {next_month(change.month).isoformat()} (UTC)."
    )
    meta = _json.encode(
        {
            "threshold_pct": threshold,
            "month": change.month.isoformat(),
            "spent_millicents": spent,
            "budget_millicents": budget,
            "attempts": 0,
            "body": body,
        }
    ).decode()
    status = "pending" if email_enabled else "skipped"
    recipients = await (await conn.execute(_RECIPIENTS_SQL, (change.organization_id,))).fetchall()
    for user_id, email in recipients:
        await conn.execute(_EMAIL_SQL, (change.organization_id, user_id, EMAIL_TYPE, email, subject, status, meta))


class AlertMailer:
    """Sends pending budget-alert e-mails in the background, with bounded retries."""

    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        client: SendGridClient,
        *,
        poll_s: float = 2.0,
        max_attempts: int = 5,
        backoff_s: float = 2.0,
        lease_s: float = 300.0,
    ) -> None:
        self._pool = pool
        self._client = client
        self._poll = poll_s
        self._max = max_attempts
        self._backoff = backoff_s
        self._lease = lease_s
        self._wake = asyncio.Event()

    def nudge(self) -> None:
        """Look for work now instead of at the next poll (e.g. after a batch added alerts)."""
        self._wake.set()

    async def run(self) -> None:
        """Poll until the pool closes (the app is shutting down)."""
        while True:
            try:
                await self.send_due()
            except PoolClosed:
                return
            except (psycopg.Error, OSError) as exc:
                log.warning("budget alert sender: database unavailable (%s); retrying", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll)
            self._wake.clear()

    async def send_due(self, limit: int = 20) -> int:
        """Claim and send what is due; return how many were sent successfully."""
        params = {"type": EMAIL_TYPE, "max": self._max, "lease": self._lease, "limit": limit}
        async with self._pool.connection() as conn:
            claimed = await (await conn.execute(_CLAIM_SQL, params)).fetchall()
        sent = 0
        for email_id, to, subject, body, attempts in claimed:
            try:
                message_id = await self._client.send(str(to), str(subject), str(body))
            except SendGridError as exc:
                delay = min(300.0, self._backoff * 2 ** int(attempts))
                async with self._pool.connection() as conn:
                    await conn.execute(_FAILED_SQL, (str(exc), int(attempts) + 1, delay, email_id))
                log.warning("budget alert to %s failed (attempt %d): %s", to, int(attempts) + 1, exc)
                continue
            async with self._pool.connection() as conn:
                await conn.execute(_SENT_SQL, (message_id, int(attempts) + 1, email_id))
            sent += 1
        return sent
