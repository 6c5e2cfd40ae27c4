"""Screenshots for the docs: the notice page at a desktop and the narrowest phone width, and the console.

``python -m tests.browser.screenshots [notice|console]`` starts throwaway servers and writes
``docs/images/notice-*.png`` (English and Spanish) and ``docs/images/console-*.png`` (or one of the
two); the browser tests run the same :func:`capture_notice` and :func:`capture_console` into a temporary
folder, so a broken page shows up in CI, not in the docs.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.browser.conftest import CHROMIUM_ARGS
from tests.conftest import ROOT, LiveServer, chromium_path

# The everyday case: a link on a County page (so signed) to a site the County does not run.
DESTINATION = "https://www.example.org/events/summer-fair"
# The site's privacy link as a lookup finds it (set by hand here: the screenshots' server reaches no site).
PRIVACY_URL = "https://www.example.org/privacy"
WIDTHS = (1280, 320)
LANGUAGES = ("en", "es")
DOCS_IMAGES = ROOT / "docs" / "images"


def capture_notice(
    browser: Any, link: str, folder: Path, languages: tuple[str, ...] = LANGUAGES
) -> list[Path]:
    """Full-page PNGs of the notice behind ``link``, per language and width: ``notice-<lang>-<width>.png``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for language in languages:
        for width in WIDTHS:
            context = browser.new_context(viewport={"width": width, "height": 800}, locale=language)
            try:
                page = context.new_page()
                page.goto(f"{link}&lang={language}")
                # Let the privacy lookup settle so the picture shows the page's final state.
                page.wait_for_load_state("networkidle")
                path = folder / f"notice-{language}-{width}.png"
                page.screenshot(path=str(path), full_page=True, animations="disabled")
                paths.append(path)
            finally:
                context.close()
    return paths


# The console pages docs/webmaster.md shows: picture name -> page name in console_pages().
CONSOLE_SHOTS = {
    "dashboard": "dashboard.index",
    "rules": "rules.index",
    "rule-form": "rules.new",
    "link-builder": "links.index?url",
    "sites": "sites.index",
    "statistics": "stats.index",
    "change-log": "changelog.index",
    "import": "imports.index",
    "link-audits": "audits.index",
    "audit-run": "audits.run",
    "accounts": "accounts.index",
}
# The same at a phone's width (320 px), where tables reflow: picture name -> page name.
CONSOLE_PHONE_SHOTS = {"sites-320": "sites.index"}


def capture_console(browser: Any, server: LiveServer, folder: Path) -> list[Path]:
    """Full-page PNGs of the console pages in :data:`CONSOLE_SHOTS`, signed in, at 1280 px, and of those
    in :data:`CONSOLE_PHONE_SHOTS` at 320 px."""
    from tests.browser.console_pages import console_pages, sign_in

    folder.mkdir(parents=True, exist_ok=True)
    pages = console_pages(server)
    paths = []
    for width, shots in ((1280, CONSOLE_SHOTS), (320, CONSOLE_PHONE_SHOTS)):
        context = browser.new_context(viewport={"width": width, "height": 800}, locale="en-US")
        try:
            page = context.new_page()
            sign_in(page, server)
            for picture, name in shots.items():
                if name not in pages:
                    continue
                page.goto(server.url + pages[name])
                path = folder / f"console-{picture}.png"
                page.screenshot(path=str(path), full_page=True, animations="disabled")
                paths.append(path)
        finally:
            context.close()
    return paths


def main(which: tuple[str, ...] = ("notice", "console")) -> int:
    """Take the pictures; ``which`` (the command's arguments) names one set: notice or console."""
    from playwright.sync_api import sync_playwright

    from tests.browser.console_pages import seeded_server

    executable = chromium_path()
    if executable is None:
        print("Chromium not found: install Debian's chromium package", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as directory:
        server = LiveServer(Path(directory)).start()
        try:
            link = server.cli("sign", DESTINATION).stdout.strip()
            server.cli("site", "set-privacy", "www.example.org", PRIVACY_URL)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=executable, headless=True, args=CHROMIUM_ARGS
                )
                try:
                    if "notice" in which:
                        for path in capture_notice(browser, link, DOCS_IMAGES):
                            print(path.relative_to(ROOT))
                    if "console" not in which:
                        return 0
                    (Path(directory) / "console").mkdir()
                    console = seeded_server(Path(directory) / "console").start()
                    try:
                        for path in capture_console(browser, console, DOCS_IMAGES):
                            print(path.relative_to(ROOT))
                    finally:
                        console.stop()
                finally:
                    browser.close()
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(tuple(sys.argv[1:]) or ("notice", "console")))
