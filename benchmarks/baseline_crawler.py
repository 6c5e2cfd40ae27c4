"""The issue's yardstick, a plain 40-line asyncio crawler: httpx, lxml, no robots, no report, no safety.

    python benchmarks/baseline_crawler.py START_URL CONCURRENCY   # prints {"checked", "broken"} as JSON

Pages on the start's host are read and their links followed; other links are checked once (HEAD, then
GET when HEAD fails). benchmarks/audit.py runs it beside linkgate as the smallest honest comparison.
"""

import asyncio
import json
import sys
from urllib.parse import urldefrag, urljoin, urlsplit

import httpx
import lxml.html


async def crawl(start: str, concurrency: int) -> dict[str, object]:
    host, seen, broken = urlsplit(start).netloc, {start}, {}
    queue: asyncio.Queue[str] = asyncio.Queue()
    queue.put_nowait(start)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=10, follow_redirects=True, trust_env=False) as client:

        async def visit(url: str) -> None:
            internal = urlsplit(url).netloc == host
            try:
                response = await client.request("GET" if internal else "HEAD", url)
                if response.status_code >= 400 and not internal:
                    response = await client.get(url)
            except httpx.HTTPError as error:
                broken[url] = type(error).__name__
                return
            kind = response.headers.get("content-type", "")
            if response.status_code >= 400:
                broken[url] = response.status_code
            elif urlsplit(str(response.url)).netloc == host and "html" in kind and response.content.strip():
                for href in lxml.html.fromstring(response.content).xpath("//a/@href"):
                    link = urldefrag(urljoin(str(response.url), href)).url
                    if link.startswith(("http://", "https://")) and link not in seen:
                        seen.add(link)
                        queue.put_nowait(link)

        async def worker() -> None:
            while True:
                url = await queue.get()
                try:
                    await visit(url)
                finally:
                    queue.task_done()

        workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
        await queue.join()
        for task in workers:
            task.cancel()
    return {"checked": len(seen), "broken": [{"url": url, "error": str(why)} for url, why in broken.items()]}


if __name__ == "__main__":
    json.dump(asyncio.run(crawl(sys.argv[1], int(sys.argv[2]))), sys.stdout)
