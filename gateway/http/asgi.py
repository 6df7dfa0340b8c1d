"""ASGI entry point for servers started by import string (uvicorn workers)."""

from __future__ import annotations

from litestar import Litestar

from gateway.settings import Settings


def app_from_env() -> Litestar:
    from gateway.http.app import create_app

    return create_app(Settings.from_env())
