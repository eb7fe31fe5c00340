"""``create_app(settings)``: the FastAPI application with the node's runtime in its lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

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

    app = FastAPI(title="12345 热线", version="0.1.0", lifespan=lifespan)
    app.include_router(public)
    app.include_router(api)
    return app
