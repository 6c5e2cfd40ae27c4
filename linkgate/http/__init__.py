"""Requests to other sites: the only code in linkgate that talks to them, in the shape httpx itself uses.

* :mod:`~linkgate.http.policy`: what may be fetched (the limits, and the body read within them: bytes
  kept, counted after decompression; the address and port rules; name resolution checked address by
  address) and the errors a fetch raises;
* :mod:`~linkgate.http.core`: what both clients share: the request, the redirect rules (up to the
  policy's ``max_redirects``), the addresses pinned for each host (:class:`~linkgate.http.core.Pins`),
  the account of a failure, the TLS settings and the result (:class:`~linkgate.http.core.Answer`);
* :mod:`~linkgate.http.sync`: the blocking client (:class:`~linkgate.http.sync.Fetcher`, the privacy
  lookup) over httpcore's pool, one deadline per fetch;
* :mod:`~linkgate.http.pool` and :mod:`~linkgate.http.aio`: the async transport (kept-alive connections
  under an exact cap) and the async client (:class:`~linkgate.http.aio.SafeClient`, the audit).

Both transports connect only to the addresses pinned for the host asked for, which the client checked
for that request; every redirect hop is parsed and checked again. This package must never connect to an
address it has not checked, never follow a redirect without re-checking it, and never keep more
connections open than the caps allow. It keeps no cookies, uses no proxy from the environment and sends
no Referer.
"""

import sys

# httpx's package imports its command-line client when rich and pygments are installed (linkgate's
# progress display brings rich): about 0.1 s and 4.5 MB at every start of linkgate, for a command
# linkgate never runs. Marked missing, httpx keeps its fallback ``httpx.main`` and imports nothing more.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

from linkgate.http.aio import SafeClient, parse_retry_after  # noqa: E402
from linkgate.http.core import DEFAULT_ACCEPT, Answer, Hop  # noqa: E402
from linkgate.http.policy import (  # noqa: E402
    DEFAULT_USER_AGENT,
    FetchError,
    FetchFailed,
    FetchPolicy,
    FetchRefused,
    Resolver,
    system_resolver,
)
from linkgate.http.sync import Fetcher  # noqa: E402

__all__ = [
    "DEFAULT_ACCEPT",
    "DEFAULT_USER_AGENT",
    "Answer",
    "FetchError",
    "FetchFailed",
    "FetchPolicy",
    "FetchRefused",
    "Fetcher",
    "Hop",
    "Resolver",
    "SafeClient",
    "parse_retry_after",
    "system_resolver",
]
