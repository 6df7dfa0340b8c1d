"""Finance reports: cost per day/week/month/user/model/provider/tier/request type, and AUTO savings.

* :mod:`gateway.reports.params`: parameter parsing and validation (shared by HTTP and CLI).
* :mod:`gateway.reports.query`: the SQL over the hourly rollup or llm_usage.
* :mod:`gateway.reports.savings`: the complex-tier counterfactual prices.
* :mod:`gateway.reports.run`: access scope and report execution.
* :mod:`gateway.reports.format`: the report struct and its JSON, CSV and table renderings.
"""

from gateway.reports.format import Report, to_csv, to_json, to_table
from gateway.reports.params import GROUP_KEYS, MAX_RANGE_DAYS, ReportQuery, parse_query
from gateway.reports.run import Scope, cost_report, savings_report, scope_for
from gateway.reports.savings import Counterfactual, counterfactuals

__all__ = [
    "GROUP_KEYS",
    "MAX_RANGE_DAYS",
    "Counterfactual",
    "Report",
    "ReportQuery",
    "Scope",
    "cost_report",
    "counterfactuals",
    "parse_query",
    "savings_report",
    "scope_for",
    "to_csv",
    "to_json",
    "to_table",
]
