"""Prior distributions for the heterogeneity tau of a Bayesian random-effects meta-analysis.

Every prior is a proper density on tau > 0 with a closed-form log density, so the posterior
of :mod:`evsynth.stats.bayes` is exact up to quadrature error.

* ``half-normal`` (scale s): the default, s = 0.5 for log RR, log OR and SMD (Röver et al.
  2021, Res Synth Methods 12:448, "weakly informative": P(tau > 1) ≈ 4.6%).
* ``half-cauchy`` (scale s): heavier tail (Gelman 2006, Bayesian Anal 1:515).
* ``log-normal`` on tau² (location m, sd s on log tau²): Turner et al. (2015, Stat Med
  34:984), Table IV, predictive distributions for log odds ratios from the Cochrane
  Database of Systematic Reviews, by outcome type and type of comparison.
* ``log-t`` on tau² (location m, scale s, 5 df on log tau²): Rhodes et al. (2015, J Clin
  Epidemiol 68:52), Table 3, the same for standardised mean differences ("other" medical
  areas).
* ``fixed`` (tau = value): a point mass, for the common-effect limit (tau = 0) and tests.

An outcome on an arbitrary scale (a mean difference in the outcome's units) has no default
scale; :func:`unit_information_sd` gives the unit information standard deviation (UISD) of its
trials (Röver et al. 2021, Res Synth Methods 12:448, eq. 6; bayesmeta's ``uisd()``), and the
default prior there is half-normal(UISD / 4) (:data:`UISD_MULTIPLE`).

The empirical tables hold only the outcome and comparison types that a review of a
psychological intervention plausibly uses, plus each paper's marginal ("any") distribution.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

__all__ = ["EMPIRICAL", "FAMILIES", "UISD_MULTIPLE", "TauPrior", "empirical_prior", "unit_information_sd"]

FAMILIES = ("half-normal", "half-cauchy", "log-normal", "log-t", "fixed")
#: Scale of the default half-normal prior on tau for an outcome on an arbitrary scale, as a
#: multiple of the UISD: RoBMA's default heterogeneity prior, Normal+(0, UISD / 4) (Bartoš et al.,
#: option ``default_UISD.heterogeneity``). For an SMD, whose UISD is 2 (var ≈ 4 / N), it is
#: Röver et al.'s (2021) half-normal(0.5); for a mean difference of an outcome with SD σ in
#: both arms (UISD 2σ) it is half-normal(σ / 2), the same prior in the outcome's units.
UISD_MULTIPLE = 0.25
#: Degrees of freedom of Rhodes et al.'s log-t priors on tau².
RHODES_DF = 5.0
_LOG_2_OVER_SQRT_2PI = np.log(2.0) - 0.5 * np.log(2 * np.pi)

#: Turner et al. 2015 Table IV: log tau² ~ N(m, s²) for log OR. (outcome type, comparison) -> (m, s).
#: Comparisons: "pharma-placebo", "pharma-pharma", "nonpharma-control" (non-pharmacological vs
#: placebo / control), "nonpharma-pharma", "nonpharma-nonpharma".
_TURNER = {
    "pain": {
        "pharma-placebo": (-1.83, 1.52),
        "pharma-pharma": (-2.06, 1.58),
        "nonpharma-control": (-2.05, 1.71),
        "nonpharma-pharma": (-0.80, 1.24),
        "nonpharma-nonpharma": (-1.38, 1.45),
    },
    "quality of life / functioning": {
        "pharma-placebo": (-2.54, 1.54),
        "pharma-pharma": (-2.78, 1.60),
        "nonpharma-control": (-2.77, 1.73),
        "nonpharma-pharma": (-1.51, 1.27),
        "nonpharma-nonpharma": (-2.10, 1.47),
    },
    "mental health indicators": {
        "pharma-placebo": (-2.12, 1.53),
        "pharma-pharma": (-2.35, 1.60),
        "nonpharma-control": (-2.34, 1.72),
        "nonpharma-pharma": (-1.09, 1.27),
        "nonpharma-nonpharma": (-1.67, 1.47),
    },
    "subjective outcomes": {
        "pharma-placebo": (-2.70, 1.52),
        "pharma-pharma": (-2.93, 1.58),
        "nonpharma-control": (-2.92, 1.71),
        "nonpharma-pharma": (-1.67, 1.25),
        "nonpharma-nonpharma": (-2.26, 1.45),
    },
    # Turner et al. 2015, p. 993: the marginal predictive distribution.
    "any": {"any": (-2.56, 1.74)},
}

#: Rhodes et al. 2015 Table 3 ("other" areas): log tau² ~ m + s t₅ for SMD. Comparisons:
#: "pharma-placebo", "pharma-pharma", "nonpharma" (non-pharmacological vs any).
_RHODES = {
    "physical health, adverse event, pain, quality of life / functioning": {
        "pharma-placebo": (-3.16, 2.50),
        "pharma-pharma": (-3.44, 2.44),
        "nonpharma": (-3.02, 2.27),
    },
    "subjective outcomes": {
        "pharma-placebo": (-2.76, 2.58),
        "pharma-pharma": (-3.03, 2.59),
        "nonpharma": (-2.62, 2.41),
    },
    # Rhodes et al. 2015, section 3.3: the marginal predictive distribution.
    "any": {"any": (-3.44, 2.59)},
}

#: Empirical prior families: name -> (family, table, measures it is defined for).
EMPIRICAL = {
    "turner2015": ("log-normal", _TURNER, ("OR", "RR")),
    "rhodes2015": ("log-t", _RHODES, ("SMD",)),
}


@dataclass(frozen=True)
class TauPrior:
    """A prior density for tau.

    ``scale`` is the half-normal or half-Cauchy scale, or the sd (log-normal) or scale
    (log-t) of log tau²; ``location`` the mean or location of log tau²; ``value`` the fixed
    tau of ``fixed``. ``label`` names it in tables, e.g. ``half-normal(0.5)``.
    """

    family: str
    scale: float = 0.5
    location: float = 0.0
    df: float = RHODES_DF
    value: float = 0.0
    source: str = ""

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ValueError(f"unknown tau prior family {self.family!r}; one of {', '.join(FAMILIES)}")
        if self.family == "fixed":
            if not (np.isfinite(self.value) and self.value >= 0):
                raise ValueError(f"a fixed tau must be finite and >= 0, got {self.value!r}")
        elif not (np.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"tau prior scale must be finite and > 0, got {self.scale!r}")

    @property
    def label(self) -> str:
        if self.family == "fixed":
            return f"tau fixed at {self.value:g}"
        if self.family in ("half-normal", "half-cauchy"):
            return f"{self.family}({self.scale:g}; {self.source})" if self.source else f"{self.family}({self.scale:g})"
        name = f"{self.family} on tau² (location {self.location:g}, scale {self.scale:g}"
        name += f", {self.df:g} df)" if self.family == "log-t" else ")"
        return f"{self.source}: {name}" if self.source else name

    def log_density(self, tau: np.ndarray) -> np.ndarray:
        """log p(tau) at tau > 0 (``fixed`` has no density)."""
        tau = np.asarray(tau, float)
        s = self.scale
        if self.family == "half-normal":
            return _LOG_2_OVER_SQRT_2PI - np.log(s) - 0.5 * (tau / s) ** 2
        if self.family == "half-cauchy":
            return np.log(2.0 / (np.pi * s)) - np.log1p((tau / s) ** 2)
        if self.family == "fixed":
            raise ValueError("a fixed tau has no density")
        positive = tau > 0
        log_tau = np.log(np.where(positive, tau, 1.0))
        # log tau² = 2 log tau, so p(tau) = p_{log tau²}(2 log tau) * 2 / tau.
        z = (2.0 * log_tau - self.location) / s
        if self.family == "log-normal":
            log_kernel = -0.5 * z * z - 0.5 * np.log(2 * np.pi)
        else:
            nu = self.df
            log_kernel = (
                special.gammaln((nu + 1) / 2)
                - special.gammaln(nu / 2)
                - 0.5 * np.log(nu * np.pi)
                - (nu + 1) / 2 * np.log1p(z * z / nu)
            )
        out = log_kernel - np.log(s) + np.log(2.0) - log_tau
        return np.where(positive, out, -np.inf)

    def median(self) -> float:
        """The prior median of tau: a natural length scale for the quadrature."""
        if self.family == "fixed":
            return self.value
        if self.family == "half-normal":
            return float(self.scale * special.ndtri(0.75))
        if self.family == "half-cauchy":
            return float(self.scale)
        return float(np.exp(self.location / 2))


def empirical_prior(name: str, measure: str, outcome_type: str, comparison: str) -> TauPrior:
    """The Turner (2015) or Rhodes (2015) predictive prior for one outcome and comparison type.

    Raises ``ValueError`` naming what is wrong: an unknown name, a measure the prior was not
    derived for, or a type not in the table.
    """
    if name not in EMPIRICAL:
        raise ValueError(f"unknown empirical prior {name!r}; one of {', '.join(EMPIRICAL)}")
    family, table, measures = EMPIRICAL[name]
    if measure not in measures:
        raise ValueError(f"prior {name!r} is defined for {', '.join(measures)} only, not {measure}")
    if outcome_type not in table:
        raise ValueError(f"prior {name!r} has no outcome type {outcome_type!r}; one of {', '.join(table)}")
    row = table[outcome_type]
    if comparison not in row:
        raise ValueError(
            f"prior {name!r}, outcome type {outcome_type!r} has no comparison {comparison!r}; one of {', '.join(row)}"
        )
    location, scale = row[comparison]
    return TauPrior(family, scale=scale, location=location, source=f"{name} {outcome_type}, {comparison}")


def unit_information_sd(n, vi) -> float:
    """Unit information standard deviation of a set of trials: sqrt(sum n_i / sum 1 / v_i).

    Röver et al. (2021, Res Synth Methods 12:448, eq. 6), bayesmeta's ``uisd()``: if each
    trial's variance is v_i = UISD² / n_i (n_i its total sample size), equating the common-effect
    standard error (sum 1 / v_i)^(-1/2) with UISD / sqrt(sum n_i) gives this estimate, i.e. the
    square root of the mean sample size times the harmonic mean of the variances.

    Parameters
    ----------
    n, vi : array_like
        Total sample sizes (> 0) and sampling variances (> 0) of the trials, at least one.
    """
    n, vi = np.asarray(n, float), np.asarray(vi, float)
    if n.shape != vi.shape or n.size == 0:
        raise ValueError("n and vi must be non-empty and of the same length")
    if not (np.all(np.isfinite(n)) and np.all(n > 0) and np.all(np.isfinite(vi)) and np.all(vi > 0)):
        raise ValueError("sample sizes and variances must be finite and above 0")
    return float(np.sqrt(n.sum() / (1.0 / vi).sum()))
