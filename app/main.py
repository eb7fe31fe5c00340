"""``create_app(settings)``: the FastAPI application with the node's runtime in its lifespan.

The one place that wires the features' routes (each feature folder keeps its own in
``http.py``); the runtime (``app.runtime``) wires their services.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from app.agents.http import router as agents_routes
from app.agents.http import sockets as agent_sockets
from app.auth.http import router as users_routes
from app.auth.http import sign_in
from app.bigscreen.http import router as bigscreen_routes
from app.bigscreen.http import sockets as bigscreen_sockets
from app.callbacks.http import router as callbacks_routes
from app.calls.http import router as calls_routes
from app.cases.http import router as cases_routes
from app.departments.http import router as departments_routes
from app.duplicates.http import router as duplicates_routes
from app.edge import public
from app.errors import install_error_handlers
from app.intake.http import channels as intake_channels
from app.intake.http import citizens as intake_public
from app.intake.http import staff as intake_staff
from app.knowledge.http import router as knowledge_routes
from app.kpis.http import router as kpis_routes
from app.pages.http import STATIC, pages
from app.reports.http import router as reports_routes
from app.runtime import Runtime
from app.speech.http import router as speech_routes
from app.surges.http import router as surges_routes
from core.settings import Settings


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime(settings)
        app.state.runtime = runtime
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    # No public /docs or /openapi.json: every route but health needs the token, the schema too
    # (served at /api/openapi.json by app.edge).
    app = FastAPI(
        title="12345 热线",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    install_error_handlers(app)
    for router in (
        public,
        sign_in,
        users_routes,
        cases_routes,
        departments_routes,
        duplicates_routes,
        calls_routes,
        agents_routes,
        agent_sockets,
        bigscreen_routes,
        bigscreen_sockets,
        callbacks_routes,
        speech_routes,
        kpis_routes,
        knowledge_routes,
        reports_routes,
        surges_routes,
        intake_channels,
        intake_staff,
        intake_public,
        pages,
    ):
        app.include_router(router)
    # The pages' own code and styles: public like any sign-in page, no data in them.
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
