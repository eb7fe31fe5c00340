"""The pages: desk, wallboard, callback monitor. Each carries no data; it signs in and reads
everything through the API. Their code and styles are served from ``app/static``."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse

STATIC = Path(__file__).resolve().parent.parent / "static"

pages = APIRouter()


@pages.get("/", include_in_schema=False)
async def root() -> RedirectResponse:
    return RedirectResponse("/desk")


@pages.get("/desk", include_in_schema=False)
async def desk_page() -> FileResponse:
    """The page carries no data: it signs in and reads everything through the API."""
    return FileResponse(STATIC / "desk.html", media_type="text/html; charset=utf-8")


@pages.get("/wallboard", include_in_schema=False)
async def wallboard_page() -> FileResponse:
    return FileResponse(STATIC / "wallboard.html", media_type="text/html; charset=utf-8")


@pages.get("/callbacks", include_in_schema=False)
async def callbacks_page() -> FileResponse:
    """The satisfaction-callback campaign monitor (supervisors; data through the API)."""
    return FileResponse(STATIC / "callbacks.html", media_type="text/html; charset=utf-8")
