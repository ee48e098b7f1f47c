"""The network's structure, from arrays of contrast rows: which treatments and trials form it,
its connected components and, per trial, a spanning tree of its arms with the sampling
covariance of its contrasts (no fitting).

Covariance between contrasts of one multi-arm study: from the arm variances
(``var_treat_arm``/``var_ctrl_arm``, rows formed from arms); otherwise, when the study
reports the contrasts of every pair of its arms, from arm variances back-calculated from
those contrasts' variances (least squares ``v_ab = s_a + s_b``, exact for three arms; as
netmeta does for multi-arm studies, Rücker & Schwarzer 2014); otherwise from the arm sizes
(``s_a ∝ 1/n_a`` within each contrast, i.e. equal SDs across arms); otherwise 0, and the
note says the shared arm is counted twice.

References
----------
Rücker G, Schwarzer G (2014). Reduce dimension or reduce weights? Comparing two approaches
to multi-arm studies in network meta-analysis. Stat Med 33:4353-4369.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from evsynth.stats.multivariate import BlockCovariance
from evsynth.stats.network.results import (
    STATUS_DISCONNECTED,
    STATUS_EMPTY,
    STATUS_FITTED,
    STATUS_SINGLE,
    Edge,
    NetworkStatus,
    NetworkStructure,
)


@dataclass(frozen=True)
class Contrasts:
    """The contrast rows of a network, one array entry per row (``evsynth.data.network`` builds
    them from ``results/analyses/{outcome}/{timepoint}/studies.tsv``).

    ============================  ============================================================
    ``study``                     trial label; rows of one trial are one multi-arm study
    ``treatment``, ``comparator`` the two arms of the contrast, None where missing (``yi`` =
                                  treatment minus comparator on the analysis scale, log for
                                  RR and OR)
    ``yi``, ``vi``                estimate and sampling variance (NaN where missing)
    ``estimable``                 False: the row is left out (default: all True)
    ``arm_group``,                contrasts formed from arm-level rows (``evsynth.data.contrasts``;
    ``var_treat_arm``,            group None otherwise): the arm variances, from which the
    ``var_ctrl_arm``              covariance of contrasts sharing an arm is rebuilt
    ``n_treat``, ``n_ctrl``       arm sizes (NaN where unknown), for participants per node and
                                  for the covariance fallback
    ============================  ============================================================

    Text columns are object arrays of ``str`` (or None), the others float arrays; the optional
    ones default to unknown.
    """

    study: np.ndarray
    treatment: np.ndarray
    comparator: np.ndarray
    yi: np.ndarray
    vi: np.ndarray
    estimable: np.ndarray | None = None
    arm_group: np.ndarray | None = None
    var_treat_arm: np.ndarray | None = None
    var_ctrl_arm: np.ndarray | None = None
    n_treat: np.ndarray | None = None
    n_ctrl: np.ndarray | None = None
    usable: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        k = len(self.yi)
        defaults = {"estimable": np.ones(k, dtype=bool), "arm_group": np.full(k, None, dtype=object)}
        for name in ("var_treat_arm", "var_ctrl_arm", "n_treat", "n_ctrl"):
            defaults[name] = np.full(k, np.nan)
        for name, default in defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, default)
        for name in ("study", "treatment", "comparator", "arm_group"):
            object.__setattr__(self, name, _labels(getattr(self, name)))
        yi, vi = self.yi, self.vi
        ok = np.isfinite(yi) & np.isfinite(vi) & (vi > 0)
        ok &= np.array([t is not None and c is not None and t != c for t, c in zip(self.treatment, self.comparator)],
                       dtype=bool)
        object.__setattr__(self, "usable", ok & np.asarray(self.estimable, dtype=bool))

    def __len__(self) -> int:
        return len(self.yi)


def _labels(values) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


@dataclass
class _Study:
    label: str
    rows: list[int]  # selected input rows (a spanning forest of the study's arms)
    arms: list[int]  # treatment indices, in treatment order
    y: np.ndarray
    B: np.ndarray  # len(rows) x n incidence
    V: np.ndarray
    pairs: dict[tuple[int, int], tuple[float, float]]  # (a, b), a < b: estimate of a - b, variance
    n_arm: dict[int, float | None]


def _order(contrasts: Contrasts, ok: np.ndarray, treatments: Sequence[str] | None) -> tuple[list[str], list[str]]:
    present = list(dict.fromkeys(x for pair in zip(contrasts.treatment[ok], contrasts.comparator[ok]) for x in pair))
    if treatments is None:
        return present, []
    requested = [str(t) for t in treatments]
    unknown = [t for t in present if t not in requested]
    ordered = [t for t in requested if t in present] + unknown
    return ordered, [t for t in requested if t not in present]


class _Forest:
    """Union-find over integer labels."""

    def __init__(self, n: int):
        self.parent = list(range(n))

    def root(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def join(self, i: int, j: int) -> bool:
        a, b = self.root(i), self.root(j)
        if a == b:
            return False
        self.parent[a] = b
        return True


def _components(n: int, groups: Sequence[Sequence[int]]) -> list[list[int]]:
    forest = _Forest(n)
    for g in groups:
        for a in g[1:]:
            forest.join(g[0], a)
    out: dict[int, list[int]] = {}
    for i in range(n):
        out.setdefault(forest.root(i), []).append(i)
    return sorted(out.values(), key=lambda c: c[0])


def network_status(contrasts: Contrasts, treatments: Sequence[str] | None = None) -> NetworkStatus:
    """Which treatments and trials form the network, whether it is connected, and why not
    (no fitting). ``plotted`` is True for a connected network of two or more trials."""
    ok = contrasts.usable
    order, missing = _order(contrasts, ok, treatments)
    index = {t: i for i, t in enumerate(order)}
    studies: dict[str, set[int]] = {}
    for s, t, c in zip(contrasts.study[ok], contrasts.treatment[ok], contrasts.comparator[ok]):
        studies.setdefault(s, set()).update((index[t], index[c]))
    comps = _components(len(order), [sorted(a) for a in studies.values()])
    components = tuple(tuple(order[i] for i in c) for c in comps)
    labels = tuple(studies)
    absent = f"; no estimable data for {', '.join(missing)} (not in the network)" if missing else ""
    if not labels:
        return NetworkStatus(STATUS_EMPTY, "no estimable data: no network to analyse", (), tuple(missing), (), ())
    if len(components) > 1:
        parts = " | ".join("{" + ", ".join(c) + "}" for c in components)
        message = (f"disconnected network: {len(components)} sub-networks {parts}; no relative effect between "
                   f"them is estimable, so no network meta-analysis was done (pairwise results are in pooled.tsv)"
                   + absent)
        return NetworkStatus(STATUS_DISCONNECTED, message, tuple(order), tuple(missing), components, labels)
    if len(labels) == 1:
        message = (f"single trial ({labels[0]}): the network estimates are that trial's own contrasts; "
                   "heterogeneity, inconsistency and prediction intervals are not estimable, and no network "
                   "plot is drawn" + absent)
        return NetworkStatus(STATUS_SINGLE, message, tuple(order), tuple(missing), components, labels)
    message = f"network of {len(order)} treatments from {len(labels)} trials" + absent
    return NetworkStatus(STATUS_FITTED, message, tuple(order), tuple(missing), components, labels)



def network_structure(contrasts: Contrasts, treatments: Sequence[str] | None = None) -> NetworkStructure:
    """The network's graph (no fitting): for plots and for checking a table before fitting."""
    ok = contrasts.usable
    order, _ = _order(contrasts, ok, treatments)
    status = network_status(contrasts, treatments)
    if not ok.any():
        return NetworkStructure(status, (), (), ())
    studies, _ = _prepare(contrasts, ok, order, None)
    multi = tuple(tuple(order[a] for a in s.arms) for s in studies if len(s.arms) > 2)
    return NetworkStructure(status, _edges(studies, order), _participants(studies, len(order)), multi)


def _arm_variances(study_rows: list[int], t: np.ndarray, c: np.ndarray, vi: np.ndarray,
                   arms: list[int]) -> dict[int, float] | None:
    """Arm variances s_a with v_ab = s_a + s_b from a study reporting every pair of its arms."""
    pairs: dict[tuple[int, int], float] = {}
    for r in study_rows:
        pairs.setdefault((min(t[r], c[r]), max(t[r], c[r])), vi[r])
    if len(pairs) < len(arms) * (len(arms) - 1) // 2:
        return None
    pos = {a: i for i, a in enumerate(arms)}
    A = np.zeros((len(pairs), len(arms)))
    for row, (a, b) in enumerate(pairs):
        A[row, pos[a]] = A[row, pos[b]] = 1.0
    s = np.linalg.lstsq(A, np.array(list(pairs.values())), rcond=None)[0]
    if not np.all(s > 0):
        return None
    return {a: float(s[pos[a]]) for a in arms}


def _prepare(contrasts: Contrasts, ok: np.ndarray, order: list[str], covariance) -> tuple[list[_Study], list[str]]:
    index = {name: i for i, name in enumerate(order)}
    n = len(order)
    rows = np.flatnonzero(ok)
    t = np.full(len(contrasts), -1)
    c = np.full(len(contrasts), -1)
    t[rows] = [index[x] for x in contrasts.treatment[rows]]
    c[rows] = [index[x] for x in contrasts.comparator[rows]]
    yi, vi = contrasts.yi, contrasts.vi
    vt, vc = contrasts.var_treat_arm, contrasts.var_ctrl_arm
    nt, nc = contrasts.n_treat, contrasts.n_ctrl
    group = contrasts.arm_group
    explicit = _explicit_pairs(covariance, len(contrasts))
    by_study: dict[str, list[int]] = {}
    for r in rows:
        by_study.setdefault(contrasts.study[r], []).append(int(r))
    notes: list[str] = []
    studies = []
    for label, members in by_study.items():
        arms = sorted({int(t[r]) for r in members} | {int(c[r]) for r in members})
        # Spanning forest: contrasts with the baseline (first arm) first, then the rest.
        base = arms[0]
        forest = _Forest(n)
        chosen, dropped = [], []
        for r in sorted(members, key=lambda r: (base not in (t[r], c[r]),)):
            (chosen if forest.join(int(t[r]), int(c[r])) else dropped).append(r)
        chosen.sort(key=lambda r: members.index(r))
        if dropped and len(arms) == 2:
            notes.append(f"{label}: {len(dropped) + 1} rows compare the same two arms; only the first is used")
        V = np.diag(vi[chosen])
        how = _study_covariance(label, chosen, members, arms, t, c, vi, vt, vc, nt, nc, group, explicit, V)
        if how:
            notes.append(how)
        B = np.zeros((len(chosen), n))
        B[np.arange(len(chosen)), t[chosen]] += 1.0
        B[np.arange(len(chosen)), c[chosen]] -= 1.0
        y = yi[chosen]
        n_arm: dict[int, float | None] = {a: None for a in arms}
        for r in members:
            for arm, size in ((int(t[r]), nt[r]), (int(c[r]), nc[r])):
                if np.isfinite(size):
                    n_arm[arm] = max(size, n_arm[arm] or 0.0)
        studies.append(_Study(label, chosen, arms, y, B, V, _study_pairs(y, B, V, arms), n_arm))
    return studies, notes


def _explicit_pairs(covariance, k: int) -> dict[tuple[int, int], float] | None:
    if covariance is None:
        return None
    cov = covariance if isinstance(covariance, BlockCovariance) else BlockCovariance.from_dense(np.asarray(covariance))
    if cov.k != k:
        raise ValueError(f"covariance is {cov.k} x {cov.k}, the contrasts have {k} rows")
    out = {}
    for idx, blocks in zip(cov.index, cov.blocks):
        for members, block in zip(idx.reshape(len(blocks), -1), blocks):
            for a in range(len(members)):
                for b in range(a + 1, len(members)):
                    i, j = int(members[a]), int(members[b])
                    out[(i, j)] = out[(j, i)] = float(block[a, b])
    return out


def _study_covariance(label, chosen, members, arms, t, c, vi, vt, vc, nt, nc, group, explicit, V) -> str:
    """Fill the off-diagonal of V (chosen rows of one study); return a note when approximate."""
    if len(chosen) < 2:
        return ""
    if explicit is not None:
        for a, ra in enumerate(chosen):
            for b, rb in enumerate(chosen[a + 1:], start=a + 1):
                V[a, b] = V[b, a] = explicit.get((ra, rb), 0.0)
        return ""

    def signed(ra: int, rb: int, s: Mapping[int, float]) -> float:
        return ((t[ra] == t[rb]) * s.get(int(t[ra]), 0.0) + (c[ra] == c[rb]) * s.get(int(c[ra]), 0.0)
                - (t[ra] == c[rb]) * s.get(int(t[ra]), 0.0) - (c[ra] == t[rb]) * s.get(int(c[ra]), 0.0))

    from_arms = all(
        isinstance(group[r], str) and group[r] and group[r] == group[chosen[0]] and np.isfinite(vt[r])
        and np.isfinite(vc[r]) for r in chosen
    )
    if from_arms:
        for a, ra in enumerate(chosen):
            for b, rb in enumerate(chosen[a + 1:], start=a + 1):
                s = {int(t[ra]): vt[ra], int(c[ra]): vc[ra]}
                V[a, b] = V[b, a] = signed(ra, rb, s)
        return ""
    s = _arm_variances(members, t, c, vi, arms)
    if s is not None:
        for a, ra in enumerate(chosen):
            for b, rb in enumerate(chosen[a + 1:], start=a + 1):
                V[a, b] = V[b, a] = signed(ra, rb, s)
        return (f"{label}: multi-arm trial reported as contrasts; shared-arm covariance from arm variances "
                "back-calculated from the contrasts of every pair of arms (netmeta's approach)")
    sizes_known = all(np.isfinite(nt[r]) and np.isfinite(nc[r]) for r in chosen)
    if sizes_known:
        def share(r: int, arm: int) -> float:  # this contrast's variance split in proportion to 1/n
            n_arm = nt[r] if t[r] == arm else nc[r]
            return float(vi[r] * (1 / n_arm) / (1 / nt[r] + 1 / nc[r]))

        for a, ra in enumerate(chosen):
            for b, rb in enumerate(chosen[a + 1:], start=a + 1):
                shared = ({int(t[ra]), int(c[ra])} & {int(t[rb]), int(c[rb])})
                if shared:
                    arm = shared.pop()
                    sign = 1.0 if (t[ra] == arm) == (t[rb] == arm) else -1.0
                    V[a, b] = V[b, a] = sign * np.sqrt(share(ra, arm) * share(rb, arm))
        return (f"{label}: multi-arm trial without arm-level variances; shared-arm covariance approximated from "
                "the arm sizes (equal SDs across arms)")
    return (f"{label}: multi-arm trial without arm variances or arm sizes; its contrasts are treated as "
            "independent, which counts the shared arm more than once")


def _study_pairs(
    y: np.ndarray, B: np.ndarray, V: np.ndarray, arms: list[int]
) -> dict[tuple[int, int], tuple[float, float]]:
    """The study's own estimate (and variance) of every pair of its arms, a - b for a < b."""
    out = {}
    if len(y) == 1:
        a, b = sorted(arms)
        sign = 1.0 if B[0, a] > 0 else -1.0
        return {(a, b): (float(sign * y[0]), float(V[0, 0]))}
    Bs = B[:, arms]  # rows x arms
    for ia in range(len(arms)):
        for ib in range(ia + 1, len(arms)):
            target = np.zeros(len(arms))
            target[ia], target[ib] = 1.0, -1.0
            coef, *_ = np.linalg.lstsq(Bs.T, target, rcond=None)
            if np.allclose(Bs.T @ coef, target, atol=1e-9):  # the two arms are linked within the study
                out[(arms[ia], arms[ib])] = (float(coef @ y), float(coef @ V @ coef))
    return out


def _design(study: _Study, order: list[str]) -> str:
    return ":".join(order[a] for a in study.arms)


def _edges(studies: list[_Study], order: list[str]) -> tuple[Edge, ...]:
    found: dict[tuple[int, int], list[_Study]] = {}
    for s in studies:
        for a_i, a in enumerate(s.arms):
            for b in s.arms[a_i + 1:]:
                found.setdefault((a, b), []).append(s)
    return tuple(
        Edge(order[a], order[b], len(ss), sum(len(s.arms) > 2 for s in ss), tuple(s.label for s in ss))
        for (a, b), ss in sorted(found.items())
    )


def _participants(studies: list[_Study], n: int) -> tuple[int | None, ...]:
    """Participants per treatment (sum over trials of the arm's size); None if any is unknown."""
    totals: list[float | None] = [0.0] * n
    for s in studies:
        for arm, size in s.n_arm.items():
            totals[arm] = None if size is None or totals[arm] is None else totals[arm] + size
    return tuple(None if v is None else int(round(v)) for v in totals)

