"""HTTP health routes beside the page, for Docker, load balancers and orchestrators.

Contract: ``routes(pool)`` gives two Starlette routes answering JSON (``EnginePool.health()``):
``/healthz`` (liveness) is 200 while the app can serve or will soon (engines loading, ready, or
one restarting) and 503 once it cannot recover on its own (a start failed, or an engine could
not be restarted): restart the container then. ``/readyz`` (readiness) is 200 only while every
engine answers, 503 while they load or one restarts: send users elsewhere meanwhile.
``gpu_check_route(path)`` serves ``make gpu-check``'s table (the file at ``path``) as plain text at
``/gpu-check``, read on each request, or 404 with one sentence while there is none.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from inference.engines.pool import EnginePool


def routes(pool: EnginePool) -> list[Route]:
    def healthz(_request: Request) -> JSONResponse:
        health = pool.health()
        return JSONResponse(health, status_code=503 if health["failed"] else 200)

    def readyz(_request: Request) -> JSONResponse:
        health = pool.health()
        return JSONResponse(health, status_code=200 if health["ok"] else 503)

    return [Route("/healthz", healthz, methods=["GET"]), Route("/readyz", readyz, methods=["GET"])]


def gpu_check_route(path: Path) -> Route:
    def gpu_check(_request: Request) -> PlainTextResponse:
        try:
            return PlainTextResponse(path.read_text(encoding="utf-8"), media_type="text/markdown")
        except OSError:
            return PlainTextResponse("No gpu-check has run in this container yet (bench/entry.sh says how).\n", 404)

    return Route("/gpu-check", gpu_check, methods=["GET"])
