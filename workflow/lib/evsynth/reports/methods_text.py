"""Methods and results text for the manuscript, written from the configuration and the outputs.

Every statistical choice is stated with its citation, from the resolved method settings
(:class:`evsynth.stats.profiles.MethodSettings`); every number of the results is formatted from
a row of ``results/pooled.tsv`` (never typed in), in the form reviewers write: "Seven trials
(n = 412) compared ...: SMD -0.33, 95% CI -0.63 to -0.03; I² = 49%; prediction interval ...".
Text is built as plain blocks and rendered to Markdown and HTML with every label escaped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from evsynth._values import is_na
from evsynth.data.io import neutralise_formula
from evsynth.data.screening import PrismaCounts, sum_counts
from evsynth.reports.html import _document, escape
from evsynth.stats.profiles import BAYES
from evsynth.tables.bayes import POSTERIOR_PREDICTIVE

__all__ = ["methods_blocks", "results_blocks", "comparison_sentence", "to_markdown", "to_html"]

ESTIMATORS = {
    "REML": ("restricted maximum likelihood (REML)", "Viechtbauer 2005"),
    "ML": ("maximum likelihood", "Hardy & Thompson 1996"),
    "DL": ("the DerSimonian-Laird moment estimator", "DerSimonian & Laird 1986"),
    "HE": ("the Hedges estimator", "Hedges & Olkin 1985"),
    "PM": ("the Paule-Mandel estimator", "Paule & Mandel 1982"),
    "SJ": ("the Sidik-Jonkman estimator", "Sidik & Jonkman 2005"),
    "EB": ("the empirical Bayes estimator", "Morris 1983"),
}
CI_METHODS = {
    "hksj": ("the Hartung-Knapp-Sidik-Jonkman method on a t distribution with k - 1 degrees of freedom",
             "Hartung & Knapp 2001; Sidik & Jonkman 2002"),
    "hksj-adhoc": ("the Hartung-Knapp-Sidik-Jonkman method with its variance never below the Wald variance "
                   "(ad hoc modification)", "Knapp & Hartung 2003"),
    "wald": ("the Wald method on the normal distribution", "Viechtbauer 2010"),
}
SMD_WORDS = {
    "metafor": "Hedges' g used the exact small-sample correction and the large-sample variance",
    "revman": "Hedges' g used RevMan 5's approximate correction and variance",
    "metapsy": "Hedges' g used the approximate correction 1 - 3/(4N - 9) and the variance of the uncorrected d, "
               "as metapsyTools computes them",
}
PREDICTION = {
    "t_k-1": ("on a t distribution with k - 1 degrees of freedom", "Veroniki et al. 2019"),
    "t_k-2": ("on a t distribution with k - 2 degrees of freedom", "Higgins, Thompson & Spiegelhalter 2009"),
    "t_k-2-wald": ("on a t distribution with k - 2 degrees of freedom with the standard error of the model "
                   "without the Hartung-Knapp adjustment (R meta's convention)",
                   "Higgins, Thompson & Spiegelhalter 2009"),
    "normal": ("on the normal distribution", "Riley, Higgins & Deeks 2011"),
}
REFERENCES = {
    "Röver 2020": "Röver C. Bayesian random-effects meta-analysis using the bayesmeta R package. J Stat Softw "
                  "2020;93(6):1-51.",
    "Röver et al. 2021": "Röver C, Bender R, Dias S, et al. On weakly informative prior distributions for the "
                         "heterogeneity parameter in Bayesian random-effects meta-analysis. Res Synth Methods "
                         "2021;12:448-474.",
    "Begg & Mazumdar 1994": "Begg CB, Mazumdar M. Operating characteristics of a rank correlation test for "
                            "publication bias. Biometrics 1994;50:1088-1101.",
    "DerSimonian & Laird 1986": "DerSimonian R, Laird N. Meta-analysis in clinical trials. Control Clin Trials "
                                "1986;7:177-188.",
    "Borenstein & Higgins 2013": "Borenstein M, Higgins JPT. Meta-analysis and subgroups. Prev Sci "
                                 "2013;14:134-143.",
    "Dias et al. 2010": "Dias S, Welton NJ, Caldwell DM, Ades AE. Checking consistency in mixed treatment "
                        "comparison meta-analysis. Stat Med 2010;29:932-944.",
    "Duval & Tweedie 2000": "Duval S, Tweedie R. Trim and fill: a simple funnel-plot-based method of testing and "
                            "adjusting for publication bias in meta-analysis. Biometrics 2000;56:455-463.",
    "Krahn, Binder & König 2013": "Krahn U, Binder H, König J. A graphical tool for locating inconsistency in "
                                  "network meta-analyses. BMC Med Res Methodol 2013;13:35.",
    "Rücker & Schwarzer 2015": "Rücker G, Schwarzer G. Ranking treatments in frequentist network meta-analysis "
                               "works without resampling methods. BMC Med Res Methodol 2015;15:58.",
    "Salanti et al. 2008": "Salanti G, Higgins JPT, Ades AE, Ioannidis JPA. Evaluation of networks of randomized "
                           "trials. Stat Methods Med Res 2008;17:279-301.",
    "Egger et al. 1997": "Egger M, Davey Smith G, Schneider M, Minder C. Bias in meta-analysis detected by a "
                         "simple, graphical test. BMJ 1997;315:629-634.",
    "Gleser & Olkin 2009": "Gleser LJ, Olkin I. Stochastically dependent effect sizes. In: The Handbook of "
                           "Research Synthesis and Meta-Analysis, 2nd ed. Russell Sage; 2009:357-376.",
    "Hardy & Thompson 1996": "Hardy RJ, Thompson SG. A likelihood approach to meta-analysis with random effects. "
                             "Stat Med 1996;15:619-629.",
    "Harrer et al. 2021": "Harrer M, Cuijpers P, Furukawa TA, Ebert DD. Doing Meta-Analysis with R: A Hands-On "
                          "Guide. Boca Raton: Chapman & Hall/CRC; 2021. doi:10.1201/9781003107347.",
    "Hartung & Knapp 2001": "Hartung J, Knapp G. A refined method for the meta-analysis of controlled clinical "
                            "trials with binary outcome. Stat Med 2001;20:3875-3889.",
    "Hedges 1981": "Hedges LV. Distribution theory for Glass's estimator of effect size and related "
                   "estimators. J Educ Stat 1981;6:107-128.",
    "Hedges & Olkin 1985": "Hedges LV, Olkin I. Statistical Methods for Meta-Analysis. Academic Press; 1985.",
    "Higgins & Thompson 2002": "Higgins JPT, Thompson SG. Quantifying heterogeneity in a meta-analysis. "
                               "Stat Med 2002;21:1539-1558.",
    "Higgins et al. 2003": "Higgins JPT, Thompson SG, Deeks JJ, Altman DG. Measuring inconsistency in "
                           "meta-analyses. BMJ 2003;327:557-560.",
    "Higgins, Thompson & Spiegelhalter 2009": "Higgins JPT, Thompson SG, Spiegelhalter DJ. A re-evaluation of "
                                              "random-effects meta-analysis. J R Stat Soc A 2009;172:137-159.",
    "Knapp & Hartung 2003": "Knapp G, Hartung J. Improved tests for a random effects meta-regression with a "
                            "single covariate. Stat Med 2003;22:2693-2710.",
    "Morris 1983": "Morris CN. Parametric empirical Bayes inference: theory and applications. J Am Stat Assoc "
                   "1983;78:47-55.",
    "Page et al. 2021": "Page MJ, McKenzie JE, Bossuyt PM, et al. The PRISMA 2020 statement: an updated "
                        "guideline for reporting systematic reviews. BMJ 2021;372:n71.",
    "Paule & Mandel 1982": "Paule RC, Mandel J. Consensus values and weighting factors. J Res Natl Bur Stand "
                           "1982;87:377-385.",
    "Peters et al. 2007": "Peters JL, Sutton AJ, Jones DR, Abrams KR, Rushton L. Performance of the trim and fill "
                          "method in the presence of publication bias and between-study heterogeneity. Stat Med "
                          "2007;26:4544-4562.",
    "Riley, Higgins & Deeks 2011": "Riley RD, Higgins JPT, Deeks JJ. Interpretation of random effects "
                                   "meta-analyses. BMJ 2011;342:d549.",
    "Sidik & Jonkman 2002": "Sidik K, Jonkman JN. A simple confidence interval for meta-analysis. Stat Med "
                            "2002;21:3153-3159.",
    "Sidik & Jonkman 2005": "Sidik K, Jonkman JN. Simple heterogeneity variance estimation for meta-analysis. "
                            "J R Stat Soc C 2005;54:367-384.",
    "Veroniki et al. 2019": "Veroniki AA, Jackson D, Bender R, et al. Methods to calculate uncertainty in the "
                            "estimated overall effect size from a random-effects meta-analysis. Res Synth Methods "
                            "2019;10:23-43.",
    "Viechtbauer 2005": "Viechtbauer W. Bias and efficiency of meta-analytic variance estimators in the "
                        "random-effects model. J Educ Behav Stat 2005;30:261-293.",
    "Viechtbauer 2007": "Viechtbauer W. Confidence intervals for the amount of heterogeneity in meta-analysis. "
                        "Stat Med 2007;26:37-52.",
    "Viechtbauer 2010": "Viechtbauer W. Conducting meta-analyses in R with the metafor package. J Stat Softw "
                        "2010;36(3):1-48.",
    "Viechtbauer & Cheung 2010": "Viechtbauer W, Cheung MWL. Outlier and influence diagnostics for "
                                 "meta-analysis. Res Synth Methods 2010;1:112-125.",
}
NUMBER_WORDS = ("No", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine", "Ten")
MEASURE_WORDS = {"RR": "risk ratio (RR)", "OR": "odds ratio (OR)", "RD": "risk difference (RD)",
                 "MD": "mean difference (MD)", "SMD": "standardised mean difference (SMD, Hedges' g)"}

Block = tuple[str, str]  # (kind: "h1" | "h2" | "p" | "li", plain text)


def _cite(text: str, *keys: str, used: set[str]) -> str:
    used.update(k for key in keys for k in key.split("; "))
    return f"{text} ({'; '.join(keys)})"


def _pct(level_alpha: float) -> str:
    return f"{100 * (1 - level_alpha):g}%"


def methods_blocks(
    method: Mapping[str, Any],
    outcomes: Mapping[str, Mapping[str, Any]],
    sensitivity: Mapping[str, Any],
    continuity_correction: float,
    versions: Mapping[str, str],
    derivations: Sequence[tuple[str, int]],
    counts: PrismaCounts | None,
    reasons: Sequence[str] = (),
) -> list[Block]:
    """The statistical methods, one paragraph per topic, each choice with its citation.

    ``method`` is :meth:`MethodSettings.as_dict`; ``derivations`` the kinds of effect-size
    derivation used (from ``results/effects.tsv``) with their number of rows.
    """
    used: set[str] = set()
    level = _pct(float(method["alpha"]))
    blocks: list[Block] = [("h1", "Methods")]
    if counts is not None:
        blocks += [("h2", "Study selection"), ("p", _cite(
            "Study identification, screening and inclusion are reported in a PRISMA 2020 flow diagram",
            "Page et al. 2021", used=used) + _selection_method(counts, reasons))]
    measures = sorted({o["measure"] for o in outcomes.values()}, key=list(MEASURE_WORDS).index)
    smd = method["smd_variance"]
    effect = "Effects were expressed as " + ", ".join(MEASURE_WORDS[m] for m in measures) + "."
    if any(m in ("RR", "OR") for m in measures):
        effect += " Ratios were analysed on the log scale."
    if "SMD" in measures:
        effect += " " + _cite(SMD_WORDS[smd], "Hedges 1981", used=used) + "."
    if continuity_correction:
        effect += (f" For ratio measures, {continuity_correction:g} was added to every cell of a 2x2 table with "
                   "a zero cell; tables without events in both arms were not estimable.")
    if derivations:
        effect += " Effect sizes were obtained as follows: " + "; ".join(
            f"{text} ({n} row{'s' if n != 1 else ''})" for text, n in derivations) + "."
    blocks += [("h2", "Effect measures"), ("p", effect)]
    est, est_cite = ESTIMATORS[method["estimator"]]
    ci, ci_cite = CI_METHODS[method["ci_method"]]
    pooling = ("Each comparison of delivery modes was pooled separately in a random-effects model; "
               + _cite(f"the between-study variance (tau²) was estimated by {est}", est_cite, used=used) + ", "
               + _cite(f"and {level} confidence intervals of the pooled effect by {ci}", ci_cite, used=used) + ".")
    pi = method["prediction_interval"]
    if pi != "none":
        text, cite = PREDICTION[pi]
        pooling += " " + _cite(f"{level} prediction intervals were computed {text}", cite, used=used) + "."
    if method["i2"] == "tau2":
        pooling += " " + _cite("I² was computed from tau²", "Higgins & Thompson 2002", used=used)
    elif method["i2"] == "q-ht":
        pooling += " " + _cite("I² was computed from Cochran's Q with its test-based confidence interval",
                               "Higgins & Thompson 2002", used=used)
    else:
        pooling += " " + _cite("I² was computed from Cochran's Q", "Higgins et al. 2003", used=used)
    if method["tau2_ci"] == "qprofile":
        pooling += ", " + _cite("with Q-profile confidence intervals for tau², I² and H²", "Viechtbauer 2007",
                                used=used)
    pooling += (". A comparison with a single estimable trial was shown, not pooled. Where one trial "
                "contributed several comparisons through a shared arm, the estimate across delivery modes "
                + _cite("came from a multivariate model with the shared-arm covariance", "Gleser & Olkin 2009",
                        used=used) + ".")
    label = method["profile"] + "".join(f", {k}={method[k]}" for k in method.get("overridden", ()))
    if method["profile"] == BAYES:
        pooling = (_cite("The primary analysis was a Bayesian normal-normal random-effects model whose posterior "
                         "was computed exactly by numerical integration over tau", "Röver 2020", used=used)
                   + "; " + _cite("the prior on tau of each outcome is reported with its results (half-normal "
                                  "by default)", "Röver et al. 2021", used=used)
                   + f", and pooled effects are posterior medians with central {level} credible intervals and "
                   f"{level} posterior predictive intervals for a new trial's effect. The frequentist analysis "
                   "that gave the heterogeneity statistics, the across-modes estimates and the sensitivity "
                   "analyses follows. " + pooling)
        pooling += (f" These settings are evsynth's method profile {label}; every pooled comparison was re-run "
                    "under the frequentist cochrane-2025, revman5 and metafor profiles to show whether a "
                    "conclusion depends on the model.")
    else:
        pooling += (f" These settings are evsynth's method profile {label}; every pooled comparison was re-run "
                    "under the cochrane-2025, revman5 and metafor profiles to show whether a conclusion depends "
                    "on them.")
    subgroups = (_cite("Differences between delivery modes were tested with Q between subgroups (separate tau², "
                       "with the covariance of subgroup estimates sharing an arm) and by meta-regression on mode "
                       "(common tau²)", "Borenstein & Higgins 2013", used=used) + ". "
                 + _cite("The modes were also analysed as one network (frequentist contrast-based consistency "
                         "model, one tau²)", "Salanti et al. 2008", used=used) + ", "
                 + _cite("ranked by P-scores", "Rücker & Schwarzer 2015", used=used) + ", "
                 + _cite("with the design-by-treatment decomposition of Q", "Krahn, Binder & König 2013", used=used)
                 + " and " + _cite("node splitting", "Dias et al. 2010", used=used) + "; network CIs are Wald.")
    blocks += [("h2", "Data synthesis"), ("p", pooling), ("p", subgroups)]
    min_k = int(sensitivity.get("small_study_min_k", 10))
    sens = ("Sensitivity analyses: leave-one-out, "
            + _cite("influence diagnostics", "Viechtbauer & Cheung 2010", used=used)
            + " and cumulative meta-analysis by publication year")
    extra = list(sensitivity.get("cumulative_order_by") or [])
    if extra:
        sens += f" (and by {', '.join(extra)})"
    subsets = sensitivity.get("exclude_if") or {}
    if subsets:
        sens += "; re-analyses excluding trials by " + "; ".join(
            f"{col} in {{{', '.join(map(str, vals))}}}" for col, vals in subsets.items())
    sens += ("; re-analyses without "
             + _cite("outlying trials (a trial's CI not overlapping the pooled CI)", "Harrer et al. 2021", used=used)
             + " and without the trials the influence diagnostics flag, from 3 trials")
    sens += (". Small-study effects were assessed with funnel plots, "
             + _cite("Egger's regression test", "Egger et al. 1997", used=used) + ", "
             + _cite("the rank correlation test", "Begg & Mazumdar 1994", used=used) + " and "
             + _cite("trim-and-fill", "Duval & Tweedie 2000", used=used)
             + (" (the number of missing trials estimated under the "
                + _cite("common-effect model", "Peters et al. 2007", used=used)
                + ", the filled-in trials pooled as in the main analysis)"
                if method.get("trimfill_trim_model", "analysis") == "common" else "")
             + f" when a comparison had at least {min_k} trials.")
    blocks += [("h2", "Sensitivity and small-study effects"), ("p", sens)]
    software = ("Analyses were run with evsynth " + versions.get("evsynth", "?") + " (Python; PyMARE "
                + versions.get("pymare", "?") + ", NumPy " + versions.get("numpy", "?") + ", SciPy "
                + versions.get("scipy", "?") + "). "
                + _cite("Every pooled estimate is reproduced by a script per analysis for the R package metafor",
                        "Viechtbauer 2010", used=used) + ", in results/reproduce/.")
    blocks += [("h2", "Software"), ("p", software), ("h2", "References")]
    blocks += [("li", REFERENCES[key]) for key in sorted(used)]
    return blocks


def _selection_method(counts: PrismaCounts, reasons: Sequence[str]) -> str:
    routes = []
    if counts.databases.searched:
        # Named as the log names them: a trial database (Metapsy) is not a bibliographic one.
        names = [name for name, _ in counts.databases.identified + counts.databases.registers]
        routes.append("databases and registers (" + "; ".join(names) + ")")
    if counts.other.searched:
        routes.append("other methods (" + "; ".join(name for name, _ in counts.other.identified) + ")")
    text = ". Studies were identified through " + (" and ".join(routes) or "no recorded route")
    if not counts.databases.searched:
        text += "; no bibliographic database or trial register was searched"
    if reasons:
        text += ". Reports could be excluded at full text for: " + "; ".join(reasons)
    return text + "."


def _fmt(value: Any, measure: str) -> str:
    number = float(value)
    text = f"{number:.2f}"
    return "0.00" if text == "-0.00" else text


def _count(k: int) -> str:
    return NUMBER_WORDS[k] if 0 <= k < len(NUMBER_WORDS) else str(k)


def comparison_sentence(row: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    """One ``pooled.tsv`` row as reviewers write it; every number formatted from ``row``."""
    measure = str(row["measure"])
    level = _pct(float(row["alpha"]))
    treatment = labels.get(str(row["treatment"]), "any remote CBT (across delivery modes)")
    comparator = labels.get(str(row["comparator"]), str(row["comparator"]))
    k = int(row["k"])
    status = str(row["status"])
    n = "" if is_na(row.get("n_participants")) else f"n = {int(row['n_participants']):,}"
    trials = f"{_count(k)} trial{'s' if k != 1 else ''}"
    who = f"{trials} ({n})" if n else trials
    if status == "no estimable study":
        return f"{treatment} vs {comparator}: no trial gave an estimable effect ({row.get('note') or 'none'})."
    posterior = row.get("pi_method") == POSTERIOR_PREDICTIVE  # profile bayes
    effect = (f"{measure} {_fmt(row['estimate'], measure)}{' (posterior median)' if posterior else ''}, {level} "
              f"{'credible interval' if posterior else 'CI'} {_fmt(row['ci_lower'], measure)} to "
              f"{_fmt(row['ci_upper'], measure)}")
    if status.startswith("single study"):
        return f"{who}, {row['studies']}, compared {treatment} with {comparator}: {effect} (single trial, not pooled)."
    parts = [effect]
    if not is_na(row.get("i2")):
        parts.append(f"I² = {float(row['i2']):.0f}%")
    if not is_na(row.get("tau2")):
        parts.append(f"tau² = {float(row['tau2']):.3g}")
    if not is_na(row.get("pi_lower")):
        parts.append(f"{'posterior predictive' if posterior else 'prediction'} interval "
                     f"{_fmt(row['pi_lower'], measure)} to {_fmt(row['pi_upper'], measure)}")
    if status == "pooled across delivery modes":
        return (f"Across delivery modes, {_count(k).lower()} comparisons with {comparator} "
                f"(multivariate model with shared-arm covariance): " + "; ".join(parts) + ".")
    return f"{who} compared {treatment} with {comparator}: " + "; ".join(parts) + "."


def results_blocks(
    pooled: Sequence[Mapping[str, Any]],
    outcomes: Mapping[str, Mapping[str, Any]],
    labels: Mapping[str, str],
    counts: PrismaCounts | None,
) -> list[Block]:
    """Results: study selection from the PRISMA counts, then one sentence per comparison."""
    blocks: list[Block] = [("h1", "Results")]
    if counts is not None:
        blocks += [("h2", "Study selection"), ("p", _selection_result(counts))]
    current = None
    for row in pooled:
        key = (row["outcome"], row["timepoint"])
        if key != current:
            outcome = outcomes.get(str(row["outcome"]), {"label": str(row["outcome"])})
            blocks.append(("h2", f"{outcome['label']}, timepoint {row['timepoint']}"))
            current = key
        blocks.append(("li", comparison_sentence(row, labels)))
    return blocks


def _selection_result(counts: PrismaCounts) -> str:
    def n(value: Any) -> str:
        return "an unrecorded number of" if value == "unknown" else f"{value:,}"

    parts = []
    for route, words in ((counts.databases, "databases and registers"), (counts.other, "other methods")):
        if not route.searched:
            continue
        excluded = "; ".join(f"{reason}: {n(c)}" for reason, c in route.excluded)
        total_excluded = sum_counts(route.excluded)
        parts.append(f"Via {words}, {n(route.assessed)} reports were assessed for eligibility and "
                     f"{n(total_excluded)} excluded ({excluded or 'none'}).")
    total = (f"{n(counts.studies)} new studies ({n(counts.reports)} reports) were included, "
             f"{n(counts.total_studies)} in total with the {n(counts.previous_studies)} of the previous version"
             if counts.updated else f"{n(counts.studies)} studies ({n(counts.reports)} reports) were included")
    return " ".join(parts + [total[0].upper() + total[1:] + " (PRISMA 2020 flow diagram)."])


_MD_SPECIAL = re.compile(r"([\\*_`\[\]#|<>])")
#: An "&" that would start an HTML entity ("&lt;"); any other "&" reads as itself.
_ENTITY = re.compile(r"&(?=#?\w+;)")


def to_markdown(blocks: Sequence[Block]) -> str:
    """Markdown, every text escaped (labels are data) and formula-safe for spreadsheets."""
    out = []
    for kind, text in blocks:
        safe = _ENTITY.sub("&amp;", _MD_SPECIAL.sub(r"\\\1", neutralise_formula(text)))
        prefix = {"h1": "# ", "h2": "## ", "li": "- ", "p": ""}[kind]
        out.append(prefix + safe)
    return "\n\n".join(out) + "\n"


def to_html(blocks: Sequence[Block], title: str) -> str:
    """A self-contained HTML page of one or more documents' blocks, every text escaped."""
    body, in_list = [], False
    for kind, text in blocks:
        if kind == "li" and not in_list:
            body.append("<ul>")
            in_list = True
        if kind != "li" and in_list:
            body.append("</ul>")
            in_list = False
        body.append(f"<{kind}>{escape(text)}</{kind}>")
    if in_list:
        body.append("</ul>")
    return _document(title, "\n".join(body))
