"""config.yaml figures.formats (issue 18): which formats the plotting rules declare and draw,
the one the Snakemake report embeds, and bad values refused naming the key."""

from __future__ import annotations

import pytest

from evsynth.data.config import DEFAULT_FIGURE_FORMATS, ConfigError, load_config
from evsynth.figures._base import figure_paths
from evsynth.pipeline.plan import Plan
from pipeline.test_plan import shipped_config


def _extensions(paths: list[str]) -> set[str]:
    return {p.rsplit(".", 1)[1] for p in paths}


def test_the_default_is_svg_and_png():
    config = shipped_config()
    del config["figures"]
    plan = Plan.load(config)
    assert plan.config.figure_formats == DEFAULT_FIGURE_FORMATS == ("svg", "png")
    assert plan.config.report_format == "svg"
    assert _extensions(plan.sensitivity_plots() + plan.network_plots()) == {"svg", "png"}


def test_formats_are_kept_in_one_order_and_the_report_takes_the_first():
    plan = Plan.load(shipped_config(figures={"formats": ["pdf", "svg"]}))
    assert plan.config.figure_formats == ("svg", "pdf") and plan.config.report_format == "svg"
    plots = plan.sensitivity_plots()
    assert _extensions(plots + plan.network_plots() + plan.metaregression_plots()) == {"svg", "pdf"}
    assert plots[:2] == [plots[0], plots[0].replace(".svg", ".pdf")]  # each figure's formats together
    only_pdf = Plan.load(shipped_config(figures={"formats": ["pdf"]}))
    assert only_pdf.config.report_format == "pdf" and _extensions(only_pdf.sensitivity_plots()) == {"pdf"}


@pytest.mark.parametrize("formats, words", [
    (["svg", "jpg"], "unknown format 'jpg'; figures can be drawn as svg, png, pdf"),
    ([], "give a list of one or more of svg, png, pdf"),
    ("svg", "give a list of one or more of svg, png, pdf"),
    (["png", "png"], "a format is listed twice"),
])
def test_bad_formats_are_refused_naming_the_key(formats, words):
    with pytest.raises(ConfigError) as err:
        load_config(shipped_config(figures={"formats": formats}))
    assert str(err.value).startswith(f"config.yaml: figures.formats = {formats!r}: ")
    assert words in str(err.value)


class _Outputs(dict):
    """A job's named outputs as the plotting scripts see them (Snakemake's Namedlist has items())."""


def test_figure_paths_picks_one_figure_among_a_jobs_outputs():
    outputs = _Outputs(graph_svg="g.svg", graph_pdf="g.pdf", forest_svg="f.svg", table="t.tsv")
    assert figure_paths(outputs, "graph") == {"svg": "g.svg", "pdf": "g.pdf"}
    assert figure_paths(_Outputs(png="a.png", log="a.log")) == {"png": "a.png"}
