"""``--render``: reading pages in headless Chromium, so that links added by JavaScript are found too.

Chromium never touches the network itself. Every request the page makes is intercepted and answered
with what :class:`linkgate.http.SafeClient` fetched under linkgate's rules (documents, scripts and
XHR/fetch only; images, styles, fonts and media are refused, as they add no links); its own name lookups
are disabled and it is pointed at a proxy that does not exist, so a preconnect or a prefetch that slips
past interception goes nowhere.

Line numbers in a rendered page are those of the DOM as Chromium serialises it, not of the HTML sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from pathlib import Path
from typing import Any

import httpx

from linkgate.http import Answer, SafeClient

__all__ = ["Renderer"]

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-quic",
    "--disable-sync",
    "--dns-prefetch-disable",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=http://127.0.0.1:9",
]
RESOURCE_TYPES = frozenset({"document", "script", "xhr", "fetch"})
DROPPED_HEADERS = frozenset(
    {"content-length", "content-encoding", "transfer-encoding", "location", "set-cookie", "connection"}
)
SUBRESOURCE_BYTES = 2_000_000


def chromium() -> str | None:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    return found or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


class Renderer:
    """One headless Chromium for a run, at most ``pages`` pages at once; ``settle`` seconds of quiet
    network (or that long at most) after the load event before the DOM is read."""

    def __init__(self, *, pages: int = 2, settle: float = 1.5, timeout: float = 20.0) -> None:
        self._slots = asyncio.Semaphore(pages)
        self._settle = settle
        self._timeout = timeout
        self._playwright: Any = None
        self._browser: Any = None
        self._lock = asyncio.Lock()

    async def _launch(self) -> Any:
        async with self._lock:
            if self._browser is None:
                from playwright.async_api import async_playwright

                self._playwright = await async_playwright().start()
                self._browser = await self._playwright.chromium.launch(
                    executable_path=chromium(), headless=True, args=ARGS
                )
        return self._browser

    async def aclose(self) -> None:
        if self._browser is not None:
            await self._browser.close()
        if self._playwright is not None:
            await self._playwright.stop()
        self._browser = self._playwright = None

    async def render(self, url: str, client: SafeClient, read_body: Any) -> Answer:
        """The page at ``url`` after its scripts ran, as an :class:`Answer` holding the DOM's HTML."""
        first = await client.request(url, read_body=read_body)
        if first.status is None or first.status >= 400 or not first.is_html:
            return first
        browser = await self._launch()
        async with self._slots:
            context = await browser.new_context(service_workers="block", accept_downloads=False)
            try:
                return await self._in_context(context, first, client)
            finally:
                await context.close()

    async def _in_context(self, context: Any, first: Answer, client: SafeClient) -> Answer:
        async def handle(route: Any) -> None:
            request = route.request
            if request.url.split("#")[0] == first.url and request.is_navigation_request():
                answer = first
            elif request.resource_type not in RESOURCE_TYPES or request.method not in ("GET", "HEAD"):
                await route.abort()
                return
            else:
                answer = await client.request(request.url, read_body=lambda _s, _h: SUBRESOURCE_BYTES)
            if answer.status is None:
                await route.abort("failed")
                return
            headers = {k: v for k, v in answer.headers.items() if k.lower() not in DROPPED_HEADERS}
            await route.fulfill(status=answer.status, headers=headers, body=answer.content)

        await context.route("**/*", handle)
        page = await context.new_page()
        try:
            await page.goto(first.url, wait_until="load", timeout=self._timeout * 1000)
            # A page that keeps polling is read as it stands once the settling time is over.
            with contextlib.suppress(Exception):
                await page.wait_for_load_state("networkidle", timeout=self._settle * 1000)
            html = await page.content()
        except Exception as error:  # Playwright's errors have no common public base class
            first.error = f"Chromium could not render the page ({str(error).splitlines()[0]}); read as sent."
            return first
        headers = httpx.Headers(first.headers)
        headers["content-type"] = "text/html; charset=utf-8"
        return Answer(
            url=first.url,
            final_url=first.final_url,
            status=first.status,
            headers=headers,
            content=html.encode("utf-8"),
            redirects=first.redirects,
            attempts=first.attempts,
        )
