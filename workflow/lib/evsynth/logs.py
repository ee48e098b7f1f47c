"""Route a job's logging and warnings to its Snakemake log file."""

from __future__ import annotations

import contextlib
import logging
import warnings
from typing import Iterator


@contextlib.contextmanager
def log_to(path: str) -> Iterator[logging.Logger]:
    """Send ``logging`` and ``warnings`` to ``path`` for the duration of the block.

    Snakemake keeps a job's log file but does not redirect its output into it, so a
    warning from PyMARE or numpy would otherwise be lost with the terminal.
    """
    handler = logging.FileHandler(path, mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            yield logging.getLogger("evsynth")
    finally:
        logging.captureWarnings(False)
        root.removeHandler(handler)
        handler.close()
