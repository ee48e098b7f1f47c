"""One metafor script per analysis: the analysis's data, the model calls with the same
settings, and the numbers evsynth reported, compared at 1e-6 when the script runs.

The script is generated from two output tables of the analysis, nothing else:
``results/analyses/{outcome}/{timepoint}/studies.tsv`` (each study's ``yi`` and ``vi`` on the
analysis scale, and for contrasts formed from arms the arm variances behind the shared-arm
covariance) and its ``pooled.tsv`` (the settings of each row, ``estimator``, ``ci_method``,
``pi_method``, ``pi_df``, ``alpha``, and the reported numbers). So it reproduces any review
evsynth pools, whatever its outcomes or modes. Per ``pooled.tsv`` row, by ``status``:

* ``pooled`` under ``pooling.profile: bayes`` (``pi_method`` "posterior predictive"): the
  script says that the estimate, CI and PI are the posterior's and checks the frequentist
  columns it can (tau², I², H², Q, common effect, Q-profile CIs).
* ``pooled``: ``rma(yi, vi, method, test)`` (Viechtbauer 2010, J Stat Softw 36(3)); test
  ``"z"``, ``"knha"`` (Hartung & Knapp 2001) or ``"adhoc"`` (Knapp & Hartung 2003) from the
  CI method; the prediction interval from ``predict()`` where metafor's default matches the
  profile's, else by its formula; Q-profile CIs from ``confint()``; the common-effect
  estimate from ``rma(method = "EE")``.
* ``single study: shown, not pooled``: the study's own estimate and Wald CI,
  ``rma(yi, vi, method = "EE")`` on one study.
* ``single study: CBT arms combined, not pooled``: the combined contrast's Wald CI and P-value
  (the combination itself is pinned to metafor in tests/oracle/test_multiarm_metafor.py).
* ``pooled across delivery modes``: ``rma.mv(yi, V, random = ~ 1 | id)`` with the shared-arm
  covariance in ``V`` (Gleser & Olkin 2009). metafor 3.8's ``rma.mv`` optimises tau² with
  ``nlminb`` (good to ~1e-6) and has no ``test = "knha"``, so tau² is the root of the REML/ML
  score equation, as in ``tests/oracle/reference/metafor_multivariate.R``, and the
  Knapp-Hartung factor is applied by its formula.

Labels reach R only as escaped string literals (:func:`r_string`), never as code or in comments.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from evsynth._values import is_na
from evsynth.tables.bayes import POSTERIOR_PREDICTIVE
from evsynth.wording import SINGLE_TRIAL_STATUS

__all__ = ["reproduce_script", "r_string"]

TESTS = {"wald": "z", "hksj": "knha", "hksj-adhoc": "adhoc"}
#: Prediction intervals metafor's predict() gives itself, per test.
PREDICT_DEFAULT = {"z": "normal", "knha": "t_k-1", "adhoc": "t_k-1"}
RATIO = ("RR", "OR")
CONTROL = "control = list(threshold = 1e-12, tol = 1e-12, maxiter = 1000)"

_PRELUDE = r'''suppressPackageStartupMessages(library(metafor))
tol <- 1e-6
failures <- character(0)
checked <- 0
# |metafor - evsynth| <= 1e-6 * max(1, |evsynth|) for every number evsynth reported.
agree <- function(what, metafor, evsynth) {
  for (name in names(evsynth)) {
    a <- unname(metafor[[name]]); b <- unname(evsynth[[name]])
    ok <- length(a) == 1 && is.finite(a) && abs(a - b) <= tol * max(1, abs(b))
    checked <<- checked + 1
    cat(sprintf("%-34s %-16s metafor %16.10g  evsynth %16.10g  %s\n", what, name, a, b,
                if (ok) "ok" else "DIFFERS"))
    if (!ok) failures <<- c(failures, paste(what, name))
  }
}
# tau2 of rma.mv(yi, V, random = ~ 1 | id): the root of the REML (or ML) score equation,
# 0 when the score at 0 is negative (metafor's nlminb optimum is only good to ~1e-6).
exact_tau2 <- function(y, V, X, method) {
  score <- function(t2) {
    W <- solve(V + diag(t2, nrow(V))); A <- solve(t(X) %*% W %*% X)
    P <- W - W %*% X %*% A %*% t(X) %*% W; Py <- P %*% y
    sum(Py^2) - if (method == "REML") sum(diag(P)) else sum(diag(W))
  }
  if (score(0) <= 0) return(0)
  hi <- 1; while (score(hi) > 0) hi <- 2 * hi
  uniroot(score, c(0, hi), tol = 1e-15, maxiter = 10000)$root
}
'''

_EPILOGUE = r'''
cat(sprintf("\n%d of %d numbers agree with evsynth to 1e-6\n", checked - length(failures), checked))
if (length(failures) > 0) {
  cat("Differ:", paste(failures, collapse = "; "), "\n")
  quit(status = 1)
}
'''


def r_string(text: Any) -> str:
    """``text`` as an R string literal: backslashes, quotes and control characters escaped."""
    out = []
    for ch in str(text):
        if ch in ('\\', '"'):
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 32 or ord(ch) == 127 or 0x202A <= ord(ch) <= 0x202E or 0x2066 <= ord(ch) <= 0x2069:
            out.append(f"\\u{{{ord(ch):04x}}}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _num(value: Any) -> str:
    """A float as an R literal that reads back to the same double."""
    value = float(value)
    if math.isnan(value):
        return "NA"
    return repr(value).replace("inf", "Inf")


def _vector(values: Sequence[Any]) -> str:
    return "c(" + ", ".join(values) + ")"


def _reported(row: Mapping[str, Any], names: Sequence[str]) -> str:
    """``c(name = value, ...)`` of the columns of ``row`` that hold a number."""
    pairs = [f"{n} = {_num(row[n])}" for n in names if n in row and not is_na(row[n])
             and not isinstance(row[n], (str, bool))]
    return "c(" + ",\n              ".join(pairs) + ")"


def _safe_comment(text: Any) -> str:
    return "".join(ch if ch.isprintable() else " " for ch in str(text))


def _data(block: pd.DataFrame) -> list[str]:
    return [
        "dat <- data.frame(",
        f"  study = {_vector([r_string(s) for s in block['study']])},",
        f"  yi = {_vector([_num(v) for v in block['yi']])},",
        f"  vi = {_vector([_num(v) for v in block['vi']])})",
    ]


def _level(alpha: float) -> str:
    return _num(100 * (1 - alpha))


def _pooled(row: Mapping[str, Any], block: pd.DataFrame, ratio: bool) -> list[str]:
    test = TESTS[str(row["ci_method"])]
    alpha = float(row["alpha"])
    method = str(row["estimator"])
    lines = _data(block) + [
        f'res <- rma(yi, vi, data = dat, method = "{method}", test = "{test}", level = {_level(alpha)},',
        f"           {CONTROL})",
        f'ee <- rma(yi, vi, data = dat, method = "EE", level = {_level(alpha)})',
    ]
    pi_method = "" if is_na(row.get("pi_method")) else str(row["pi_method"])
    posterior = pi_method == POSTERIOR_PREDICTIVE
    if posterior:  # profile bayes: these numbers are not metafor's to check
        lines = _bayes_comments(row) + lines
        pi_method = ""
    if pi_method and pi_method == PREDICT_DEFAULT[test]:
        lines.append("p <- predict(res); pred <- c(p$pi.lb, p$pi.ub)  # metafor's own prediction interval")
    elif pi_method:
        crit = (f"qnorm({_num(1 - alpha / 2)})" if pi_method == "normal"
                else f"qt({_num(1 - alpha / 2)}, {_num(row['pi_df'])})")
        se = "res$se^2"
        if pi_method == "t_k-2-wald":  # R meta's: the SE without the Hartung-Knapp scaling
            lines.append("se_wald <- 1 / sqrt(sum(1 / (dat$vi + res$tau2)))")
            se = "se_wald^2"
        lines.append(f"pred <- c(res$b) + c(-1, 1) * {crit} * sqrt(res$tau2 + {se})  # {pi_method}")
    tf = "exp" if ratio else "identity"
    metafor = [
        "theta = c(res$b)", "se = res$se", f"estimate = {tf}(c(res$b))", f"ci_lower = {tf}(res$ci.lb)",
        f"ci_upper = {tf}(res$ci.ub)", "p_value = res$pval", "stat = res$zval", "tau2 = res$tau2",
        "i2_tau2 = res$I2", "h2 = res$H2", "q = res$QE", "q_p = res$QEp",
        "i2_q = 100 * max(0, (res$QE - (res$k - 1)) / res$QE)",
        "common_theta = c(ee$b)", "common_se = ee$se", "common_p_value = ee$pval",
        f"common_ci_lower = {tf}(ee$ci.lb)", f"common_ci_upper = {tf}(ee$ci.ub)",
    ]
    names = ["theta", "se", "estimate", "ci_lower", "ci_upper", "p_value", "stat", "tau2", "i2_tau2", "h2", "q",
             "q_p", "i2_q", "common_theta", "common_se", "common_p_value", "common_ci_lower", "common_ci_upper"]
    if pi_method:
        metafor += [f"pi_lower = {tf}(pred[1])", f"pi_upper = {tf}(pred[2])"]
        names += ["pi_lower", "pi_upper"]
    if not is_na(row.get("tau2_ci_upper")):
        lines.append("ci <- confint(res, control = list(tol = 1e-12, tau2.max = 1e7))$random  # Q-profile")
        metafor += ['tau2_ci_lower = ci["tau^2", "ci.lb"]', 'tau2_ci_upper = ci["tau^2", "ci.ub"]',
                    'i2_ci_lower = ci["I^2(%)", "ci.lb"]', 'i2_ci_upper = ci["I^2(%)", "ci.ub"]',
                    'h2_ci_lower = ci["H^2", "ci.lb"]', 'h2_ci_upper = ci["H^2", "ci.ub"]']
        names += ["tau2_ci_lower", "tau2_ci_upper", "i2_ci_lower", "i2_ci_upper", "h2_ci_lower", "h2_ci_upper"]
    if str(row.get("i2_method")) == "q-ht" and int(row["k"]) >= 3 and not is_na(row.get("i2_ci_lower")):
        lines += _i2_test_based(alpha)
        metafor = [m for m in metafor if not m.startswith(("i2_ci", "h2_ci"))]
        metafor += ["i2_ci_lower = ht[1]", "i2_ci_upper = ht[2]", "h2_ci_lower = ht[3]", "h2_ci_upper = ht[4]"]
        names = [n for n in names if not n.startswith(("i2_ci", "h2_ci"))]
        names += ["i2_ci_lower", "i2_ci_upper", "h2_ci_lower", "h2_ci_upper"]
    if posterior:
        keep = [i for i, name in enumerate(names) if name not in BAYES_PRIMARY]
        metafor, names = [metafor[i] for i in keep], [names[i] for i in keep]
    return lines + _compare(row, metafor, names)


def _i2_test_based(alpha: float) -> list[str]:
    """R lines: the I² and H² CIs from Q (Higgins & Thompson 2002, appendix; R meta's isquared)."""
    return [
        "# I² from Q with its test-based CI (Higgins & Thompson 2002, appendix; R meta's isquared)",
        "H <- sqrt(res$QE / (res$k - 1))",
        "se_lnH <- if (res$QE > res$k) 0.5 * (log(res$QE) - log(res$k - 1)) / (sqrt(2 * res$QE) - sqrt(2 * res$k - 3)) "
        "else sqrt(1 / (2 * (res$k - 2)) * (1 - 1 / (3 * (res$k - 2)^2)))",
        f"H_ci <- pmax(exp(log(H) + c(-1, 1) * qnorm({_num(1 - alpha / 2)}) * se_lnH), 1)",
        "ht <- c(100 * (H_ci^2 - 1) / H_ci^2, H_ci^2)",
    ]


#: pooled.tsv columns that hold the posterior under profile bayes (evsynth.tables.bayes.bayes_primary).
BAYES_PRIMARY = ("theta", "se", "estimate", "ci_lower", "ci_upper", "p_value", "stat", "pi_lower", "pi_upper")


def _bayes_comments(row: Mapping[str, Any]) -> list[str]:
    """Under profile bayes, say that the primary numbers are the posterior's, which metafor does not
    compute: the script checks only the frequentist columns (heterogeneity, common effect)."""
    level = _num(100 * (1 - float(row["alpha"])))
    return [
        "# The primary numbers of this row are Bayesian (pooling.profile: bayes): estimate, ci_lower, ci_upper,",
        f"# pi_lower, pi_upper are the posterior median, central {level}% credible interval and posterior",
        "# predictive interval (evsynth.stats.bayes, pinned to an independent R integration in",
        "# tests/oracle/test_bayes_oracle.py); R's bayesmeta package fits the same model. Reported:",
        *(f"#   {name} = {_num(row[name])}" for name in ("estimate", "ci_lower", "ci_upper", "pi_lower", "pi_upper")
          if not is_na(row.get(name))),
        f"#   tau prior: {_safe_comment(row.get('bayes_tau_prior'))}; "
        f"mu prior: {_safe_comment(row.get('bayes_mu_prior'))}",
        "# metafor checks the frequentist columns only: tau², I², H², Q and the common-effect estimate.",
    ]


def _single(row: Mapping[str, Any], block: pd.DataFrame, ratio: bool) -> list[str]:
    alpha = float(row["alpha"])
    tf = "exp" if ratio else "identity"
    lines = _data(block) + [f'res <- rma(yi, vi, data = dat, method = "EE", level = {_level(alpha)})']
    metafor = ["theta = c(res$b)", "se = res$se", f"estimate = {tf}(c(res$b))", f"ci_lower = {tf}(res$ci.lb)",
               f"ci_upper = {tf}(res$ci.ub)", "p_value = res$pval", "stat = res$zval"]
    names = ["theta", "se", "estimate", "ci_lower", "ci_upper", "p_value", "stat"]
    return lines + _compare(row, metafor, names)


def _combined_arms(row: Mapping[str, Any], ratio: bool) -> list[str]:
    """A single trial's CBT arms combined (``evsynth.stats.multiarm``): the combined contrast is
    taken as evsynth formed it (the combination itself is pinned to metafor ``escalc`` in
    tests/oracle/test_multiarm_metafor.py); the script checks its Wald CI and P-value."""
    alpha = float(row["alpha"])
    tf = "exp" if ratio else "identity"
    lines = [
        "# The trial's CBT arms combined into one group (Cochrane Handbook 6.5.2.10 and 23.3.4):",
        "# theta and se are evsynth's combined contrast; metafor checks its Wald interval.",
        f"res <- rma(yi = {_num(row['theta'])}, sei = {_num(row['se'])}, method = \"EE\", level = {_level(alpha)})",
    ]
    metafor = [f"estimate = {tf}(c(res$b))", f"ci_lower = {tf}(res$ci.lb)", f"ci_upper = {tf}(res$ci.ub)",
               "p_value = res$pval", "stat = res$zval"]
    return lines + _compare(row, metafor, ["estimate", "ci_lower", "ci_upper", "p_value", "stat"])


def _covariances(block: pd.DataFrame) -> list[tuple[int, int, float, str]]:
    """Shared-arm covariances (1-based positions, value, what is shared), as
    :func:`evsynth.data.contrasts.covariance_blocks` forms them: a contrast is f(treatment) -
    f(comparator), so two contrasts sharing an arm covary by that arm's variance, signed."""
    out = []
    rows = block.reset_index(drop=True).to_dict("records")
    for a in range(len(rows)):
        for b in range(a + 1, len(rows)):
            ra, rb = rows[a], rows[b]
            if is_na(ra.get("arm_group")) or ra.get("arm_group") != rb.get("arm_group"):
                continue
            vt, vc = float(ra["var_treat_arm"]), float(ra["var_ctrl_arm"])
            cov = ((ra["treatment"] == rb["treatment"]) * vt + (ra["comparator"] == rb["comparator"]) * vc
                   - (ra["treatment"] == rb["comparator"]) * vt - (ra["comparator"] == rb["treatment"]) * vc)
            if cov != 0:
                shared = ra["treatment"] if ra["treatment"] in (rb["treatment"], rb["comparator"]) else ra["comparator"]
                out.append((a + 1, b + 1, float(cov), str(shared)))
    return out


def _multivariate(row: Mapping[str, Any], block: pd.DataFrame, ratio: bool) -> list[str]:
    test = TESTS[str(row["ci_method"])]
    alpha = float(row["alpha"])
    method = str(row["estimator"])
    tf = "exp" if ratio else "identity"
    lines = _data(block) + [
        f"dat$treatment <- {_vector([r_string(t) for t in block['treatment']])}",
        "dat$id <- seq_len(nrow(dat))",
        "V <- diag(dat$vi)",
    ]
    for i, j, cov, shared in _covariances(block):
        lines.append(f"V[{i}, {j}] <- V[{j}, {i}] <- {_num(cov)}  # arm {r_string(shared)} shared by rows {i} and {j}")
    lines += [
        f'fit <- rma.mv(yi, V, random = ~ 1 | id, data = dat, method = "{method}")  # nlminb tau2',
        f'tau2 <- exact_tau2(dat$yi, V, model.matrix(fit), "{method}")',
        f'res <- rma.mv(yi, V, random = ~ 1 | id, data = dat, method = "{method}", sigma2 = tau2,',
        f'              test = "{"z" if test == "z" else "t"}", level = {_level(alpha)})',
    ]
    if test == "z":
        lines.append("se <- res$se; crit <- qnorm(1 - " + _num(alpha / 2) + ")")
        lines.append("stat <- res$zval; p <- res$pval")
    else:
        floor = "max(1, s2)" if test == "adhoc" else "s2"
        # evsynth floors a Knapp-Hartung scale of exactly 0 at 1 and says so in the note; the
        # same residuals are a rounding error away from 0 in R, so the note decides.
        floored = "TRUE" if "ad hoc floor used" in str(row.get("note") or "") else "FALSE"
        lines += [
            "# Knapp-Hartung: the SE scaled by s2 = r'(V + tau2 I)^-1 r / (k - 1), as rma(test = \"knha\")",
            "r <- dat$yi - c(res$b)",
            "s2 <- c(t(r) %*% solve(V + tau2 * diag(nrow(V)), r)) / (res$k - 1)",
            f"if ({floored} || !(s2 > 0)) s2 <- 1  # zero residuals: evsynth's ad hoc floor (see its note)",
            f"se <- sqrt({floor}) * res$se; crit <- qt(1 - {_num(alpha / 2)}, res$k - 1)",
            "stat <- c(res$b) / se; p <- 2 * pt(abs(stat), res$k - 1, lower.tail = FALSE)",
        ]
    metafor = ["theta = c(res$b)", "se = se", f"estimate = {tf}(c(res$b))", f"ci_lower = {tf}(c(res$b) - crit * se)",
               f"ci_upper = {tf}(c(res$b) + crit * se)", "p_value = p", "stat = stat", "tau2 = tau2",
               "q = res$QE", "q_p = res$QEp"]
    names = ["theta", "se", "estimate", "ci_lower", "ci_upper", "p_value", "stat", "tau2", "q", "q_p"]
    return lines + _compare(row, metafor, names)


def _compare(row: Mapping[str, Any], metafor: Sequence[str], names: Sequence[str]) -> list[str]:
    what = f"{row['treatment']} vs {row['comparator']}"
    return [
        f"evsynth <- {_reported(row, names)}",
        "metafor <- c(" + ",\n              ".join(metafor) + ")",
        f"agree({r_string(what)}, metafor, evsynth)",
    ]


def reproduce_script(
    studies: pd.DataFrame,
    pooled: pd.DataFrame,
    outcome: Mapping[str, Any],
    timepoint: str,
    header: Sequence[str] = (),
) -> str:
    """The R script that reproduces one analysis's ``pooled.tsv`` with metafor.

    Parameters
    ----------
    studies, pooled
        The analysis's ``studies.tsv`` and ``pooled.tsv`` as read by
        :func:`evsynth.data.io.read_tsv`.
    outcome
        The outcome as configured (``id``, ``label``, ``measure``).
    timepoint
        The timepoint window.
    header
        Comment lines to open the script with (provenance, versions).
    """
    ratio = outcome["measure"] in RATIO
    scale = "log scale (estimates and CIs compared after exp())" if ratio else "the outcome's own scale"
    lines = [f"# {_safe_comment(line)}" for line in header] + [
        f"# Outcome {_safe_comment(outcome['id'])} ({_safe_comment(outcome['label'])}), timepoint "
        f"{_safe_comment(timepoint)}, measure {outcome['measure']}: yi and vi on {scale}.",
        "# Run with: Rscript <this file>   (metafor >= 3.8); exits 1 if a number differs by more than 1e-6.",
        "",
        _PRELUDE,
    ]
    usable = studies[studies["estimable"].astype(bool)] if len(studies) else studies
    for row in pooled.to_dict("records"):
        status = str(row["status"])
        what = f"{row['treatment']} vs {row['comparator']}"
        lines.append(f"## {_safe_comment(what)}: {_safe_comment(status)}")
        if status == "pooled across delivery modes":
            block = usable[usable["comparator"] == row["comparator"]]
            lines += _multivariate(row, block, ratio)
        else:
            block = usable[(usable["treatment"] == row["treatment"]) & (usable["comparator"] == row["comparator"])]
            if status == "pooled":
                lines += _pooled(row, block, ratio)
            elif status == SINGLE_TRIAL_STATUS:
                lines += _combined_arms(row, ratio)
            elif status.startswith("single study") and len(block) == 1:
                lines += _single(row, block, ratio)
            else:
                lines.append("# nothing to fit: no estimable study")
        lines.append("")
    lines.append(_EPILOGUE)
    return "\n".join(lines)
