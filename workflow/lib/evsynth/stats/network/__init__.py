"""Network meta-analysis of delivery modes: direct and indirect evidence in one model.

The frequentist contrast-based consistency model with one common tau² (netmeta's and metafor's
``rma.mv(yi, V, mods = ~ 0 + <treatments>, random = ~ comp | study, rho = 1/2)``), fitted on
:func:`evsynth.stats.multivariate.rma_mv`, with P-scores, the design-based decomposition of Q
and node splitting. Arrays in (:class:`Contrasts`; ``evsynth.data.network`` reads them from a
table of contrast rows), frozen plain-value results out.

* :func:`fit_network` (``model``): both models and everything computed from them.
* :func:`network_status`, :func:`network_structure` (``structure``): the treatments, trials,
  components and graph without fitting; the workflow uses the status at parse time to decide
  which networks get plots.
* ``rotation``: the model as a univariate meta-regression; ``inconsistency``: Q decomposition
  and node splitting; ``results``: the result types.

References
----------
Higgins JPT, Whitehead A (1996). Stat Med 15:2733-2749. Lu G, Ades AE (2004). Stat Med
23:3105-3124. Salanti G et al. (2008). Stat Methods Med Res 17:279-301. Rücker G (2012). Res
Synth Methods 3:312-324. Rücker G, Schwarzer G (2014). Stat Med 33:4353-4369; (2015). BMC Med
Res Methodol 15:58. Krahn U, Binder H, König J (2013). BMC Med Res Methodol 13:35. Higgins JPT
et al. (2012). Res Synth Methods 3:98-110. Jackson D, White IR, Riley RD (2012). Stat Med
31:3805-3820. Dias S et al. (2010). Stat Med 29:932-944. Bucher HC et al. (1997). J Clin
Epidemiol 50:683-691. Full citations in the modules that implement each method.
"""

from __future__ import annotations

from evsynth.stats.network.model import fit_network
from evsynth.stats.network.results import (
    METHODS,
    PREDICTIONS,
    PSCORE_CAVEAT,
    TESTS,
    Edge,
    NetworkFit,
    NetworkModel,
    NetworkStatus,
    NetworkStructure,
    NodeSplit,
    PairwiseEffect,
    QDecomposition,
)
from evsynth.stats.network.structure import Contrasts, network_status, network_structure

__all__ = [
    "METHODS",
    "PREDICTIONS",
    "PSCORE_CAVEAT",
    "TESTS",
    "Contrasts",
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
