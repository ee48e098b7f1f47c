"""What the network meta-analysis returns: frozen plain-value results and their vocabulary
(statuses, tau² estimators, prediction intervals, the P-score caveat)."""

from __future__ import annotations

from dataclasses import dataclass

from evsynth.stats.profiles import PREDICTION_INTERVALS

METHODS = ("REML", "ML", "DL")
#: Intervals of the random-effects network model: Wald z, or t on k - p df (metafor rma.mv test="t").
TESTS = ("z", "t")
PREDICTIONS = PREDICTION_INTERVALS  # the pairwise analyses' choices, with the network's Q df for k - 1
PSCORE_CAVEAT = (
    "P-scores (Rücker & Schwarzer 2015) are the mean certainty that a mode is better than each other mode; "
    "they are not probabilities of being best, ignore the uncertainty in tau², and do not say whether "
    "differences are large enough to matter; computed on the normal distribution (netmeta), whatever the "
    "interval method (ci_method)"
)
STATUS_FITTED = "fitted"
STATUS_SINGLE = "single trial"
STATUS_DISCONNECTED = "disconnected"
STATUS_EMPTY = "no estimable data"
STATUS_FAILED = "not fitted"


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

    ``stat`` = theta / se, a z or a t statistic (the model's ``test`` and ``stat_df``).
    ``pi_lower``/``pi_upper`` are None without a prediction interval. ``k_direct`` is the
    number of trials with both arms.
    """

    treatment: str
    comparator: str
    theta: float
    se: float
    ci_lower: float
    ci_upper: float
    stat: float
    p_value: float
    pi_lower: float | None
    pi_upper: float | None
    k_direct: int


@dataclass(frozen=True)
class NodeSplit:
    """Direct, indirect and network estimates of ``treatment`` vs ``comparator``.

    ``indirect`` is back-calculated (:mod:`evsynth.stats.network.inconsistency`),
    ``separate_indirect`` is the network without the direct studies; both at the model's
    tau². ``difference`` =
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
    ordered pair, ``pscores`` follow ``NetworkFit.treatments``. ``test`` is how the league's
    CIs and p-values were formed: "z" (Wald) or "t" on ``stat_df`` = k - p df.
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
    test: str = "z"
    stat_df: float | None = None
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


@dataclass(frozen=True)
class NetworkStructure:
    """What a network graph draws: treatments, edges (trials per pair), participants per
    treatment (None where a trial does not report its arm size) and the arm sets of
    multi-arm trials. ``status`` as :func:`network_status`."""

    status: NetworkStatus
    edges: tuple[Edge, ...]
    participants: tuple[int | None, ...]
    multiarm: tuple[tuple[str, ...], ...]

