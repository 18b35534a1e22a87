"""Tests of grader/reports/heatmap.py: the relative-error heat map in report.html."""

from __future__ import annotations

import re

import pytest

from grader.reports.heatmap import LEGEND, NOT_FINITE, WITHIN, cell_colour, count_over, heatmap_svg, legend

TOL = 1e-6
MAP_3X4: list[list[float | str]] = [
    [0.0, 1e-13, 2.0, 5e-7],
    [1e-8, 0.0, "inf", 0.0],
    [3e-1, 0.0, 0.0, 1e-6],
]


def _fills(svg: str) -> list[str]:
    return re.findall(r'<rect [^>]*fill="(#[0-9a-f]{6})"', svg)


def _size(svg: str) -> tuple[float, float]:
    match = re.search(r'viewBox="0 0 ([\d.]+) ([\d.]+)"', svg)
    assert match is not None
    return float(match[1]), float(match[2])


def test_heatmap_has_one_rect_per_entry_with_its_index_and_error_in_the_title() -> None:
    svg = heatmap_svg("grad_W", MAP_3X4, TOL)

    assert svg.count("<svg") == 1 and svg.endswith("</svg>")
    assert svg.count("<rect") == 12
    assert "<title>[0, 2] relative error 2.0e+00</title>" in svg
    assert "<title>[2, 0] relative error 3.0e-01</title>" in svg
    assert "<title>[1, 2] relative error inf</title>" in svg


def test_heatmap_colours_green_within_tolerance_red_over_it_and_black_for_inf() -> None:
    fills = _fills(heatmap_svg("grad_W", MAP_3X4, TOL))

    assert fills[1] == fills[3] == fills[11] == WITHIN  # 1e-13, 5e-7 and exactly the tolerance
    assert fills[6] == NOT_FINITE
    assert fills[2] not in (WITHIN, NOT_FINITE) and fills[8] not in (WITHIN, NOT_FINITE)


@pytest.mark.parametrize(
    ("err", "want"),
    [(1e-7, WITHIN), (float("inf"), NOT_FINITE), (float("nan"), NOT_FINITE)],
    ids=["within", "inf", "nan"],
)
def test_cell_colour_of_special_values(err: float, want: str) -> None:
    assert cell_colour(err, TOL) == want


def test_cell_colour_darkens_on_a_log_scale_and_stops_at_1e6_times_the_tolerance() -> None:
    def darkness(colour: str) -> int:
        return -sum(int(colour[k : k + 2], 16) for k in (1, 3, 5))

    shades = [darkness(cell_colour(TOL * ratio, TOL)) for ratio in (1.5, 10, 1e3, 1e6)]

    assert shades == sorted(shades) and len(set(shades)) == 4
    assert cell_colour(TOL * 1e9, TOL) == cell_colour(TOL * 1e6, TOL)
    assert [colour for _, colour in LEGEND] == [WITHIN, cell_colour(TOL * 1.0000001, TOL),
                                              cell_colour(TOL * 1e3, TOL), cell_colour(TOL * 1e6, TOL), NOT_FINITE]


def test_count_over_counts_entries_above_tolerance_and_inf_or_nan_strings() -> None:
    assert count_over(MAP_3X4, TOL) == 3
    assert count_over([["nan", "oops", 0.0]], TOL) == 2


def test_heatmap_labels_both_axes_and_ticks_every_index_of_a_small_map() -> None:
    svg = heatmap_svg("grad_W", MAP_3X4, TOL)

    assert "rows (i)" in svg and "columns (j)" in svg
    assert re.findall(r'text-anchor="middle">(\d+)</text>', svg) == ["0", "1", "2", "3"]
    assert re.findall(r'text-anchor="end">(\d+)</text>', svg) == ["0", "1", "2"]


def test_heatmap_of_a_32_by_32_map_stays_within_460_px_and_ticks_every_5th_index() -> None:
    big: list[list[float | str]] = [[float(i * j) for j in range(32)] for i in range(32)]

    svg = heatmap_svg("grad_W", big, TOL)

    assert svg.count("<rect") == 32 * 32
    assert _size(svg)[0] <= 460
    assert re.findall(r'text-anchor="middle">(\d+)</text>', svg) == ["0", "5", "10", "15", "20", "25", "30"]


def test_heatmap_of_one_row_is_one_row_of_14_px_cells() -> None:
    svg = heatmap_svg("grad_b", [[0.0, 1.0, 2.0]], TOL)

    assert set(re.findall(r'<rect [^>]*y="(\d+)"', svg)) == {"30"}
    assert 'width="13" height="13"' in svg


def test_heatmap_scales_with_its_viewbox() -> None:
    svg = heatmap_svg("grad_W", MAP_3X4, TOL)
    width, height = _size(svg)

    assert f'width="{width:g}" height="{height:g}"' in svg


def test_heatmap_escapes_the_gradient_name() -> None:
    svg = heatmap_svg('<script>alert(1)</script>" onload="x', MAP_3X4, TOL)

    assert "<script" not in svg
    assert '" onload' not in svg
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&quot; onload=&quot;x" in svg


def test_heatmap_has_no_scripts_styles_or_links() -> None:
    svg = heatmap_svg("grad_W", MAP_3X4, TOL)

    assert re.search(r"<(script|style|a|image|foreignObject)\b", svg) is None
    assert re.search(r"\b(src|href|xlink:href|style|on\w+)\s*=", svg) is None
    assert "http" not in svg


def test_heatmap_labels_are_in_the_requested_language() -> None:
    svg = heatmap_svg("grad_W", MAP_3X4, TOL, lang="zh")

    assert "列 (j) →" in svg and "行 (i) ↓" in svg
    assert "<title>[0, 2] 相对误差 2.0e+00</title>" in svg
    assert 'aria-label="grad_W 各元素的相对误差，3 × 4"' in svg


def test_legend_is_in_the_requested_language_with_the_same_colours() -> None:
    assert [label for label, _ in legend("zh")] == ["在容差内", "略超容差", "超出 1e3 倍", "超出 1e6 倍及以上", "inf / NaN"]
    assert [colour for _, colour in legend("zh")] == [colour for _, colour in LEGEND]
