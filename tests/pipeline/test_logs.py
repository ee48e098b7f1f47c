"""evsynth.pipeline.logs.log_to: what a job's log file receives."""

import logging
import warnings

from evsynth.pipeline.logs import log_to


def test_log_keeps_our_info_and_library_warnings_but_not_library_chatter(tmp_path):
    path = tmp_path / "job.log"
    with log_to(str(path)) as log:
        log.info("pooled 3 comparisons")
        logging.getLogger("fontTools.subset").info("Glyph names: ['.notdef', 'A']")
        logging.getLogger("pymare").warning("tau2 at the boundary")
        warnings.warn("divide by zero", RuntimeWarning, stacklevel=1)
    text = path.read_text()
    assert "INFO evsynth: pooled 3 comparisons" in text
    assert "WARNING pymare: tau2 at the boundary" in text
    assert "divide by zero" in text
    assert "fontTools" not in text


def test_log_restores_the_logging_levels(tmp_path):
    root, ours = logging.getLogger(), logging.getLogger("evsynth")
    before = root.level, ours.level
    with log_to(str(tmp_path / "job.log")):
        pass
    assert (root.level, ours.level) == before


def test_log_leaves_out_resource_warnings_such_as_pymares_import(tmp_path):
    path = tmp_path / "job.log"
    with log_to(str(path)):
        warnings.warn("unclosed file <expressions.json>", ResourceWarning, stacklevel=1)
        warnings.warn("tau2 did not converge", UserWarning, stacklevel=1)
    text = path.read_text()
    assert "unclosed file" not in text
    assert "tau2 did not converge" in text
