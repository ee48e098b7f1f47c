"""Cluster-randomised trials analysed as if individually randomised: the design effect.

A trial that randomised clusters (practices, therapists' caseloads) and reports its results
without allowing for clustering gives too small a variance. The row's ``cluster_size`` (mean
cluster size ``m``) and ``icc`` (intracluster correlation; or ``icc`` under the outcome in
``config.yaml: outcomes``) give the design effect ``DE = 1 + (m - 1) ICC`` (Cochrane Handbook
v6.5 §23.1.4), and the row's variance is multiplied by it: for counts and mean differences
that is exactly the Handbook's "effective sample size" (n and events divided by DE); for an
SMD it is the same up to the small-sample factor J. The arm sizes shown stay those reported.

Leave both cells empty when the trial's own analysis already allows for clustering.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from evsynth.stats.conversions import design_effect

CLUSTER_COLUMNS = ("cluster_size", "icc")
SOURCE = "Cochrane Handbook v6.5 §23.1.4"


def outcome_icc(config: Mapping[str, Any], outcome: str) -> float | None:
    """The ICC configured for ``outcome`` (``config.yaml: outcomes.<id>.icc``), or None."""
    spec = (config.get("outcomes") or {}).get(outcome) or {}
    return spec.get("icc")


def check_cluster(
    row: Mapping[str, str],
    values: Mapping[str, Any],
    form: str,
    config: Mapping[str, Any],
    bad: Callable[[str, str], None],
) -> None:
    """A cluster size of at least 1 and an ICC in [0, 1), from the row or the outcome's config."""
    size, icc = values.get("cluster_size"), values.get("icc")
    if not row.get("cluster_size", "") and not row.get("icc", ""):
        return
    if form == "arm":
        bad(
            "cluster_size" if row.get("cluster_size", "") else "icc",
            "not on arm rows: give the design effect's inputs on contrast, counts or means rows",
        )
        return
    if icc is not None and not 0 <= icc < 1:
        bad("icc", "an intracluster correlation must lie in [0, 1)")
    if size is not None and size < 1:
        bad("cluster_size", "a mean cluster size must be at least 1")
    if row.get("icc", "") and not row.get("cluster_size", ""):
        bad("cluster_size", "must be filled with the mean cluster size when icc is given")
    if row.get("cluster_size", "") and not row.get("icc", "") and outcome_icc(config, row.get("outcome", "")) is None:
        bad(
            "icc",
            f"must be filled (or set icc under outcome '{row.get('outcome', '')}' in config.yaml): the design "
            "effect needs the intracluster correlation",
        )


def convert_cluster(values: dict[str, Any], config: Mapping[str, Any], outcome: str) -> None:
    """Set ``design_effect`` (None for an individually randomised trial) and label the row."""
    size = values.get("cluster_size")
    values["design_effect"] = None
    if size is None:
        return
    icc, origin = values.get("icc"), "the row"
    if icc is None:
        icc, origin = outcome_icc(config, outcome), f"config.yaml outcomes.{outcome}.icc"
    de = float(design_effect(size, icc))
    values["design_effect"] = de
    ids = [i for i in (values.get("conversion") or "").split("; ") if i] + ["cluster_design_effect"]
    values["conversion"] = "; ".join(dict.fromkeys(ids))
    detail = (
        f"variance x design effect {de:.6g} = 1 + ({size:g} - 1) x ICC {icc:g} (ICC from {origin}; cluster "
        f"trial analysed as individually randomised; {SOURCE})"
    )
    values["conversion_detail"] = "; ".join(d for d in (values.get("conversion_detail"), detail) if d)
