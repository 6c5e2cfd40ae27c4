"""The clicks chart and its data, pure: the daily series, the SVG's structure and accessibility, CSV cells."""

from __future__ import annotations

import csv
import io
import itertools
import re
import xml.etree.ElementTree as ET
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linkgate.chart import (
    LOOKS,
    MAX_DAYS,
    OUTCOMES,
    clicks_chart,
    csv_text,
    daily_clicks,
    days_between,
    parse_day,
    spreadsheet_safe,
    totals,
)

pytestmark = pytest.mark.database_free

SVG = "{http://www.w3.org/2000/svg}"
LABELS = {"redirect": "Sent straight on", "notice": "Shown the notice", "block": "Blocked"}
START = date(2026, 3, 1)


def chart(days, **changes) -> str:
    options = {
        "labels": LABELS,
        "title": "Clicks per day",
        "description": "Clicks from 2026-03-01",
        "x_title": "Day",
        "y_title": "Clicks",
    }
    return clicks_chart(days, **{**options, **changes})


def parsed(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def day_groups(root: ET.Element) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if g.get("class") == "chart-day"]


def bars(root: ET.Element) -> list[ET.Element]:
    return [rect for rect in root.iter(f"{SVG}rect") if rect.get("class") == "chart-bar"]


# ---- the daily series -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("2026-03-01", date(2026, 3, 1)),
        (" 2024-02-29 ", date(2024, 2, 29)),
        ("2026-02-29", None),
        ("2026-13-01", None),
        ("20260301", None),
        ("2026-W09-1", None),
        ("2026-03-01T00:00", None),
        ("2026-3-1", None),
        ("٢٠٢٦-٠٣-٠١", None),
        ("", None),
    ],
)
def test_a_day_is_written_yyyy_mm_dd_and_nothing_else(text, day):
    assert parse_day(text) == day


def test_days_between_includes_both_ends():
    assert days_between(START, START) == [START]
    assert days_between(START, date(2026, 3, 3)) == [START, date(2026, 3, 2), date(2026, 3, 3)]
    assert len(days_between(date(2024, 1, 1), date(2024, 12, 31))) == MAX_DAYS


def test_days_without_clicks_count_zero_and_rows_outside_the_range_are_left_out():
    rows = [
        (START, "notice", 4),
        (START, "redirect", 1),
        (date(2026, 3, 3), "block", 2),
        (date(2026, 2, 28), "notice", 99),
        (date(2026, 3, 4), "notice", 99),
    ]
    days = daily_clicks(START, date(2026, 3, 3), rows)
    assert [day.day for day in days] == [START, date(2026, 3, 2), date(2026, 3, 3)]
    assert [day.total for day in days] == [5, 0, 2]
    assert days[1].counts == {"redirect": 0, "notice": 0, "block": 0}
    assert days[0].count("notice") == 4
    assert totals(day.counts for day in days) == {"redirect": 1, "notice": 4, "block": 2}


@given(
    st.lists(
        st.tuples(st.integers(0, 40), st.sampled_from(OUTCOMES), st.integers(1, 10**9)),
        max_size=60,
    )
)
def test_the_series_keeps_every_click_in_the_range(raw):
    rows = [(START + timedelta(days=offset), outcome, count) for offset, outcome, count in raw]
    end = START + timedelta(days=30)
    days = daily_clicks(START, end, rows)
    assert len(days) == 31
    expected = sum(count for offset, _, count in raw if offset <= 30)
    assert sum(day.total for day in days) == expected == sum(totals(day.counts for day in days).values())


# ---- the SVG --------------------------------------------------------------------------------------


def test_the_chart_is_well_formed_svg_with_one_group_per_day_and_a_bar_per_outcome_with_clicks():
    rows = [(START, "redirect", 3), (START, "notice", 5), (date(2026, 3, 4), "block", 1)]
    days = daily_clicks(START, date(2026, 3, 7), rows)
    root = parsed(chart(days))
    assert root.tag == f"{SVG}svg"
    groups = day_groups(root)
    assert [g.get("data-day") for g in groups] == [
        day.isoformat() for day in days_between(START, date(2026, 3, 7))
    ]
    assert [g.get("data-total") for g in groups] == ["8", "0", "0", "1", "0", "0", "0"]
    drawn = [(rect.get("data-outcome"), rect.get("data-count")) for rect in bars(root)]
    assert drawn == [("redirect", "3"), ("notice", "5"), ("block", "1")]
    assert all(float(rect.get("height")) >= 1 for rect in bars(root))


def test_a_day_without_clicks_still_has_its_place_and_no_bar():
    days = daily_clicks(START, date(2026, 3, 3), [(START, "notice", 2), (date(2026, 3, 3), "notice", 2)])
    root = parsed(chart(days))
    groups = day_groups(root)
    assert len(groups) == 3
    empty = groups[1]
    assert empty.get("data-total") == "0"
    assert empty.findall(f"{SVG}rect") == []
    assert "Sent straight on 0, Shown the notice 0, Blocked 0" in empty.find(f"{SVG}title").text
    xs = [float(g.find(f"{SVG}rect").get("x")) for g in (groups[0], groups[2])]
    assert xs[1] > xs[0]


def test_a_range_with_no_clicks_at_all_draws_an_axis_from_zero():
    days = daily_clicks(START, date(2026, 3, 30), [])
    root = parsed(chart(days))
    assert len(day_groups(root)) == 30
    assert bars(root) == []
    labels = [
        t.text for g in root.iter(f"{SVG}g") if g.get("class") == "chart-grid" for t in g.iter(f"{SVG}text")
    ]
    assert labels[0] == "0"
    assert len(labels) >= 2


def test_bars_are_as_tall_as_their_counts_on_one_scale():
    rows = [(START, "notice", 10), (date(2026, 3, 2), "notice", 40), (date(2026, 3, 2), "redirect", 20)]
    root = parsed(chart(daily_clicks(START, date(2026, 3, 2), rows)))
    heights = {(r.get("data-outcome"), r.get("data-count")): float(r.get("height")) for r in bars(root)}
    assert heights[("notice", "40")] == pytest.approx(4 * heights[("notice", "10")], rel=0.01)
    assert heights[("notice", "40")] == pytest.approx(2 * heights[("redirect", "20")], rel=0.01)


def test_stacked_bars_of_a_day_touch_and_do_not_overlap():
    rows = [(START, "redirect", 7), (START, "notice", 5), (START, "block", 3)]
    root = parsed(chart(daily_clicks(START, START, rows)))
    segments = bars(root)
    assert [r.get("data-outcome") for r in segments] == ["redirect", "notice", "block"]
    for lower, upper in itertools.pairwise(segments):
        assert float(upper.get("y")) + float(upper.get("height")) == pytest.approx(
            float(lower.get("y")), abs=0.02
        )


def test_gridlines_and_axis_labels_cover_the_largest_day():
    rows = [(START, "notice", 1234)]
    root = parsed(chart(daily_clicks(START, date(2026, 3, 9), rows)))
    grid = next(g for g in root.iter(f"{SVG}g") if g.get("class") == "chart-grid")
    values = [int(t.text.replace(",", "")) for t in grid.iter(f"{SVG}text")]
    assert values == sorted(values)
    assert values[0] == 0
    assert values[-1] >= 1234
    assert len(grid.findall(f"{SVG}line")) == len(values)
    x_labels = [
        t.text
        for g in root.iter(f"{SVG}g")
        if g.get("class") == "chart-x-labels"
        for t in g.iter(f"{SVG}text")
    ]
    assert x_labels[0] == "2026-03-01"
    assert 1 <= len(x_labels) <= 9


@pytest.mark.parametrize("length", [1, 2, 7, 31, 92, 366])
def test_any_length_of_range_gives_few_day_labels_and_every_day(length):
    days = daily_clicks(START, START + timedelta(days=length - 1), [(START, "block", 1)])
    root = parsed(chart(days))
    assert len(day_groups(root)) == length
    x_labels = [
        t for g in root.iter(f"{SVG}g") if g.get("class") == "chart-x-labels" for t in g.iter(f"{SVG}text")
    ]
    assert 1 <= len(x_labels) <= 8


def test_the_chart_has_an_accessible_name_and_description():
    svg = chart(daily_clicks(START, START, []), title="Clicks per day from A to B", description="No clicks.")
    root = parsed(svg)
    assert root.get("role") == "img"
    title = root.find(f"{SVG}title")
    desc = root.find(f"{SVG}desc")
    assert title.text == "Clicks per day from A to B"
    assert desc.text == "No clicks."
    assert root.get("aria-labelledby").split() == [title.get("id"), desc.get("id")]


def test_the_chart_has_no_inline_style_anywhere():
    rows = [(START + timedelta(days=n), outcome, n + 1) for n in range(10) for outcome in OUTCOMES]
    svg = chart(daily_clicks(START, START + timedelta(days=9), rows))
    root = parsed(svg)
    assert all("style" not in element.attrib for element in root.iter())
    assert not list(root.iter(f"{SVG}style"))
    assert "style" not in svg.lower()
    assert "<script" not in svg.lower()


def test_every_outcome_has_a_legend_entry_a_colour_with_3_to_1_contrast_and_its_own_pattern():
    root = parsed(chart(daily_clicks(START, START, [(START, outcome, 1) for outcome in OUTCOMES])))
    legend = [g for g in root.iter(f"{SVG}g") if g.get("class") == "chart-legend-item"]
    assert [g.get("data-outcome") for g in legend] == list(OUTCOMES)
    assert [g.find(f"{SVG}text").text for g in legend] == [LABELS[o] for o in OUTCOMES]
    for outcome, look in LOOKS.items():
        assert contrast(look.colour, "#ffffff") >= 3.0, outcome
    assert len({look.pattern for look in LOOKS.values()}) == len(OUTCOMES)
    fills = {r.get("data-outcome"): r.get("fill") for r in bars(root)}
    assert len(set(fills.values())) == len(OUTCOMES)
    pattern_ids = {p.get("id") for p in root.iter(f"{SVG}pattern")}
    for fill in fills.values():
        match = re.fullmatch(r"url\(#(.+)\)", fill)
        assert match is None or match.group(1) in pattern_ids


def test_words_are_escaped_and_ids_can_be_made_unique():
    hostile = '</title><script>alert(1)</script>&"'
    svg = chart(
        daily_clicks(START, START, [(START, "notice", 1)]),
        title=hostile,
        description=hostile,
        labels={**LABELS, "notice": hostile},
        id_prefix="second-chart",
    )
    root = parsed(svg)
    assert root.find(f"{SVG}title").text == hostile
    assert "<script>" not in svg
    assert root.get("aria-labelledby") == "second-chart-title second-chart-desc"
    assert all(p.get("id").startswith("second-chart-") for p in root.iter(f"{SVG}pattern"))


def test_a_chart_needs_a_day():
    with pytest.raises(ValueError):
        chart([])


def contrast(foreground: str, background: str) -> float:
    def luminance(colour: str) -> float:
        channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    light, dark = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


# ---- CSV ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "safe"),
    [
        ('=HYPERLINK("https://evil.example")', '\'=HYPERLINK("https://evil.example")'),
        ("+1+1", "'+1+1"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\n=1+1", "'\n=1+1"),
        ("'=1+1", "''=1+1"),
        ("example.org", "example.org"),
        (12, 12),
        (date(2026, 3, 1), date(2026, 3, 1)),
    ],
)
def test_text_that_a_spreadsheet_would_run_is_neutralised(cell, safe):
    assert spreadsheet_safe(cell) == safe


def test_csv_text_has_a_header_and_quotes_what_needs_it():
    text = csv_text(("day", "domain", "count"), [(START, 'a,"b"', 3), (START, "=1+2", 4)])
    assert text.endswith("\r\n")
    assert list(csv.reader(io.StringIO(text))) == [
        ["day", "domain", "count"],
        ["2026-03-01", 'a,"b"', "3"],
        ["2026-03-01", "'=1+2", "4"],
    ]
