"""The problems of a link: pure judgements over what the crawl found, no I/O.

A problem is a short code (see :data:`PROBLEMS`). Some belong to the address wherever it appears
(``broken``, ``insecure``...), others to one appearance on one page (``bypass``, ``link_text``,
``target_blank``). A site that refuses robots or checkers (401, 403, 429, bot walls) is ``unverified``,
never ``broken``: the link may well work for a person.
"""

from __future__ import annotations

from dataclasses import dataclass

from linkgate.audit.records import Appearance, LinkRecord
from linkgate.http import Answer

__all__ = [
    "APPEARANCE_PROBLEMS",
    "PROBLEMS",
    "Verdict",
    "answer_problems",
    "appearance_problems",
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


def link_problems(link: LinkRecord) -> list[str]:
    """Every problem of ``link``, in the order of :data:`PROBLEMS`: those of its address, ``no_privacy``
    and those of any of its appearances."""
    found = answer_problems(link.url, link.answer, soft_404=link.soft_404, category=link.category)
    shown: set[str] = set()
    for appearance in link.appearances:
        shown.update(appearance_problems(link, appearance))
        if len(shown) == len(APPEARANCE_PROBLEMS):
            break
    if link.privacy is not None and link.privacy.status == "none":
        shown.add("no_privacy")
    found.extend(code for code in PROBLEMS if code in shown)
    return found
