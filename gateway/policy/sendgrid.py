"""The SendGrid v3 mail-send call, over httpx (so tests mock it with respx).

One request per recipient: ``POST {base}/v3/mail/send``. SendGrid answers 202 with the
message id in ``X-Message-Id``; anything else is a ``SendGridError`` carrying what SendGrid
said, which the caller records in ``email_logs.error_message`` before retrying.
"""

from __future__ import annotations

from typing import Any

import httpx
import msgspec


class SendGridError(Exception):
    """SendGrid refused or could not be reached; ``str(exc)`` is fit for ``error_message``."""


class _Address(msgspec.Struct):
    email: str


class _Personalization(msgspec.Struct):
    to: list[_Address]


class _Content(msgspec.Struct):
    type: str
    value: str


class _MailSend(msgspec.Struct):
    personalizations: list[_Personalization]
    subject: str
    content: list[_Content]
    # "from" is a Python keyword: renamed on the wire.
    sender: _Address = msgspec.field(name="from")


_encode = msgspec.json.Encoder().encode


class SendGridClient:
    """Sends one plain-text e-mail per call. The httpx client is owned by the caller."""

    def __init__(self, http: httpx.AsyncClient, *, base_url: str, api_key: str, sender: str) -> None:
        self._http = http
        self._url = base_url.rstrip("/") + "/v3/mail/send"
        self._headers = {"authorization": f"Bearer {api_key}", "content-type": "application/json"}
        self._sender = sender

    async def send(self, to: str, subject: str, text: str) -> str | None:
        """Send; return SendGrid's message id (None if it sent none). Raises ``SendGridError``."""
        body = _MailSend(
            personalizations=[_Personalization(to=[_Address(to)])],
            subject=subject,
            content=[_Content("text/plain", text)],
            sender=_Address(self._sender),
        )
        try:
            resp = await self._http.post(self._url, content=_encode(body), headers=self._headers)
        except httpx.HTTPError as exc:
            raise SendGridError(f"SendGrid unreachable: {type(exc).__name__}: {exc}") from exc
        if resp.status_code not in (200, 202):
            raise SendGridError(f"SendGrid answered {resp.status_code}: {_errors(resp)}")
        message_id = resp.headers.get("x-message-id")
        return str(message_id) if message_id else None


def _errors(resp: httpx.Response) -> str:
    """SendGrid's ``{"errors": [{"message": ...}]}`` as one line, else the raw text (bounded)."""
    try:
        data: Any = resp.json()
        messages = [str(e.get("message")) for e in data.get("errors", []) if isinstance(e, dict)]
        if messages:
            return "; ".join(messages)[:500]
    except ValueError:
        pass
    return resp.text[:500]
