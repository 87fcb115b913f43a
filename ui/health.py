"""HTTP health routes beside the page, for Docker, load balancers and orchestrators.

Contract: ``routes(pool)`` gives two Starlette routes answering JSON (``EnginePool.health()``):
``/healthz`` (liveness) is 200 while the app can serve or will soon (engines loading, ready, or
one restarting) and 503 once it cannot recover on its own (a start failed, or an engine could
not be restarted): restart the container then. ``/readyz`` (readiness) is 200 only while every
engine answers, 503 while they load or one restarts: send users elsewhere meanwhile.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
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
