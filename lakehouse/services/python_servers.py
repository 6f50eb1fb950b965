"""Our own FastAPI servers in the stack, each ``python -m lakehouse.serving.<name>``: the events receiver, the
Delta Sharing server and the data portal."""

from __future__ import annotations

import sys

from lakehouse.core.settings import Settings
from lakehouse.services.supervisor import Service, http_status


def _python_server(settings: Settings, name: str, port: int, url_path: str = "") -> Service:
    """A FastAPI server of ours, ``python -m lakehouse.serving.<name> --host --port``, healthy when /health
    answers 200."""
    module = f"lakehouse.serving.{name}"

    def command() -> list[str]:
        return [sys.executable, "-m", module, "--host", settings.host, "--port", str(port)]

    return Service(name, [port], command,
                   lambda: http_status(f"http://{settings.host}:{port}/health") == 200,
                   url=f"http://{settings.host}:{port}{url_path}", start_timeout=60,
                   marker=module, group=name, settings=settings)


def _sharing_service(settings: Settings) -> Service:
    return _python_server(settings, "sharing", settings.env.services.sharing.port, "/delta-sharing")


def _events_service(settings: Settings) -> Service:
    return _python_server(settings, "events", settings.env.services.events.port)


def _portal_service(settings: Settings) -> Service:
    return _python_server(settings, "portal", settings.env.services.portal.port, "/")
