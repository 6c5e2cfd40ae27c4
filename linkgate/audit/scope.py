"""What the link audit may read: the hosts and addresses in its scope, and each site's robots.txt.

:class:`Scope` is pure (the run's options in, answers out); :class:`Robots` reads each origin's robots.txt
once, over the audit's :class:`linkgate.http.SafeClient`, and says which pages it allows.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

from protego import Protego

from linkgate.audit.checks import REFUSED
from linkgate.audit.extract import normalise
from linkgate.audit.records import AuditOptions
from linkgate.classify import Classifier
from linkgate.http import SafeClient
from linkgate.sites import site_key
from linkgate.urls import parse_destination

__all__ = ["ROBOTS_BYTES", "Robots", "Scope", "origin"]

ROBOTS_BYTES = 500_000


@dataclass(frozen=True)
class Scope:
    """The pages a run may read: on the start's host (or, ``same_site``, any of the County's), and not
    excluded by ``--include`` or ``--exclude`` (the start page never is)."""

    start: str  # the start page, normalised
    start_host: str
    same_site: bool
    classifier: Classifier
    include: tuple[re.Pattern[str], ...]
    exclude: tuple[re.Pattern[str], ...]

    @classmethod
    def of(cls, options: AuditOptions, classifier: Classifier) -> Scope:
        start = parse_destination(options.start_url)
        return cls(
            start=normalise(start.href, sort_query=options.sort_query),
            start_host=start.host,
            same_site=options.same_site,
            classifier=classifier,
            include=tuple(re.compile(pattern) for pattern in options.include),
            exclude=tuple(re.compile(pattern) for pattern in options.exclude),
        )

    @property
    def text(self) -> str:
        """The scope in words, for the run's notes."""
        return "the County's domains" if self.same_site else self.start_host

    def is_internal(self, host: str) -> bool:
        return host == self.start_host or self.classifier.is_county_host(host)

    def is_host(self, host: str) -> bool:
        """True when the crawl reads pages on ``host``."""
        return self.is_internal(host) if self.same_site else host == self.start_host

    def on_host(self, url: str) -> bool:
        """True when ``url`` (any address, even one that does not parse) is on a host the crawl reads. The
        URL is parsed once, not normalised first: its host is the same either way, and every address the
        crawl finds passes here."""
        try:
            return self.is_host(parse_destination(url).host)
        except ValueError:
            return False

    def excluded(self, url: str) -> bool:
        if url == self.start:
            return False
        if self.include and not any(pattern.search(url) for pattern in self.include):
            return True
        return any(pattern.search(url) for pattern in self.exclude)

    def in_scope(self, url: str) -> bool:
        """True when ``url`` is a page the crawl may read: on a host in scope and not excluded."""
        return self.on_host(url) and not self.excluded(url)


def origin(url: str) -> str:
    destination = parse_destination(url)
    return destination.scheme + "://" + site_key(destination)


class Robots:
    """Each origin's robots.txt, read once (at most ``ROBOTS_BYTES``), its Crawl-delay given to the
    client; one that cannot be read allows nothing on its origin (RFC 9309), and ``notes`` says so.
    ``start_error`` is why the start page's origin could not be reached, when it could not."""

    def __init__(self, client: SafeClient, options: AuditOptions, *, start: str, notes: list[str]) -> None:
        self._client = client
        self._user_agent = options.user_agent
        self._ignore = options.ignore_robots
        self._start_origin = origin(start)
        self._notes = notes
        self._rules: dict[str, asyncio.Future[Protego | None]] = {}
        self.start_error: str | None = None

    async def rules(self, url: str) -> Protego | None:
        """The robots.txt of ``url``'s origin; None when it has none (everything is allowed)."""
        key = origin(url)
        future = self._rules.get(key)
        if future is None:
            future = asyncio.ensure_future(self._load(key))
            self._rules[key] = future
        return await asyncio.shield(future)

    async def allowed(self, url: str) -> bool:
        if self._ignore:
            return True
        robots = await self.rules(url)
        return robots is None or bool(robots.can_fetch(url, self._user_agent))

    async def _load(self, site: str) -> Protego | None:
        answer = await self._client.request(
            site + "/robots.txt", accept="text/plain", read_body=lambda _s, _h: ROBOTS_BYTES
        )
        if answer.status is not None and 200 <= answer.status < 300:
            robots = Protego.parse(answer.content.decode("utf-8", errors="replace"))
            delay = robots.crawl_delay(self._user_agent)
            if delay:
                self._client.set_delay(parse_destination(site).host, float(delay))
            return robots
        if answer.status is not None and 400 <= answer.status < 500 and answer.status != 429:
            return None  # no robots.txt: everything is allowed (RFC 9309)
        if answer.reason in REFUSED:
            return None  # linkgate may not fetch from this site at all; each page says so itself
        if answer.status is None and site == self._start_origin:
            self.start_error = answer.error
        self._notes.append(
            f"{site}/robots.txt could not be read ({answer.error or f'HTTP {answer.status}'}), so "
            f"nothing on {site} was crawled (RFC 9309); use --ignore-robots for the County's own site."
        )
        return Protego.parse("User-agent: *\nDisallow: /")
