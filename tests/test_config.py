"""Settings: defaults, TOML file, LINKGATE_* environment, validation and the generated secret key."""

from __future__ import annotations

import ipaddress
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from linkgate.cli import main
from linkgate.config import DEFAULT_ACTIONS, Settings, load_settings
from linkgate.errors import ConfigError


@pytest.fixture
def instance(tmp_path: Path) -> Path:
    return tmp_path / "instance"


def load(
    instance: Path, toml: str | None = None, environ: dict[str, str] | None = None, **overrides: Any
) -> Settings:
    env = {"LINKGATE_INSTANCE": str(instance)}
    if toml is not None:
        config = instance.parent / "linkgate.toml"
        config.write_text(toml, encoding="utf-8")
        env["LINKGATE_CONFIG"] = str(config)
    env.update(environ or {})
    return load_settings(
        environ=env, overrides={key.replace("__", "."): value for key, value in overrides.items()}
    )


def config_error(
    instance: Path, toml: str | None = None, environ: dict[str, str] | None = None, **overrides: Any
) -> str:
    with pytest.raises(ConfigError) as caught:
        load(instance, toml, environ, **overrides)
    return str(caught.value)


def test_defaults(instance: Path) -> None:
    settings = load(instance)
    assert settings.instance_path == instance.resolve()
    assert settings.county_name == "Missoula County"
    assert settings.county_domains == ("missoulacounty.us", "co.missoula.mt.us")
    assert settings.county_home_url == "https://www.missoulacounty.us/"
    assert settings.timezone == "America/Denver"
    assert settings.database_url == f"sqlite:///{instance.resolve() / 'linkgate.db'}"
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.max_url_length == 4096
    assert dict(settings.actions) == DEFAULT_ACTIONS
    assert settings.action_for("county") == "redirect"
    assert settings.action_for("external") == "notice"
    assert settings.action_for("blocked") == "block"
    assert settings.previous_secret_keys == ()
    assert settings.demo is False


def test_toml_file_sets_top_level_and_section_keys(instance: Path) -> None:
    settings = load(
        instance,
        """
secret_key = "from-the-file"
previous_secret_keys = ["old-1", "old-2"]
demo = true

[county]
name = "Test County"
domains = ["Example.ORG.", "county.example"]
home_url = "https://example.org/"
timezone = "America/Chicago"

[database]
url = "postgresql://db.example/linkgate"

[fetch]
allow_networks = ["127.0.0.0/8", "::1"]
allowed_ports = [80, 443, 8443]

[server]
port = 9000
rules_refresh_seconds = 0.5

[actions]
government = "redirect"
external = "block"
""",
    )
    assert settings.secret_key == "from-the-file"
    assert settings.previous_secret_keys == ("old-1", "old-2")
    assert settings.demo is True
    assert settings.county_name == "Test County"
    assert settings.county_domains == ("example.org", "county.example")
    assert settings.timezone == "America/Chicago"
    assert settings.database_url == "postgresql://db.example/linkgate"
    assert settings.allow_networks == (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
    assert settings.allowed_ports == (80, 443, 8443)
    assert (settings.port, settings.rules_refresh_seconds) == (9000, 0.5)
    assert settings.action_for("government") == "redirect"
    assert settings.action_for("external") == "block"
    assert settings.action_for("partner") == "redirect"


@pytest.mark.parametrize(
    ("name", "value", "field", "expected"),
    [
        ("LINKGATE_DATABASE_URL", "postgresql://db/linkgate", "database_url", "postgresql://db/linkgate"),
        ("LINKGATE_SERVER_PORT", "8081", "port", 8081),
        ("LINKGATE_SERVER_HOST", "0.0.0.0", "host", "0.0.0.0"),
        ("LINKGATE_SECRET_KEY", "from-the-environment", "secret_key", "from-the-environment"),
        ("LINKGATE_PREVIOUS_SECRET_KEYS", "old-1, old-2,", "previous_secret_keys", ("old-1", "old-2")),
        ("LINKGATE_COUNTY_DOMAINS", "a.example, B.example.", "county_domains", ("a.example", "b.example")),
        ("LINKGATE_FETCH_ALLOWED_PORTS", "80,8080", "allowed_ports", (80, 8080)),
        ("LINKGATE_SERVER_RULES_REFRESH_SECONDS", "1.5", "rules_refresh_seconds", 1.5),
        ("LINKGATE_DEMO", "yes", "demo", True),
        ("LINKGATE_DEMO", "off", "demo", False),
        ("LINKGATE_COUNTY_TIMEZONE", "UTC", "timezone", "UTC"),
    ],
)
def test_environment_variable_sets_a_key(
    instance: Path, name: str, value: str, field: str, expected: Any
) -> None:
    assert getattr(load(instance, environ={name: value}), field) == expected


def test_environment_action_override(instance: Path) -> None:
    settings = load(instance, environ={"LINKGATE_ACTIONS_GOVERNMENT": "redirect"})
    assert settings.action_for("government") == "redirect"


def test_precedence_is_overrides_then_environment_then_file(instance: Path) -> None:
    toml = "[server]\nport = 9000\nworkers = 3\nthreads = 5\n"
    settings = load(
        instance, toml, {"LINKGATE_SERVER_PORT": "9001", "LINKGATE_SERVER_WORKERS": "4"}, server__port=9002
    )
    assert (settings.port, settings.workers, settings.threads) == (9002, 4, 5)


def test_settings_are_frozen(instance: Path) -> None:
    settings = load(instance)
    with pytest.raises(AttributeError):
        settings.port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("toml", "environ", "overrides", "label"),
    [
        ("[server]\nport = 0\n", {}, {}, "server.port"),
        ("[server]\nport = 70000\n", {}, {}, "server.port"),
        ("[server]\nport = true\n", {}, {}, "server.port"),
        ("", {"LINKGATE_SERVER_PORT": "eighty"}, {}, "server.port"),
        ("[server]\nworkers = 0\n", {}, {}, "server.workers"),
        ("[server]\nmax_url_length = 10\n", {}, {}, "server.max_url_length"),
        ("[server]\nrules_refresh_seconds = 0\n", {}, {}, "server.rules_refresh_seconds"),
        ('[server]\nrules_refresh_seconds = "soon"\n', {}, {}, "server.rules_refresh_seconds"),
        ("[server]\nrules_refresh_seconds = true\n", {}, {}, "server.rules_refresh_seconds"),
        ("[server]\ncounts_flush_seconds = nan\n", {}, {}, "server.counts_flush_seconds"),
        ('[server]\npublic_url = "gate.example"\n', {}, {}, "server.public_url"),
        ('[server]\npublic_url = "https://user@gate.example/links"\n', {}, {}, "server.public_url"),
        ('[server]\npublic_url = "https://gate.example/links?x=1"\n', {}, {}, "server.public_url"),
        ('[server]\npublic_url = "https://gate.example/links#go"\n', {}, {}, "server.public_url"),
        ('[county]\nhome_url = "javascript:alert(1)"\n', {}, {}, "county.home_url"),
        ('[county]\nhome_url = "ftp://example.org/"\n', {}, {}, "county.home_url"),
        ('[county]\ndomains = "https://missoulacounty.us/"\n', {}, {}, "county.domains"),
        ('[county]\ndomains = [""]\n', {}, {}, "county.domains"),
        ("[county]\ndomains = 7\n", {}, {}, "county.domains"),
        ('[county]\nname = "  "\n', {}, {}, "county.name"),
        ('[fetch]\nallow_networks = ["not a network"]\n', {}, {}, "fetch.allow_networks"),
        ("[fetch]\nallowed_ports = [80, 0]\n", {}, {}, "fetch.allowed_ports"),
        ('[actions]\nexternal = "explode"\n', {}, {}, "actions.external"),
        ('demo = "maybe"\n', {}, {}, "demo"),
        ("secret_key = 42\n", {}, {}, "secret_key"),
        ("", {"LINKGATE_SECRET_KEY": ""}, {}, "secret_key"),
        ("", {}, {"server.threads": 0}, "server.threads"),
        ('[database]\nurl = "postgresq://linkgate@db/linkgate"\n', {}, {}, "database.url"),
        ('[database]\nurl = "mysql://linkgate@db/linkgate"\n', {}, {}, "database.url"),
        ('[database]\nurl = "sqlite://"\n', {}, {}, "database.url"),
        ("", {"LINKGATE_DATABASE_URL": "sqlite:///:memory:"}, {}, "database.url"),
        ('[database]\nurl = "linkgate.db"\n', {}, {}, "database.url"),
        ("[server]\nport = inf\n", {}, {}, "server.port"),
        ("[fetch]\nworkers = -inf\n", {}, {}, "fetch.workers"),
        ("[server]\ncounts_flush_seconds = 1" + "0" * 400 + "\n", {}, {}, "server.counts_flush_seconds"),
        (
            "",
            {"LINKGATE_COUNTY_WEBMASTER_EMAIL": "web\udcffmaster@example.org"},
            {},
            "county.webmaster_email",
        ),
        ("", {"LINKGATE_COUNTY_TIMEZONE": "America/" + "x" * 300}, {}, "county.timezone"),
        ("[server]\nport = 8000.5\n", {}, {}, "server.port"),
        ('[server]\nhost = "not an address!!"\n', {}, {}, "server.host"),
        ("", {"LINKGATE_SERVER_HOST": "-bad-.example"}, {}, "server.host"),
        ('previous_secret_keys = "x"\n', {}, {}, "previous_secret_keys"),
        ('[county]\nwebmaster_email = "not-an-email"\n', {}, {}, "county.webmaster_email"),
        ('[county]\nwebmaster_email = "a@b"\n', {}, {}, "county.webmaster_email"),
    ],
)
def test_bad_value_is_reported_by_key(
    instance: Path, toml: str, environ: dict[str, str], overrides: dict[str, Any], label: str
) -> None:
    message = config_error(
        instance, toml, environ, **{key.replace(".", "__"): v for key, v in overrides.items()}
    )
    assert f"\n  {label} (" in message


def test_every_bad_key_is_reported_together(instance: Path) -> None:
    toml = """
[server]
port = 0
workers = "many"

[county]
timezone = "Mars/Olympus_Mons"
home_url = "missoulacounty.us"

[actions]
county = "teleport"
"""
    message = config_error(
        instance,
        toml,
        {"LINKGATE_FETCH_PRIVACY_WAIT_MS": "-1", "LINKGATE_DEMO": "perhaps"},
        cache__error_ttl=-5,
    )
    assert message.startswith("Invalid configuration:")
    for label, where in [
        ("server.port", "linkgate.toml"),
        ("server.workers", "linkgate.toml"),
        ("county.timezone", "linkgate.toml"),
        ("county.home_url", "linkgate.toml"),
        ("actions.county", "linkgate.toml"),
        ("fetch.privacy_wait_ms", "environment variable LINKGATE_FETCH_PRIVACY_WAIT_MS"),
        ("demo", "environment variable LINKGATE_DEMO"),
        ("cache.error_ttl", "option cache.error_ttl"),
    ]:
        line = next((line for line in message.splitlines() if line.strip().startswith(label + " (")), None)
        assert line is not None, f"{label} missing from: {message}"
        assert where in line
    assert len(message.splitlines()) == 1 + 8


@pytest.mark.parametrize(
    ("toml", "overrides", "label"),
    [
        ('colour = "blue"\n', {}, "colour"),
        ("[server]\nprot = 8000\n", {}, "server.prot"),
        ('[county]\nsecret_key = "x"\n', {}, "county.secret_key"),
        ("[nonsense]\nkey = 1\n", {}, "nonsense.key"),
        ("", {"server.prot": 1}, "server.prot"),
        ("", {"port": 1}, "port"),
    ],
)
def test_unknown_key_is_reported(instance: Path, toml: str, overrides: dict[str, Any], label: str) -> None:
    message = config_error(
        instance, toml, None, **{key.replace(".", "__"): v for key, v in overrides.items()}
    )
    assert f"\n  {label} (" in message or f"\n  {label}: unknown setting" in message
    assert "unknown setting" in message


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "[::1]", "localhost", "links-1.co.missoula.mt.us"])
def test_server_host_takes_an_address_or_a_host_name(instance: Path, host: str) -> None:
    assert load(instance, environ={"LINKGATE_SERVER_HOST": host}).host == host


def test_a_list_is_an_array_in_the_file_and_comma_separated_in_the_environment(instance: Path) -> None:
    settings = load(
        instance, 'previous_secret_keys = ["old,one"]\n', {"LINKGATE_FETCH_ALLOWED_PORTS": "80, 8443"}
    )
    assert settings.previous_secret_keys == ("old,one",)
    assert settings.allowed_ports == (80, 8443)
    assert "must be a list, such as [" in config_error(
        instance, '[county]\ndomains = "a.example, b.example"\n'
    )


def test_an_unknown_linkgate_variable_is_reported_like_an_unknown_key(instance: Path) -> None:
    message = config_error(instance, environ={"LINKGATE_SERVER_PROT": "8000"})
    assert "\n  environment variable LINKGATE_SERVER_PROT: unknown setting" in message
    # The test suite's own variables are not settings and are left alone.
    assert load(instance, environ={"LINKGATE_TEST_DATABASE": "sqlite"}).port == 8000


def test_a_section_written_as_a_value_says_it_is_a_section(instance: Path) -> None:
    message = config_error(instance, "server = 5\n")
    assert "server (" in message and "is a section: write its settings under [server]" in message
    assert "unknown setting" not in message


def test_a_sqlite_folder_that_cannot_be_made_is_a_named_error(instance: Path, tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'a-file' / 'db' / 'linkgate.db'}"
    for create in (True, False):
        with pytest.raises(ConfigError, match=r"^database\.url: cannot make the folder .*a-file/db"):
            load_settings(
                environ={"LINKGATE_INSTANCE": str(instance), "LINKGATE_DATABASE_URL": url}, create=create
            )


def test_unknown_and_bad_keys_are_reported_together(instance: Path) -> None:
    message = config_error(instance, 'colour = "blue"\n[server]\nport = -1\n')
    assert "colour" in message and "server.port" in message


@pytest.mark.parametrize("toml", ["[server\nport = 1\n", "port = \n", "[server]\nport = 1\nport = 2\n"])
def test_invalid_toml_is_reported(instance: Path, toml: str) -> None:
    message = config_error(instance, toml)
    assert "LINKGATE_CONFIG" in message and "not valid TOML" in message


@pytest.mark.parametrize(
    ("content", "named"),
    [
        (
            '[county]\nname = "Comt\xe9 de Missoula"\n'.encode("latin-1"),
            "is not UTF-8 text (byte 0xe9 on line 2)",
        ),
        ('[county]\nname = "Missoula County"\n'.encode("utf-16"), "is not UTF-8 text (byte 0xff on line 1)"),
        (b"\xef\xbb\xbf[server]\nport = 8000\n", "starts with a byte-order mark"),
        (b"# a comment\n" * 100_000, "is larger than 1,000,000 bytes"),
        (b"[server]\nport = " + b"[" * 2000 + b"]" * 2000 + b"\n", "nest too deeply"),
        (b"[server]\nport = " + b"9" * 5000 + b"\n", "a number in it is too long"),
    ],
)
def test_a_configuration_file_that_does_not_read_as_toml_is_a_named_error(
    instance: Path, content: bytes, named: str
) -> None:
    config = instance.parent / "linkgate.toml"
    config.write_bytes(content)
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"LINKGATE_INSTANCE": str(instance), "LINKGATE_CONFIG": str(config)})
    assert str(caught.value).startswith(f"LINKGATE_CONFIG: {config} ")
    assert named in str(caught.value)


def test_a_configuration_path_that_is_a_folder_says_so(instance: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a folder; name the configuration file in it"):
        load_settings(environ={"LINKGATE_INSTANCE": str(instance), "LINKGATE_CONFIG": str(tmp_path)})


@pytest.mark.parametrize(
    "name",
    ["com", "co.uk", "mt.us", "github.io", "localhost", "internal", "127.0.0.1", "*.missoulacounty.us", "*"],
)
def test_a_county_domain_must_be_a_registrable_domain_or_a_host_under_one(instance: Path, name: str) -> None:
    """Every host under a County domain is redirected without the notice: "com" made the gate an open
    redirect to every .com address."""
    from_file = config_error(instance, f'[county]\ndomains = ["missoulacounty.us", "{name}"]\n')
    assert "\n  county.domains (" in from_file and "County domain" in from_file
    from_environment = config_error(
        instance, environ={"LINKGATE_COUNTY_DOMAINS": f"missoulacounty.us,{name}"}
    )
    assert "county.domains (environment variable LINKGATE_COUNTY_DOMAINS)" in from_environment


def test_county_domains_cannot_be_empty(instance: Path) -> None:
    assert "at least one domain" in config_error(instance, "[county]\ndomains = []\n")
    assert "at least one domain" in config_error(instance, environ={"LINKGATE_COUNTY_DOMAINS": " , "})


@pytest.mark.parametrize(
    ("content", "environ", "named"),
    [
        ('[county]\nname = "Comt\xe9 de Missoula"\n'.encode("latin-1"), {}, "is not UTF-8 text"),
        (b'[county]\ndomains = ["com"]\n', {}, "county.domains ("),
        (
            b"",
            {"LINKGATE_COUNTY_DOMAINS": "com"},
            "county.domains (environment variable LINKGATE_COUNTY_DOMAINS)",
        ),
    ],
)
def test_config_check_exits_2_naming_a_file_or_county_domain_it_cannot_use(
    tmp_path: Path, content: bytes, environ: dict[str, str], named: str
) -> None:
    config = tmp_path / "linkgate.toml"
    config.write_bytes(content)
    env: dict[str, str | None] = {name: None for name in os.environ if name.startswith("LINKGATE_")}
    env |= {"LINKGATE_CONFIG": str(config), "LINKGATE_INSTANCE": str(tmp_path / "instance"), **environ}
    result = CliRunner().invoke(main, ["config", "check"], env=env)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("linkgate: error: ") and named in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_the_app_factory_refuses_a_file_or_county_domain_config_check_refuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from linkgate.web import create_app

    for name in [name for name in os.environ if name.startswith("LINKGATE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("LINKGATE_INSTANCE", str(tmp_path / "instance"))
    with pytest.raises(ConfigError, match=r"county\.domains \(option county\.domains\): \"com\" is a public"):
        create_app(county__domains=["missoulacounty.us", "com"])
    monkeypatch.setenv("LINKGATE_COUNTY_DOMAINS", "localhost")
    with pytest.raises(
        ConfigError, match=r"county\.domains \(environment variable LINKGATE_COUNTY_DOMAINS\)"
    ):
        create_app()
    monkeypatch.delenv("LINKGATE_COUNTY_DOMAINS")
    config = tmp_path / "linkgate.toml"
    config.write_bytes('[county]\nname = "Comt\xe9"\n'.encode("latin-1"))
    monkeypatch.setenv("LINKGATE_CONFIG", str(config))
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        create_app()


def test_missing_config_file_is_reported(instance: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match="LINKGATE_CONFIG: cannot read"):
        load_settings(environ={"LINKGATE_INSTANCE": str(instance), "LINKGATE_CONFIG": str(missing)})


def test_generated_secret_key_is_stored_privately_and_reused(instance: Path) -> None:
    first = load(instance)
    key_file = instance / "secret_key"
    assert key_file.exists()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_text(encoding="ascii").strip() == first.secret_key
    assert len(first.secret_key) >= 43  # 256 bits, URL-safe base64
    assert load(instance).secret_key == first.secret_key


def test_instance_folders_get_different_secret_keys(tmp_path: Path) -> None:
    assert load(tmp_path / "one").secret_key != load(tmp_path / "two").secret_key


def test_configured_secret_key_is_used_and_nothing_is_written(instance: Path) -> None:
    settings = load(instance, environ={"LINKGATE_SECRET_KEY": "configured"})
    assert settings.secret_key == "configured"
    assert not (instance / "secret_key").exists()


def test_instance_folder_is_created(tmp_path: Path) -> None:
    nested = tmp_path / "a" / "b" / "instance"
    assert load(nested).instance_path == nested.resolve()
    assert nested.is_dir()


@pytest.mark.parametrize(
    ("toml", "environ", "overrides"),
    [
        ('[actions]\nblocked = "notice"\n', {}, {}),
        ('[actions]\nblocked = "redirect"\n', {}, {}),
        ("", {"LINKGATE_ACTIONS_BLOCKED": "redirect"}, {}),
        ("", {}, {"actions__blocked": "notice"}),
    ],
)
def test_blocked_action_cannot_change(
    instance: Path, toml: str, environ: dict[str, str], overrides: dict[str, Any]
) -> None:
    assert "actions.blocked" in config_error(instance, toml, environ, **overrides)


def test_blocked_action_may_be_stated_as_block(instance: Path) -> None:
    assert load(instance, '[actions]\nblocked = "block"\n').action_for("blocked") == "block"


@pytest.mark.parametrize(
    "timezone", ["America/Denver", "UTC", "Europe/London", "America/Argentina/Buenos_Aires"]
)
def test_valid_timezone_is_accepted(instance: Path, timezone: str) -> None:
    assert load(instance, environ={"LINKGATE_COUNTY_TIMEZONE": timezone}).timezone == timezone


@pytest.mark.parametrize(
    "timezone", ["Mars/Olympus_Mons", "Mountain Time", "", "../../etc/passwd", "/etc/localtime", "America/"]
)
def test_invalid_timezone_is_reported(instance: Path, timezone: str) -> None:
    message = config_error(instance, environ={"LINKGATE_COUNTY_TIMEZONE": timezone})
    assert "county.timezone (environment variable LINKGATE_COUNTY_TIMEZONE)" in message


@pytest.mark.parametrize("url", ["https://", "https:// /", "http://exa mple.org/"])
def test_url_setting_without_a_valid_host_is_reported(instance: Path, url: str) -> None:
    assert "county.home_url" in config_error(instance, environ={"LINKGATE_COUNTY_HOME_URL": url})


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///instance/linkgate.db",
        "sqlite+pysqlite:////var/lib/linkgate/linkgate.db",
        "postgresql://linkgate@10.20.0.20:5432/linkgate",
        "postgres://linkgate@db/linkgate",
        "postgresql+psycopg://linkgate:secret@db/linkgate?sslmode=require",
    ],
)
def test_database_urls_linkgate_can_open_are_accepted(instance: Path, url: str) -> None:
    assert load(instance, environ={"LINKGATE_DATABASE_URL": url}).database_url == url


def test_a_bad_database_url_is_named_without_its_password(instance: Path) -> None:
    message = config_error(instance, environ={"LINKGATE_DATABASE_URL": "postgresq://linkgate:hunter2@db/x"})
    assert "database.url (environment variable LINKGATE_DATABASE_URL)" in message
    assert "hunter2" not in message


def test_a_stored_secret_key_that_cannot_be_read_is_a_named_error(instance: Path) -> None:
    instance.mkdir()
    (instance / "secret_key").write_bytes(b"\xff\xfe not ascii")
    assert "secret_key" in config_error(instance) and "not plain ASCII" in config_error(instance)
    (instance / "secret_key").write_text("\n", encoding="ascii")
    assert "is empty" in config_error(instance)
    (instance / "secret_key").unlink()
    (instance / "secret_key").mkdir()  # not a file: cannot be read
    assert "secret_key: cannot read" in config_error(instance)


def test_checking_without_create_writes_nothing(instance: Path) -> None:
    settings = load_settings({"LINKGATE_INSTANCE": str(instance)}, create=False)
    assert not instance.exists()
    assert len(settings.secret_key) >= 40  # made up for the check, not stored
    made = load_settings({"LINKGATE_INSTANCE": str(instance)})
    assert (instance / "secret_key").is_file()
    again = load_settings({"LINKGATE_INSTANCE": str(instance)}, create=False)
    assert again.secret_key == made.secret_key  # an existing key is read
    (instance / "secret_key").unlink()
    instance.rmdir()
    instance.write_text("not a folder", encoding="utf-8")
    with pytest.raises(ConfigError, match="is not a folder"):
        load_settings({"LINKGATE_INSTANCE": str(instance)}, create=False)


def test_servers_starting_at_once_on_a_new_instance_all_read_one_whole_key(tmp_path: Path) -> None:
    """Each start makes the key if there is none; the one stored first wins, and nobody reads a key file
    that is still being written (it was read as empty: a configuration error for one server in five)."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    for attempt in range(20):
        instance = tmp_path / f"instance{attempt}"
        instance.mkdir()
        barrier = Barrier(8)

        def start(_: int, instance: Path = instance, barrier: Barrier = barrier) -> str:
            barrier.wait()
            return load_settings({"LINKGATE_INSTANCE": str(instance)}).secret_key

        with ThreadPoolExecutor(max_workers=8) as pool:
            keys = set(pool.map(start, range(8)))
        assert keys == {(instance / "secret_key").read_text(encoding="ascii").strip()}
        assert [path.name for path in instance.iterdir()] == ["secret_key"]  # no draft left behind
