"""The problems of a link: pure judgements over what the crawl found, no I/O.

A problem is a short code (see :data:`PROBLEMS`). Some belong to the address wherever it appears
(``broken``, ``insecure``...), others to one appearance on one page (``bypass``, ``link_text``,
``target_blank``). A site that refuses robots or checkers (401, 403, 429, bot walls) is ``unverified``,
never ``broken``: the link may well work for a person.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from linkgate import health
from linkgate.audit.records import Appearance, LinkRecord
from linkgate.http import Answer

__all__ = [
    "APPEARANCE_PROBLEMS",
    "EXPECTED_MOVE",
    "HEALTH_PROBLEMS",
    "PROBLEMS",
    "Verdict",
    "answer_problems",
    "appearance_problems",
    "health_findings",
    "is_bot_wall",
    "link_problems",
    "verdict",
]

PROBLEMS: dict[str, str] = {
    "broken": "Broken: the address answers with an error (4xx or 5xx), or cannot be reached.",
    "unverified": "Could not verify: the site refuses automatic checks (403, 429 or a bot wall).",
    "soft_404": "Looks missing: the page answers 200 but says it is not found.",
    "insecure": "Insecure: the link uses http://, or redirects to an http:// address.",
    "blocked": "Blocked: a blocklist rule blocks this destination.",
    "moved_away": "Moved away: after its redirects, the link now ends on another website.",
    "parked": "Parked: the destination looks like a parked, for-sale or expired domain.",
    "changed": "Changed hands: since the last complete audit the site changed as if it had a new owner.",
    "bypass": "Bypasses the gate: an off-site link that is not routed through linkgate.",
    "no_privacy": "No privacy policy found on the destination site.",
    "link_text": "Link text does not say where the link goes (WCAG 2.4.4).",
    "target_blank": 'Opens a new window (target="_blank") without rel="noopener".',
}
UNVERIFIED_STATUSES = frozenset({401, 403, 429, 999})
UNREACHABLE = frozenset(
    {"dns", "connect", "timeout", "tls", "protocol", "too_many_redirects", "redirect_loop", "invalid_url"}
)
REFUSED = frozenset({"ssrf_refused", "port_refused", "credentials_refused", "scheme_refused"})
APPEARANCE_PROBLEMS = ("bypass", "link_text", "target_blank")
"""The problems that belong to one appearance of a link on one page, not to its address."""
HEALTH_PROBLEMS = ("moved_away", "parked", "changed")
"""The problems of a destination's health (:mod:`linkgate.health`): where the link ends, and what is there."""
EXPECTED_MOVE = "expected_move"
"""The flag the crawl gives a link that ends on another registrable domain covered by an allow rule: the
County expects the move (:func:`linkgate.audit.crawl.note_expected_move`), so it is not ``moved_away``."""
# Each combination's tuple made once: (bypass, link_text, target_blank) -> the problems, in that order.
_APPEARANCE_TUPLES = {
    (bypass, text, blank): tuple(
        code for code, on in zip(APPEARANCE_PROBLEMS, (bypass, text, blank), strict=True) if on
    )
    for bypass in (False, True)
    for text in (False, True)
    for blank in (False, True)
}
_WALL_MARKERS = (b"just a moment", b"captcha", b"cf-challenge", b"attention required", b"are you a robot")


@dataclass(frozen=True, slots=True)
class Verdict:
    """What an answer means for the link: ``ok``, ``broken``, ``unverified``, ``refused`` or ``unchecked``."""

    state: str
    note: str = ""


def is_bot_wall(answer: Answer) -> bool:
    """True when a site answered with a challenge meant to keep programs out rather than an error."""
    if answer.headers.get("cf-mitigated", "").lower() == "challenge":
        return True
    if answer.status in (403, 429, 503):
        body = answer.content[:20_000].lower()
        return any(marker in body for marker in _WALL_MARKERS)
    return False


def verdict(answer: Answer | None) -> Verdict:
    if answer is None:
        return Verdict("unchecked")
    if answer.status is None:
        if answer.reason in REFUSED:
            return Verdict("refused", answer.error or "")
        if answer.reason == "internal":  # linkgate failed, not the link: it could not be verified
            return Verdict("unverified", answer.error or "")
        return Verdict("broken", answer.error or answer.reason or "no answer")
    if answer.status in UNVERIFIED_STATUSES or is_bot_wall(answer):
        return Verdict("unverified", f"HTTP {answer.status}")
    if answer.status >= 400:
        return Verdict("broken", f"HTTP {answer.status}")
    if 300 <= answer.status < 400:
        return Verdict("broken", f"HTTP {answer.status} without a usable Location")
    return Verdict("ok")


def answer_problems(url: str, answer: Answer | None, *, soft_404: bool, category: str) -> list[str]:
    """The problems that belong to an address wherever it appears, in the order of :data:`PROBLEMS`."""
    found: list[str] = []
    state = verdict(answer).state
    if state == "broken":
        found.append("broken")
    elif state in ("unverified", "refused"):
        found.append("unverified")
    if soft_404 and state == "ok":
        found.append("soft_404")
    hops = [url]
    if answer is not None:
        hops += [hop.url for hop in answer.redirects] + [answer.final_url]
    if any(hop.startswith("http://") for hop in hops):
        found.append("insecure")
    if category == "blocked":
        found.append("blocked")
    return found


def appearance_problems(link: LinkRecord, appearance: Appearance) -> tuple[str, ...]:
    """What is wrong with one appearance of ``link``, in the order of :data:`PROBLEMS`: ``bypass`` (a link
    off the County's domains, not routed through the gate), ``link_text`` (its text does not say where it
    goes) and ``target_blank`` (it opens a new window without ``rel="noopener"``)."""
    anchor = appearance.anchor
    return _APPEARANCE_TUPLES[
        (link.outbound and not anchor.routed, anchor.text_problem is not None, anchor.target_blank_unsafe)
    ]


def health_findings(link: LinkRecord, county_domains: Sequence[str] = ()) -> dict[str, str]:
    """The health problems of ``link`` (:data:`HEALTH_PROBLEMS`), each with what was found: the domain it
    moved to, why it looks parked, what changed. Only an off-site link that answered well has any: its
    final address against its own (``county_domains``: never away), the addresses on the way (a parking
    service's), and the site cache's facts of where it ends (``link.privacy``: the home page parked, or
    changed since the last complete audit)."""
    answer = link.answer
    if answer is None or link.internal or link.category in ("county", "blocked"):
        return {}
    if verdict(answer).state != "ok":
        return {}
    found: dict[str, str] = {}
    final, facts = answer.final_url, link.privacy
    parked = facts.parked if facts is not None else None
    if answer.redirects:  # where it led on the way: another site, a parking service
        if health.moved_away(link.url, final, county_domains, EXPECTED_MOVE in link.flags):
            found["moved_away"] = f"now ends on {health.domain_of(final)}"
        urls = (link.url, *(hop.url for hop in answer.redirects), final)
        parked = health.is_parked(health.read_page(None, urls)) or parked
    if parked:
        found["parked"] = parked
    if facts is not None and facts.changed:
        found["changed"] = facts.changed
    return found


def link_problems(link: LinkRecord, county_domains: Sequence[str] = ()) -> list[str]:
    """Every problem of ``link``, in the order of :data:`PROBLEMS`: those of its address, its health (see
    :func:`health_findings`; ``county_domains`` are never moved away from), ``no_privacy`` and those of
    any of its appearances."""
    found = answer_problems(link.url, link.answer, soft_404=link.soft_404, category=link.category)
    shown: set[str] = set(health_findings(link, county_domains))
    for appearance in link.appearances:
        shown.update(appearance_problems(link, appearance))
        if shown.issuperset(APPEARANCE_PROBLEMS):
            break
    if link.privacy is not None and link.privacy.status == "none":
        shown.add("no_privacy")
    found.extend(code for code in PROBLEMS if code in shown)
    return found
