"""Settings: one typed, frozen object, loaded once from TOML and ``LINKGATE_*`` environment variables.

The TOML file is named by ``LINKGATE_CONFIG``; every key may be overridden by an environment variable
named ``LINKGATE_<SECTION>_<KEY>`` (``LINKGATE_DATABASE_URL``, ``LINKGATE_SERVER_PORT``...) and the
top-level keys by ``LINKGATE_<KEY>`` (``LINKGATE_SECRET_KEY``). ``LINKGATE_INSTANCE`` names the instance
folder (SQLite database, generated secret key). Every bad key is reported at once, by name.

No other module reads ``os.environ``: they are handed a :class:`Settings`.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from linkgate.classify import county_domain
from linkgate.errors import ConfigError, InvalidDestination
from linkgate.urls import parse_destination

ACTIONS = ("redirect", "notice", "block")
CATEGORIES = ("county", "partner", "government", "education", "external", "blocked")
DEFAULT_ACTIONS = {
    "county": "redirect",
    "partner": "redirect",
    "government": "notice",
    "education": "notice",
    "external": "notice",
    "blocked": "block",
}

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
LOOPBACK: tuple[Network, ...] = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
MAX_CONFIG_BYTES = 1_000_000  # a configuration is a few kilobytes; a file far larger is not one
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Settings:
    instance_path: Path
    secret_key: str
    previous_secret_keys: tuple[str, ...] = ()
    county_name: str = "Missoula County"
    county_domains: tuple[str, ...] = ("missoulacounty.us", "co.missoula.mt.us")
    county_home_url: str = "https://www.missoulacounty.us/"
    county_privacy_url: str = "https://www.missoulacounty.us/privacy-policy"
    webmaster_email: str = "helpdesk@co.missoula.mt.us"
    webmaster_url: str = "https://www.missoulacounty.us/"
    notice_disclaimer: bool = True  # the notice says the County does not endorse or control the site
    timezone: str = "America/Denver"
    database_url: str = ""
    allow_networks: tuple[Network, ...] = ()
    resolve: Mapping[str, str] = field(default_factory=dict)
    use_system_resolver: bool = True  # false: only names pinned by fetch.resolve are found (tests, offline)
    allowed_ports: tuple[int, ...] = (80, 443)
    privacy_wait_ms: int = 800
    fetch_workers: int = 4
    lookup_queue: int = 8  # lookups waiting for a worker, per process; beyond it a host is "pending"
    lookups_per_domain: int = 2  # lookups running or waiting per registrable domain, per process
    lookup_seconds: float = 20.0  # one privacy lookup's deadline (its lease on the host is twice this)
    lookup_requests: int = 6  # one privacy lookup's requests, redirects included
    found_ttl: int = 7 * 24 * 3600
    not_found_ttl: int = 24 * 3600
    error_ttl: int = 3600
    max_sites: int = 50_000  # looked-up sites kept, least recently used trimmed first (overrides on top)
    memory_seconds: float = 5.0  # how long a worker trusts the site facts it read (a change reaches it after)
    audit_kept_results: int = 100_000  # link results kept between audits, the oldest checks trimmed first
    public_url: str = "http://127.0.0.1:8000"
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 2
    threads: int = 8
    max_url_length: int = 4096
    rules_refresh_seconds: float = 2.0
    counts_flush_seconds: float = 5.0
    counts_max_keys: int = 50_000
    counts_max_domains_per_day: int = 2_000
    log_format: str = "text"  # the servers' log lines: "text", or "json" (one object a line, for a SIEM)
    actions: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_ACTIONS))
    demo: bool = False
    admin_idle_minutes: float = 30.0
    admin_session_max_hours: float = 12.0  # a session ends this long after sign-in, however much it is used
    admin_trusted_header: str = ""
    admin_trusted_proxies: tuple[Network, ...] = ()
    api_token_hashes: tuple[str, ...] = ()
    login_slow_after: int = 5
    login_lock_after: int = 10
    login_lock_minutes: float = 15.0
    metrics_allow_networks: tuple[Network, ...] = LOOPBACK  # peers that may read /metrics
    # Known-bad lists (linkgate/feeds.py): the bounds of one list, and how often the timer updates each.
    feeds_max_bytes: int = 50_000_000  # a longer list is refused (the one before it kept)
    feeds_max_names: int = 2_000_000  # a list naming more is refused
    feeds_fetch_seconds: float = 120.0  # one list's fetch, redirects included
    feeds_refresh_hours: float = 6.0  # linkgate feeds update --due updates a list checked longer ago
    # Visitors' reports of a link (linkgate/web/reports.py): limits per worker process, what a day keeps.
    reports_per_client_per_hour: int = 10
    reports_per_hour: int = 600
    reports_max_destinations_per_day: int = 500
    reports_keep_days: int = 90
    reports_address_header: str = ""  # behind a proxy: the header holding the visitor's address
    reports_trusted_proxies: tuple[Network, ...] = ()  # the proxies allowed to send it
    # Archived copies of broken links (linkgate/archive.py): the archive asked, and how long answers are kept.
    archive_url: str = ""  # a web archive's Memento or availability endpoint; empty: no archived copies
    archive_kind: str = "auto"  # how archive_url is asked: memento, availability, or auto (by its form)
    archive_found_ttl: int = 30 * 24 * 3600  # how long a snapshot found is kept before it is asked again
    archive_miss_ttl: int = 24 * 3600  # how long "no snapshot" is kept
    archive_max_entries: int = 20_000  # archive answers kept in the database, oldest removed first

    def action_for(self, category: str) -> str:
        return self.actions[category]


# (section, key) -> (field name, parser)
Parser = Callable[[Any], Any]


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    if _SURROGATE.search(value):
        # Bytes that are not UTF-8 in an environment variable (Python keeps them as lone surrogates):
        # not text, and every page or log line that showed it would fail to encode.
        raise ValueError("must be UTF-8 text")
    return value


def _nonempty_str(value: Any) -> str:
    text = _str(value).strip()
    if not text:
        raise ValueError("must not be empty")
    return text


def _int(low: int, high: int) -> Parser:
    def parse(value: Any) -> int:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError("must be a whole number")  # int() would cut 8000.5 to 8000
        try:
            number = int(value)
        except (TypeError, ValueError, OverflowError):  # OverflowError: TOML's inf
            raise ValueError("must be a whole number") from None
        if not low <= number <= high:
            raise ValueError(f"must be between {low} and {high}")
        return number

    return parse


def _float(low: float, high: float) -> Parser:
    def parse(value: Any) -> float:
        if isinstance(value, bool):
            raise ValueError("must be a number")
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):  # OverflowError: an integer of 309 digits or more
            raise ValueError("must be a number") from None
        if not low <= number <= high:
            raise ValueError(f"must be between {low} and {high}")
        return number

    return parse


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"1", "true", "yes", "on", "0", "false", "no", "off"}:
        return value.lower() in {"1", "true", "yes", "on"}
    raise ValueError("must be true or false")


def _list(item: Parser) -> Parser:
    """A list of ``item``: in the file a TOML array (see :func:`load_settings`), in an environment variable
    or an option comma-separated."""

    def parse(value: Any) -> tuple[Any, ...]:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list | tuple):
            raise ValueError("must be a list")
        return tuple(item(entry) for entry in value)

    return parse


def _database_url(value: Any) -> str:
    """``sqlite:///PATH`` or ``postgresql://…`` (psycopg 3): what :class:`linkgate.store.Store` can open.
    Checked here so that a mistyped URL is named with the rest of the configuration, at start and by
    ``linkgate config check``, rather than failing each worker as it boots."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    text = _nonempty_str(value)
    try:
        url = make_url(text)
    except ArgumentError:
        raise ValueError("must be a database URL: sqlite:///PATH or postgresql://USER@HOST/NAME") from None
    if url.drivername in ("sqlite", "sqlite+pysqlite"):
        if url.database in (None, "", ":memory:"):
            raise ValueError("must name a database file (sqlite:///PATH), not an in-memory database")
    elif url.drivername not in ("postgresql", "postgres", "postgresql+psycopg"):
        raise ValueError(
            f"must be a sqlite:/// or postgresql:// URL (linkgate cannot use {url.drivername!r} databases)"
        )
    return text


def _http_url(value: Any) -> str:
    text = _nonempty_str(value)
    try:
        destination = parse_destination(text)
    except InvalidDestination:
        raise ValueError("must be an absolute http:// or https:// URL with a valid host") from None
    if not text.lower().startswith(("http://", "https://")):
        raise ValueError("must be an absolute http:// or https:// URL")
    return destination.href


def _gate_url(value: Any) -> str:
    """``server.public_url``: where visitors reach the gate, a path included. Every gate link is made from
    it, so a user name, query or fragment (which no gate link could carry) is refused, not dropped."""
    href = _http_url(value)
    destination = parse_destination(href)
    if destination.username or destination.password:
        raise ValueError("must not carry a user name or password (every gate link would repeat it)")
    if "?" in href or "#" in href:
        raise ValueError("must be the gate's address alone, without a query (?) or fragment (#)")
    return href


def _host(value: Any) -> str:
    """``server.host``: an IP address or a host name to listen on (gunicorn's bind)."""
    text = _nonempty_str(value)
    try:
        ipaddress.ip_address(text.removeprefix("[").removesuffix("]"))
        return text
    except ValueError:
        pass
    labels = text.rstrip(".").split(".")
    if len(text) > 253 or not all(
        re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?", x) for x in labels
    ):
        raise ValueError(f"{text!r} is not an IP address or a host name such as 127.0.0.1 or localhost")
    return text


def _email(value: Any) -> str:
    """An e-mail address (``county.webmaster_email``, shown to visitors as a mailto: link)."""
    text = _nonempty_str(value)
    if not re.fullmatch(r"[^@\s<>\"]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+", text):
        raise ValueError(f"{text!r} is not an e-mail address such as helpdesk@example.org")
    return text


def _county_domains(value: Any) -> tuple[str, ...]:
    # county_domain's RuleError is a ValueError that says what is wrong with the name.
    domains = _list(lambda name: county_domain(_nonempty_str(name)))(value)
    if not domains:
        raise ValueError("must name at least one domain, the County's own (such as missoulacounty.us)")
    return tuple(domains)


def _network(value: Any) -> Network:
    try:
        return ipaddress.ip_network(_nonempty_str(value), strict=False)
    except ValueError:
        raise ValueError(f"{value!r} is not a CIDR network such as 127.0.0.0/8") from None


def _timezone(value: Any) -> str:
    name = _nonempty_str(value)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file name
        raise ValueError(f"{name!r} is not a time zone name such as America/Denver") from None
    return name


def _resolve(value: Any) -> dict[str, str]:
    entries = value if isinstance(value, list | tuple) else _list(_nonempty_str)(value)
    table: dict[str, str] = {}
    for entry in entries:
        name, _, address = _nonempty_str(entry).partition("=")
        try:
            ipaddress.ip_address(address.strip())
        except ValueError:
            raise ValueError(f"{entry!r} is not name=address (for example site.test=127.0.0.1)") from None
        table[name.strip().lower().rstrip(".")] = address.strip()
    return table


def _header_name(value: Any) -> str:
    text = _str(value).strip()
    if text and not re.fullmatch(r"[A-Za-z0-9-]+", text):
        raise ValueError(f"{text!r} is not an HTTP header name such as X-Remote-User")
    return text


def _sha256_hex(value: Any) -> str:
    text = _nonempty_str(value).lower()
    if not re.fullmatch(r"[0-9a-f]{64}", text):
        raise ValueError(
            "each entry is the SHA-256 of a token: 64 hexadecimal characters (see linkgate api-token)"
        )
    return text


def _log_format(value: Any) -> str:
    text = _nonempty_str(value)
    if text not in ("text", "json"):
        raise ValueError("must be text or json")
    return text


def _archive_url(value: Any) -> str:
    """``archive.url``: empty (no archived copies), or the http(s) address of a web archive's endpoint."""
    text = _str(value).strip()
    return _http_url(text) if text else ""


def _archive_kind(value: Any) -> str:
    text = _nonempty_str(value)
    if text not in ("auto", "memento", "availability"):
        raise ValueError("must be auto, memento or availability")
    return text


def _action(value: Any) -> str:
    text = _nonempty_str(value)
    if text not in ACTIONS:
        raise ValueError(f"must be one of {', '.join(ACTIONS)}")
    return text


DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_DURATION = timedelta(days=3650)
_DURATION = re.compile(r"([0-9]{1,9})([smhd]?)")


def parse_duration(text: str) -> timedelta:
    """A span of time as a person writes it on a command line: a whole number and a unit, ``90s``, ``30m``,
    ``12h`` or ``2d`` (``0`` needs none), at most ten years; ValueError saying how to write it otherwise."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None or (not match[2] and int(match[1]) != 0):
        raise ValueError(
            f"{text!r} is not a duration: write a whole number and a unit, s, m, h or d (such as 30m, 12h "
            f"or 2d), or 0"
        )
    span = timedelta(seconds=int(match[1]) * DURATION_UNITS[match[2] or "s"])
    if span > MAX_DURATION:
        raise ValueError(f"{text!r} is longer than {MAX_DURATION.days} days")
    return span


KEYS: dict[tuple[str, str], tuple[str, Parser]] = {
    ("", "secret_key"): ("secret_key", _nonempty_str),
    ("", "previous_secret_keys"): ("previous_secret_keys", _list(_nonempty_str)),
    ("", "demo"): ("demo", _bool),
    ("county", "name"): ("county_name", _nonempty_str),
    ("county", "domains"): ("county_domains", _county_domains),
    ("county", "home_url"): ("county_home_url", _http_url),
    ("county", "privacy_url"): ("county_privacy_url", _http_url),
    ("county", "webmaster_email"): ("webmaster_email", _email),
    ("county", "webmaster_url"): ("webmaster_url", _http_url),
    ("county", "timezone"): ("timezone", _timezone),
    ("notice", "disclaimer"): ("notice_disclaimer", _bool),
    ("database", "url"): ("database_url", _database_url),
    ("fetch", "allow_networks"): ("allow_networks", _list(_network)),
    ("fetch", "resolve"): ("resolve", _resolve),
    ("fetch", "system_resolver"): ("use_system_resolver", _bool),
    ("fetch", "allowed_ports"): ("allowed_ports", _list(_int(1, 65535))),
    ("fetch", "privacy_wait_ms"): ("privacy_wait_ms", _int(0, 10_000)),
    ("fetch", "workers"): ("fetch_workers", _int(1, 64)),
    ("fetch", "queue"): ("lookup_queue", _int(0, 10_000)),
    ("fetch", "per_domain"): ("lookups_per_domain", _int(1, 64)),
    ("fetch", "lookup_seconds"): ("lookup_seconds", _float(1, 300)),
    ("fetch", "lookup_requests"): ("lookup_requests", _int(1, 30)),
    ("cache", "found_ttl"): ("found_ttl", _int(1, 365 * 24 * 3600)),
    ("cache", "not_found_ttl"): ("not_found_ttl", _int(1, 365 * 24 * 3600)),
    ("cache", "error_ttl"): ("error_ttl", _int(1, 365 * 24 * 3600)),
    ("cache", "max_sites"): ("max_sites", _int(1, 100_000_000)),
    ("cache", "memory_seconds"): ("memory_seconds", _float(0, 300)),
    ("audit", "kept_results"): ("audit_kept_results", _int(100, 100_000_000)),
    ("server", "public_url"): ("public_url", _gate_url),
    ("server", "host"): ("host", _host),
    ("server", "port"): ("port", _int(1, 65535)),
    ("server", "workers"): ("workers", _int(1, 64)),
    ("server", "threads"): ("threads", _int(1, 256)),
    ("server", "max_url_length"): ("max_url_length", _int(64, 65_536)),
    ("server", "rules_refresh_seconds"): ("rules_refresh_seconds", _float(0.1, 60)),
    ("server", "counts_flush_seconds"): ("counts_flush_seconds", _float(0.1, 300)),
    ("server", "counts_max_keys"): ("counts_max_keys", _int(100, 10_000_000)),
    ("server", "counts_max_domains_per_day"): ("counts_max_domains_per_day", _int(10, 1_000_000)),
    ("server", "log_format"): ("log_format", _log_format),
    ("admin", "idle_minutes"): ("admin_idle_minutes", _float(0.01, 24 * 60)),
    ("admin", "session_max_hours"): ("admin_session_max_hours", _float(0.01, 31 * 24)),
    ("admin", "trusted_header"): ("admin_trusted_header", _header_name),
    ("admin", "trusted_proxies"): ("admin_trusted_proxies", _list(_network)),
    ("admin", "api_tokens"): ("api_token_hashes", _list(_sha256_hex)),
    ("admin", "login_slow_after"): ("login_slow_after", _int(1, 1000)),
    ("admin", "login_lock_after"): ("login_lock_after", _int(1, 1000)),
    ("admin", "login_lock_minutes"): ("login_lock_minutes", _float(0.01, 7 * 24 * 60)),
    ("metrics", "allow_networks"): ("metrics_allow_networks", _list(_network)),
    ("feeds", "max_bytes"): ("feeds_max_bytes", _int(1_000, 1_000_000_000)),
    ("feeds", "max_names"): ("feeds_max_names", _int(1, 50_000_000)),
    ("feeds", "fetch_seconds"): ("feeds_fetch_seconds", _float(1, 3600)),
    ("feeds", "refresh_hours"): ("feeds_refresh_hours", _float(0.1, 24 * 31)),
    ("reports", "per_client_per_hour"): ("reports_per_client_per_hour", _int(1, 10_000)),
    ("reports", "per_hour"): ("reports_per_hour", _int(1, 1_000_000)),
    ("reports", "max_destinations_per_day"): ("reports_max_destinations_per_day", _int(10, 1_000_000)),
    ("reports", "keep_days"): ("reports_keep_days", _int(1, 3660)),
    ("reports", "address_header"): ("reports_address_header", _header_name),
    ("reports", "trusted_proxies"): ("reports_trusted_proxies", _list(_network)),
    ("archive", "url"): ("archive_url", _archive_url),
    ("archive", "kind"): ("archive_kind", _archive_kind),
    ("archive", "found_ttl"): ("archive_found_ttl", _int(60, 365 * 24 * 3600)),
    ("archive", "miss_ttl"): ("archive_miss_ttl", _int(60, 365 * 24 * 3600)),
    ("archive", "max_entries"): ("archive_max_entries", _int(100, 10_000_000)),
}
KEYS.update({("actions", category): (f"action:{category}", _action) for category in CATEGORIES})


# The LINKGATE_* variables that are not settings: linkgate's own, and the deploy kit's (deploy/linkgate-backup
# runs linkgate with them set); LINKGATE_TEST_* belong to the test suite. Any other is reported.
OTHER_VARIABLES = ("LINKGATE_CONFIG", "LINKGATE_INSTANCE", "LINKGATE_BACKUP_KEEP", "LINKGATE_BIN")


def _env_name(section: str, key: str) -> str:
    return "LINKGATE_" + (f"{section}_{key}" if section else key).upper()


def load_settings(
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    create: bool = True,
) -> Settings:
    """Read the TOML file and the environment; raise :class:`ConfigError` listing every bad key.

    ``overrides`` maps ``"section.key"`` (or ``"key"`` for top-level keys) to values, for tests and
    command-line flags; it wins over both file and environment. With ``create`` off (``linkgate config
    check``) nothing is written: the instance folder is not made, and a secret key not stored yet is made
    up for the check and forgotten.
    """
    env = os.environ if environ is None else environ
    raw: dict[tuple[str, str], tuple[str, Any]] = {}
    problems: list[str] = []

    config_path = env.get("LINKGATE_CONFIG")
    in_file = str(Path(config_path)) if config_path else None  # where _read_toml says a value came from
    if config_path:
        _read_toml(Path(config_path), raw, problems)
    for section, key in KEYS:
        name = _env_name(section, key)
        if name in env:
            raw[(section, key)] = (f"environment variable {name}", env[name])
    known = {_env_name(section, key) for section, key in KEYS} | set(OTHER_VARIABLES)
    for name in sorted(env):
        if name.startswith("LINKGATE_") and name not in known and not name.startswith("LINKGATE_TEST_"):
            problems.append(f"environment variable {name}: unknown setting")
    for dotted, value in (overrides or {}).items():
        section, _, key = dotted.rpartition(".")
        if (section, key) not in KEYS:
            problems.append(f"{dotted}: unknown setting")
            continue
        raw[(section, key)] = (f"option {dotted}", value)

    values: dict[str, Any] = {}
    actions = dict(DEFAULT_ACTIONS)
    for (section, key), (where, value) in raw.items():
        field_name, parse = KEYS[(section, key)]
        label = f"{section}.{key}" if section else key
        try:
            parsed = parse(value)
        except ValueError as error:
            problems.append(f"{label} ({where}): {error}")
            continue
        if where == in_file and isinstance(value, str) and isinstance(parsed, tuple | Mapping):
            # In the file a list is a TOML array: "x" where a list belongs is a mistake more often than
            # a list of one (a secret key may hold a comma; commas are for environment variables).
            problems.append(f'{label} ({where}): must be a list, such as ["{value}"]')
            continue
        if field_name.startswith("action:"):
            actions[field_name.split(":", 1)[1]] = parsed
        else:
            values[field_name] = parsed
    if actions["blocked"] != "block":
        problems.append("actions.blocked: blocked destinations can only be blocked")
    if values.get("admin_trusted_header") and not values.get("admin_trusted_proxies"):
        problems.append(
            "admin.trusted_header: also set admin.trusted_proxies, the addresses of the proxies that set it"
        )
    if values.get("reports_address_header") and not values.get("reports_trusted_proxies"):
        problems.append(
            "reports.address_header: also set reports.trusted_proxies, the addresses of the proxies that "
            "set it"
        )
    if problems:
        raise ConfigError("Invalid configuration:\n  " + "\n  ".join(problems))

    instance = Path(env.get("LINKGATE_INSTANCE") or "instance").resolve()
    if create:
        try:
            instance.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ConfigError(
                f"LINKGATE_INSTANCE: cannot create the instance folder {instance}: {error}"
            ) from None
    elif instance.exists() and not instance.is_dir():
        raise ConfigError(f"LINKGATE_INSTANCE: {instance} is not a folder")
    if "secret_key" not in values:
        values["secret_key"] = _stored_secret_key(instance, create=create)
    if "database_url" not in values:
        values["database_url"] = f"sqlite:///{instance / 'linkgate.db'}"
    _sqlite_folder(values["database_url"], create=create)
    return Settings(instance_path=instance, actions=actions, **values)


def _sqlite_folder(url: str, *, create: bool) -> None:
    """A SQLite database's folder: made (``create``) or, for ``linkgate config check``, one that could be,
    so that a path that cannot be used is named with the configuration, not met as a traceback later."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or not parsed.database:
        return
    folder = Path(parsed.database).resolve().parent
    try:
        if create:
            folder.mkdir(parents=True, exist_ok=True)
            return
        existing = next(parent for parent in (folder, *folder.parents) if parent.exists())
        if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            raise PermissionError(f"{existing} is not a folder linkgate can write in")
    except OSError as error:
        raise ConfigError(
            f"database.url: cannot make the folder {folder} for the SQLite database: "
            f"{error.strerror or error}"
        ) from None


def _read_toml(path: Path, raw: dict[tuple[str, str], tuple[str, Any]], problems: list[str]) -> None:
    document = _toml_document(path)
    sections = {section for section, _key in KEYS if section}
    for name, value in document.items():
        if name in sections and not isinstance(value, dict):
            problems.append(f"{name} ({path}): is a section: write its settings under [{name}]")
        elif isinstance(value, dict):
            for key, inner in value.items():
                if (name, key) in KEYS:
                    raw[(name, key)] = (str(path), inner)
                else:
                    problems.append(f"{name}.{key} ({path}): unknown setting")
        elif ("", name) in KEYS:
            raw[("", name)] = (str(path), value)
        else:
            problems.append(f"{name} ({path}): unknown setting")


def _toml_document(path: Path) -> dict[str, Any]:
    """The configuration file as TOML, or a :class:`ConfigError` naming what is wrong with the file: a
    file that cannot be read (missing, a folder, no permission), is too large, is not UTF-8 text
    (TOML is UTF-8 only) or is not valid TOML."""
    where = f"LINKGATE_CONFIG: {path}"
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)  # at most: the path may name a device or a pipe
    except IsADirectoryError:
        raise ConfigError(f"{where} is a folder; name the configuration file in it") from None
    except OSError as error:
        raise ConfigError(f"LINKGATE_CONFIG: cannot read {path}: {error.strerror or error}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{where} is larger than {MAX_CONFIG_BYTES:,} bytes: it is not a configuration file"
        )
    if data.startswith(b"\xef\xbb\xbf"):
        raise ConfigError(
            f"{where} starts with a byte-order mark, which TOML does not allow: save it as UTF-8 without BOM"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise ConfigError(
            f"{where} is not UTF-8 text (byte {data[error.start]:#04x} on line {line}); TOML files are "
            f"UTF-8: save it as UTF-8"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{where} is not valid TOML: {error}") from None
    except ValueError:  # tomllib's int() of a number of more than 4,300 digits
        raise ConfigError(f"{where} is not valid TOML: a number in it is too long") from None
    except RecursionError:
        raise ConfigError(f"{where} is not valid TOML: its arrays or tables nest too deeply") from None


def _stored_secret_key(instance: Path, *, create: bool = True) -> str:
    """The instance's secret key, generated (256 bits, file mode 0600) on first run."""
    path = instance / "secret_key"
    try:
        return _read_secret_key(path)
    except FileNotFoundError:
        pass
    key = secrets.token_urlsafe(32)
    if not create:
        return key
    # Written whole under a name of its own, then linked into place: servers starting at once never read
    # a key file another has created but not yet written (it was read as empty, a configuration error).
    draft = instance / f".secret_key.{os.getpid()}.{secrets.token_hex(4)}"
    try:
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(key + "\n")
        os.link(draft, path)
    except FileExistsError:
        return _read_secret_key(path)  # another process stored its key first: everyone uses that one
    except OSError as error:
        raise ConfigError(f"secret_key: cannot store a new key in {path}: {error.strerror}") from None
    finally:
        draft.unlink(missing_ok=True)
    return key


def _read_secret_key(path: Path) -> str:
    """The key stored at ``path`` (FileNotFoundError when there is none); a key that cannot be read is a
    configuration error, named, rather than a traceback."""
    try:
        key = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise
    except OSError as error:
        raise ConfigError(f"secret_key: cannot read {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"secret_key: {path} is not a key (it is not plain ASCII text)") from None
    if not key:
        raise ConfigError(f"secret_key: {path} is empty (remove it and a new key is made)")
    return key


# The settings ``deploy/gunicorn.conf.py`` last read successfully, in gunicorn's master (its workers
# inherit them): ``create_app()`` without arguments builds on them (see linkgate/serving.py).
_running: dict[str, Settings] = {}


def keep_running_settings(settings: Settings) -> None:
    """Remember ``settings`` as the ones the server's master runs on (``deploy/gunicorn.conf.py``)."""
    _running["settings"] = settings


def running_settings() -> Settings | None:
    """The settings ``deploy/gunicorn.conf.py`` last read in this process's master (None elsewhere)."""
    return _running.get("settings")


def exposed_secrets(settings: Settings, environ: Mapping[str, str] | None = None) -> list[str]:
    """Files holding a secret that every account on the machine can read (``linkgate config check`` warns
    of each): the configuration file when it holds ``secret_key``, ``previous_secret_keys``,
    ``admin.api_tokens`` or a database password, the stored secret key, and the SQLite database (the
    console's password hashes)."""
    env = os.environ if environ is None else environ
    found: list[tuple[Path, str]] = []
    config_path = env.get("LINKGATE_CONFIG")
    if config_path:
        try:
            document = tomllib.loads(Path(config_path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            document = {}
        named: list[str] = [key for key in ("secret_key", "previous_secret_keys") if key in document]
        if "api_tokens" in document.get("admin", {}):
            named.append("admin.api_tokens")
        url = document.get("database", {}).get("url")
        if isinstance(url, str) and _url_password(url):
            named.append("a database password")
        if named:
            found.append((Path(config_path), " and ".join(named)))
    found.append((settings.instance_path / "secret_key", "the secret key"))
    if settings.database_url.startswith("sqlite"):
        from sqlalchemy.engine import make_url

        database = Path(make_url(settings.database_url).database or "")
        found.append((database, "the database (console accounts, rules, counts)"))
    warnings = []
    for path, what in found:
        try:
            mode = path.stat().st_mode
        except OSError:
            continue
        if mode & 0o004:
            warnings.append(
                f"{path} holds {what} and every account on this machine can read it: "
                "make it mode 0640 (owner root, group linkgate) or 0600"
            )
    return warnings


def _url_password(url: str) -> bool:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return bool(make_url(url).password)
    except (ArgumentError, ValueError):  # a URL that does not parse is named by the check's validation
        return False
