"""An embedded PostgreSQL for machines without ``DATABASE_URL``.

``pgserver`` ships a real PostgreSQL 16 as a pip package. The data directory is kept
between runs, so ``make run`` twice sees the same organizations and keys.
"""

from __future__ import annotations

import logging
from pathlib import Path

from gateway.settings import Settings

log = logging.getLogger(__name__)


def start_embedded(pgdata: Path, *, keep_running: bool = False, temporary: bool = False) -> str:
    """Start (or attach to) the embedded server in ``pgdata`` and return its URL.

    Unless ``keep_running``, the server stops when the last process using it exits
    (pgserver counts the processes attached to it); ``temporary`` also deletes ``pgdata``
    then. Otherwise the data directory is kept.

    As root, pgserver runs PostgreSQL as an unprivileged ``pgserver`` user and opens up
    (``o+rx``) every folder above ``pgdata``; the server needs that access for as long as
    it runs (it rechecks ``postmaster.pid`` every minute and shuts down when it cannot).
    So ``pgdata`` must not sit below a folder something else makes private again.
    """
    import pgserver  # deferred: only needed without DATABASE_URL

    logging.getLogger("pgserver").setLevel(logging.WARNING)  # its INFO lines are initdb chatter
    pgdata.mkdir(parents=True, exist_ok=True)
    mode = None if keep_running else ("delete" if temporary else "stop")
    server = pgserver.get_server(str(pgdata.resolve()), cleanup_mode=mode)  # type: ignore[attr-defined]
    url: str = server.get_uri()
    log.info("embedded PostgreSQL at %s (data in %s)", url, pgdata)
    return url


def resolve_database_url(settings: Settings) -> str:
    """``DATABASE_URL`` when set, else the embedded server's URL."""
    if settings.database_url:
        return settings.database_url
    return start_embedded(settings.pgdata_dir)
