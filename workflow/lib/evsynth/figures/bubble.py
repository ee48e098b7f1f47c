"""Meta-regression bubble plots: each effect against one moderator, bubble area ∝ its weight.

:func:`bubble_data` refits the model of the meta-regression table's row
(:func:`evsynth.tables.dependent.metaregression_records`): with one effect per trial
``rma(yi, vi, mods, test = "knha")`` (REML), with several the CHE working model with CR2
inference. For a continuous moderator it draws the fitted line with its CI band, metafor's
``predict(res, newmods = x)`` (t on k - p df), or for CHE clubSandwich's
``linear_contrast(res, vcov = "CR2", contrasts = cbind(1, x), test = "Satterthwaite")``, each
point with its own df; for a categorical moderator, each level's estimate and CI (the same
calls at the level's dummy row). Bubble areas are proportional to metafor's ``weights(res)``:
``1/(vᵢ + τ²)`` for the trial-level model, the diagonal of the inverse marginal covariance for
CHE. Effects are drawn on the reporting scale (a log axis for ratios), as metafor's
``regplot(res, transf = exp)``.

References
----------
Thompson SG, Higgins JPT (2002). How should meta-regression analyses be undertaken and
interpreted? Stat Med 21:1559-1573 (bubble plots, weights).
Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package. J Stat Softw
36(3):1-48 (``regplot``, ``predict``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from evsynth.figures._base import (
    DARK,
    FONT,
    RATIO_TICKS,
    SMALL,
    TITLE,
    figure_context,
    measurer,
    new_figure,
    shorten,
    wrap_lines,
)
from evsynth.stats.dependent import ClusteredCovariance
from evsynth.stats.metaregression import moderator_design, predict
from evsynth.stats.multilevel import fit_multilevel
from evsynth.stats.multivariate import rma_mv
from evsynth.stats.robust import Contrasts, linear_contrasts

__all__ = ["GRID_POINTS", "BubbleData", "bubble_data", "bubble_figure", "message_figure"]

#: Points of the fitted line over the moderator's observed range.
GRID_POINTS = 101
_LINE_H = 0.16  # inches per footnote line
_MAX_AREA = 400.0  # pt², the heaviest bubble
_FINE_TICKS = (0.3, 0.4, 0.6, 0.7, 0.8, 0.9, 1.25, 1.5, 3, 4)


@dataclass(frozen=True)
class BubbleData:
    """What a bubble plot draws, on the analysis scale (log for ratios).

    ``x`` holds the moderator per effect (floats for a continuous moderator, level names for a
    categorical one); ``weight`` is in percent. ``at`` are the grid values (continuous) or the
    levels (categorical) where ``fitted`` gives the estimate and CI.
    """

    moderator: str
    kind: str
    model: str
    x: tuple
    y: np.ndarray
    weight: np.ndarray
    at: tuple
    fitted: Contrasts


def bubble_data(y, v, trial: Sequence[str], values: Sequence, kind: str, rho: float, alpha: float,
                moderator: str = "") -> BubbleData:
    """The points, weights and fitted values of one moderator's meta-regression.

    Parameters
    ----------
    y, v : array_like
        Effects (analysis scale) and their sampling variances.
    trial : sequence of str
        Trial of each effect; several effects in a trial select the CHE model.
    values : sequence
        The moderator per effect (study-table cells).
    kind : str
        "continuous" or "categorical".
    rho : float
        Within-trial correlation of the CHE working model.
    alpha : float
        Two-sided level of the CIs.
    moderator : str
        The moderator's name (study-table column).

    Returns
    -------
    BubbleData

    Raises
    ------
    ValueError
        As :func:`evsynth.stats.metaregression.moderator_design` (non-numeric or constant moderator).
    """
    y, v, trial = np.asarray(y, dtype=float), np.asarray(v, dtype=float), [str(t) for t in trial]
    X, names = moderator_design([(moderator or "x", values, kind)])
    if kind == "continuous":
        x = tuple(float(value) for value in values)
        at = tuple(np.linspace(min(x), max(x), GRID_POINTS).tolist())
        C = np.column_stack((np.ones(len(at)), at))
    else:
        x = tuple(str(value) for value in values)
        at = tuple(sorted(set(x)))  # moderator_design's level order: the first is the reference
        C = np.vstack((np.zeros(len(at) - 1), np.eye(len(at) - 1)))
        C = np.column_stack((np.ones(len(at)), C))
    if len(set(trial)) == len(y):
        fit = rma_mv(y, v, X, names=names, test="knha", alpha=alpha)
        w = 1 / (v + fit.tau2)
        model, fitted = "trial-level", predict(fit, C)
    else:
        fit = fit_multilevel(y, ClusteredCovariance.constant_correlation(v, trial, rho), X, names=names, test="t",
                             alpha=alpha)
        w = np.empty(len(y))
        for rows, W in zip(fit.model.rows, fit.model.W):
            w[rows] = np.diagonal(W, axis1=-2, axis2=-1)
        model, fitted = "che", linear_contrasts(fit, C)
    return BubbleData(moderator, kind, model, x, y, 100 * w / w.sum(), at, fitted)


# ---------------------------------------------------------------------------------------
# Drawing.
# ---------------------------------------------------------------------------------------


def _layout(fig: Figure, title: str, lines: Sequence[str], notes: Sequence[str]):
    """Size the figure (6 in wide) to its notes; title and subtitle lines on top; return the axes."""
    measure = measurer(fig)
    wrapped = [line for note in notes for line in wrap_lines(measure, note, 5.7)]
    top, plot_h, below = 0.45 + 0.22 * len(lines), 3.3, 0.6
    footer = 0.15 + _LINE_H * len(wrapped)
    height = top + plot_h + below + footer
    fig.set_size_inches(6.0, height)
    fig.text(0.18 / 6.0, 1 - 0.25 / height, shorten(measure, title, 5.7, TITLE), fontsize=TITLE,
             fontweight="bold", va="center")
    for i, line in enumerate(lines):
        fig.text(0.18 / 6.0, 1 - (0.52 + 0.22 * i) / height, shorten(measure, line, 5.7, FONT), fontsize=FONT,
                 va="center", color="black" if i == 0 else "0.25")
    for i, line in enumerate(wrapped):
        fig.text(0.18 / 6.0, (footer - 0.1 - i * _LINE_H) / height, line, fontsize=SMALL, va="top")
    return fig.add_axes((0.12, (footer + below) / height, 0.83, plot_h / height))


def bubble_figure(data: BubbleData, *, title: str, comparison: str, measure: str, ratio: bool,
                  summary: str = "", notes: Sequence[str] = ()) -> Figure:
    """Draw one bubble plot.

    Parameters
    ----------
    data : BubbleData
    title : str
        Outcome and timepoint window.
    comparison : str
        Treatment vs comparator, as labelled elsewhere.
    measure : str
        The effect measure's name (y axis).
    ratio : bool
        True for ratio measures: effects drawn as ratios on a log axis.
    summary : str
        The meta-regression table's omnibus test, R² and permutation p, shown under the title.
    notes : sequence of str
        Footnotes.
    """
    back = np.exp if ratio else (lambda a: np.asarray(a, dtype=float))
    how = ("REML with Knapp-Hartung t tests" if data.model == "trial-level"
           else "CHE working model, CR2 standard errors, Satterthwaite df")
    band = "fitted line with its CI band" if data.kind == "continuous" else "each level's estimate and CI"
    k_trials = len(data.y) if data.model == "trial-level" else None
    footer = [f"Bubble area proportional to the effect's weight in the model ({how}); {band}. "
              "Thompson & Higgins (2002); metafor regplot().", *notes]
    with figure_context():
        fig = new_figure()
        heading = f"Meta-regression on {data.moderator} ({data.kind}); k = {len(data.y)} effects"
        if k_trials is None:
            heading += f" in {data.model.upper()} model"
        ax = _layout(fig, title, [comparison, heading, summary] if summary else [comparison, heading], footer)
        # Fewer, smaller bubbles as k grows, so dozens of effects stay legible.
        largest = _MAX_AREA * min(1.0, math.sqrt(20 / len(data.y)))
        area = np.maximum(largest * data.weight / data.weight.max(), 4.0)
        fit = data.fitted
        if data.kind == "continuous":
            xs = np.asarray(data.x, dtype=float)
            at = np.asarray(data.at, dtype=float)
            ax.fill_between(at, back(fit.ci_lower), back(fit.ci_upper), color=DARK, alpha=0.15, linewidth=0,
                            zorder=1)
            ax.plot(at, back(fit.estimate), color=DARK, lw=1.0, zorder=2)
            ax.set_xlabel(data.moderator, fontsize=SMALL)
            # Years, session counts: whole-number ticks, never "2012.5" or an offset.
            ax.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=bool(np.all(xs == np.round(xs)))))
            ax.ticklabel_format(axis="x", style="plain", useOffset=False)
        else:
            position = {level: i for i, level in enumerate(data.at)}
            xs = np.array([position[value] for value in data.x], dtype=float)
            offset = 0.28
            for i in range(len(data.at)):
                ax.plot([i + offset] * 2, [back(fit.ci_lower[i]), back(fit.ci_upper[i])], color=DARK, lw=1.0)
                ax.plot([i + offset], [back(fit.estimate[i])], marker="D", color=DARK, markersize=5)
            ax.set_xticks(range(len(data.at)), list(data.at))
            ax.set_xlim(-0.6, len(data.at) - 0.4)
            ax.set_xlabel(f"{data.moderator} (diamonds: estimate and CI per level)", fontsize=SMALL)
        order = np.argsort(-area, kind="stable")  # large bubbles first, small ones stay visible
        ax.scatter(xs[order], back(data.y[order]), s=area[order], facecolors="none", edgecolors=DARK,
                   linewidths=0.8, zorder=3)
        ax.axhline(1.0 if ratio else 0.0, color="black", lw=0.6, zorder=0)
        if ratio:
            _ratio_axis(ax, back(np.concatenate((data.y, fit.ci_lower, fit.ci_upper))))
        ax.set_ylabel(measure, fontsize=SMALL)
        ax.tick_params(labelsize=SMALL, length=3, width=0.6)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    return fig


def _ratio_axis(ax, values: np.ndarray) -> None:
    """A log y axis with 1-2-5 ticks spanning the drawn values."""
    values = values[np.isfinite(values) & (values > 0)]
    lo, hi = float(values.min()), float(values.max())
    ax.set_yscale("log")
    ax.set_ylim(lo / 1.15, hi * 1.15)
    ticks = [t for t in RATIO_TICKS if lo / 1.15 <= t <= hi * 1.15]
    if len(ticks) < 3:  # a narrow range: finer steps
        ticks = [t for t in sorted({*RATIO_TICKS, *_FINE_TICKS}) if lo / 1.15 <= t <= hi * 1.15] or [1.0]
    ax.set_yticks(ticks, [f"{t:g}" for t in ticks])
    ax.minorticks_off()


def message_figure(title: str, comparison: str, message: str) -> Figure:
    """A small figure saying why there is no bubble plot (the table row's status, in full)."""
    with figure_context():
        fig = new_figure((6.0, 1.3))
        measure = measurer(fig)
        lines = wrap_lines(measure, message, 5.7, FONT)
        height = 0.95 + 0.2 * len(lines)
        fig.set_size_inches(6.0, height)
        fig.text(0.03, 1 - 0.3 / height, shorten(measure, title, 5.7, TITLE), fontsize=TITLE, fontweight="bold")
        fig.text(0.03, 1 - 0.58 / height, shorten(measure, comparison, 5.7, FONT), fontsize=FONT)
        for i, line in enumerate(lines):
            fig.text(0.03, 1 - (0.85 + 0.2 * i) / height, line, fontsize=FONT, color="0.25")
    return fig


def summary_text(row: dict) -> str:
    """The omnibus test, R² and permutation p of a meta-regression table row, for the subtitle."""
    def number(key: str):
        value = row.get(key)
        try:
            value = float(value)
        except (TypeError, ValueError):
            return None
        return value if math.isfinite(value) else None

    parts = []
    qm, df1, df2, p = number("qm"), number("qm_df1"), number("qm_df2"), number("qm_p")
    if qm is not None and p is not None:
        dfs = f"{df1:g}, {df2:.3g}" if df1 is not None and df2 is not None else f"{df1:g}"
        parts.append(f"omnibus F({dfs}) = {qm:.3g}, p = {p:.3g}")
    if (perm := number("qm_permutation_p")) is not None:
        parts.append(f"permutation p = {perm:.3g}")
    if (r2 := number("r2")) is not None:
        parts.append(f"R² = {r2:.1f}%")
    return "; ".join(parts)
