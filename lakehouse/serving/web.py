"""What our FastAPI servers share: the ``--host --port`` command line and uvicorn's run.

``python -m lakehouse.serving.events`` and ``python -m lakehouse.serving.sharing`` are started by
``lake up``; each hands in its name, what it serves and how to build its app from the settings.
"""

from __future__ import annotations

import argparse
from typing import Any, Callable


def serve(argv: list[str] | None, *, module: str, description: str, service: str,
          make_app: Callable[[Any], Any], log_level: str = "warning") -> None:
    """Parse ``--host``/``--port`` (defaults: ``services.host``, ``services.<service>.port``) and run the app."""
    import uvicorn

    from lakehouse.core.settings import get_settings

    # named, as the default would be "__main__.py", the file `python -m` runs
    parser = argparse.ArgumentParser(prog=f"python -m {module}", description=description)
    parser.add_argument("--host", default=None, help="address to listen on (default: services.host)")
    parser.add_argument("--port", type=int, default=None, help=f"port (default: services.{service}.port)")
    args = parser.parse_args(argv)
    settings = get_settings()
    uvicorn.run(make_app(settings), host=args.host or settings.host,
                port=args.port or getattr(settings.env.services, service).port, log_level=log_level,
                access_log=False)
