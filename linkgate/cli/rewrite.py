"""``linkgate rewrite``: send the off-site links of County pages through the gate, or check that they go.

The files and the output live here; the reading and rewriting of a page is :mod:`linkgate.rewrite`. Every
page of a folder is read and rewritten in memory before any is written, so a file that cannot be
rewritten stops the run with nothing changed. Files are replaced atomically (a temporary file in the same
folder, then a rename), keeping their mode; a file whose links need no change is not touched.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import ada_url
import click

from linkgate.cli.common import current_settings, fail, friendly, main, warn_default_public_url
from linkgate.errors import InvalidDestination
from linkgate.urls import parse_destination

if TYPE_CHECKING:  # the rewriter is imported when the command runs, not when ``linkgate`` starts
    from linkgate.config import Settings
    from linkgate.rewrite import GateLinks, Link, RewriteResult

PAGE_SUFFIXES = (".html", ".htm")
_SHOWN_LENGTH = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class _Page:
    source: Path  # the file read
    relative: Path  # its path under the folder given (its name, for a single file)
    result: RewriteResult


@main.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--out",
    "-o",
    metavar="DIR",
    help="Write the pages to DIR (the folder's layout mirrored) instead of changing them in place; "
    "'-' writes a single page to standard output.",
)
@click.option(
    "--check",
    is_flag=True,
    help="Change nothing: list every off-site link that does not go through the gate (path:line: address) "
    "and exit with status 1 if there is any.",
)
@click.option(
    "--base",
    "base_url",
    metavar="URL",
    help="The address the page (or the folder) is published at, for resolving its relative links; "
    "without it, links that name no host are taken as County links.",
)
@click.option(
    "--encoding",
    metavar="NAME",
    help="The encoding the web server declares for the pages (the charset of its Content-Type header); "
    "it wins over <meta charset>, as in a browser.",
)
@click.option(
    "--robust-links",
    is_flag=True,
    help="Also give each rewritten link the Robust Links attributes data-versionurl and data-versiondate: "
    "its closest snapshot in the web archive of the [archive] url setting (asked once per destination, "
    "the answers kept in the database).",
)
@friendly
def rewrite(
    path: Path, out: str | None, check: bool, base_url: str | None, encoding: str | None, robust_links: bool
) -> None:
    """Route the off-site links of the HTML page PATH, or of every *.html and *.htm page under the folder
    PATH, through the gate as signed links.

    Only the href values of off-site <a> and <area> links change; every other byte of each file stays as
    it was. County, relative, fragment, mailto:, tel: and already-gated links are left alone, and so is
    anything the gate would refuse (reported in the summary). Running it again changes nothing.
    With --robust-links, each rewritten link also gains data-versionurl and data-versiondate (the
    closest snapshot in the web archive of [archive] url), after its href.
    """
    from linkgate.encoding import encoding_for_label
    from linkgate.rewrite import GateLinks

    settings = current_settings()
    if check and out is not None:
        fail("--check changes nothing, so it takes no --out")
    if check and robust_links:
        fail("--check changes nothing, so it takes no --robust-links")
    if robust_links and not settings.archive_url:
        fail("--robust-links needs a web archive: set url in the [archive] section of the configuration")
    if base_url is not None:
        try:
            base_url = parse_destination(base_url, settings.max_url_length).href
        except InvalidDestination as error:
            fail(f"--base {base_url}: {error}")
    if encoding is not None and encoding_for_label(encoding) is None:
        fail(f'--encoding: "{encoding}" is not the name of an encoding a browser knows')
    if not path.exists():
        fail(f"{path}: no such file or folder")
    is_folder = path.is_dir()
    if out == "-" and is_folder:
        fail("--out - writes a single page to standard output; give a folder for a whole site")
    target = _output_folder(path, out, is_folder)

    files, links_not_followed = _pages(path, target) if is_folder else ([(path, Path(path.name))], 0)
    gate = GateLinks.from_settings(settings)
    page_urls = [_page_url(base_url, relative, is_folder) for _, relative in files]
    pages = [
        _Page(source, relative, _read(source, gate, page_url, encoding))
        for (source, relative), page_url in zip(files, page_urls, strict=True)
    ]
    versions: dict[str, tuple[str, str]] = {}
    if robust_links:
        versions = _versions(settings, pages)
        pages = [
            _Page(page.source, page.relative, _read(page.source, gate, page_url, encoding, versions))
            for page, page_url in zip(pages, page_urls, strict=True)
        ]
    # Gate links are recognised by this address too: --check would take real ones for County links.
    warn_default_public_url(settings)
    if check:
        _report_check(pages)
        return
    if out == "-":
        sys.stdout.buffer.write(pages[0].result.data)
        sys.stdout.buffer.flush()
    else:
        for page in pages:
            if target is None:
                if page.result.changed:
                    _write(page.source, page.result.data, page.source)
            else:
                _write(target / page.relative, page.result.data, page.source)
    _summary(pages, links_not_followed, to_stderr=out == "-")
    if robust_links:
        robust = sum(link.robust for page in pages for link in page.result.links)
        click.echo(f"{'robust links':<18}{robust:>7}", err=out == "-")


def _versions(settings: Settings, pages: list[_Page]) -> dict[str, tuple[str, str]]:
    """The closest archived version of each rewritten link's destination, by destination: its address
    and day (UTC, YYYY-MM-DD, as the Robust Links specification writes data-versiondate)."""
    from datetime import UTC, datetime

    from linkgate.rewrite import Outcome
    from linkgate.runtime import Runtime

    destinations = {
        link.destination
        for page in pages
        for link in page.result.links
        if link.outcome is Outcome.REWRITTEN and link.destination is not None
    }
    runtime = Runtime(settings)
    archive = runtime.make_archive()
    assert archive is not None  # the command checked archive.url
    try:
        now = datetime.now(UTC)
        found = archive.look_up_many((destination, now) for destination in sorted(destinations))
    finally:
        archive.close()
        runtime.counts.flush()
        runtime.store.dispose()
    if archive.gave_up:
        click.echo(
            f"linkgate: warning: the web archive ({archive.endpoint}) stopped answering; links it was not "
            "asked about have no Robust Links attributes",
            err=True,
        )
    return {url: (copy.url, copy.date.strftime("%Y-%m-%d")) for url, copy in found.items()}


def _output_folder(path: Path, out: str | None, is_folder: bool) -> Path | None:
    """The folder to write to, created if need be; None to rewrite in place (or for standard output)."""
    if out is None or out == "-":
        return None
    folder = Path(out)
    if is_folder and folder.resolve() == path.resolve():
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        fail(f"--out {out}: cannot create the folder: {error.strerror or error}")
    if not folder.is_dir():
        fail(f"--out {out}: not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        fail(f"--out {out}: the folder is not writable")
    return folder


def _pages(root: Path, out: Path | None) -> tuple[list[tuple[Path, Path]], int]:
    """The pages under ``root`` (hidden folders, ``out`` and symbolic links left out), and how many
    symbolic links were passed over."""
    skip = out.resolve() if out is not None else None
    found: list[tuple[Path, Path]] = []
    links = 0
    for folder, subfolders, names in os.walk(root):
        here = Path(folder)
        links += sum(1 for name in subfolders if (here / name).is_symlink())  # os.walk does not enter them
        subfolders[:] = sorted(
            name
            for name in subfolders
            if not name.startswith(".") and (skip is None or (here / name).resolve() != skip)
        )
        for name in sorted(names):
            if not name.lower().endswith(PAGE_SUFFIXES):
                continue
            source = here / name
            if source.is_symlink():
                links += 1
                continue
            found.append((source, source.relative_to(root)))
    return found, links


def _page_url(base_url: str | None, relative: Path, is_folder: bool) -> str | None:
    if base_url is None or not is_folder:
        return base_url
    folder = base_url if base_url.endswith("/") else base_url + "/"
    return ada_url.join_url(folder, quote(relative.as_posix()))


def _read(
    source: Path,
    gate: GateLinks,
    page_url: str | None,
    encoding: str | None,
    versions: dict[str, tuple[str, str]] | None = None,
) -> RewriteResult:
    from linkgate.rewrite import UnsupportedDocument, rewrite_html

    try:
        data = source.read_bytes()
    except OSError as error:
        fail(f"{source}: cannot read: {error.strerror or error}")
    try:
        return rewrite_html(data, gate, base_url=page_url, encoding=encoding, versions=versions)
    except UnsupportedDocument as error:
        fail(f"{source}: {error}")
    raise AssertionError("fail() exits")


def _write(target: Path, data: bytes, like: Path) -> None:
    """Write ``data`` to ``target`` atomically, with the mode (and, as root, the owner) of ``like``."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        status = like.stat()
        descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temporary, status.st_mode & 0o7777)
            if os.geteuid() == 0:
                os.chown(temporary, status.st_uid, status.st_gid)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as error:
        fail(f"{target}: cannot write: {error.strerror or error}")


def _shown(link: Link) -> str:
    value = _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", link.value)
    return value if len(value) <= _SHOWN_LENGTH else value[: _SHOWN_LENGTH - 1] + "…"


def _line(page: _Page, link: Link) -> str:
    note = f" ({link.note})" if link.note else ""
    return f"{page.source}:{link.line}: {_shown(link)}{note}"


def _report_check(pages: list[_Page]) -> None:
    problems = 0
    with_problems = 0
    for page in pages:
        found = page.result.needing_gate
        with_problems += bool(found)
        for link in found:
            click.echo(_line(page, link))
            problems += 1
    files = f"{len(pages)} file{'s' if len(pages) != 1 else ''}"
    if problems:
        click.echo(
            f"linkgate: {problems} off-site link{'s' if problems != 1 else ''} not through the gate, "
            f"in {with_problems} of {files}",
            err=True,
        )
        sys.exit(1)
    click.echo(f"linkgate: every off-site link in {files} goes through the gate", err=True)


def _summary(pages: list[_Page], links_not_followed: int, *, to_stderr: bool) -> None:
    from linkgate.rewrite import SKIP_REASONS, Outcome

    counts: Counter[Outcome] = Counter()
    for page in pages:
        counts.update(page.result.counts)
    skipped = sum(counts[reason] for reason in SKIP_REASONS)
    rows = [
        ("files read", len(pages)),
        ("files changed", sum(page.result.changed for page in pages)),
        ("links rewritten", counts[Outcome.REWRITTEN]),
        ("links skipped", skipped),
    ]
    lines = [f"{label:<18}{number:>7}" for label, number in rows]
    lines += [f"  {reason.value:<16}{counts[reason]:>7}" for reason in SKIP_REASONS]
    if links_not_followed:
        lines.append(f"symbolic links not followed: {links_not_followed}")
    refused = [
        (page, link) for page in pages for link in page.result.links if link.outcome is Outcome.REFUSED
    ]
    if refused:
        lines.append("refused, so left as they are:")
        lines += [f"  {_line(page, link)}" for page, link in refused]
    stale = sum(
        1 for page in pages for link in page.result.links if link.outcome is Outcome.GATED and link.needs_gate
    )
    if stale:
        lines.append(f"gate links the gate will not trust: {stale} (linkgate rewrite --check lists them)")
    for line in lines:
        click.echo(line, err=to_stderr)
