"""``create_app(settings)``: the FastAPI application with the node's runtime in its lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from app.desk import STATIC, desk, pages, sign_in
from app.errors import install_error_handlers
from app.http import api, public
from app.runtime import Runtime
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
    # (served at /api/openapi.json by app.http).
    app = FastAPI(
        title="12345 热线",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    install_error_handlers(app)
    app.include_router(public)
    app.include_router(api)
    app.include_router(sign_in)
    app.include_router(desk)
    app.include_router(pages)
    # The desk's own code and styles: public like any sign-in page, no data in them.
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
