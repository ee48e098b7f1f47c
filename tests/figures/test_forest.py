"""Forest plot: geometry follows the data, layout is legible, output is byte-stable."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pytest
from matplotlib.lines import Line2D
from matplotlib.patches import Polygon
from matplotlib.text import Text

from evsynth.figures import forest
from evsynth.figures._base import save_figure
from evsynth.figures.forest_data import ForestData, ForestRow, ForestSubgroup
from evsynth.stats.results import PooledEstimate

LONG_LABEL = "Abernathy-Vanderberg and the Remote Pain Collaborative 2019b"  # 60 characters


def pooled(theta: float, lo: float, hi: float, weights: tuple[float, ...]) -> PooledEstimate:
    """A PooledEstimate whose only plotted fields are theta and its CI."""
    return PooledEstimate(
        k=len(weights), theta=theta, se=(hi - lo) / 3.92, ci_lower=lo, ci_upper=hi, stat=2.0, stat_df=None,
        p_value=0.05, tau2=0.01, i2=10.0, i2_q=10.0, h2=1.1, q=2.0, q_df=len(weights) - 1, q_p=0.3,
        common_theta=theta, common_se=0.1, common_ci_lower=lo, common_ci_upper=hi, common_p_value=0.05,
        weights=weights, estimator="REML", ci_method="HKSJ", alpha=0.05,
    )


def ratio_data() -> ForestData:
    """Risk ratios: a pooled subgroup with a not-estimable row, and a k=1 subgroup."""
    rows1 = (
        ForestRow("Adams 2015", ("12", "50"), ("20", "48"), 40.0, math.log(0.58), math.log(0.32), math.log(1.05)),
        ForestRow("Baker 2017", ("0", "30"), ("0", "31"), None, None, None, None, note="Not estimable"),
        ForestRow("Chen 2020", ("8", "60"), ("15", "62"), 60.0, math.log(0.55), math.log(0.25), math.log(1.21)),
    )
    rows2 = (ForestRow("Diaz 2021", ("5", "25"), ("4", "24"), 100.0, math.log(1.2), math.log(0.37), math.log(3.9)),)
    return ForestData(
        title="Analysis 1.1 Pain responders (>= 30% reduction)",
        measure="Risk Ratio",
        ratio=True,
        method_label="IV, Random, 95% CI",
        arm_headers=("Events", "Total"),
        treat_heading="Remote CBT",
        ctrl_heading="Control",
        favours_left="Favours remote CBT",
        favours_right="Favours control",
        subgroups=(
            ForestSubgroup(
                "1.1.1 Health-coach-led remote CBT", rows1, "140", "141",
                pooled(math.log(0.57), math.log(0.36), math.log(0.90), (40.0, 60.0)), "",
                ("Heterogeneity: Tau² = 0.00; Chi² = 0.01, df = 1 (P = 0.92); I² = 0%",
                 "Test for overall effect: Z = 2.41 (P = 0.02)"),
            ),
            ForestSubgroup("1.1.2 Self-guided remote CBT", rows2, "25", "24", None, "Not pooled (k = 1)",
                           ("Heterogeneity: Not applicable",)),
        ),
        footer=("Method: REML tau², Hartung-Knapp-Sidik-Jonkman CI.", "Weights are within subgroup."),
    )


def continuous_data(n: int = 35) -> ForestData:
    """Standardised mean differences: ``n`` studies, one with a 60-character label."""
    rng = np.random.default_rng(7)
    rows = []
    for i in range(n):
        yi = float(np.round(rng.normal(-0.4, 0.3), 3))
        se = float(np.round(rng.uniform(0.1, 0.45), 3))
        label = LONG_LABEL if i == 3 else f"Study {i + 1:02d} {2000 + i}"
        rows.append(ForestRow(label, ("4.1", "1.9", str(20 + i)), ("4.9", "2.0", str(21 + i)),
                              100.0 / n, yi, yi - 1.96 * se, yi + 1.96 * se))
    return ForestData(
        title="Analysis 2.1 Pain intensity, end of treatment",
        measure="Std. Mean Difference",
        ratio=False,
        method_label="IV, Random, 95% CI",
        arm_headers=("Mean", "SD", "Total"),
        treat_heading="Remote CBT",
        ctrl_heading="Usual care",
        favours_left="Favours remote CBT",
        favours_right="Favours usual care",
        subgroups=(ForestSubgroup("", tuple(rows), "999", "999",
                                  pooled(-0.41, -0.52, -0.30, tuple([100.0 / n] * n)), "",
                                  ("Heterogeneity: Tau² = 0.05; Chi² = 50.1, df = 34 (P = 0.04); I² = 32%",
                                   "Test for overall effect: t = 7.02, df = 34 (P < 0.00001)")),),
        footer=("SMD: Hedges' g.",),
    )


def md_data() -> ForestData:
    """Mean differences without arm columns."""
    rows = (
        ForestRow("Evans 2016", (), (), 55.0, -1.2, -2.0, -0.4),
        ForestRow("Fox 2019", (), (), 45.0, -0.6, -1.7, 0.5),
    )
    return ForestData(
        title="Analysis 3.1 Pain (0-10 NRS)", measure="Mean Difference", ratio=False,
        method_label="IV, Random, 95% CI", arm_headers=(), treat_heading="CBT", ctrl_heading="Control",
        favours_left="Favours CBT", favours_right="Favours control",
        subgroups=(ForestSubgroup("", rows, "", "", pooled(-0.93, -1.6, -0.26, (55.0, 45.0)), "", ()),),
    )


@pytest.fixture(scope="module")
def ratio_fig():
    return forest.draw_forest(ratio_data())


@pytest.fixture(scope="module")
def cont_fig():
    return forest.draw_forest(continuous_data())


def by_gid(fig, prefix: str, kind=object) -> dict[str, object]:
    found = {}
    for a in fig.findobj(lambda a: isinstance(a, kind)):
        gid = a.get_gid()
        if gid and gid.startswith(prefix):
            found[gid] = a
    return found


def texts(fig) -> list[str]:
    return [t.get_text() for t in fig.findobj(Text)]


def test_diamond_vertices_are_back_transformed_ci_and_theta(ratio_fig):
    (ax,) = ratio_fig.axes
    assert ax.get_xscale() == "log"
    p = ratio_data().subgroups[0].pooled
    xy = by_gid(ratio_fig, "diamond-0", Polygon)["diamond-0"].get_xy()
    np.testing.assert_allclose(xy[:4, 0], np.exp([p.ci_lower, p.theta, p.ci_upper, p.theta]))
    assert not by_gid(ratio_fig, "diamond-1")  # pooled is None: no diamond


@pytest.mark.parametrize("make", [ratio_data, continuous_data, md_data])
def test_squares_and_whiskers_sit_at_the_data(make):
    data = make()
    fig = forest.draw_forest(data)
    tr = np.exp if data.ratio else float
    squares, whiskers = by_gid(fig, "square-", Line2D), by_gid(fig, "ci-", Line2D)
    lo_lim, hi_lim = fig.axes[0].get_xlim()
    n = 0
    for g, sg in enumerate(data.subgroups):
        for r, row in enumerate(sg.rows):
            if row.yi is None:
                assert f"square-{g}-{r}" not in squares
                continue
            n += 1
            np.testing.assert_allclose(squares[f"square-{g}-{r}"].get_xdata(), [tr(row.yi)])
            expected = [max(tr(row.ci_lower), lo_lim), min(tr(row.ci_upper), hi_lim)]
            np.testing.assert_allclose(whiskers[f"ci-{g}-{r}"].get_xdata(), expected)
    assert len(squares) == n


def test_square_area_is_proportional_to_weight(cont_fig, ratio_fig):
    sq = by_gid(ratio_fig, "square-", Line2D)
    side = {k: v.get_markersize() for k, v in sq.items()}
    assert side["square-0-0"] ** 2 / side["square-0-2"] ** 2 == pytest.approx(40 / 60)
    assert side["square-1-0"] == pytest.approx(forest.SQUARE_MAX_PT)  # heaviest row fills the cap
    assert max(v.get_markersize() for v in by_gid(cont_fig, "square-", Line2D).values()) <= 0.75 * forest.ROW_H * 72


@pytest.mark.parametrize("make", [ratio_data, continuous_data])
def test_rows_are_drawn_top_to_bottom_in_input_order(make):
    data = make()
    fig = forest.draw_forest(data)
    labels = by_gid(fig, "label-", Text)
    squares = by_gid(fig, "square-", Line2D)
    keys = [f"{g}-{r}" for g, sg in enumerate(data.subgroups) for r in range(len(sg.rows))]
    label_y = [labels[f"label-{k}"].get_position()[1] for k in keys]
    assert label_y == sorted(label_y, reverse=True) and len(set(label_y)) == len(label_y)
    # Axes y runs downwards (inches below the body top).
    sq_y = [squares[f"square-{k}"].get_ydata()[0] for k in keys if f"square-{k}" in squares]
    assert sq_y == sorted(sq_y)
    # Each square sits on the same row as its label.
    ax = fig.axes[0]
    for k in keys:
        if f"square-{k}" in squares:
            y_disp = ax.transData.transform((1.0, squares[f"square-{k}"].get_ydata()[0]))[1]
            y_label = fig.dpi_scale_trans.transform(labels[f"label-{k}"].get_position())[1]
            assert y_disp == pytest.approx(y_label, abs=1e-6)
    assert [t for t in texts(fig) if t in {"Subtotal (95% CI)", "Total (95% CI)"}]


def test_ratio_ticks_are_back_transformed_and_symmetric(ratio_fig):
    ax = ratio_fig.axes[0]
    ticks = ax.get_xticks()
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["0.2", "0.5", "1", "2", "5"]
    np.testing.assert_allclose(ticks * ticks[::-1], 1.0)
    assert ax.get_xlim() == pytest.approx((0.2, 5.0))


def test_linear_ticks_are_symmetric_round_numbers(cont_fig):
    ax = cont_fig.axes[0]
    ticks = ax.get_xticks()
    np.testing.assert_allclose(ticks, -ticks[::-1])
    assert 0.0 in ticks
    assert [t.get_text() for t in ax.get_xticklabels()] == [f"{t:g}" for t in ticks]


def test_wide_ci_is_clipped_with_an_arrow():
    data = ratio_data()
    sg = data.subgroups[1]
    wide = ForestRow("Diaz 2021", ("5", "25"), ("4", "24"), 100.0, math.log(1.2), math.log(0.37), math.log(500.0))
    data = ForestData(**{**data.__dict__, "subgroups": (data.subgroups[0], ForestSubgroup(
        sg.title, (wide,), sg.total_treat, sg.total_ctrl, None, sg.pooled_note, sg.lines))})
    fig = forest.draw_forest(data)
    lo, hi = fig.axes[0].get_xlim()
    assert hi == pytest.approx(100.0)  # capped, not stretched to 500
    assert "arrow-right-1-0" in by_gid(fig, "arrow-", Line2D)
    assert "arrow-left-1-0" not in by_gid(fig, "arrow-", Line2D)


def test_text_columns(ratio_fig):
    t = texts(ratio_fig)
    data = ratio_data()
    for s in (data.favours_left, data.favours_right, data.title, "Study or Subgroup", "Weight",
              "Risk Ratio\nIV, Random, 95% CI", "Remote CBT", "Control", "Events", "Total",
              "Not estimable", "Not pooled (k = 1)", "Subtotal (95% CI)", *data.footer,
              *data.subgroups[0].lines):
        assert s in t, s
    est = by_gid(ratio_fig, "estimate-", Text)
    assert est["estimate-0-0"].get_text() == "0.58 [0.32, 1.05]"
    assert est["estimate-0-1"].get_text() == "Not estimable"
    assert est["estimate-0"].get_text() == "0.57 [0.36, 0.90]"
    w = by_gid(ratio_fig, "weight-", Text)
    assert w["weight-0-0"].get_text() == "40.0%" and w["weight-0"].get_text() == "100.0%"
    assert "weight-0-1" not in w and "weight-1" not in w
    assert by_gid(ratio_fig, "total-treat-0", Text)["total-treat-0"].get_text() == "140"


def test_format_helpers():
    assert forest.format_estimate(-0.123, -0.456, 0.2, ratio=False) == "-0.12 [-0.46, 0.20]"
    assert forest.format_estimate(0.0, math.log(0.5), math.log(2), ratio=True) == "1.00 [0.50, 2.00]"
    assert forest.format_weight(12.345) == "12.3%" and forest.format_weight(None) == ""


def test_empty_arm_headers_omit_arm_columns():
    fig = forest.draw_forest(md_data())
    assert not by_gid(fig, "cell-") and not by_gid(fig, "heading-") and not by_gid(fig, "subheader-")
    assert "Total (95% CI)" in texts(fig)
    assert fig.get_figwidth() < forest.draw_forest(ratio_data()).get_figwidth()


def test_no_subgroups_is_an_error():
    data = md_data()
    with pytest.raises(ValueError, match="no subgroups"):
        forest.draw_forest(ForestData(**{**data.__dict__, "subgroups": ()}))


def test_height_grows_per_row_and_width_is_fixed():
    small, big = forest.draw_forest(continuous_data(10)), forest.draw_forest(continuous_data(15))
    assert big.get_figheight() - small.get_figheight() == pytest.approx(5 * forest.ROW_H)
    assert big.get_figwidth() == small.get_figwidth()


@pytest.mark.parametrize("make", [ratio_data, continuous_data])
def test_labels_stay_left_of_the_arm_columns(make):
    fig = forest.draw_forest(make())
    renderer = fig.canvas.get_renderer()
    boundary = (forest.MARGIN + forest.LABEL_W) * fig.dpi
    labels = {**by_gid(fig, "label-", Text), **by_gid(fig, "subtotal-label-", Text)}
    arm_x0 = min(t.get_window_extent(renderer).x0 for t in by_gid(fig, "cell-", Text).values())
    for gid, t in labels.items():
        right = t.get_window_extent(renderer).x1
        assert right <= boundary + 0.5 and right < arm_x0, gid
    if make is continuous_data:
        long = labels["label-0-3"]
        assert "\n" in long.get_text() and long.get_text().replace("\n", " ") == LONG_LABEL


def test_save_is_byte_deterministic_and_atomic(tmp_path, ratio_fig):
    a, b = tmp_path / "a", tmp_path / "b"
    save_figure(ratio_fig, [str(a / "f.svg"), str(a / "f.png"), str(a / "f.pdf")])
    save_figure(forest.draw_forest(ratio_data()), {"svg": str(b / "f.svg"), "png": str(b / "f.png"),
                                                   "pdf": str(b / "f.pdf")})
    for ext in ("svg", "png", "pdf"):
        assert (a / f"f.{ext}").read_bytes() == (b / f"f.{ext}").read_bytes(), ext
    assert sorted(p.name for p in a.iterdir()) == ["f.pdf", "f.png", "f.svg"]  # no temp files left
    assert (a / "f.png").read_bytes()[:4] == b"\x89PNG"
    assert b"<dc:date>" not in (a / "f.svg").read_bytes()


def test_save_rejects_unknown_format_and_leaves_rcparams_alone(tmp_path, ratio_fig):
    before = dict(matplotlib.rcParams)
    with pytest.raises(ValueError, match="unsupported"):
        save_figure(ratio_fig, [str(tmp_path / "f.jpg")])
    forest.draw_forest(md_data())
    save_figure(ratio_fig, [str(tmp_path / "f.svg")])
    assert dict(matplotlib.rcParams) == before


def test_bayesian_summary_line_is_optional():
    from evsynth.data.config import Outcome
    from evsynth.figures.forest_data import bayes_line

    outcome = Outcome("r", "Response", "RR", higher_is_better=True)
    rec = {"bayes_estimate": 1.5385, "bayes_ci_lower": 0.3636, "bayes_ci_upper": 6.509, "bayes_prob_benefit": 0.8515,
           "bayes_tau_prior": "half-normal(0.5)"}
    assert bayes_line(rec, outcome) == ("Bayesian random effects, tau ~ half-normal(0.5): RR 1.54 [0.36, 6.51] "
                                        "(95% CrI); P(favours treatment) = 85%")
    assert bayes_line({"bayes_status": "not run: x"}, outcome) == ""
