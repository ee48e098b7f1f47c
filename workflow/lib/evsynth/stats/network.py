"""Network meta-analysis of delivery modes: direct and indirect evidence in one model.

Public API
----------
``fit_network(contrasts, *, treatments=None, reference=None, method="REML", alpha=0.05,
prediction="normal", higher_is_better=True, covariance=None, nodesplit=True) -> NetworkFit``

    ``contrasts`` is a :class:`pandas.DataFrame` (or a mapping of equal-length columns)
    with one row per contrast, as in ``results/analyses/{outcome}/{timepoint}/studies.tsv``:

    ============================  ============================================================
    ``study``                     trial label; rows of one trial are one multi-arm study
    ``treatment``, ``comparator`` the two arms of the contrast (``yi`` = treatment minus
                                  comparator on the analysis scale, log for RR and OR)
    ``yi``, ``vi``                estimate and sampling variance
    ``estimable`` (optional)      rows with False (or "no") are left out
    ``arm_group``,                (optional) contrasts formed from arm-level rows
    ``var_treat_arm``,            (``evsynth.data.contrasts``): the arm variances, from which the
    ``var_ctrl_arm``              covariance of contrasts sharing an arm is rebuilt
    ``n_treat``, ``n_ctrl``       (optional) arm sizes, for participants per node and for
                                  the covariance fallback below
    ============================  ============================================================

    ``treatments``: the order of treatments (default: order of first appearance). It fixes
    each study's baseline arm (its first arm in this order), the orientation of every
    comparison (earlier vs later) and the ranking table's order; treatments listed but
    without data are reported in ``NetworkFit.missing``. ``reference``: the treatment the
    coefficients are expressed against (default: the last treatment of the network, usual
    care with the configured modes); it changes no estimate. ``method``: tau² estimator of
    the random-effects model, "REML" (default), "ML" or "DL"; the common-effect model is
    always fitted too. ``alpha``: two-sided level of every interval. ``prediction``:
    "none", "normal", "t_k-1" (t on the Q df of the network, k_contrasts - (n - 1)) or
    "t_k-2" (that minus 1, netmeta's). ``higher_is_better``: direction of the ranking.
    ``covariance``: an explicit sampling covariance of the rows (dense k x k or
    :class:`evsynth.stats.multivariate.BlockCovariance`) in place of the one rebuilt from the
    arm columns. ``nodesplit``: compute the inconsistency (node-splitting) table.

    Never raises for a network that cannot be fitted: ``NetworkFit.status`` is "fitted",
    "single trial" (fitted: the estimates are that trial's own contrasts), "disconnected",
    "no estimable data" or "not fitted" (numerical failure), and ``message`` says why in
    words. Raises ``ValueError`` only for malformed input (missing columns, unknown method).

``network_status(contrasts, treatments=None) -> NetworkStatus`` is the structure alone
(treatments, trials, components, plotted or not), without fitting: the workflow uses it at
parse time to decide which networks get plots.

The model
---------
The contrast-based consistency model (Higgins & Whitehead 1996; Lu & Ades 2004; Salanti
2008), frequentist, with one common tau² (as netmeta and metafor)::

    y_s = B_s d + delta_s + e_s,   e_s ~ N(0, V_s),   delta_s ~ N(0, tau² B_s B_sᵀ / 2),

``y_s`` the contrasts of study s (a spanning tree of its arms: for a multi-arm trial, its
arms against its first arm in ``treatments`` order, so ``V_s`` is not singular), ``B_s``
their rows of the arm incidence matrix (+1 treatment, -1 comparator), ``d`` the treatment
effects against ``reference``. ``B_s B_sᵀ / 2`` has 1 on the diagonal and ±1/2 between
contrasts sharing an arm: tau²/2 between two contrasts against one baseline (Higgins &
Whitehead 1996), which is metafor's ``rma.mv(yi, V, mods = ~ 0 + <treatments>, random =
~ comp | study, rho = 1/2)``, and netmeta's REML/ML fit.

How it is fitted, on :func:`evsynth.stats.multivariate.rma_mv`: ``P_s = B_s B_sᵀ / 2`` does not
depend on tau², so with its Cholesky factor ``P_s = L_s L_sᵀ`` the model for
``L_s⁻¹ y_s`` has random effects ``tau² I`` and sampling covariance ``L_s⁻¹ V_s L_s⁻ᵀ``;
rotating each block by the eigenvectors of that covariance makes it a univariate
meta-regression with known variances ``lambda``. Estimates, SEs, tau² (REML, ML) and
every quadratic form are invariant under these block-wise linear maps, so ``rma_mv`` fits
the rotated data exactly (``random = ~ 1 | id``), at O(sum b³ + k p²) cost. DL is the moment
estimator ``max(0, (Q - df) / tr(M P))`` (netmeta ``method.tau = "DL"``; Jackson, White &
Riley 2012), REML and ML are rma_mv's Fisher scoring. Intervals are Wald (z), as in
netmeta and the Cochrane Handbook ch. 11. Agreement with metafor 3.8's ``rma.mv`` on
dat.senn2013 and dat.hasselblad1998 (both with multi-arm trials) and RESOLVE is pinned in
``tests/data/metafor_network.json`` (``tests/reference/metafor_network.R``).

Covariance between contrasts of one multi-arm study: from the arm variances
(``var_treat_arm``/``var_ctrl_arm``, rows formed from arms); otherwise, when the study
reports the contrasts of every pair of its arms, from arm variances back-calculated from
those contrasts' variances (least squares ``v_ab = s_a + s_b``, exact for three arms; as
netmeta does for multi-arm studies, Rücker & Schwarzer 2014); otherwise from the arm sizes
(``s_a ∝ 1/n_a`` within each contrast, i.e. equal SDs across arms); otherwise 0, and the
note says the shared arm is counted twice.

Outputs
-------
* Every pairwise relative effect (both orientations) with Wald CI and prediction interval
  ``theta ± crit sqrt(se² + tau²)`` (none for the common-effect model or when tau² is not
  estimable).
* P-scores (Rücker & Schwarzer 2015): ``P_i = mean_{j≠i} Φ((d_i - d_j) / se_ij)`` with the
  sign set by ``higher_is_better`` (:data:`PSCORE_CAVEAT`).
* Q of the common-effect model (generalised Cochran's Q, df = k_contrasts - (n - 1)), I²
  from it (netmeta), and its design-based decomposition (Krahn, Binder & König 2013;
  netmeta ``decomp.design``): Q within designs = Q of the design-by-treatment interaction
  model (one set of effects per design, i.e. set of arms), Q between designs (the
  inconsistency) = Q total - Q within; and the random-effects between-designs Q
  (Higgins et al. 2012) at tau² of the interaction model by the moment estimator
  (netmeta's ``tau.within`` and ``Q.inc.random``).
* Node splitting for every comparison A-B with direct evidence (studies with both arms)
  and indirect evidence (A and B still connected without those studies), per model:
  direct = inverse-variance pool of those studies' own A-B contrasts at the model's tau²;
  indirect by **back-calculation** (netmeta ``netsplit``; Dias et al. 2010; Bucher 1997):
  ``w = se_net² / se_dir²``, ``indirect = (network - w direct) / (1 - w)``,
  ``se = se_net / sqrt(1 - w)``; ``z = (direct - indirect) / sqrt(se_dir² + se_ind²)``.
  Back-calculation treats direct and indirect evidence as independent, which is exact when
  every direct study has two arms (at fixed tau²) and approximate when a multi-arm trial
  is among them; so the **separate indirect** estimate (the network fitted without the
  direct studies, at the same tau²; exactly independent) is given beside it, and equals
  the back-calculated one when no direct study is multi-arm.

References
----------
Higgins JPT, Whitehead A (1996). Borrowing strength from external trials in a
meta-analysis. Stat Med 15:2733-2749.
Lu G, Ades AE (2004). Combination of direct and indirect evidence in mixed treatment
comparisons. Stat Med 23:3105-3124.
Salanti G, Higgins JPT, Ades AE, Ioannidis JPA (2008). Evaluation of networks of
randomized trials. Stat Methods Med Res 17:279-301.
Rücker G (2012). Network meta-analysis, electrical networks and graph theory. Res Synth
Methods 3:312-324; Rücker G, Schwarzer G (2014). Reduce dimension or reduce weights?
Comparing two approaches to multi-arm studies in network meta-analysis. Stat Med
33:4353-4369.
Rücker G, Schwarzer G (2015). Ranking treatments in frequentist network meta-analysis
works without resampling methods. BMC Med Res Methodol 15:58.
Krahn U, Binder H, König J (2013). A graphical tool for locating inconsistency in network
meta-analyses. BMC Med Res Methodol 13:35.
Higgins JPT, Jackson D, Barrett JK, Lu G, Ades AE, White IR (2012). Consistency and
inconsistency in network meta-analysis: concepts and models for multi-arm studies. Res
Synth Methods 3:98-110.
Jackson D, White IR, Riley RD (2012). Quantifying the impact of between-study
heterogeneity in multivariate meta-analyses. Stat Med 31:3805-3820.
Dias S, Welton NJ, Caldwell DM, Ades AE (2010). Checking consistency in mixed treatment
comparison meta-analysis. Stat Med 29:932-944.
Bucher HC, Guyatt GH, Griffith LE, Walter SD (1997). The results of direct and indirect
treatment comparisons in meta-analysis of randomized controlled trials. J Clin Epidemiol
50:683-691.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import special

from evsynth.stats.multivariate import BlockCovariance, rma_mv

__all__ = [
    "METHODS",
    "PREDICTIONS",
    "PSCORE_CAVEAT",
    "NetworkStatus",
    "NetworkStructure",
    "Edge",
    "PairwiseEffect",
    "NodeSplit",
    "QDecomposition",
    "NetworkModel",
    "NetworkFit",
    "fit_network",
    "network_status",
    "network_structure",
]

METHODS = ("REML", "ML", "DL")
PREDICTIONS = ("none", "normal", "t_k-1", "t_k-2")
PSCORE_CAVEAT = (
    "P-scores (Rücker & Schwarzer 2015) are the mean certainty that a mode is better than each other mode; "
    "they are not probabilities of being best, ignore the uncertainty in tau², and do not say whether "
    "differences are large enough to matter"
)
STATUS_FITTED = "fitted"
STATUS_SINGLE = "single trial"
STATUS_DISCONNECTED = "disconnected"
STATUS_EMPTY = "no estimable data"
STATUS_FAILED = "not fitted"
_REQUIRED = ("study", "treatment", "comparator", "yi", "vi")
_PROP_LIMIT = 1 - 1e-10  # direct-evidence proportion at which no indirect evidence is left


# ---------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NetworkStatus:
    """Structure of a network, without fitting it.

    ``treatments`` are those with estimable data, in the requested order; ``missing`` the
    requested ones without; ``components`` the connected sub-networks (one when connected).
    ``plotted`` is True for a connected network of at least two trials.
    """

    status: str
    message: str
    treatments: tuple[str, ...]
    missing: tuple[str, ...]
    components: tuple[tuple[str, ...], ...]
    studies: tuple[str, ...]

    @property
    def plotted(self) -> bool:
        return self.status == STATUS_FITTED


@dataclass(frozen=True)
class PairwiseEffect:
    """``treatment`` vs ``comparator`` from the network (analysis scale; log for ratios).

    ``pi_lower``/``pi_upper`` are None without a prediction interval. ``k_direct`` is the
    number of trials with both arms.
    """

    treatment: str
    comparator: str
    theta: float
    se: float
    ci_lower: float
    ci_upper: float
    z: float
    p_value: float
    pi_lower: float | None
    pi_upper: float | None
    k_direct: int


@dataclass(frozen=True)
class NodeSplit:
    """Direct, indirect and network estimates of ``treatment`` vs ``comparator``.

    ``indirect`` is back-calculated (module docstring), ``separate_indirect`` is the
    network without the direct studies; both at the model's tau². ``difference`` =
    direct - indirect with ``z`` and ``p_value``; ``separate_*`` the same against the
    separate indirect estimate. ``k_direct_multiarm`` counts multi-arm trials among the
    direct studies (back-calculation is approximate when > 0).
    """

    treatment: str
    comparator: str
    k_direct: int
    k_direct_multiarm: int
    direct: float
    direct_se: float
    network: float
    network_se: float
    prop_direct: float
    indirect: float | None
    indirect_se: float | None
    difference: float | None
    difference_se: float | None
    z: float | None
    p_value: float | None
    separate_indirect: float
    separate_indirect_se: float
    separate_difference: float
    separate_difference_se: float
    separate_z: float
    separate_p_value: float
    direct_studies: tuple[str, ...]
    note: str = ""


@dataclass(frozen=True)
class QDecomposition:
    """Design-based decomposition of the common-effect Q (Krahn et al. 2013).

    ``q_between_random`` is the between-designs Q at ``tau2_within`` (netmeta
    ``Q.inc.random``). p-values are None at 0 df.
    """

    q_total: float
    df_total: int
    p_total: float | None
    q_within: float
    df_within: int
    p_within: float | None
    q_between: float
    df_between: int
    p_between: float | None
    tau2_within: float
    q_between_random: float
    p_between_random: float | None
    n_designs: int


@dataclass(frozen=True)
class NetworkModel:
    """One model (``"random"`` or ``"common"``) of a fitted network.

    ``beta`` are the effects of ``NetworkFit.treatments`` against the reference (0 for
    it), ``vcov`` their covariance (reference row and column 0). ``league`` holds every
    ordered pair, ``pscores`` follow ``NetworkFit.treatments``.
    """

    model: str
    method: str
    tau2: float
    beta: tuple[float, ...]
    vcov: tuple[tuple[float, ...], ...]
    league: tuple[PairwiseEffect, ...]
    pscores: tuple[float, ...]
    nodesplit: tuple[NodeSplit, ...]
    pi_method: str
    pi_df: float | None
    converged: bool = True
    note: str = ""

    def effect(self, treatment: str, comparator: str) -> PairwiseEffect:
        for e in self.league:
            if e.treatment == treatment and e.comparator == comparator:
                return e
        raise KeyError(f"{treatment} vs {comparator} is not in the network")


@dataclass(frozen=True)
class Edge:
    """Two treatments compared within ``k`` trials (a multi-arm trial counts on each of its pairs)."""

    treatment: str
    comparator: str
    k: int
    k_multiarm: int
    studies: tuple[str, ...]


@dataclass(frozen=True)
class NetworkFit:
    """Everything :func:`fit_network` computes; ``random``/``common`` are None unless fitted."""

    status: str
    message: str
    treatments: tuple[str, ...]
    reference: str | None
    missing: tuple[str, ...]
    components: tuple[tuple[str, ...], ...]
    studies: tuple[str, ...]
    k_contrasts: int
    k_multiarm: int
    designs: tuple[str, ...]
    edges: tuple[Edge, ...]
    participants: tuple[int | None, ...]
    random: NetworkModel | None
    common: NetworkModel | None
    q: float | None
    q_df: int | None
    q_p: float | None
    i2: float | None
    decomposition: QDecomposition | None
    method: str
    alpha: float
    prediction: str
    higher_is_better: bool
    notes: tuple[str, ...] = ()

    @property
    def k_studies(self) -> int:
        return len(self.studies)

    @property
    def fitted(self) -> bool:
        return self.random is not None


# ---------------------------------------------------------------------------------------
# Preparation: rows -> per-study spanning trees with V and the random-effects structure
# ---------------------------------------------------------------------------------------


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


def _frame(contrasts: pd.DataFrame | Mapping[str, Sequence[Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(contrasts).reset_index(drop=True)
    missing = [c for c in _REQUIRED if c not in frame]
    if missing:
        raise ValueError(f"contrast rows need the columns {', '.join(missing)}")
    return frame


def _truthy(values: pd.Series) -> np.ndarray:
    def one(v: Any) -> bool:
        if isinstance(v, str):
            return v.strip().lower() in ("yes", "true", "1")
        return bool(v) and not (isinstance(v, float) and np.isnan(v))

    return np.array([one(v) for v in values], dtype=bool)


def _floats(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)


def _usable(frame: pd.DataFrame) -> np.ndarray:
    yi, vi = _floats(frame, "yi"), _floats(frame, "vi")
    ok = np.isfinite(yi) & np.isfinite(vi) & (vi > 0)
    ok &= frame["treatment"].notna().to_numpy() & frame["comparator"].notna().to_numpy()
    ok &= (frame["treatment"].astype(str) != frame["comparator"].astype(str)).to_numpy()
    if "estimable" in frame:
        ok &= _truthy(frame["estimable"])
    return ok


def _order(frame: pd.DataFrame, ok: np.ndarray, treatments: Sequence[str] | None) -> tuple[list[str], list[str]]:
    present = list(dict.fromkeys(str(x) for pair in zip(frame["treatment"][ok], frame["comparator"][ok]) for x in pair))
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


def network_status(
    contrasts: pd.DataFrame | Mapping[str, Sequence[Any]], treatments: Sequence[str] | None = None
) -> NetworkStatus:
    """Which treatments and trials form the network, whether it is connected, and why not
    (no fitting). ``plotted`` is True for a connected network of two or more trials."""
    frame = _frame(contrasts)
    ok = _usable(frame)
    order, missing = _order(frame, ok, treatments)
    index = {t: i for i, t in enumerate(order)}
    studies: dict[str, set[int]] = {}
    for s, t, c in zip(frame["study"][ok], frame["treatment"][ok], frame["comparator"][ok]):
        studies.setdefault(str(s), set()).update((index[str(t)], index[str(c)]))
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


@dataclass(frozen=True)
class NetworkStructure:
    """What a network graph draws: treatments, edges (trials per pair), participants per
    treatment (None where a trial does not report its arm size) and the arm sets of
    multi-arm trials. ``status`` as :func:`network_status`."""

    status: NetworkStatus
    edges: tuple[Edge, ...]
    participants: tuple[int | None, ...]
    multiarm: tuple[tuple[str, ...], ...]


def network_structure(
    contrasts: pd.DataFrame | Mapping[str, Sequence[Any]], treatments: Sequence[str] | None = None
) -> NetworkStructure:
    """The network's graph (no fitting): for plots and for checking a table before fitting."""
    frame = _frame(contrasts)
    ok = _usable(frame)
    order, _ = _order(frame, ok, treatments)
    status = network_status(frame, treatments)
    if not ok.any():
        return NetworkStructure(status, (), (), ())
    studies, _ = _prepare(frame, ok, order, None)
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


def _prepare(frame: pd.DataFrame, ok: np.ndarray, order: list[str], covariance) -> tuple[list[_Study], list[str]]:
    index = {name: i for i, name in enumerate(order)}
    n = len(order)
    rows = np.flatnonzero(ok)
    t = np.full(len(frame), -1)
    c = np.full(len(frame), -1)
    t[rows] = [index[str(x)] for x in frame["treatment"].to_numpy()[rows]]
    c[rows] = [index[str(x)] for x in frame["comparator"].to_numpy()[rows]]
    yi, vi = _floats(frame, "yi"), _floats(frame, "vi")
    vt, vc = _floats(frame, "var_treat_arm"), _floats(frame, "var_ctrl_arm")
    nt, nc = _floats(frame, "n_treat"), _floats(frame, "n_ctrl")
    group = frame["arm_group"].to_numpy(dtype=object) if "arm_group" in frame else np.full(len(frame), None)
    explicit = _explicit_pairs(covariance, len(frame))
    by_study: dict[str, list[int]] = {}
    for r in rows:
        by_study.setdefault(str(frame["study"].iat[r]), []).append(int(r))
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


# ---------------------------------------------------------------------------------------
# Whitening and rotation: the network model as a univariate meta-regression
# ---------------------------------------------------------------------------------------


@dataclass
class _Rotated:
    y: np.ndarray  # k
    B: np.ndarray  # k x n (full incidence, whitened and rotated)
    lam: np.ndarray  # k sampling variances after rotation
    study: np.ndarray  # k: index into the study list
    extra: dict[str, np.ndarray]  # other whitened-rotated design matrices (k x m)


def _whiten(studies: list[_Study], extra: Mapping[str, list[np.ndarray]] | None = None) -> _Rotated:
    """``L⁻¹`` (P = L Lᵀ, P = B Bᵀ/2) then the eigenvectors of ``L⁻¹ V L⁻ᵀ``, study by study,
    batched over studies with the same number of contrasts."""
    extra = extra or {}
    by_size: dict[int, list[int]] = {}
    for i, s in enumerate(studies):
        by_size.setdefault(len(s.y), []).append(i)
    ys, Bs, lams, owners = [], [], [], []
    extras: dict[str, list[np.ndarray]] = {name: [] for name in extra}
    for size in sorted(by_size):
        members = by_size[size]
        y = np.stack([studies[i].y for i in members])  # m x s
        B = np.stack([studies[i].B for i in members])  # m x s x n
        V = np.stack([studies[i].V for i in members])  # m x s x s
        E = {name: np.stack([mats[i] for i in members]) for name, mats in extra.items()}
        if size > 1:
            P = np.einsum("msn,mtn->mst", B, B) / 2
            L = np.linalg.cholesky(P)
            y = np.linalg.solve(L, y[..., None])[..., 0]
            B = np.linalg.solve(L, B)
            E = {name: np.linalg.solve(L, M) for name, M in E.items()}
            V = np.linalg.solve(L, np.swapaxes(np.linalg.solve(L, V), 1, 2))
            V = (V + np.swapaxes(V, 1, 2)) / 2
            lam, Q = np.linalg.eigh(V)
            y = np.einsum("mji,mj->mi", Q, y)
            B = np.einsum("mji,mjn->min", Q, B)
            E = {name: np.einsum("mji,mjn->min", Q, M) for name, M in E.items()}
        else:
            lam = V[:, :, 0]
        ys.append(y.reshape(-1))
        Bs.append(B.reshape(-1, B.shape[-1]))
        lams.append(lam.reshape(-1))
        owners.append(np.repeat(members, size))
        for name, M in E.items():
            extras[name].append(M.reshape(-1, M.shape[-1]))
    lam = np.concatenate(lams)
    if np.any(lam <= 0) or np.any(lam <= 1e-12 * np.abs(lam).max()):
        raise ValueError("a study's sampling covariance is not positive definite")
    return _Rotated(np.concatenate(ys), np.vstack(Bs), lam, np.concatenate(owners),
                    {name: np.vstack(mats) for name, mats in extras.items()})


def _gls(X: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Weighted least squares: coefficients, their covariance (X'WX)⁻¹ and the weighted RSS."""
    XtW = X.T * w
    cov = np.linalg.inv(XtW @ X)
    beta = cov @ (XtW @ y)
    r = y - X @ beta
    return beta, cov, float((w * r**2).sum())


def _moment_tau2(X: np.ndarray, y: np.ndarray, lam: np.ndarray) -> float:
    """max(0, (Q - df) / tr(M)) in rotated coordinates (P = I there): netmeta's DL."""
    k, p = X.shape
    if k <= p:
        return 0.0
    w = 1 / lam
    _, cov, q = _gls(X, y, w)
    trace = w.sum() - np.trace(cov @ ((X.T * w**2) @ X))
    return max(0.0, (q - (k - p)) / trace) if trace > 0 else 0.0


def _chi2_p(q: float, df: int) -> float | None:
    return float(special.chdtrc(df, max(q, 0.0))) if df > 0 else None


# ---------------------------------------------------------------------------------------
# The fit
# ---------------------------------------------------------------------------------------


def fit_network(
    contrasts: pd.DataFrame | Mapping[str, Sequence[Any]],
    *,
    treatments: Sequence[str] | None = None,
    reference: str | None = None,
    method: str = "REML",
    alpha: float = 0.05,
    prediction: str = "normal",
    higher_is_better: bool = True,
    covariance: np.ndarray | BlockCovariance | None = None,
    nodesplit: bool = True,
) -> NetworkFit:
    """Fit the random- and common-effect network models (module docstring, "Public API")."""
    if method not in METHODS:
        raise ValueError(f"network tau² estimator must be one of {', '.join(METHODS)}, not {method!r}")
    if prediction not in PREDICTIONS:
        raise ValueError(f"prediction must be one of {', '.join(PREDICTIONS)}, not {prediction!r}")
    frame = _frame(contrasts)
    ok = _usable(frame)
    order, missing = _order(frame, ok, treatments)
    status = network_status(frame, treatments)
    dropped = frame.loc[~ok, "study"].astype(str).tolist()
    notes = [f"not estimable, left out: {', '.join(dict.fromkeys(dropped))}"] if dropped else []
    base = dict(
        method=method, alpha=alpha, prediction=prediction, higher_is_better=higher_is_better,
        treatments=tuple(order), missing=tuple(missing), components=status.components, studies=status.studies,
    )
    message = status.message
    if status.status in (STATUS_EMPTY, STATUS_DISCONNECTED):
        return _unfitted(status.status, message, notes, **base)
    reference = order[-1] if reference is None else str(reference)
    if reference not in order:
        raise ValueError(f"reference {reference!r} has no data in the network")
    studies, prep_notes = _prepare(frame, ok, order, covariance)
    notes += prep_notes
    try:
        result = _fit(studies, order, reference, method, alpha, prediction, higher_is_better, nodesplit)
    except (ValueError, np.linalg.LinAlgError) as err:
        return _unfitted(STATUS_FAILED, f"the network model could not be fitted: {err}", notes, **base)
    random, common, q, q_df, decomposition = result
    n_multi = sum(len(s.arms) > 2 for s in studies)
    if status.status == STATUS_FITTED:
        message = f"network of {len(order)} treatments from {len(studies)} trials ({n_multi} multi-arm); "
        if random.nodesplit:
            message += f"{len(random.nodesplit)} comparison(s) with both direct and indirect evidence"
        else:
            message += ("no comparison has both direct and indirect evidence (no closed loop), so consistency "
                        "cannot be checked")
        if missing:
            message += f"; no estimable data for {', '.join(missing)} (not in the network)"
    notes += [n for n in (random.note, common.note) if n]
    i2 = max(0.0, 100 * (q - q_df) / q) if q_df > 0 and q > 0 else (0.0 if q_df > 0 else None)
    return NetworkFit(
        status=status.status,
        message=message,
        reference=reference,
        k_contrasts=sum(len(s.y) for s in studies),
        k_multiarm=n_multi,
        designs=tuple(dict.fromkeys(_design(s, order) for s in sorted(studies, key=lambda s: s.arms))),
        edges=_edges(studies, order),
        participants=_participants(studies, len(order)),
        random=random,
        common=common,
        q=q,
        q_df=q_df,
        q_p=_chi2_p(q, q_df),
        i2=i2,
        decomposition=decomposition,
        notes=tuple(dict.fromkeys(notes)),
        **base,
    )


def _unfitted(status: str, message: str, notes: list[str], **base) -> NetworkFit:
    return NetworkFit(
        status=status, message=message, reference=None, k_contrasts=0, k_multiarm=0, designs=(), edges=(),
        participants=tuple(None for _ in base["treatments"]), random=None, common=None, q=None, q_df=None,
        q_p=None, i2=None, decomposition=None, notes=tuple(notes), **base,
    )


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


def _fit(studies, order, reference, method, alpha, prediction, higher_is_better, nodesplit):
    n = len(order)
    ref = order.index(reference)
    keep = [j for j in range(n) if j != ref]
    design_mats, design_cols, design_of = _design_columns(studies, order)
    rot = _whiten(studies, {"design": design_mats})
    X = rot.B[:, keep]
    k, p = X.shape
    names = tuple(order[j] for j in keep)
    common_fit = rma_mv(rot.y, rot.lam, X, names=names, method="EE", test="z", alpha=alpha)
    if method == "DL":
        tau2 = _moment_tau2(X, rot.y, rot.lam)
        random_fit = rma_mv(rot.y, rot.lam, X, names=names, method="REML", test="z", alpha=alpha, tau2=tau2)
        note = "saturated model (k = p): tau² is not estimable and was set to 0" if k == p else ""
    else:
        random_fit = rma_mv(rot.y, rot.lam, X, names=names, method=method, test="z", alpha=alpha)
        note = random_fit.note
    q, q_df = common_fit.qe, k - p
    decomposition = _decomposition(rot, X, q, q_df, design_cols, design_of)
    plan = _split_plan(rot, studies, len(order)) if nodesplit else []
    models = []
    for name, fit, est in (("random", random_fit, method), ("common", common_fit, "common effect")):
        models.append(
            _model(name, est, fit, rot, studies, order, keep, alpha, prediction if name == "random" else "none",
                   q_df, higher_is_better, plan, note if name == "random" else "")
        )
    return models[0], models[1], q, q_df, decomposition


def _design_columns(studies: list[_Study], order: list[str]) -> tuple[list[np.ndarray], list[list[int]], np.ndarray]:
    """Per study, its rows of the design-by-treatment interaction design matrix (one column per
    design x non-first arm); the columns of each design; each study's design index."""
    cells: dict[tuple[str, int], int] = {}
    designs: dict[str, int] = {}
    for s in studies:
        d = _design(s, order)
        designs.setdefault(d, len(designs))
        for a in s.arms[1:]:
            cells.setdefault((d, a), len(cells))
    out = []
    for s in studies:
        d = _design(s, order)
        M = np.zeros((len(s.y), len(cells)))
        for a in s.arms[1:]:
            M[:, cells[(d, a)]] = s.B[:, a]
        out.append(M)
    cols: list[list[int]] = [[] for _ in designs]
    for (d, _), j in cells.items():
        cols[designs[d]].append(j)
    return out, cols, np.array([designs[_design(s, order)] for s in studies])


def _decomposition(rot: _Rotated, X: np.ndarray, q: float, q_df: int, design_cols: list[list[int]],
                   design_of: np.ndarray) -> QDecomposition:
    """Q within designs (block-diagonal interaction model: one small fit per design), the
    moment estimate of tau² in that model (netmeta ``tau.within``) and the random-effects
    between-designs Q at it (netmeta ``Q.inc.random``)."""
    Xf, w0 = rot.extra["design"], 1 / rot.lam
    row_design = design_of[rot.study]
    blocks = [(np.flatnonzero(row_design == d), cols) for d, cols in enumerate(design_cols)]
    q_within, trace = 0.0, float(w0.sum())
    for rows, cols in blocks:
        Xd, wd = Xf[np.ix_(rows, cols)], w0[rows]
        _, cov, rss = _gls(Xd, rot.y[rows], wd)
        q_within += rss
        trace -= float(np.trace(cov @ ((Xd.T * wd**2) @ Xd)))
    df_within = len(rot.y) - Xf.shape[1]
    tau2_within = max(0.0, (q_within - df_within) / trace) if df_within > 0 and trace > 0 else 0.0
    wt = 1 / (rot.lam + tau2_within)
    rss_full = sum(_gls(Xf[np.ix_(rows, cols)], rot.y[rows], wt[rows])[2] for rows, cols in blocks)
    q_random = max(0.0, _gls(X, rot.y, wt)[2] - rss_full)
    df_between = q_df - df_within
    q_between = max(0.0, q - q_within)
    return QDecomposition(
        q_total=q, df_total=q_df, p_total=_chi2_p(q, q_df),
        q_within=q_within, df_within=df_within, p_within=_chi2_p(q_within, df_within),
        q_between=q_between, df_between=df_between, p_between=_chi2_p(q_between, df_between),
        tau2_within=float(tau2_within), q_between_random=q_random, p_between_random=_chi2_p(q_random, df_between),
        n_designs=len(design_cols),
    )


def _model(name, method, fit, rot, studies, order, keep, alpha, prediction, q_df, higher_is_better, plan, note):
    n = len(order)
    beta = np.zeros(n)
    beta[keep] = fit.beta
    vcov = np.zeros((n, n))
    vcov[np.ix_(keep, keep)] = np.array(fit.vcov)
    tau2 = fit.tau2
    diff = beta[:, None] - beta[None, :]
    var = np.diag(vcov)[:, None] + np.diag(vcov)[None, :] - 2 * vcov
    se = np.sqrt(np.maximum(var, 0.0))
    z_crit = float(special.ndtri(1 - alpha / 2))
    pi_df: float | None = None
    pi_crit: float | None = None
    pi_note = ""
    if prediction != "none":
        if q_df < 1:
            pi_note = "no prediction interval: tau² is not estimable (no residual df)"
        elif prediction == "normal":
            pi_crit = z_crit
        else:
            pi_df = float(q_df if prediction == "t_k-1" else q_df - 1)
            if pi_df >= 1:
                pi_crit = float(special.stdtrit(pi_df, 1 - alpha / 2))
            else:
                pi_note, pi_df = f"no prediction interval: {prediction} leaves {pi_df:g} df", None
    k_direct = {}
    for s in studies:
        for a_i, a in enumerate(s.arms):
            for b in s.arms[a_i + 1:]:
                k_direct[(a, b)] = k_direct.get((a, b), 0) + 1
    league = []
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            theta, s_ij = float(diff[i, j]) + 0.0, float(se[i, j])  # + 0.0: no "-0" in tables
            zval = theta / s_ij
            half = None if pi_crit is None else pi_crit * float(np.sqrt(s_ij**2 + tau2))
            league.append(PairwiseEffect(
                treatment=order[i], comparator=order[j], theta=theta, se=s_ij,
                ci_lower=theta - z_crit * s_ij, ci_upper=theta + z_crit * s_ij, z=zval,
                p_value=float(2 * special.ndtr(-abs(zval))),
                pi_lower=None if half is None else theta - half, pi_upper=None if half is None else theta + half,
                k_direct=k_direct.get((min(i, j), max(i, j)), 0),
            ))
    sign = 1.0 if higher_is_better else -1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        prob = special.ndtr(sign * diff / se)
    np.fill_diagonal(prob, 0.0)
    pscores = tuple(float(v) for v in prob.sum(axis=1) / (n - 1)) if n > 1 else (1.0,)
    splits = _nodesplit(plan, rot, studies, order, tau2, diff, se) if plan else ()
    return NetworkModel(
        model=name, method=method, tau2=float(tau2), beta=tuple(float(b) for b in beta),
        vcov=tuple(tuple(float(v) for v in row) for row in vcov), league=tuple(league), pscores=pscores,
        nodesplit=splits, pi_method=prediction if pi_crit is not None else "none", pi_df=pi_df,
        converged=fit.converged, note="; ".join(x for x in (note, pi_note) if x),
    )


@dataclass
class _Split:
    """What node-splitting A-B needs besides tau²: the direct studies and the rows and columns
    of the network without them (A's sub-network)."""

    a: int
    b: int
    direct: list[int]
    rows: np.ndarray  # rotated rows of the separate indirect network
    cols: list[int]  # its treatment columns (one reference dropped)


def _split_plan(rot: _Rotated, studies: list[_Study], n: int) -> list[_Split]:
    counts = np.zeros((n, n), dtype=int)  # trials linking each pair of treatments
    for s in studies:
        counts[np.ix_(s.arms, s.arms)] += 1
    plan = []
    for a in range(n):
        for b in range(a + 1, n):
            direct = [i for i, s in enumerate(studies) if (a, b) in s.pairs]
            if not direct:
                continue
            rest = counts.copy()
            for i in direct:
                rest[np.ix_(studies[i].arms, studies[i].arms)] -= 1
            comp = _reachable(rest > 0, a)
            if b not in comp:
                continue  # no indirect evidence
            comp_list = sorted(comp)
            direct_set = set(direct)
            keep = np.array([i not in direct_set and set(s.arms) <= comp for i, s in enumerate(studies)])
            plan.append(_Split(a, b, direct, np.flatnonzero(keep[rot.study]), comp_list[:-1]))
    return plan


def _reachable(adjacent: np.ndarray, start: int) -> set[int]:
    seen, frontier = {start}, [start]
    while frontier:
        nxt = set(np.flatnonzero(adjacent[frontier].any(axis=0)).tolist()) - seen
        seen |= nxt
        frontier = list(nxt)
    return seen


def _nodesplit(plan: list[_Split], rot: _Rotated, studies, order, tau2, diff, se) -> tuple[NodeSplit, ...]:
    w_all = 1 / (rot.lam + tau2)
    out = []
    for sp in plan:
        a, b = sp.a, sp.b
        ys = np.array([studies[i].pairs[(a, b)][0] for i in sp.direct])
        w = 1 / (np.array([studies[i].pairs[(a, b)][1] for i in sp.direct]) + tau2)
        d_hat, d_se = float((w * ys).sum() / w.sum()), float(np.sqrt(1 / w.sum()))
        net, net_se = float(diff[a, b]), float(se[a, b])
        prop = net_se**2 / d_se**2
        # Separate indirect evidence: the network without the direct studies, at the same tau².
        beta_s, cov_s, _ = _gls(rot.B[np.ix_(sp.rows, sp.cols)], rot.y[sp.rows], w_all[sp.rows])
        L = np.array([(j == a) - (j == b) for j in sp.cols], dtype=float)
        s_ind, s_se = float(L @ beta_s), float(np.sqrt(L @ cov_s @ L))
        s_diff, s_dse = d_hat - s_ind, float(np.sqrt(d_se**2 + s_se**2))
        s_z = s_diff / s_dse
        multi = sum(len(studies[i].arms) > 2 for i in sp.direct)
        note = ""
        if prop < _PROP_LIMIT:
            ind = (net - prop * d_hat) / (1 - prop)
            ind_se = net_se / np.sqrt(1 - prop)
            dif, dif_se = d_hat - ind, float(np.sqrt(d_se**2 + ind_se**2))
            zval = dif / dif_se
            pval = float(2 * special.ndtr(-abs(zval)))
        else:
            ind = ind_se = dif = dif_se = zval = pval = None
            note = "back-calculation undefined: the network estimate is as precise as the direct one"
        if multi:
            extra = (f"{multi} multi-arm trial(s) among the direct evidence: back-calculation is approximate; "
                     "see the separate indirect estimate")
            note = "; ".join(x for x in (note, extra) if x)
        out.append(NodeSplit(
            treatment=order[a], comparator=order[b], k_direct=len(sp.direct), k_direct_multiarm=multi,
            direct=d_hat, direct_se=d_se, network=net, network_se=net_se, prop_direct=float(prop),
            indirect=None if ind is None else float(ind), indirect_se=None if ind_se is None else float(ind_se),
            difference=None if dif is None else float(dif), difference_se=dif_se,
            z=None if zval is None else float(zval), p_value=pval,
            separate_indirect=s_ind, separate_indirect_se=s_se, separate_difference=float(s_diff),
            separate_difference_se=s_dse, separate_z=float(s_z),
            separate_p_value=float(2 * special.ndtr(-abs(s_z))),
            direct_studies=tuple(studies[i].label for i in sp.direct), note=note,
        ))
    return tuple(out)
