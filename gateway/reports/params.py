"""Report parameters: parsed and checked once, for the HTTP report and the CLI alike.

Both doors hand a plain ``{name: value}`` mapping to :func:`parse_query`, so a bad range or an
unknown group key gets the same message whichever way finance asks. Every message names what
is allowed, because the person reading it is fixing a URL or a command line.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from gateway.errors import InvalidRequest

GROUP_KEYS: tuple[str, ...] = ("day", "week", "month", "user", "model", "provider", "tier", "request_type")
TIME_KEYS = frozenset({"day", "week", "month"})
FORMATS: tuple[str, ...] = ("json", "csv")
MAX_RANGE_DAYS = 366
PARAMS: tuple[str, ...] = ("from", "to", "group_by", "tz", "format", "user_id", "organization_id")
_EARLIEST = dt.date(2000, 1, 1)


class ReportQuery(msgspec.Struct, frozen=True, kw_only=True):
    """One validated report request.

    Attributes:
        start: First local day included.
        end: Last local day included.
        group_by: Group keys in the order asked (output columns follow it).
        tz: IANA time zone name whose midnights cut days, weeks and months.
        fmt: ``json`` or ``csv`` (the CLI adds ``table`` on its own side).
        user_id: Restrict to one user (members are always restricted to themselves).
        organization_id: As passed; callers check it equals the caller's organization.
    """

    start: dt.date
    end: dt.date
    group_by: tuple[str, ...]
    tz: str = "UTC"
    fmt: str = "json"
    user_id: str | None = None
    organization_id: str | None = None

    @property
    def start_utc(self) -> dt.datetime:
        """The first instant included: local midnight starting ``start``."""
        return local_midnight(self.start, self.tz)

    @property
    def end_utc(self) -> dt.datetime:
        """The first instant excluded: local midnight after ``end``."""
        return local_midnight(self.end + dt.timedelta(days=1), self.tz)


def local_midnight(day: dt.date, tz: str) -> dt.datetime:
    """The UTC instant at which ``day`` begins in ``tz``."""
    return dt.datetime.combine(day, dt.time(), tzinfo=ZoneInfo(tz)).astimezone(dt.UTC)


def hourly_buckets_fit(query: ReportQuery) -> bool:
    """Whether every local day boundary in the range falls on a whole UTC hour.

    Then each hourly (UTC) rollup bucket lies inside one local day, and the rollup answers
    the query exactly; otherwise (a :30 or :45 offset) the report reads llm_usage rows.
    """
    day = query.start
    while day <= query.end + dt.timedelta(days=1):
        edge = local_midnight(day, query.tz)
        if edge.minute or edge.second or edge.microsecond:
            return False
        day += dt.timedelta(days=1)
    return True


def _date(name: str, value: str) -> dt.date:
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(f"'{name}' must be a date as YYYY-MM-DD, got {value!r}", param=name) from None
    if len(value) != 10 or day < _EARLIEST:
        raise InvalidRequest(f"'{name}' must be a date as YYYY-MM-DD from 2000-01-01 on, got {value!r}", param=name)
    return day


def _tz(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidRequest(
            f"'tz' must be an IANA time zone such as UTC, Europe/Paris or America/New_York, got {value!r}",
            param="tz",
        ) from None
    return value


def _group_by(value: str) -> tuple[str, ...]:
    keys = tuple(k.strip() for k in value.split(",") if k.strip())
    unknown = [k for k in keys if k not in GROUP_KEYS]
    if unknown:
        raise InvalidRequest(
            f"unknown group_by key(s) {', '.join(repr(k) for k in unknown)}; allowed: {', '.join(GROUP_KEYS)}",
            param="group_by",
        )
    if len(set(keys)) != len(keys):
        raise InvalidRequest("group_by names a key twice; give each key once", param="group_by")
    return keys


def _uuid(name: str, value: str | None) -> str | None:
    if not value:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidRequest(f"'{name}' must be a UUID, got {value!r}", param=name) from None


def parse_query(params: Mapping[str, str], *, today: dt.date | None = None) -> ReportQuery:
    """Validate report parameters (all strings) into a :class:`ReportQuery`.

    Defaults: ``from`` the first day of the current month and ``to`` today (in ``tz``),
    ``tz`` UTC, ``format`` json, no grouping (one row: the totals).

    Raises:
        InvalidRequest: For an unknown parameter, a malformed or reversed date, a range longer
            than :data:`MAX_RANGE_DAYS` days, an unknown group key, time zone or format.
    """
    unknown = sorted(set(params) - set(PARAMS))
    if unknown:
        raise InvalidRequest(
            f"unknown parameter(s) {', '.join(unknown)}; allowed: {', '.join(PARAMS)}", param=unknown[0]
        )
    tz = _tz(params.get("tz") or "UTC")
    now_local = today or dt.datetime.now(ZoneInfo(tz)).date()
    start = _date("from", params["from"]) if params.get("from") else now_local.replace(day=1)
    end = _date("to", params["to"]) if params.get("to") else now_local
    if end < start:
        raise InvalidRequest(f"'to' ({end}) is before 'from' ({start}); both days are included", param="to")
    days = (end - start).days + 1
    if days > MAX_RANGE_DAYS:
        raise InvalidRequest(
            f"the range {start}..{end} spans {days} days; at most {MAX_RANGE_DAYS} days per report "
            "(ask for one year at a time)",
            param="to",
        )
    fmt = (params.get("format") or "json").lower()
    if fmt not in FORMATS:
        raise InvalidRequest(f"'format' must be one of {', '.join(FORMATS)}, got {fmt!r}", param="format")
    return ReportQuery(
        start=start,
        end=end,
        group_by=_group_by(params.get("group_by") or ""),
        tz=tz,
        fmt=fmt,
        user_id=_uuid("user_id", params.get("user_id")),
        organization_id=_uuid("organization_id", params.get("organization_id")),
    )
