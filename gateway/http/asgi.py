"""ASGI entry point for servers started by import string (uvicorn workers)."""

from __future__ import annotations

from litestar import Litestar

from gateway.settings import Settings


def app_from_env() -> Litestar:
    from gateway.http.app import create_app
    from gateway.observe.logs import configure_logging

    settings = Settings.from_env()
    # Worker processes start afresh: give them the same log format as the parent.
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings, server_process=True)
