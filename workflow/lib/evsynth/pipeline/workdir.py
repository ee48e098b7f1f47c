"""The working directory of a run: where config.yaml, the study table and results/ are.

Snakemake merges a ``--configfile`` over the Snakefile's ``configfile: "config.yaml"``, which
is right for an override (tests/fixtures/bad_configs/) but wrong for a review of its own kept
in another directory, such as examples/metapsy/: the repository root's outcomes, study table
and baselines would leak into it and its results would land in the root's results/. A config
file that sets ``workdir`` names its review's directory, relative to the file itself
(``workdir: .`` is the file's own directory); the Snakefile moves there before it reads
config.yaml, so the run reads that directory's config.yaml (usually the file itself), table
and baselines and writes that directory's results/. ``--directory`` still wins: Snakemake
ignores the ``workdir:`` directive when it is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import yaml


class WorkdirError(ValueError):
    """A config file's ``workdir`` does not name an existing directory."""


def review_directory(configfiles: Sequence[str | Path]) -> str:
    """The directory the run works in, from the ``--configfile`` files (in command-line order).

    Parameters
    ----------
    configfiles
        Snakemake's ``workflow.overwrite_configfiles`` (absolute paths; empty without
        ``--configfile``).

    Returns
    -------
    str
        The last file's ``workdir`` that sets one, resolved against that file's directory;
        ``"."`` (the current working directory) when none sets it.

    Raises
    ------
    WorkdirError
        When that ``workdir`` is not a string naming an existing directory (Snakemake would
        otherwise create it and run an empty review there).
    """
    chosen = "."
    for configfile in configfiles:
        path = Path(configfile)
        with path.open(encoding="utf-8") as handle:
            data = yaml.safe_load(handle) or {}
        if not isinstance(data, dict) or "workdir" not in data:
            continue
        value = data["workdir"]
        if not isinstance(value, str) or not value:
            raise WorkdirError(f"{path}: workdir: {value!r} is not a directory path (a string such as '.')")
        directory = (path.parent / value).resolve()
        if not directory.is_dir():
            raise WorkdirError(
                f"{path}: workdir: {value!r} is not an existing directory (resolved against the config "
                f"file's directory to {directory})"
            )
        chosen = str(directory)
    return chosen
