"""The shipped nginx site (deploy/nginx/linkgate.conf), run by Debian's nginx without root in front of a real
linkgate server: it parses (``nginx -t``), passes clicks on over TLS with HSTS, caches static files, limits
sign-in attempts, keeps /metrics and browsers' single sign-on headers out, names a report's visitor, and
survives a server that is down. Only the machine-specific values are replaced here: ports, certificate,
cache and log paths, servers; scripts/deploy-single-server.sh (tests/server/test_packaging.py) runs the
file unchanged, as the guide installs it in Debian's own nginx.conf."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from linkgate.config import LOOPBACK, load_settings
from linkgate.store.schema import destination_reports
from tests.conftest import LINKGATE, ROOT, LiveServer, answers_health, free_port, unavailable, wait_for
from tests.console import ADMIN_PASSWORD, create_account
from tests.test_reports import SAME_ORIGIN, form_of, send

pytestmark = pytest.mark.server

SITE = ROOT / "deploy" / "nginx" / "linkgate.conf"
NGINX = "/usr/sbin/nginx"
PUBLIC_NAME = "links.missoulacounty.us"
COUNTY_LINK = "https://www.missoulacounty.us/parks?from=newsletter"


@dataclass
class Proxy:
    prefix: Path
    https_url: str
    http_url: str
    certificate: Path
    server: LiveServer

    def client(self, source: str | None = None) -> httpx.Client:
        """A browser reaching the gate by its public name (the catch-all server answers no other), from
        the loopback address ``source`` (127.0.0.2, ...) when given."""
        context = ssl.create_default_context(cafile=str(self.certificate))
        return httpx.Client(
            base_url=self.https_url,
            verify=context,
            transport=httpx.HTTPTransport(verify=context, local_address=source) if source else None,
            timeout=10,
            follow_redirects=False,
            headers={"Host": PUBLIC_NAME},
            event_hooks={"request": [_by_public_name]},
        )


def _by_public_name(request: httpx.Request) -> None:
    request.extensions["sni_hostname"] = PUBLIC_NAME


def nginx_binary() -> str:
    found = shutil.which("nginx") or (NGINX if Path(NGINX).exists() else None)
    if found is None:
        unavailable("Debian's nginx is not installed (scripts/install-test-deps.sh installs it)")
    return str(found)


def make_certificate(directory: Path) -> tuple[Path, Path]:
    certificate, key = directory / "site.pem", directory / "site.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-days", "2", "-subj", f"/CN={PUBLIC_NAME}",
            "-addext", f"subjectAltName=DNS:{PUBLIC_NAME},IP:127.0.0.1",
            "-keyout", str(key), "-out", str(certificate),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return certificate, key


def site_for_test(prefix: Path, certificate: Path, key: Path, ports: dict[str, int]) -> str:
    """The shipped site with this machine's values; each value replaced must be in the file."""
    text = SITE.read_text(encoding="utf-8")
    replacements = {
        "listen 80;": f"listen 127.0.0.1:{ports['http']};",
        "listen [::]:80;": "",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{ports['https']} ssl http2;",
        "listen [::]:443 ssl http2;": "",
        "listen 80 default_server;": f"listen 127.0.0.1:{ports['http']} default_server;",
        "listen [::]:80 default_server;": "",
        "listen 443 ssl default_server;": f"listen 127.0.0.1:{ports['https']} ssl default_server;",
        "listen [::]:443 ssl default_server;": "",
        "/etc/ssl/certs/links.missoulacounty.us.pem": str(certificate),
        "/etc/ssl/private/links.missoulacounty.us.key": str(key),
        "/var/cache/nginx/linkgate": str(prefix / "cache"),
        "/var/log/nginx/": f"{prefix / 'logs'}/",
        "/etc/nginx/snippets/": f"{prefix / 'snippets'}/",
        # Two servers: the first is the live one; the second is down (nothing listens there).
        "server 127.0.0.1:8000 max_fails=3 fail_timeout=10s;": (
            f"server 127.0.0.1:{ports['app']} max_fails=3 fail_timeout=10s;\n"
            f"    server 127.0.0.1:{ports['down']} max_fails=3 fail_timeout=10s;"
        ),
    }
    for old, new in replacements.items():
        assert old in text, f"{SITE.name} no longer contains {old!r}: update this test with it"
        text = text.replace(old, new)
    return text


def main_config(prefix: Path, site: Path) -> str:
    """A minimal nginx.conf around the site, every path under ``prefix``, so no root is needed."""
    temp = {name: prefix / "temp" / name for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for folder in (*temp.values(), prefix / "logs", prefix / "cache"):
        folder.mkdir(parents=True, exist_ok=True)
    # Run as root (as in CI), nginx's workers would become "nobody", who cannot enter pytest's folders.
    user = "user root;\n" if os.geteuid() == 0 else ""
    return (
        f"{user}daemon off;\nworker_processes 1;\npid {prefix / 'nginx.pid'};\n"
        f"error_log {prefix / 'logs' / 'main-error.log'} warn;\n"
        "events { worker_connections 128; }\n"
        "http {\n"
        "    include /etc/nginx/mime.types;\n"
        "    default_type application/octet-stream;\n"
        + "".join(f"    {name}_temp_path {path};\n" for name, path in temp.items())
        + f"    include {site};\n"
        "}\n"
    )


def nginx(prefix: Path, *args: str) -> list[str]:
    return [
        nginx_binary(),
        "-p", f"{prefix}/",
        "-c", str(prefix / "nginx.conf"),
        "-e", str(prefix / "logs" / "startup-error.log"),
        *args,
    ]  # fmt: skip


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    def listening() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited: {log.read_text(errors='replace') if log.exists() else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False

    wait_for(listening, timeout=15, what=f"nginx to listen on port {port}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> LiveServer:
    """The linkgate server behind nginx (not started yet), trusting X-Remote-User from loopback and a
    report's X-Real-IP from nginx, as deploy/linkgate.toml does."""
    reports = tomllib.loads((ROOT / "deploy" / "linkgate.toml").read_text(encoding="utf-8"))["reports"]
    return LiveServer(
        tmp_path_factory.mktemp("behind-nginx"),
        {
            "admin": {"trusted_header": "X-Remote-User", "trusted_proxies": ["127.0.0.1/32"]},
            "reports": reports,
        },
    )


@pytest.fixture(scope="module")
def prepared(server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    """The configuration files under a prefix of their own (nothing is started)."""
    prefix = tmp_path_factory.mktemp("nginx")
    certificate, key = make_certificate(prefix)
    ports = {"http": free_port(), "https": free_port(), "app": server.port, "down": free_port()}
    site = prefix / "linkgate.conf"
    site.write_text(site_for_test(prefix, certificate, key, ports), encoding="utf-8")
    (prefix / "nginx.conf").write_text(main_config(prefix, site), encoding="utf-8")
    return prefix, ports


@pytest.fixture(scope="module")
def proxy(prepared: tuple[Path, dict[str, int]], server: LiveServer) -> Iterator[Proxy]:
    """nginx on two high ports in front of the real linkgate server (and of a second one that is down)."""
    prefix, ports = prepared
    create_account(server, "admin", ADMIN_PASSWORD)
    server.start()
    process = subprocess.Popen(nginx(prefix), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(ports["https"], process, prefix / "logs" / "startup-error.log")
        yield Proxy(
            prefix=prefix,
            https_url=f"https://127.0.0.1:{ports['https']}",
            http_url=f"http://127.0.0.1:{ports['http']}",
            certificate=prefix / "site.pem",
            server=server,
        )
    finally:
        process.send_signal(signal.SIGQUIT)  # nginx's graceful stop
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        server.stop()


def test_shipped_site_passes_nginx_t(prepared: tuple[Path, dict[str, int]]) -> None:
    result = subprocess.run(nginx(prepared[0], "-t"), capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr and "test is successful" in result.stderr
    assert "[warn]" not in result.stderr, result.stderr


def test_clicks_pass_through_over_tls_with_hsts(proxy: Proxy) -> None:
    with proxy.client() as client:
        # Several times: nginx finds the second server down and sends every click to the live one.
        for _ in range(6):
            response = client.get("/go", params={"url": COUNTY_LINK})
            assert response.status_code == 302
            assert response.headers["location"] == COUNTY_LINK
            assert response.headers["strict-transport-security"] == "max-age=63072000; includeSubDomains"
        notice = client.get("/go", params={"url": "https://www.example.org/"})
        assert notice.status_code == 200
        assert "You are leaving Missoula County" in notice.text
        assert "strict-transport-security" in notice.headers
        assert "content-security-policy" in notice.headers  # linkgate's own headers pass through
        assert notice.headers["server"] == "nginx"  # no version, no gunicorn
        assert client.get("/healthz").json()["db"] == "ok"


def test_the_optional_snippet_keeps_the_console_from_other_networks(proxy: Proxy, tmp_path: Path) -> None:
    """deploy/nginx/linkgate-admin-networks.conf in the snippets folder: /admin only from the networks it
    lists (as shipped, this machine among them); clicks and /healthz stay open to all."""
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    (prefix / "snippets").mkdir()
    shipped = (SITE.parent / "linkgate-admin-networks.conf").read_text(encoding="utf-8")
    snippet = prefix / "snippets" / "linkgate-admin-networks.conf"
    snippet.write_text(shipped, encoding="utf-8")
    ports = {"http": free_port(), "https": free_port(), "app": proxy.server.port, "down": free_port()}
    certificate, key = proxy.certificate, proxy.prefix / "site.key"
    (prefix / "linkgate.conf").write_text(site_for_test(prefix, certificate, key, ports), encoding="utf-8")
    (prefix / "nginx.conf").write_text(main_config(prefix, prefix / "linkgate.conf"), encoding="utf-8")
    restricted = Proxy(prefix, f"https://127.0.0.1:{ports['https']}", "", certificate, proxy.server)
    loopback = ("allow 127.0.0.1;", "allow ::1;")
    assert all(line in shipped for line in loopback)
    without_this_machine = "\n".join(line for line in shipped.splitlines() if not line.startswith(loopback))
    for text, console in ((shipped, 200), (without_this_machine, 403)):  # a fresh nginx each: no reload race
        snippet.write_text(text, encoding="utf-8")
        process = subprocess.Popen(nginx(prefix), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_port(ports["https"], process, prefix / "logs" / "startup-error.log")
            with restricted.client() as client:
                assert client.get("/admin/login").status_code == console
                assert client.get("/admin/").status_code == (302 if console == 200 else 403)
                if console == 403:
                    assert client.post("/admin/login", data={"name": "x", "password": "y"}).status_code == 403
                assert client.get("/go", params={"url": COUNTY_LINK}).status_code == 302
                assert client.get("/healthz").status_code == 200
        finally:
            process.send_signal(signal.SIGQUIT)
            process.wait(timeout=10)


def test_plain_http_is_sent_to_https_on_the_public_name(proxy: Proxy) -> None:
    response = httpx.get(
        proxy.http_url + "/go", params={"url": COUNTY_LINK}, headers={"Host": PUBLIC_NAME}, timeout=10
    )
    assert response.status_code == 301
    assert response.headers["location"].startswith(f"https://{PUBLIC_NAME}/go?url=")


def test_any_other_name_gets_no_answer(proxy: Proxy) -> None:
    """The catch-all server: another Host (or an address) is closed without an answer, and a TLS handshake
    for another name is refused, over both ports."""
    for host in ("evil.example", "127.0.0.1"):
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(proxy.http_url + "/healthz", headers={"Host": host}, timeout=10)
    context = ssl.create_default_context(cafile=str(proxy.certificate))
    with pytest.raises(httpx.ConnectError):
        httpx.get(proxy.https_url + "/healthz", verify=context, timeout=10)  # SNI-less: an address
    unverified = ssl.create_default_context()
    unverified.check_hostname, unverified.verify_mode = False, ssl.CERT_NONE  # only nginx may refuse
    with httpx.Client(verify=unverified, timeout=10) as stranger, pytest.raises(httpx.ConnectError):
        stranger.get(
            proxy.https_url + "/healthz",
            headers={"Host": PUBLIC_NAME},
            extensions={"sni_hostname": "evil.example"},
        )
    with proxy.client() as client:
        assert client.get("/healthz").status_code == 200


def test_static_files_are_cached_by_nginx(proxy: Proxy) -> None:
    with proxy.client() as client:
        first = client.get("/static/notice.js")
        second = client.get("/static/notice.js")
    assert first.status_code == second.status_code == 200
    assert second.headers["x-cache-status"] == "HIT"
    assert second.content == first.content
    assert "max-age=3600" in second.headers["cache-control"]
    assert "strict-transport-security" in second.headers  # repeated in the location that adds a header


def test_sign_in_attempts_are_rate_limited(proxy: Proxy) -> None:
    with proxy.client() as client:
        statuses = [
            client.post("/admin/login", data={"name": "x", "password": "y"}).status_code for _ in range(16)
        ]
        page = client.get("/admin/login")
    # One at once and a burst of ten, then 429; a token comes back only every 6 s (10 a minute).
    assert 429 not in statuses[:11], statuses
    assert statuses[-4:] == [429] * 4, statuses
    assert page.status_code == 200  # showing the sign-in page is never limited


def test_metrics_are_kept_from_the_internet(proxy: Proxy) -> None:
    with proxy.client() as client:
        assert client.get("/metrics").status_code == 404
        assert client.get("/%6detrics").status_code == 404
    # Straight to the server, from this machine, they are there.
    assert proxy.server.get("/metrics").status_code == 200


def test_a_browser_cannot_name_a_single_sign_on_user(proxy: Proxy) -> None:
    # The server trusts X-Remote-User from 127.0.0.1, which is where nginx connects from.
    assert proxy.server.get("/admin/", headers={"X-Remote-User": "admin"}).status_code == 200
    with proxy.client() as client:
        response = client.get("/admin/", headers={"X-Remote-User": "admin"})
    assert response.status_code == 302
    assert "/admin/login" in response.headers["location"]


def test_each_visitor_reports_under_the_address_nginx_names_and_cannot_choose_it(proxy: Proxy) -> None:
    """nginx sets X-Real-IP to the visitor's address on a report, replacing a browser's own, and linkgate
    (configured as deploy/linkgate.toml is) believes it from nginx: two visitors count apart, one visitor
    naming other addresses is still one visitor, whose repeats count once."""
    with proxy.client("127.0.0.2") as first, proxy.client("127.0.0.3") as second:
        form = form_of(first.get("/go", params={"url": "https://reported.example.org/"}))
        for forged in ("198.51.100.1", "198.51.100.2", "127.0.0.3"):
            assert send(first, form, headers={**SAME_ORIGIN, "X-Real-IP": forged}).status_code == 200
        assert send(second, form).status_code == 200
    with proxy.server.store().db.engine.connect() as conn:
        counts = (
            conn.execute(
                sa.select(destination_reports.c.count).where(
                    destination_reports.c.host == "reported.example.org"
                )
            )
            .scalars()
            .all()
        )
    assert sum(counts) == 2  # without the header, one (everyone is nginx); believing browsers, more


def test_logs_hold_no_query_string_or_visitor_address(proxy: Proxy) -> None:
    with proxy.client() as client:
        client.get("/go", params={"url": COUNTY_LINK})
    lines = (proxy.prefix / "logs" / "linkgate-access.log").read_text().splitlines()
    assert any('"GET /go HTTP/1.1" 302' in line for line in lines)
    entry = re.compile(
        r'\S+ "[A-Z]+ /\S* HTTP/[0-9.]+" \d{3} \d+ [0-9.]+ '  # time, request line, status, size, duration
        r"(\S+:\d+(, \S+:\d+)*|-) [0-9, -]+ (HIT|MISS|EXPIRED|-)"  # servers tried, their statuses, cache
    )
    for line in lines:
        assert entry.fullmatch(line), line  # time first: no address before it, as in nginx's own format
        assert "?" not in line and "missoulacounty" not in line


def test_systemd_units_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        unavailable("systemd-analyze is not installed (scripts/install-test-deps.sh installs systemd)")
    venv_bin = Path(sys.executable).parent
    # Every unit shipped, so that a new one cannot be left out.
    names = sorted(path.name for path in (ROOT / "deploy").iterdir() if path.suffix in (".service", ".timer"))
    assert {"linkgate.service", "linkgate-feeds.service", "linkgate-feeds.timer"} <= set(names)
    for name in names:
        text = (ROOT / "deploy" / name).read_text(encoding="utf-8")
        # Where the programs are on this machine (systemd-analyze checks that they can be run).
        text = text.replace("/opt/linkgate/venv/bin/", f"{venv_bin}/").replace("/opt/linkgate/", f"{ROOT}/")
        (tmp_path / name).write_text(text, encoding="utf-8")
    result = subprocess.run(
        [analyze, "verify", "--man=no", *(str(tmp_path / name) for name in names)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
    service = (ROOT / "deploy" / "linkgate.service").read_text(encoding="utf-8")
    reload = [line for line in service.splitlines() if line.startswith("ExecReload=")]
    # The configuration is checked first: a failed step fails the reload before any signal is sent.
    assert reload == [
        "ExecReload=/opt/linkgate/venv/bin/linkgate config check",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ]
    assert "/opt/linkgate/deploy/gunicorn.conf.py" in service  # the settings a HUP re-reads


def test_example_configuration_is_valid(tmp_path: Path) -> None:
    settings = load_settings(
        {"LINKGATE_CONFIG": str(ROOT / "deploy" / "linkgate.toml"), "LINKGATE_INSTANCE": str(tmp_path)}
    )
    assert settings.public_url == "https://links.missoulacounty.us/"
    assert (settings.host, settings.port, settings.workers) == ("127.0.0.1", 8000, 2)
    assert settings.metrics_allow_networks == LOOPBACK


def test_config_check_names_what_is_wrong_before_a_reload_uses_it(tmp_path: Path) -> None:
    """linkgate.service's first ExecReload step: gunicorn's master exits on a configuration that does not
    read, so the reload must stop here."""
    config = tmp_path / "linkgate.toml"
    env = {key: value for key, value in os.environ.items() if not key.startswith("LINKGATE_")}
    env |= {"LINKGATE_CONFIG": str(config), "LINKGATE_INSTANCE": str(tmp_path / "instance")}
    command = [*LINKGATE, "config", "check"]
    config.write_text('[county]\nname = "Missoula County"\n[server]\nport = 8123\n', encoding="utf-8")
    good = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert good.returncode == 0, good.stderr
    assert f"{config}" in good.stdout and "127.0.0.1:8123" in good.stdout
    for broken, named in [
        ("[county]\nname = \n", "not valid TOML"),
        ("[server]\nport = 99999\n", "server.port"),
        ("[server]\nnonsense = 1\n", "server.nonsense"),
        ('[database]\nurl = "postgresq://linkgate@db/linkgate"\n', "database.url"),  # would fail each worker
    ]:
        config.write_text(broken, encoding="utf-8")
        bad = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
        assert bad.returncode == 2, broken
        assert bad.stderr.startswith("linkgate: error: ") and named in bad.stderr, bad.stderr
        assert "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "instance").exists()  # a check writes nothing (no folder, no secret key)


def _leaving_for(base: str) -> str:
    """The County a notice says the visitor is leaving."""
    page = httpx.get(base + "/go", params={"url": "https://www.example.org/"}, timeout=10).text
    return re.search(r"leaving ([A-Z][a-z]+ County)", page).group(1)  # type: ignore[union-attr]


def _wait_until_healthy(base: str) -> None:
    wait_for(lambda: answers_health(base), timeout=30, what=f"{base}/healthz")


def one_worker_config(tmp_path: Path) -> tuple[int, Path, dict[str, str]]:
    """A linkgate.toml for one worker on a free port, and the environment that names it."""
    port = free_port()
    config = tmp_path / "linkgate.toml"
    config.write_text(
        f'[county]\nname = "Missoula County"\n[server]\nport = {port}\nworkers = 1\n'
        "[fetch]\nsystem_resolver = false\nprivacy_wait_ms = 0\n",
        encoding="utf-8",
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("LINKGATE_")}
    env |= {"LINKGATE_CONFIG": str(config), "LINKGATE_INSTANCE": str(tmp_path / "instance")}
    return port, config, env


def test_linkgate_serve_rereads_the_configuration_on_sighup_and_keeps_it_when_the_new_one_is_bad(
    tmp_path: Path,
) -> None:
    port, config, env = one_worker_config(tmp_path)
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*LINKGATE, "serve"], env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"

    def leaving() -> str:
        return _leaving_for(base)

    try:
        _wait_until_healthy(base)
        assert leaving() == "Missoula County"
        config.write_text(config.read_text().replace("Missoula County", "Ravalli County"), encoding="utf-8")
        process.send_signal(signal.SIGHUP)
        wait_for(lambda: leaving() == "Ravalli County", timeout=30, what="the new County name")
        config.write_text(config.read_text() + "name = \n", encoding="utf-8")  # a typo
        process.send_signal(signal.SIGHUP)
        wait_for(lambda: "was not reloaded" in log.read_text(errors="replace"), timeout=30)
        assert "the configuration was not reloaded, the running one is kept" in log.read_text(
            errors="replace"
        )
        assert "not valid TOML" in log.read_text(errors="replace")
        assert process.poll() is None, "the server stopped on a bad configuration"

        def replaced() -> bool:
            """The reload that kept the running configuration has started a worker and stopped the old one."""
            text = log.read_text(errors="replace")
            after = text[text.index("was not reloaded") :]
            return "Booting worker with pid" in after and "Worker exiting" in after

        wait_for(replaced, timeout=30, what="the reload's new worker to take over")
        assert all(leaving() == "Ravalli County" for _ in range(5))
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def test_reload_rereads_the_configuration_and_keeps_the_counters(tmp_path: Path) -> None:
    """What linkgate.service runs (ExecStart), then what `systemctl reload` sends it (ExecReload)."""
    port, config, env = one_worker_config(tmp_path)
    gunicorn = Path(sys.executable).parent / "gunicorn"
    process = subprocess.Popen(
        [str(gunicorn), "--config", str(ROOT / "deploy" / "gunicorn.conf.py"), "linkgate.web:create_app()"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"

    def leaving() -> str:
        return _leaving_for(base)

    def notices() -> float:
        text = httpx.get(base + "/metrics", timeout=10).text
        return float(re.search(r'^linkgate_clicks_total\{outcome="notice"\} (\S+)$', text, re.M).group(1))  # type: ignore[union-attr]

    try:
        _wait_until_healthy(base)
        assert leaving() == "Missoula County"
        config.write_text(config.read_text().replace("Missoula County", "Ravalli County"), encoding="utf-8")
        process.send_signal(signal.SIGHUP)
        seen = [1]  # each notice asked for, the first one above included

        def renamed() -> bool:
            seen.append(1)
            return leaving() == "Ravalli County"

        wait_for(renamed, timeout=30, what="the new County name")
        assert notices() == len(seen)  # the old worker's clicks are still counted
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
