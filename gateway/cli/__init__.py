"""The ``gateway`` command line: one package, one module per command family.

``app`` builds the parser and holds serve/migrate/bootstrap/keys; ``admin``, ``report``,
``router`` and ``router_config`` register their own sub-commands on it.
"""

from gateway.cli.app import build_parser, main

__all__ = ["build_parser", "main"]
