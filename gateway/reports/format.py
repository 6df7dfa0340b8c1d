"""Report shapes and their renderings: JSON, CSV (for spreadsheets) and a text table (CLI).

Money stays integer millicents end to end; ``*_usd`` columns are exact decimal strings
(millicents / 100,000 with five decimals), never floats, so a spreadsheet sum of ``cost_usd``
equals ``totals.cost_usd`` to the last digit.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

import msgspec

from gateway.reports.query import METRICS
from pricing.money import usd_exact_text


class Report(msgspec.Struct, kw_only=True):
    """A finished report. ``rows`` and ``totals`` carry the columns :func:`columns` names."""

    report: str  # costs | savings
    organization_id: str
    start: str = msgspec.field(name="from")
    to: str
    tz: str
    group_by: list[str]
    source: str  # llm_usage_hourly | llm_usage: where the figures were summed from
    rows: list[dict[str, Any]]
    totals: dict[str, Any]
    user_id: str | None = None  # set when the report covers one user only
    counterfactual_models: dict[str, str] | None = None  # savings: provider -> complex model


def key_columns(group_by: Sequence[str]) -> list[str]:
    """Output columns for the group keys (``user`` is shown as id and e-mail)."""
    out: list[str] = []
    for key in group_by:
        out.extend(("user_id", "user_email") if key == "user" else (key,))
    return out


def metric_columns(kind: str) -> list[str]:
    """Metric columns of a report of ``kind``, in output order."""
    cols = [*METRICS[:5], "total_tokens", "cost_millicents", "cost_usd"]
    if kind == "savings":
        cols += [
            "counterfactual_cost_millicents",
            "counterfactual_cost_usd",
            "savings_millicents",
            "savings_usd",
            "unpriced_requests",
        ]
    return cols


def columns(group_by: Sequence[str], kind: str) -> list[str]:
    """Every column of a report, keys first: the CSV header and the table header."""
    return [*key_columns(group_by), *metric_columns(kind)]


def metrics_from(values: Sequence[int], kind: str) -> dict[str, Any]:
    """Metric columns from the SQL's integer sums (see ``query.METRICS``/``SAVINGS_METRICS``)."""
    requests, inp, out, cw, cr, cost = (int(v) for v in values[:6])
    row: dict[str, Any] = {
        "requests": requests,
        "input_tokens": inp,
        "output_tokens": out,
        "cache_write_tokens": cw,
        "cache_read_tokens": cr,
        "total_tokens": inp + out + cw + cr,
        "cost_millicents": cost,
        "cost_usd": usd_exact_text(cost),
    }
    if kind == "savings":
        counterfactual, unpriced = int(values[6]), int(values[7])
        row |= {
            "counterfactual_cost_millicents": counterfactual,
            "counterfactual_cost_usd": usd_exact_text(counterfactual),
            "savings_millicents": counterfactual - cost,
            "savings_usd": usd_exact_text(counterfactual - cost),
            "unpriced_requests": unpriced,
        }
    return row


def totals_of(rows: Sequence[dict[str, Any]], kind: str) -> dict[str, Any]:
    """Totals as the exact integer sums of the rows (so they always add up)."""
    sums = [sum(int(r[c]) for r in rows) for c in ("requests", *METRICS[1:])]
    if kind == "savings":
        sums += [sum(int(r[c]) for r in rows) for c in ("counterfactual_cost_millicents", "unpriced_requests")]
    return metrics_from(sums, kind)


_JSON = msgspec.json.Encoder()


def to_json(report: Report) -> bytes:
    """The JSON body: the report's metadata, ``rows`` and ``totals``."""
    return _JSON.encode(report)


def to_csv(report: Report) -> str:
    """One header row then one line per row; no totals line, so a column sum is the total."""
    cols = columns(report.group_by, report.report)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(cols)
    for row in report.rows:
        writer.writerow(["" if row.get(c) is None else row[c] for c in cols])
    return buf.getvalue()


def to_table(report: Report) -> str:
    """A fixed-width text table with a TOTAL line, for the terminal."""
    cols = columns(report.group_by, report.report)
    keys = key_columns(report.group_by)
    body = [["-" if r.get(c) is None else str(r[c]) for c in cols] for r in report.rows]
    total = ["TOTAL" if i == 0 else "" for i in range(len(keys))] + [str(report.totals[c]) for c in cols[len(keys) :]]
    widths = [max(len(c), *(len(line[i]) for line in [*body, total])) for i, c in enumerate(cols)]

    def fmt(line: list[str]) -> str:
        cells = [v.ljust(w) if i < len(keys) else v.rjust(w) for i, (v, w) in enumerate(zip(line, widths, strict=True))]
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * w for w in widths)
    title = (
        f"{report.report} report {report.start}..{report.to} ({report.tz}), "
        f"organization {report.organization_id}" + (f", user {report.user_id}" if report.user_id else "")
    )
    return "\n".join([title, fmt(cols), rule, *(fmt(line) for line in body), rule, fmt(total)]) + "\n"
