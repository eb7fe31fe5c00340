"""The pages: desk, wallboard, big screen, callback monitor, department portal, dispatch,
reports, surge alerts, the push-back outbox, and the citizen's form and tracking. Each carries
no data; it signs in (or, for the citizen's pages, asks nothing) and reads everything through
the API. Their code and styles are served from ``app/static``."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse

STATIC = Path(__file__).resolve().parent.parent / "static"

pages = APIRouter()


@pages.get("/", include_in_schema=False)
async def root() -> RedirectResponse:
    return RedirectResponse("/desk")


def _page(path: str, file: str, doc: str) -> None:
    async def serve() -> FileResponse:
        return FileResponse(STATIC / file, media_type="text/html; charset=utf-8")

    serve.__doc__ = doc
    pages.add_api_route(path, serve, methods=["GET"], include_in_schema=False)


# Each page carries no data: it signs in and reads everything through the API.
_page("/desk", "desk.html", "The agent desk (座席工作台).")
_page("/wallboard", "wallboard.html", "The supervisor's wallboard (班长监控).")
_page("/bigscreen", "bigscreen.html", "The hall's big screen (大屏): today's figures, live.")
_page("/callbacks", "callbacks.html", "The satisfaction-callback campaign monitor (supervisors).")
_page("/portal", "portal.html", "The department portal (承办单位): pool, accept, reply, dispute.")
_page("/dispatch", "dispatch.html", "The dispatcher's page (派单): queue, disputes, extensions.")
_page("/reports", "reports.html", "Reports (日报 周报 月报 季报 专报): generate, list, print.")
_page("/kb", "kb.html", "The knowledge base (知识库): articles, versions, use counts.")
_page("/surges", "surges.html", "Surge alerts (突增预警) with their tickets (supervisors).")
_page("/outbox", "outbox.html", "Push-back outbox (回传发件箱): deliveries, retry (supervisors).")
# The citizen's pages: public, no sign-in (they call /api/public/*).
_page("/form", "form.html", "网上表单: a citizen's request, no account needed.")
_page("/track", "track.html", "办件查询: a ticket's progress by its number and query code.")
