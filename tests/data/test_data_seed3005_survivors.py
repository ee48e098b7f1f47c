"""Data-layer behaviour the seed-3005 mutation sample (mutation/report-seed3005.md) found
untested: an arm contrast without a variance is not estimable, an unknown full-text exclusion
reason is answered with the configured list, and ``benefit_positive`` is refused on arm counts of
a binary outcome and on arm means.

The rows are rule fixtures, not data: they never enter a study table."""

from __future__ import annotations

import pytest

from data.test_data_rules_exact import EFFECT_OUTCOMES, MODES, _arm
from data.test_validate_boundaries import problems
from evsynth.data.contrasts import arm_contrasts
from evsynth.data.screening import _row_problems


# --- an arm contrast with no variance is not estimable ---------------------------------------------------------
def test_an_arm_contrast_without_a_variance_is_not_estimable():
    """Kills data/contrasts.py:270:26:1356 (``isfinite(yi) and isfinite(vi) and vi > 0`` -> ``or``).
    arm_scale gives an arm with neither CI nor SE a NaN variance; its contrasts have a finite
    estimate but no variance, so they must not be marked estimable (a pooling job would weight
    them by 1/NaN). The fully reported pair beside them stays estimable."""
    rows = [_arm("coach", 2.0, 1.0, 3.0), _arm("online", 2.5, None, None), _arm("usual_care", 3.0, 2.2, 3.8)]
    effects = arm_contrasts(rows, EFFECT_OUTCOMES, MODES).effects
    got = {(t, c): e for t, c, e in zip(effects["treatment"], effects["comparator"], effects["estimable"])}
    assert got == {("coach", "online"): False, ("coach", "usual_care"): True, ("online", "usual_care"): False}


# --- an unknown exclusion reason: the message lists the configured reasons ------------------------------------
REASONS = ("wrong population", "no control group")
EXCLUDED = {"record_id": "r7", "source": "MEDLINE", "source_type": "database", "screening": "include",
            "retrieval": "retrieved", "eligibility": "exclude"}


def test_an_unknown_exclusion_reason_is_answered_with_the_configured_list():
    """Kills data/screening.py:117:19:1971 (``', '.join(reasons) or 'none'`` -> ``and``, which
    would print 'none' whenever reasons are configured). The message is the reader's only way to
    learn which spellings config.yaml accepts; with no reasons configured it says 'none'."""
    found = _row_problems({**EXCLUDED, "exclusion_reason": "wrong populaton"}, 6, "log.tsv", REASONS)
    assert [(p.line, p.column, p.value) for p in found] == [(6, "exclusion_reason", "wrong populaton")]
    assert found[0].rule.startswith("unknown reason; config.yaml: screening.exclusion_reasons lists "
                                    "wrong population, no control group")
    none = _row_problems({**EXCLUDED, "exclusion_reason": "wrong population"}, 6, "log.tsv", ())
    assert none[0].rule.startswith("unknown reason; config.yaml: screening.exclusion_reasons lists none")


# --- benefit_positive: reported effects, and counts in an SMD outcome, only -----------------------------------
BENEFIT_POSITIVE = ("effect_direction", "benefit_positive",
                    "benefit_positive applies to reported effects (and to counts in an SMD outcome) only")


@pytest.mark.parametrize(("form", "outcome", "expected"), [
    ("counts", "pain_severity_response", [BENEFIT_POSITIVE]),  # RR from counts: the sign follows from the counts
    ("means", "bpi_pain_severity", [BENEFIT_POSITIVE]),  # MD from arm means
    ("means", "pain_interference", [BENEFIT_POSITIVE]),  # SMD from arm means: still the means' sign
    ("contrast", "pain_interference", []),
])
def test_benefit_positive_is_refused_on_arm_data_of_a_binary_or_continuous_outcome(form, outcome, expected):
    """Kills data/validate.py:323:71:2139 (``form == 'counts' and measure == 'SMD'`` ->
    ``or``, which would accept benefit_positive on every counts row and on any row of an SMD
    outcome). On arm counts or arm means the sign of the contrast follows from the arms, so the
    flag would be meaningless there and is refused, naming the column."""
    assert problems(form, outcome=outcome, effect_direction="benefit_positive") == expected
