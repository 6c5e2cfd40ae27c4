"""What an audit run found, as plain typed records: the options it ran with, each page it read, each
address it saw (with every place it appears) and the run as a whole.

The crawler (:mod:`linkgate.audit.crawl`) fills them in, :mod:`linkgate.audit.checks` judges them and
:mod:`linkgate.audit.report` writes them out; none of those three is needed to read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from linkgate.audit.sitemaps import MAX_ENTRIES
from linkgate.http import DEFAULT_USER_AGENT, Answer
from linkgate.sites import SiteFacts

__all__ = ["Anchor", "Appearance", "AuditOptions", "AuditResult", "LinkRecord", "PageRecord", "Route"]

Route = Literal["", "gate link", "drop-in script"]
"""How an appearance of a link reaches its destination: directly (""), as a link to the gate, or through
the gate's drop-in script on its page."""


@dataclass(frozen=True)
class AuditOptions:
    start_url: str
    max_pages: int = 1000
    max_depth: int = 10
    concurrency: int = 8
    per_host: int = 4
    delay: float = 0.0
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    same_site: bool = False
    check_external: bool = True
    check_privacy: bool = True
    timeout: float = 15.0
    user_agent: str = DEFAULT_USER_AGENT
    retries: int = 2
    backoff: float = 0.5  # seconds before the first retry, doubled for each one after
    max_retry_wait: float = 30.0
    ignore_robots: bool = False
    sort_query: bool = False
    render: bool = False
    max_page_bytes: int = 5_000_000
    max_sitemap_entries: int = MAX_ENTRIES  # in all the sitemaps of a run


@dataclass(slots=True)
class PageRecord:
    """A page of the site the crawl read (or was about to read when it stopped)."""

    url: str
    depth: int
    answer: Answer | None = None
    soft_404: bool = False
    links: int = 0
    rendered: bool = False


@dataclass(frozen=True, slots=True)
class Anchor:
    """How a link is written on a page: its text (and why that text does not describe the link, None when
    it does), how it is routed, and whether it opens a new window without ``rel="noopener"``.

    A site writes the same few anchors on every page (its navigation and footer): the crawler keeps each
    distinct one once, and every appearance written that way refers to it.
    """

    text: str
    text_problem: str | None
    routed: Route
    target_blank_unsafe: bool


@dataclass(frozen=True, slots=True)
class Appearance:
    """One place a link appears: the page, the line in its HTML, and how it is written there. A site has
    hundreds of thousands of these, so each holds no more."""

    page: PageRecord
    line: int
    anchor: Anchor


@dataclass(slots=True)
class LinkRecord:
    """An address the crawl saw, once however many pages link to it: what it answered and where it
    appears."""

    url: str
    internal: bool
    appearances: list[Appearance] = field(default_factory=list)
    answer: Answer | None = None
    soft_404: bool = False
    category: str = ""
    action: str = ""
    flags: tuple[str, ...] = ()
    rule: str | None = None
    privacy: SiteFacts | None = None
    skipped: str = ""  # why the address was not checked: "robots", "not checked (external)", ...
    checked_at: datetime | None = None  # when the address was asked, by this run or an earlier one
    from_earlier_run: bool = False  # its result is an earlier run's, kept (--recheck-after): not asked again

    @property
    def outbound(self) -> bool:
        """True when the link leaves the County: not on the site and not on one of the County's domains."""
        return not self.internal and self.category != "county"


@dataclass
class AuditResult:
    options: AuditOptions
    started_at: datetime
    finished_at: datetime
    pages: list[PageRecord]
    links: dict[str, LinkRecord]
    partial: bool
    notes: list[str]
    peak_connections: int
    requests: int
    county_domains: tuple[str, ...]
    start_error: str | None = None
    """Why the start address's site could not be reached at all, when it could not."""
