"""The async client (:class:`SafeClient`), for the audit: many requests at once, politely.

It checks every address as the blocking client does (:func:`linkgate.http.policy.resolve_checked`),
follows redirects by the same rules (:class:`linkgate.http.core.Redirects`), builds the same requests and
reads bodies under the same limits (:class:`linkgate.http.policy.Body`), over
:class:`linkgate.http.pool.PinnedAsyncTransport`, which keeps connections alive under an exact cap. On
top it adds what a crawl needs: a cap per host, a least delay between two requests to one host, retries
of transient failures (Retry-After obeyed when it asks for little enough), one name lookup per host per
run, and answers instead of exceptions.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import random
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx

from linkgate.http.core import (
    DEFAULT_ACCEPT,
    FAILURES,
    REDIRECT_STATUSES,
    Answer,
    Redirects,
    build_request,
    default_ssl_context,
    describe_failure,
)
from linkgate.http.policy import (
    Body,
    FetchError,
    FetchPolicy,
    IPAddress,
    Resolver,
    check_destination,
    effective_port,
    parse_target,
    resolve_checked,
)
from linkgate.http.pool import PinnedAsyncTransport
from linkgate.urls import Destination, is_local_name

__all__ = ["SafeClient", "parse_retry_after"]

TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})
TRANSIENT_REASONS = frozenset({"timeout", "connect", "protocol"})
DRAIN_BYTES = 65_536  # of a body nobody asked for, read to keep the connection rather than close it

ReadBody = Callable[[int, httpx.Headers], int]


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (a number of seconds or an HTTP date); None if unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _look_up(resolver: Resolver, host: str) -> list[str] | str:
    """``host``'s addresses by ``resolver``, or why the lookup failed (what :func:`_replay` raises again).
    Kept as text, not as the exception, which would gather a traceback each time it was raised again."""
    try:
        return list(resolver(host))
    except (OSError, UnicodeError, ValueError) as error:  # what resolve_checked reports as ``dns``
        return str(error) or type(error).__name__


def _replay(found: list[str] | str) -> list[str]:
    """A resolver that gives :func:`resolve_checked` a lookup already made."""
    if isinstance(found, str):
        raise OSError(found)
    return found


class SafeClient:
    """Requests for the audit under a :class:`FetchPolicy`, with caps, retries and politeness.

    ``concurrency`` caps the connections open at once, ``per_host`` those to one host; ``delay`` is the
    least time between two requests to one host (raised per host by :meth:`set_delay`, for robots.txt's
    Crawl-delay). Transient failures (timeouts, refused connections, 429, 502, 503, 504) are retried
    ``retries`` times with exponential backoff, or after the server's Retry-After when it asks for at most
    ``max_retry_wait`` seconds. Those waits are read on ``clock`` (the event loop's time by default) and
    waited out with ``sleep``, so that a test can see the waits asked for without waiting them.

    ``first(host)``, when given, names the hosts whose requests have first call on the connections (a
    crawl's own site, whose pages are where every link is found): while such a host has requests waiting,
    other hosts' requests leave it up to ``per_host`` of the ``concurrency`` (never all of it), so slow
    off-site addresses do not hold the connections its pages are read on. Nothing is left idle for it
    when it has nothing to send.

    Work outside the pool (the site cache's privacy lookups, which use the blocking fetcher), at most
    ``reserve`` at once, holds :meth:`outside` while it runs: a request's turn and a slot of the pool's
    cap, taken from the ``concurrency`` only while it runs, so that the connections open at once, pool and
    outside together, never exceed ``concurrency`` and none is kept idle for it.
    """

    def __init__(
        self,
        policy: FetchPolicy,
        resolver: Resolver,
        *,
        concurrency: int = 8,
        reserve: int = 0,
        per_host: int = 4,
        timeout: float = 15.0,
        delay: float = 0.0,
        retries: int = 2,
        backoff: float = 0.5,
        max_retry_wait: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
        first: Callable[[str], bool] | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.policy = policy
        self._clock = clock
        self._sleep = sleep
        self._resolver = resolver
        self._timeout = timeout
        self._delay = delay
        self._retries = retries
        self._backoff = backoff
        self._max_retry_wait = max_retry_wait
        self._per_host = per_host
        cap = max(1, concurrency)
        self._transport = PinnedAsyncTransport(
            cap, ssl_context or default_ssl_context(), policy.connect_timeout, keep_alive=True
        )
        self._total = asyncio.Semaphore(cap)
        self._cap = cap
        self._first = first
        self._wanting: dict[str, int] = {}  # a first host's requests under way (waiting included)...
        self._resting: dict[str, int] = {}  # ...and those of them waiting out its delay
        self._others = 0  # other hosts' requests holding or waiting for one of the cap
        self._room = asyncio.Event()
        self._outside = asyncio.Semaphore(max(1, reserve))
        self._hosts: dict[str, asyncio.Semaphore] = {}
        self._next_slot: dict[str, float] = {}
        self._host_delay: dict[str, float] = {}
        # Each host's name lookup (its names, or why it failed), made once per run and judged again for
        # every request, so that each refusal names its own address.
        self._lookups: dict[str, asyncio.Future[list[str] | str]] = {}
        # A host's addresses once they passed the checks, by host and port (the judgement is the same for
        # every address on them): not judged again. A refusal or failure is, for each address, to name it.
        self._allowed: dict[tuple[str, int], list[IPAddress]] = {}
        self.requests = 0

    @property
    def peak_connections(self) -> int:
        """The most connections that were open at once."""
        return self._transport.pool.peak

    @property
    def connections_opened(self) -> int:
        """How many connections were opened in all (fewer than requests when kept alive)."""
        return self._transport.pool.opened

    async def aclose(self) -> None:
        await self._transport.aclose()

    @contextlib.asynccontextmanager
    async def outside(self) -> AsyncIterator[None]:
        """Hold this while making a connection outside the pool (``async with client.outside():``)."""
        async with self._outside, self._total, self._transport.pool.slot():
            yield

    def set_delay(self, host: str, seconds: float) -> None:
        self._host_delay[host] = max(self._delay, seconds)

    async def request(
        self,
        url: str,
        *,
        method: str = "GET",
        accept: str = DEFAULT_ACCEPT,
        read_body: ReadBody | None = None,
        within: Callable[[str], bool] | None = None,
        retry: bool = True,
    ) -> Answer:
        """``method`` ``url``, redirects followed by hand (each hop re-checked), transient failures retried
        (unless ``retry`` is false: a caller with a fallback of its own asks once).

        ``read_body(status, headers)`` says how many bytes of the final body to keep (0: none, the
        default). ``within(address)``, when given, says which addresses a redirect may lead to: one that
        leads elsewhere is not followed (reason ``out_of_scope``). Never raises for a network failure or a
        refusal: the :class:`Answer` says what happened.
        """
        try:
            destination = parse_target(url, drop_fragment=True)
        except FetchError as error:
            return Answer(url, url, error=str(error), reason=error.reason, method=method)
        redirects = Redirects(destination, self.policy.max_redirects, drop_fragment=True, within=within)
        attempts = 0
        while True:
            answer, tries = await self._with_retries(
                method, redirects.current, accept, read_body, self._retries if retry else 0
            )
            attempts += tries
            answer.url, answer.attempts, answer.method = redirects.first, attempts, method
            location = answer.headers.get("location") if answer.status in REDIRECT_STATUSES else None
            if answer.status is None or location is None:
                answer.redirects = tuple(redirects.hops)
                return answer
            try:
                redirects.follow(answer.status, location)
            except FetchError as error:  # not followed: why, with the redirects so far
                return Answer(
                    redirects.first,
                    redirects.current.href,
                    redirects=tuple(redirects.hops),
                    attempts=attempts,
                    method=method,
                    error=str(error),
                    reason=error.reason,
                )

    async def _with_retries(
        self, method: str, destination: Destination, accept: str, read_body: ReadBody | None, retries: int
    ) -> tuple[Answer, int]:
        attempt = 0
        while True:
            attempt += 1
            answer = await self._once(method, destination, accept, read_body)
            transient = answer.reason in TRANSIENT_REASONS or answer.status in TRANSIENT_STATUSES
            wait = self._backoff * 2 ** (attempt - 1) * (1 + random.random() / 4)  # noqa: S311 (jitter)
            asked = parse_retry_after(answer.headers.get("retry-after"))
            if asked is not None and asked <= self._max_retry_wait:
                # The host asked to wait: no request to it (this one again, or a caller's next) goes sooner.
                not_before = self._now() + asked
                self._next_slot[destination.host] = max(
                    self._next_slot.get(destination.host, 0.0), not_before
                )
            if not transient or attempt > retries:
                return answer, attempt
            if asked is not None and asked > self._max_retry_wait:
                return answer, attempt  # the server asks for longer than we wait: report it as it is
            await self._sleep(wait)

    async def _once(
        self, method: str, destination: Destination, accept: str, read_body: ReadBody | None
    ) -> Answer:
        host = destination.host
        semaphore = self._hosts.setdefault(host, asyncio.Semaphore(self._per_host))
        first = self._first is not None and self._first(host)
        if first:
            self._wanting[host] = self._wanting.get(host, 0) + 1
        try:
            async with semaphore:
                await self._wait_turn(host, first)
                if not first:
                    while self._others >= self._cap - self._kept():
                        self._room.clear()
                        await self._room.wait()
                    self._others += 1
                try:
                    async with self._total:
                        try:
                            async with asyncio.timeout(self._timeout):
                                return await self._send(method, destination, accept, read_body)
                        except (FetchError, *FAILURES) as error:
                            timed_out = f"{host} did not answer within {self._timeout:g} seconds."
                            failure = describe_failure(error, destination, None, timed_out)
                            return Answer(
                                destination.href, destination.href, error=str(failure), reason=failure.reason
                            )
                finally:
                    if not first:
                        self._others -= 1
                        self._room.set()
        finally:
            if first:
                self._wanting[host] -= 1
                if not self._wanting[host]:
                    del self._wanting[host]
                self._room.set()

    def _now(self) -> float:
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()

    def _kept(self) -> int:
        """Connections of the cap other hosts' requests leave to the first hosts: each one's requests
        waiting (those waiting out its delay aside), up to ``per_host``; never the whole cap. (A request
        waiting for its host's turn counts, so that a connection one of them gives up is not taken by
        another host before the next one has asked.)"""
        kept = 0
        for host, wanting in self._wanting.items():
            kept += min(self._per_host, wanting) - self._resting.get(host, 0)
        return min(kept, self._cap - 1)

    async def _wait_turn(self, host: str, first: bool = False) -> None:
        """Wait for the host's next turn: its delay (Crawl-delay, --delay) after the last request, and any
        wait it asked for with Retry-After."""
        now = self._now()
        slot = max(now, self._next_slot.get(host, 0.0))
        delay = self._host_delay.get(host, self._delay)
        if delay > 0:
            self._next_slot[host] = slot + delay
        if slot > now:
            if not first:
                await self._sleep(slot - now)
                return
            self._resting[host] = self._resting.get(host, 0) + 1
            self._room.set()
            try:
                await self._sleep(slot - now)
            finally:
                self._resting[host] -= 1

    async def _addresses(self, destination: Destination) -> list[IPAddress]:
        """The checked addresses of the destination's host: looked up once per run, judged by
        :func:`linkgate.http.policy.resolve_checked` until they pass (so a refusal or failure names each
        request's address, not that of the first request to the host), then kept for its port."""
        check_destination(destination, self.policy)
        host = destination.host
        if destination.is_ip or is_local_name(host):
            return resolve_checked(destination, self.policy, self._resolver)  # judged without a lookup
        lookup = self._lookups.get(host)
        if lookup is None:
            lookup = asyncio.ensure_future(asyncio.to_thread(_look_up, self._resolver, host))
            self._lookups[host] = lookup
        found = await asyncio.shield(lookup)
        key = (host, effective_port(destination))
        allowed = self._allowed.get(key)
        if allowed is None:
            allowed = self._allowed[key] = resolve_checked(
                destination, self.policy, lambda _host: _replay(found)
            )
        return allowed

    async def _send(
        self, method: str, destination: Destination, accept: str, read_body: ReadBody | None
    ) -> Answer:
        self._transport.pins.pin(destination.host, await self._addresses(destination))
        request = build_request(
            method,
            destination,
            accept=accept,
            user_agent=self.policy.user_agent,
            # No read or write timeout of its own: the whole exchange is within _once's deadline.
            timeout={"connect": self.policy.connect_timeout},
            compressed=False,
        )
        self.requests += 1
        response = await self._transport.handle_async_request(request)
        try:
            headers = response.headers
            limit = 0 if read_body is None or method == "HEAD" else read_body(response.status_code, headers)
            # A short body nobody asked for is read anyway (up to DRAIN_BYTES), so the connection is kept.
            body = Body(limit, headers, destination.href, drain=DRAIN_BYTES)
            async for part in response.aiter_raw():
                if body.take(part):
                    break
        finally:
            await response.aclose()
        return Answer(
            destination.href,
            destination.href,
            status=response.status_code,
            headers=headers,
            content=body.content,
            truncated=body.truncated,
        )
