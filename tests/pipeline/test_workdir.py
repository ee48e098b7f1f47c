"""evsynth.pipeline.workdir: a --configfile's ``workdir`` names its review's directory, relative
to the file; the Snakefile moves there before reading config.yaml (the run itself:
tests/workflow/test_metapsy_example.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from evsynth.pipeline.workdir import WorkdirError, review_directory


def _config(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_workdir_is_resolved_against_the_config_files_directory(tmp_path):
    review = _config(tmp_path / "examples" / "review" / "config.yaml", "workdir: .\nstudies: studies.tsv\n")
    assert review_directory([review]) == str((tmp_path / "examples" / "review").resolve())
    sibling = _config(tmp_path / "configs" / "other.yaml", "workdir: ../examples/review\n")
    assert review_directory([sibling]) == str((tmp_path / "examples" / "review").resolve())


def test_without_workdir_the_run_stays_where_it_is(tmp_path):
    override = _config(tmp_path / "override.yaml", "pooling: {profile: metafor}\n")
    assert review_directory([]) == review_directory([override]) == "."
    # The last file that sets workdir decides; an override after it does not undo it.
    review = _config(tmp_path / "review" / "config.yaml", "workdir: .\n")
    assert review_directory([review, override]) == str((tmp_path / "review").resolve())


@pytest.mark.parametrize("value,message", [("missing", "is not an existing directory"),
                                           ("''", "is not a directory path"), ("[a]", "is not a directory path")])
def test_a_workdir_that_is_no_directory_is_refused_naming_file_and_value(tmp_path, value, message):
    config = _config(tmp_path / "config.yaml", f"workdir: {value}\n")
    with pytest.raises(WorkdirError, match=message) as err:
        review_directory([config])
    assert str(config) in str(err.value) and "workdir:" in str(err.value)
    assert not (tmp_path / "missing").exists()  # Snakemake would have created it
