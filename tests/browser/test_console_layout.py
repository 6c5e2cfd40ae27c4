"""The console's layout in a real Chromium: wide pages use the screen from 1024 px up, tables reflow at 320 px
with nothing cut off, the menu keeps to one row, the link builder's Copy button (and its field without
JavaScript), and plain words on every page.

Every page comes from ``console_pages`` (the application's URL map and the pages behind its forms), so a
page added later is measured without a line here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import NARROW, WIDE
from tests.browser.console_pages import console_pages, seeded_server, sign_in
from tests.conftest import LiveServer

pytestmark = pytest.mark.browser

# What overflows, measured in the page: the document, each table against its container, and (at 320 px)
# every visible element of the main column against the viewport.
MEASURE = """() => {
  const root = document.documentElement;
  const tables = [...document.querySelectorAll("main table")].map(table => ({
    id: table.id,
    width: table.getBoundingClientRect().width,
    room: table.parentElement.clientWidth,
    scrolled: table.parentElement.scrollWidth > table.parentElement.clientWidth + 1,
  }));
  const outside = [...document.querySelectorAll("main *")]
    .filter(element => {
      const box = element.getBoundingClientRect();
      return box.width > 1 && box.height > 1 && element.closest("thead") === null
        && (box.right > root.clientWidth + 1 || box.left < -1);
    })
    .map(element => element.tagName.toLowerCase() + (element.id ? "#" + element.id : ""));
  const rows = new Set([...document.querySelectorAll("nav.admin-nav li")]
    .map(item => Math.round(item.getBoundingClientRect().top)));
  return {scroll: root.scrollWidth, width: root.clientWidth, tables, outside, menuRows: rows.size};
}"""
# Words the issue found and that must not come back: jargon, and a number with the wrong plural.
JARGON = [
    r"every worker",
    r"\(version \d+\)",
    r"the usual action",
    r"\b1 (pages|links|problems|seconds|minutes|rules|sites|changes|runs)\b",
    r"\(s\)",
]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = seeded_server(tmp_path_factory.mktemp("console-layout")).start()
    yield server
    server.stop()


def measure_every_page(seeded: LiveServer, page: Any) -> dict[str, dict[str, Any]]:
    sign_in(page, seeded)
    measured = {}
    for name, path in sorted(console_pages(seeded).items()):
        response = page.goto(seeded.url + path)
        assert response is not None and response.status in (200, 400), (name, response)
        measured[name] = page.evaluate(MEASURE)
    return measured


def overflows(measured: dict[str, dict[str, Any]]) -> list[str]:
    """Each page that scrolls sideways, and each table wider than its container or scrolled in it."""
    problems = []
    for name, found in measured.items():
        if found["scroll"] > found["width"]:
            problems.append(f"{name}: the page scrolls sideways ({found['scroll']} > {found['width']} px)")
        problems.extend(
            f"{name}: table #{table['id']} is {table['width']:.0f} px in {table['room']} px"
            for table in found["tables"]
            if table["width"] > table["room"] + 1 or table["scrolled"]
        )
    return problems


@pytest.mark.parametrize("width", [1024, WIDE["width"]])
def test_from_1024_px_every_page_fits_and_the_menu_is_one_row(
    seeded: LiveServer, new_page: Any, width: int
) -> None:
    measured = measure_every_page(seeded, new_page(viewport={"width": width, "height": 800}))
    assert {"sites.index", "changelog.index", "rules.index", "audits.run"} <= set(measured)
    problems = overflows(measured)
    problems += [
        f"{name}: the menu takes {found['menuRows']} rows"
        for name, found in measured.items()
        if found["menuRows"] != 1
    ]
    assert not problems, "\n".join(problems)


def test_at_1280_px_the_console_uses_the_screen_not_a_narrow_column(
    seeded: LiveServer, new_page: Any
) -> None:
    page = new_page(viewport=WIDE)
    sign_in(page, seeded)
    page.goto(seeded.url + "/admin/sites/")
    main = page.locator("main").bounding_box()
    assert main is not None and main["width"] >= 1200, main
    # Running text keeps a readable line length all the same.
    assert page.locator("main > p").first.bounding_box()["width"] <= 800


def test_at_320_px_tables_reflow_and_nothing_is_cut_off(seeded: LiveServer, new_page: Any) -> None:
    page = new_page(viewport=NARROW)
    measured = measure_every_page(seeded, page)
    problems = overflows(measured)
    problems += [
        f"{name}: cut off at the screen's edge: {found['outside'][:5]}"
        for name, found in measured.items()
        if found["outside"]
    ]
    assert not problems, "\n".join(problems)


def test_a_reflowed_table_stacks_label_and_value_and_keeps_its_table_semantics(
    seeded: LiveServer, new_page: Any
) -> None:
    page = new_page(viewport=NARROW)
    sign_in(page, seeded)
    page.goto(seeded.url + "/admin/sites/")
    cell = page.locator("#sites tbody td[data-label]").first
    assert cell.evaluate("el => getComputedStyle(el).display") == "block"
    label = cell.evaluate("el => getComputedStyle(el, '::before').content")
    assert "Last lookup" in label
    # The column headers are hidden to the eye and there for screen readers; one that sorts the table stays
    # on screen (a link, above the rows).
    for header in page.locator("#sites thead th").all():
        box = header.bounding_box()
        assert box is not None
        if header.locator("a").count():
            assert box["width"] > 1 and 0 <= box["x"] and box["x"] + box["width"] <= NARROW["width"]
        else:
            assert box["width"] <= 1, header.inner_text()
    # Chromium's accessibility tree still has a table of rows and cells with their column headers.
    cdp = page.context.new_cdp_session(page)
    roles = {
        node["role"]["value"]
        for node in cdp.send("Accessibility.getFullAXTree")["nodes"]
        if not node.get("ignored") and "role" in node
    }
    assert {"table", "row", "columnheader", "rowheader", "cell"} <= roles
    # The Rules table's Edit and Delete links are on the screen, whole.
    page.goto(seeded.url + "/admin/rules/")
    for link in page.locator("#rules .row-actions a").all():
        box = link.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= NARROW["width"]


def test_every_console_page_speaks_plainly(seeded: LiveServer, new_page: Any) -> None:
    page = new_page(viewport=WIDE)
    sign_in(page, seeded)
    found = []
    for name, path in sorted(console_pages(seeded).items()):
        page.goto(seeded.url + path)
        # Its words, not what an audit command printed (shown as it printed it).
        text = page.evaluate(
            "() => { const output = document.getElementById('job-output');"
            " return document.body.innerText.replace(output ? output.innerText : '', ''); }"
        )
        found.extend(f"{name}: {match.group(0)!r}" for rule in JARGON for match in re.finditer(rule, text))
    assert not found, found


def test_the_copy_button_copies_the_gate_link_and_says_so(seeded: LiveServer, new_page: Any) -> None:
    page = new_page(viewport=WIDE, permissions=["clipboard-read", "clipboard-write"])
    sign_in(page, seeded)
    page.goto(seeded.url + console_pages(seeded)["links.index?url"])
    link = page.input_value("#gate-link-value")
    assert "&sig=" in link
    page.get_by_role("button", name="Copy the gate link").click()
    status = page.locator("#copy-status")
    assert status.get_attribute("role") == "status"
    expect(status).to_have_text("Gate link: copied.")
    assert page.evaluate("navigator.clipboard.readText()") == link
    page.get_by_role("button", name="Copy the HTML").click()
    expect(status).to_have_text("The same link as HTML for a page: copied.")
    assert page.evaluate("navigator.clipboard.readText()").startswith('<a href="')


def test_when_the_browser_refuses_to_copy_the_field_is_selected_and_the_page_says_how(
    seeded: LiveServer, new_page: Any
) -> None:
    page = new_page(viewport=WIDE)  # no clipboard permission: writeText is refused
    sign_in(page, seeded)
    page.goto(seeded.url + console_pages(seeded)["links.index?url"])
    page.evaluate("Object.defineProperty(navigator, 'clipboard', {value: undefined})")
    page.get_by_role("button", name="Copy the gate link").click()
    expect(page.locator("#copy-status")).to_contain_text("Press Ctrl+C")
    assert page.evaluate("document.activeElement.id") == "gate-link-value"
    selected = page.evaluate("[document.activeElement.selectionStart, document.activeElement.selectionEnd]")
    assert selected == [0, len(page.input_value("#gate-link-value"))]


def test_without_javascript_the_gate_link_can_be_selected_and_no_button_shows(
    seeded: LiveServer, new_page: Any
) -> None:
    page = new_page(viewport=WIDE, java_script_enabled=False)
    sign_in(page, seeded)
    page.goto(seeded.url + console_pages(seeded)["links.index?url"])
    assert page.locator("button[data-copy]").count() == 2
    assert not page.locator("button[data-copy]").first.is_visible()
    field = page.locator("#gate-link-value")
    assert field.is_editable() is False and field.is_visible()
    field.focus()
    page.keyboard.press("Control+A")
    selected = page.evaluate("[document.activeElement.selectionStart, document.activeElement.selectionEnd]")
    assert selected == [0, len(field.input_value())]
