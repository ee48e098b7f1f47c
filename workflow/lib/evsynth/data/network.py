"""The contrast rows of a network (``results/analyses/{outcome}/{timepoint}/studies.tsv``, or
any table or mapping of equal-length columns) as the arrays :mod:`evsynth.stats.network` takes.

:func:`network_contrasts` checks the required columns, reads numbers leniently (text that is
not a number is missing) and ``estimable`` as yes/true/1; :func:`fit_network`,
:func:`network_status` and :func:`network_structure` are the statistics layer's functions on
such a table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from evsynth._values import is_na
from evsynth.stats.network import Contrasts, NetworkFit, NetworkStatus, NetworkStructure
from evsynth.stats.network import fit_network as _fit_network
from evsynth.stats.network import network_status as _network_status
from evsynth.stats.network import network_structure as _network_structure

__all__ = ["REQUIRED", "network_contrasts", "fit_network", "network_status", "network_structure"]

REQUIRED = ("study", "treatment", "comparator", "yi", "vi")

Table = pd.DataFrame | Mapping[str, Sequence[Any]]


def network_contrasts(contrasts: Table) -> Contrasts:
    """The rows of ``contrasts`` as :class:`~evsynth.stats.network.Contrasts`; raises ValueError
    when a required column is missing."""
    frame = _frame(contrasts)
    return Contrasts(
        study=np.array([str(v) for v in frame["study"]], dtype=object),
        treatment=_labels(frame["treatment"]),
        comparator=_labels(frame["comparator"]),
        yi=_floats(frame, "yi"),
        vi=_floats(frame, "vi"),
        estimable=_truthy(frame["estimable"]) if "estimable" in frame else None,
        arm_group=(np.array([g if isinstance(g, str) else None for g in frame["arm_group"]], dtype=object)
                   if "arm_group" in frame else None),
        var_treat_arm=_floats(frame, "var_treat_arm"),
        var_ctrl_arm=_floats(frame, "var_ctrl_arm"),
        n_treat=_floats(frame, "n_treat"),
        n_ctrl=_floats(frame, "n_ctrl"),
    )


def fit_network(contrasts: Table, **options: Any) -> NetworkFit:
    """:func:`evsynth.stats.network.fit_network` on a table of contrast rows (same options)."""
    return _fit_network(network_contrasts(contrasts), **options)


def network_status(contrasts: Table, treatments: Sequence[str] | None = None) -> NetworkStatus:
    """:func:`evsynth.stats.network.network_status` on a table of contrast rows."""
    return _network_status(network_contrasts(contrasts), treatments)


def network_structure(contrasts: Table, treatments: Sequence[str] | None = None) -> NetworkStructure:
    """:func:`evsynth.stats.network.network_structure` on a table of contrast rows."""
    return _network_structure(network_contrasts(contrasts), treatments)


def _frame(contrasts: Table) -> pd.DataFrame:
    frame = pd.DataFrame(contrasts).reset_index(drop=True)
    missing = [c for c in REQUIRED if c not in frame]
    if missing:
        raise ValueError(f"contrast rows need the columns {', '.join(missing)}")
    return frame


def _labels(values: pd.Series) -> np.ndarray:
    """Text labels, None where missing."""
    present = values.notna().to_numpy()
    out = np.empty(len(values), dtype=object)
    out[:] = [str(v) if ok else None for v, ok in zip(values, present)]
    return out


def _truthy(values: pd.Series) -> np.ndarray:
    def one(v: Any) -> bool:
        if isinstance(v, str):
            return v.strip().lower() in ("yes", "true", "1")
        return bool(v) and not is_na(v)

    return np.array([one(v) for v in values], dtype=bool)


def _floats(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
