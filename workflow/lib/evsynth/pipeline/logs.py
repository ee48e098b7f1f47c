"""Route a job's logging and warnings to its Snakemake log file."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator


@contextlib.contextmanager
def log_to(path: str) -> Iterator[logging.Logger]:
    """Send ``logging`` and ``warnings`` to ``path`` for the duration of the block.

    Snakemake keeps a job's log file but does not redirect its output into it, so a
    warning from PyMARE or numpy would otherwise be lost with the terminal.
    """
    handler = logging.FileHandler(path, mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    ours = logging.getLogger("evsynth")
    root.addHandler(handler)
    # Our INFO lines, but only warnings from libraries: at INFO, fontTools alone writes
    # ~500 lines for every PDF it embeds fonts in.
    levels = root.level, ours.level
    root.setLevel(logging.WARNING)
    ours.setLevel(logging.INFO)
    logging.captureWarnings(True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            # Hidden by Python's own defaults and about file handles, not the analysis: PyMARE's
            # import leaves its expressions.json open, which headed every analyse log.
            warnings.simplefilter("ignore", ResourceWarning)
            yield ours
    finally:
        logging.captureWarnings(False)
        root.setLevel(levels[0])
        ours.setLevel(levels[1])
        root.removeHandler(handler)
        handler.close()
