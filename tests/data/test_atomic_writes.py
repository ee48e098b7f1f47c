"""Atomic writes (evsynth.data.io, evsynth.figures._base): a write killed between its temporary
file and the rename leaves a hidden ``.NAME.*.tmp``; the job's next write of NAME clears it, and
only it, so a review recovered with --rerun-incomplete holds no leftovers."""

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402

from evsynth.data.io import write_text_atomic, write_tsv  # noqa: E402
from evsynth.figures._base import save_figure  # noqa: E402


def _stale(directory, name):
    path = directory / f".{name}.k1ll3d.tmp"
    path.write_text("half a table")
    return path


def test_a_text_write_clears_its_own_leftovers_and_no_others(tmp_path):
    mine, other = _stale(tmp_path, "pooled.tsv"), _stale(tmp_path, "studies.tsv")
    prefix = tmp_path / ".pooled.tsv.tmp"  # not a temporary of pooled.tsv's pattern
    prefix.write_text("kept")
    write_text_atomic(tmp_path / "pooled.tsv", "a\n1\n")
    assert not mine.exists() and other.exists() and prefix.exists()
    assert (tmp_path / "pooled.tsv").read_text() == "a\n1\n"


def test_a_table_write_clears_its_leftovers(tmp_path):
    stale = _stale(tmp_path, "leave_one_out.tsv")
    write_tsv([{"a": 1.5}], ["a"], tmp_path / "leave_one_out.tsv")
    assert not stale.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["leave_one_out.tsv"]


def test_a_figure_write_clears_its_leftovers_in_each_format(tmp_path):
    stale = [_stale(tmp_path, "forest.svg"), _stale(tmp_path, "forest.png")]
    other = _stale(tmp_path, "funnel.svg")
    fig = Figure(figsize=(1, 1))
    fig.add_subplot().plot([0, 1], [0, 1])
    save_figure(fig, {"svg": str(tmp_path / "forest.svg"), "png": str(tmp_path / "forest.png")})
    assert not any(p.exists() for p in stale) and other.exists()
    assert (tmp_path / "forest.svg").stat().st_size > 0 and (tmp_path / "forest.png").stat().st_size > 0


def test_a_name_with_glob_characters_matches_only_itself(tmp_path):
    mine, lookalike = _stale(tmp_path, "a[1].tsv"), _stale(tmp_path, "a1.tsv")
    write_text_atomic(tmp_path / "a[1].tsv", "x\n")
    assert not mine.exists() and lookalike.exists()
