"""Known-bad lists (feeds): domain blocklists the County subscribes to, read, compiled and looked up.

A feed is a list of names in one of three formats (``hosts``: ``0.0.0.0 example.com`` lines; ``domains``:
one name a line; ``urlhaus``: abuse.ch's URLhaus CSV, whose url column gives the host), read from an
http(s) address through the safe fetcher or from a file. A URLhaus row whose ``url_status`` is ``offline``
is left out: URLhaus found the address no longer serving malware, and many of its hosts are legitimate
sites that were broken into and since cleaned, which a County link may well name; when the address serves
malware again URLhaus marks it ``online`` and the next update lists it.

Updating a feed reads the whole list, bounded (``feeds.max_bytes``, ``feeds.max_names``), in time and
memory linear in its size, skipping (and counting) each line that names no host; compiles it into an
open-addressing hash table of 64-bit keyed hashes (BLAKE2b with a fixed key, so every process and server
computes the same ones); and stores that table in the database, whole, in one statement. On any failure
the list before it stays, and why is kept.

Each process (:class:`FeedBook`) keeps every loaded list as a file in the instance folder named by the
table's digest, written under a temporary name and renamed, and maps it read-only: gunicorn's workers
share its pages, a million names cost about 16 MB of page cache per machine, not per worker. What the
gate looks names up in (:class:`FeedIndex`) is immutable; a new version is a new index, swapped in with
one assignment, so a click sees the old lists or the new ones, never part of either.

What it must never do: let a list decide a County address or a destination a rule written by hand
decides (:meth:`linkgate.classify.Classifier.classify` asks it last), read a list beyond its bounds, or
fetch one except through :class:`linkgate.http.Fetcher`.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import ipaddress
import logging
import mmap
import os
import re
import secrets
import struct
import sys
import time
import zlib
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from linkgate.classify import HOST_LABELS, RESERVED_TOP_LEVEL, Listed
from linkgate.errors import InvalidDestination
from linkgate.http import Fetcher, FetchError, FetchPolicy
from linkgate.store import Store
from linkgate.store.feeds import MAX_FEEDS, FeedError, FeedRow, LoadedList
from linkgate.urls import _EXTRACT, is_public_address, normalise_rule_name, parse_destination

if TYPE_CHECKING:
    from linkgate.config import Settings

__all__ = [
    "FEED_ACTIONS",
    "FORMATS",
    "MAX_FEEDS",
    "NO_FEEDS",
    "FeedBook",
    "FeedError",
    "FeedIndex",
    "FeedLimits",
    "FeedTable",
    "ParsedList",
    "compile_table",
    "host_keys",
    "name_key",
    "parse_list",
    "update_feed",
]

log = logging.getLogger(__name__)

FORMATS = ("hosts", "domains", "urlhaus")
FEED_ACTIONS = ("block", "notice")
FEED_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
MAX_SOURCE = 2048
MAX_LINE = 8192  # a longer line is skipped: no host name or URLhaus row needs more
SKIPPED_SHOWN = 5  # skipped lines kept, to show why, per update
ACCEPT = "text/plain, text/csv;q=0.9, */*;q=0.5"
# The hash key: fixed, so that every process and every server computes the same table. It is not a
# secret: a name made to collide with a listed one is only one more name blocked.
_HASH_KEY = b"linkgate known-bad lists v1"
_MAGIC = b"LGFEED01"
_HEADER = struct.Struct("<8sQQ")  # magic, slots, names: 24 bytes, so the slots that follow stay aligned
_MAX_TABLE = _HEADER.size + 8 * (1 << 27)  # 1 GiB: far beyond any table feeds.max_names allows
_PIECE = 1 << 20  # how much of a stored table is decompressed at a time
TABLE_SUFFIX = ".lgfeed"
STALE_SECONDS = 3600.0  # a table file no list uses is removed after this long (a worker may still open it)


@dataclass(frozen=True)
class FeedLimits:
    """The bounds of one update (``[feeds]`` in the configuration)."""

    max_bytes: int = 50_000_000
    max_names: int = 2_000_000
    fetch_seconds: float = 120.0

    @classmethod
    def from_settings(cls, settings: Settings) -> FeedLimits:
        return cls(settings.feeds_max_bytes, settings.feeds_max_names, settings.feeds_fetch_seconds)


_KEYED = hashlib.blake2b(digest_size=8, key=_HASH_KEY)  # copied for each name: keying it again costs 5x


def name_key(name: str) -> int:
    """The 64-bit keyed hash of a listed name, never 0 (an empty slot)."""
    hashed = _KEYED.copy()
    hashed.update(name.encode("ascii"))
    return int.from_bytes(hashed.digest(), "little") or 1


@lru_cache(maxsize=16384)
def host_keys(host: str) -> tuple[int, ...]:
    """The keys to look up for a destination's host: the host, then each parent domain with at least two
    labels (a list never holds a public suffix, :func:`listed_name`, so probing one finds nothing)."""
    name = host.rstrip(".").lower()
    keys = []
    while "." in name:
        keys.append(name_key(name))
        name = name.split(".", 1)[1]
    return tuple(keys)


@lru_cache(maxsize=4096)
def _address_key(host: str) -> tuple[int, ...]:
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return ()
    return (name_key(str(address)),)


# ---- reading a list --------------------------------------------------------------------------------------


@dataclass
class ParsedList:
    """What reading a list found: the keys of its names (repeats included), and the lines skipped."""

    keys: array[int]
    skipped: int = 0
    skipped_lines: list[str] | None = None
    size: int = 0
    offline: int = 0  # URLhaus rows left out as offline: not skipped, the list says so itself

    def skip(self, number: int, reason: str, line: str) -> None:
        self.skipped += 1
        if self.skipped_lines is None:
            self.skipped_lines = []
        if len(self.skipped_lines) < SKIPPED_SHOWN:
            shown = "".join(ch if ch.isprintable() else "?" for ch in line.strip()[:60])
            self.skipped_lines.append(f'line {number}: {reason}: "{shown}"')


def listed_name(text: str) -> tuple[str | None, str]:
    """A list's entry as the gate looks it up (lower case, punycode, or an address in its usual form), or
    None and why it is skipped: not a host name, a public suffix (``com``, ``github.io``: a list may not
    take a whole suffix), a name on no public suffix (``localhost``, ``printer.lan``) or a non-public
    address."""
    name = text.strip().rstrip(".").lower()
    if name.startswith("*."):
        name = name[2:]
    if not name:
        return None, "empty"
    if name[0].isdigit() or ":" in name:
        try:
            address = ipaddress.ip_address(name.strip("[]"))
        except ValueError:
            pass
        else:
            if not is_public_address(address):
                return None, "not a public address"
            return str(address), ""
    if not (name.isascii() and len(name) <= 253 and HOST_LABELS.fullmatch(name)):
        try:
            name = normalise_rule_name(name)
        except InvalidDestination:
            return None, "not a host name"
        if not HOST_LABELS.fullmatch(name):
            return None, "not a host name"
    # As classify.is_internet_name judges a name, without its try at reading an address (most of its time).
    top = name.rsplit(".", 1)[-1]
    if "." not in name or top == "localhost":
        return None, "a public suffix or a name on no public suffix"
    parts = _EXTRACT(name)
    if not (parts.suffix and parts.domain) and top not in RESERVED_TOP_LEVEL:
        return None, "a public suffix or a name on no public suffix"
    return name, ""


def _lines(data: bytes) -> Iterator[tuple[int, str]]:
    for number, raw in enumerate(io.BytesIO(data), 1):
        if len(raw) > MAX_LINE:
            yield number, "\0"  # too long: named below
            continue
        yield number, raw.decode("utf-8", "replace").strip()


def parse_list(data: bytes, format: str, max_names: int) -> ParsedList:
    """Read a list of ``format``; :class:`FeedError` when it has more than ``max_names`` entries or none.

    One pass over the lines, each bounded (:data:`MAX_LINE`): time and memory in proportion to the list's
    size. A line that names no host is skipped and counted, never a reason to refuse the rest."""
    if format not in FORMATS:
        raise FeedError(f'A feed\'s format is one of {", ".join(FORMATS)}, not "{format}".')
    found = ParsedList(array("Q"), size=len(data))
    keys = found.keys
    for number, line in _lines(data):
        if line == "\0":
            found.skip(number, f"longer than {MAX_LINE} bytes", "")
            continue
        if not line or line.startswith(("#", "!", ";")):
            continue
        for entry in _entries(line, format, number, found):
            name, reason = listed_name(entry)
            if name is None:
                found.skip(number, reason, entry)
                continue
            keys.append(name_key(name))
            if len(keys) > max_names:
                raise FeedError(
                    f"The list has more than {max_names:,} names (feeds.max_names); it was not loaded."
                )
    if not keys:
        raise FeedError(
            f"The list names no host ({found.skipped:,} lines skipped"
            + (f", {found.offline:,} offline rows left out" if found.offline else "")
            + (f"; {found.skipped_lines[0]}" if found.skipped_lines else "")
            + f"): is it a {format} list? It was not loaded."
        )
    return found


def _entries(line: str, format: str, number: int, found: ParsedList) -> list[str]:
    """The names one line of a list gives (none for a line skipped, which it counts)."""
    if format == "urlhaus":
        try:
            row = next(csv.reader([line], strict=True))
        except (csv.Error, StopIteration):
            found.skip(number, "not a CSV row", line)
            return []
        if len(row) < 3:
            found.skip(number, "no url column", line)
            return []
        if len(row) > 3 and row[3].strip().lower() == "offline":  # url_status: see the module docstring
            found.offline += 1
            return []
        try:
            destination = parse_destination(row[2].strip())
        except InvalidDestination:
            found.skip(number, "not a web address", row[2])
            return []
        return [destination.host]
    text = line.split("#", 1)[0].strip()
    if not text:
        return []
    words = text.split()
    if format == "domains":
        if len(words) != 1:
            found.skip(number, "more than one word", line)
            return []
        return words
    try:  # hosts: an address (where the name is sent, 0.0.0.0 or 127.0.0.1), then one or more names
        ipaddress.ip_address(words[0])
    except ValueError:
        found.skip(number, "does not start with an address", line)
        return []
    if len(words) < 2:
        found.skip(number, "no name after the address", line)
    return words[1:]


# ---- the compiled table ----------------------------------------------------------------------------------


def compile_table(keys: array[int]) -> tuple[bytes, int]:
    """An open-addressing table of ``keys`` (linear probing, at most half full), as the bytes of its file,
    and how many distinct names it holds."""
    slots = 1 << max(4, (2 * len(keys) - 1).bit_length())
    table = array("Q", bytes(8 * slots))
    mask = slots - 1
    names = 0
    for key in keys:
        index = key & mask
        while True:
            held = table[index]
            if held == key:
                break
            if not held:
                table[index] = key
                names += 1
                break
            index = (index + 1) & mask
    if sys.byteorder != "little":
        table.byteswap()
    return _HEADER.pack(_MAGIC, slots, names) + table.tobytes(), names


class FeedTable:
    """One list's table, mapped read-only from its file: the pages are shared by every process mapping it."""

    __slots__ = ("_file", "_map", "listed", "mask", "names", "slots")

    def __init__(self, path: Path, listed: Listed) -> None:
        if sys.byteorder != "little":
            raise FeedError("Known-bad lists need a little-endian machine.")
        self.listed = listed
        with path.open("rb") as handle:
            self._map = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        magic, slots, names = _HEADER.unpack_from(self._map, 0)
        if magic != _MAGIC or slots & (slots - 1) or len(self._map) != _HEADER.size + 8 * slots:
            self._map.close()
            raise FeedError(f"{path} is not a whole list table.")
        self.names = int(names)
        self.mask = slots - 1
        self.slots = memoryview(self._map)[_HEADER.size :].cast("Q")

    def __contains__(self, key: int) -> bool:
        slots, mask = self.slots, self.mask
        index = key & mask
        while True:
            held = slots[index]
            if held == key:
                return True
            if not held:
                return False
            index = (index + 1) & mask


class FeedIndex:
    """The loaded lists, as the gate looks destinations up in them: immutable, swapped whole.

    The lists that block come first, so a host on a blocking list and on a noticing one is blocked."""

    def __init__(self, tables: tuple[FeedTable, ...] = ()) -> None:
        self.tables = tuple(
            sorted(tables, key=lambda table: (table.listed.action != "block", table.listed.feed))
        )

    def __len__(self) -> int:
        return len(self.tables)

    def match(self, host: str, *, is_ip: bool = False) -> Listed | None:
        """The list ``host`` is on (itself, or a domain above it), or None."""
        if not self.tables:
            return None
        keys = _address_key(host) if is_ip else host_keys(host)
        for table in self.tables:
            for key in keys:
                if key in table:
                    return table.listed
        return None


NO_FEEDS = FeedIndex()


# ---- each process's lists ----------------------------------------------------------------------------------


class FeedBook:
    """The lists this process looks up, kept as the database says (polled with the rules).

    :meth:`refresh` returns the index to use: the same object while nothing changed, a new one when a
    list was added, updated or removed, and the one before it when the new lists could not be opened
    (the database away, the disk full): a list is never taken half."""

    def __init__(self, store: Store, folder: Path) -> None:
        self._store = store
        self._folder = folder
        self._states: tuple[tuple[str, str, str], ...] | None = None
        self.index = NO_FEEDS
        self.last_error: str | None = None

    def refresh(self) -> FeedIndex:
        """:class:`~linkgate.errors.StoreUnavailable` when the database does not answer."""
        states = self._store.feeds.states()
        if states == self._states:
            return self.index
        opened = {(table.listed.feed, table.listed.action): table for table in self.index.tables}
        known = {(feed, action): digest for feed, action, digest in self._states or ()}
        tables = []
        complete = True
        try:
            for name, action, digest in states:
                table = opened.get((name, action)) if known.get((name, action)) == digest else None
                if table is None:
                    table = self._open(name, action, digest)
                if table is None:  # changed again since it was listed: the next refresh takes it
                    complete = False
                    table = opened.get((name, action))  # until then, the list before it
                    if table is None:
                        continue
                tables.append(table)
        except (OSError, FeedError, ValueError, zlib.error) as error:
            why = f"{type(error).__name__}: {error}"
            if why != self.last_error:  # once, not at every poll
                log.error("feeds: keeping the %d lists loaded before: %s", len(self.index), why)
            self.last_error = why
            return self.index
        self.index = FeedIndex(tuple(tables))
        self.last_error = None
        if complete:
            self._states = states
            self._tidy({digest for _name, _action, digest in states})
        return self.index

    def _open(self, name: str, action: str, digest: str) -> FeedTable | None:
        path = table_path(self._folder, digest)
        if not path.exists():
            data = self._store.feeds.data(name, digest)
            if data is None:
                return None
            write_stored_table(self._folder, digest, data)
        return FeedTable(path, Listed(name, action))

    def _tidy(self, digests: set[str]) -> None:
        """Remove table files no list uses any more, once no process can be about to open them."""
        with contextlib.suppress(OSError):
            for path in self._folder.iterdir():
                stem = path.name.removesuffix(TABLE_SUFFIX).removesuffix(".tmp").lstrip(".").split(".")[0]
                if stem in digests:
                    continue
                with contextlib.suppress(OSError):
                    if time.time() - path.stat().st_mtime > STALE_SECONDS:
                        path.unlink()


def table_path(folder: Path, digest: str) -> Path:
    return folder / f"{digest}{TABLE_SUFFIX}"


def write_table(folder: Path, digest: str, table: bytes) -> Path:
    """Write a table's file whole, under a temporary name, then rename it into place (atomic): a process
    opening it finds the whole table or no file. :class:`FeedError` when the bytes are not the digest's."""
    return _write(folder, digest, iter((table,)))


def write_stored_table(folder: Path, digest: str, data: bytes) -> Path:
    """:func:`write_table` from the database's compressed copy, decompressed a piece at a time straight into
    the file: a worker making the file holds the compressed copy, not the table too."""

    def pieces() -> Iterator[bytes]:
        inflater = zlib.decompressobj()
        pending, total = data, 0
        while pending:
            piece = inflater.decompress(pending, _PIECE)
            pending = inflater.unconsumed_tail
            total += len(piece)
            if total > _MAX_TABLE:
                raise FeedError("A stored list is larger than any list linkgate makes.")
            yield piece
        yield inflater.flush()

    return _write(folder, digest, pieces())


def _write(folder: Path, digest: str, pieces: Iterator[bytes]) -> Path:
    folder.mkdir(mode=0o750, parents=True, exist_ok=True)
    path = table_path(folder, digest)
    draft = folder / f".{digest}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    hashed = hashlib.sha256()
    try:
        with draft.open("wb") as handle:
            for piece in pieces:
                hashed.update(piece)
                handle.write(piece)
            if hashed.hexdigest() != digest:
                raise FeedError(
                    f"The stored list {digest[:12]}… does not match its digest; update the feed again."
                )
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(draft, path)
    finally:
        draft.unlink(missing_ok=True)
    return path


# ---- updating a feed ---------------------------------------------------------------------------------------


def check_feed(name: str, source: str, format: str, action: str, *, files: bool = True) -> tuple[str, str]:
    """A new feed's name and source, checked (a file's path made absolute); :class:`FeedError` saying
    what is wrong. ``files`` off (the console): only http(s) addresses."""
    if not FEED_NAME.fullmatch(name):
        raise FeedError(
            f'"{name}" cannot name a feed: use up to 40 lower-case letters, digits, "-" and "_" '
            f"(like urlhaus or phishing-domains)."
        )
    if format not in FORMATS:
        raise FeedError(f'A feed\'s format is one of {", ".join(FORMATS)}, not "{format}".')
    if action not in FEED_ACTIONS:
        raise FeedError(f'A feed\'s action is block or notice, not "{action}".')
    source = source.strip()
    if len(source) > MAX_SOURCE:
        raise FeedError(f"A feed's source is at most {MAX_SOURCE} characters.")
    if source.lower().startswith(("http://", "https://")):
        try:
            return name, parse_destination(source).href
        except InvalidDestination as error:
            raise FeedError(f"{source} is not a web address linkgate can read: {error}") from None
    if not files:
        raise FeedError("A feed's source is a web address starting with https:// or http://.")
    if "://" in source or not source:
        raise FeedError(f'"{source}" is neither an http(s) address nor a file.')
    path = Path(source).expanduser().absolute()
    if not path.is_file():
        raise FeedError(f"{path} is not a file linkgate can read.")
    return name, str(path)


def feed_policy(base: FetchPolicy, limits: FeedLimits) -> FetchPolicy:
    """The fetch policy of a list: the gate's addresses and ports, a list's size and time."""
    return replace(base, max_bytes=limits.max_bytes + 1, total_timeout=limits.fetch_seconds)


def read_source(source: str, limits: FeedLimits, fetcher: Fetcher | None) -> bytes:
    """A list's bytes, at most ``limits.max_bytes``: :class:`FeedError` saying why not."""
    if source.startswith(("http://", "https://")):
        if fetcher is None:
            raise FeedError("No fetcher to read a web address with.")
        try:
            answer = fetcher.get(source, accept=ACCEPT)
        except FetchError as error:
            raise FeedError(f"Could not fetch the list: {error}") from None
        if answer.status != 200:
            raise FeedError(f"Could not fetch the list: {answer.final_url} answered {answer.status}.")
        data = answer.content
    else:
        try:
            with open(source, "rb") as handle:
                data = handle.read(limits.max_bytes + 1)
        except OSError as error:
            raise FeedError(f"Could not read {source}: {error.strerror or error}.") from None
    if len(data) > limits.max_bytes:
        raise FeedError(
            f"The list is larger than {limits.max_bytes:,} bytes (feeds.max_bytes); it was not loaded."
        )
    return data


def load_list(data: bytes, format: str, limits: FeedLimits) -> tuple[LoadedList, bytes]:
    """A list's bytes read and compiled: what the database keeps, and the table itself."""
    parsed = parse_list(data, format, limits.max_names)
    table, names = compile_table(parsed.keys)
    loaded = LoadedList(
        digest=hashlib.sha256(table).hexdigest(),
        data=zlib.compress(table, 1),
        names=names,
        skipped=parsed.skipped,
        size=parsed.size,
        skipped_lines=tuple(parsed.skipped_lines or ()),
    )
    return loaded, table


@dataclass(frozen=True)
class UpdateResult:
    """How one feed's update went: its row after it, and why it failed (None when it loaded)."""

    feed: FeedRow | None
    error: str | None


def update_feed(
    store: Store,
    name: str,
    limits: FeedLimits,
    fetcher: Fetcher | None,
    actor: str,
    folder: Path | None = None,
) -> UpdateResult:
    """Read feed ``name``'s list again and keep it, or keep the one before it and note why not.

    With ``folder`` (the instance's), the new table's file is written there at once, so this machine's
    workers map it without reading the database's copy."""
    feed = store.feeds.get(name)
    if feed is None:
        raise FeedError(f"There is no feed named {name}.")
    try:
        data = read_source(feed.source, limits, fetcher)
        loaded, table = load_list(data, feed.format, limits)
        del data
    except FeedError as error:
        why = str(error)
        log.info("feeds: %s not updated: %s", name, why)
        return UpdateResult(store.feeds.failed(name, why), why)
    if folder is not None:
        try:
            write_table(folder, loaded.digest, table)
        except OSError as error:  # each worker writes it from the database's copy instead
            log.warning("feeds: could not write %s's table in %s: %s", name, folder, error)
    return UpdateResult(store.feeds.loaded(name, loaded, actor), None)


def next_update(feed: FeedRow, refresh_hours: float) -> datetime | None:
    """When ``linkgate feeds update --due`` (the timer's) updates ``feed`` next: ``feeds.refresh_hours``
    after its last check; None when it was never checked (the timer's next run)."""
    if feed.checked_at is None:
        return None
    return feed.checked_at + timedelta(hours=refresh_hours)


def is_due(feed: FeedRow, refresh_hours: float, now: datetime) -> bool:
    moment = next_update(feed, refresh_hours)
    return moment is None or moment <= now
