# Reference values for one trial's arms combined into one group (evsynth.stats.multiarm; the
# across-modes estimate from a single trial, issue 20 point 2).
#
# CI never runs R: tests/oracle/test_multiarm_metafor.py pins the committed JSON. Generated with
# R 4.2.2 / metafor 3.8.1 / metadat / jsonlite (Debian). Regenerate from the repo root:
#   Rscript tests/oracle/reference/metafor_multiarm.R
# -> tests/oracle/data/metafor_multiarm.json (keys sorted, numbers round-trip exactly).
#
# The rule (Cochrane Handbook v6.5, 23.3.4; 6.5.2.10 and Table 6.5.a): the experimental arms of
# a multi-arm trial become one group; counts: events and participants summed; means and SDs:
#   N = N1 + N2, M = (N1 M1 + N2 M2)/N,
#   SD = sqrt(((N1-1) SD1^2 + (N2-1) SD2^2 + N1 N2/N (M1^2 + M2^2 - 2 M1 M2)) / (N - 1)).
# The effect of the combined group vs the control arm then comes from metafor's escalc().
#
# Cases:
# * hasselblad_cottraux_rr / _or / _rd: dat.hasselblad1998, Cottraux et al. 1983 (three arms):
#   individual + group counselling combined vs no contact; escalc(RR|OR|RD) on summed counts.
# * senn_willms_md / _smd: dat.senn2013, Willms (1999) (three arms): metformin + acarbose combined
#   by Table 6.5.a vs placebo; escalc(MD|SMD, vtype = "LS") on the combined mean, SD and n.
# * resolve_ps3_rr: RESOLVE (DeBar et al., JAMA 2025, Table 2), >= 30% pain-severity response at
#   3 months, adjusted % (95% CI) per arm: coach 32.0 (29.3, 35.0), n 690; online 26.6 (23.4, 30.2),
#   n 643; usual care 20.8 (18.0, 24.0), n 703. Events summed = n-weighted proportion: yi is
#   escalc(RR) on the implied events n_a p_a (non-integer, so escalc's binomial vi does not apply);
#   vi is the delta-method variance from the arms' CIs (log scale): var(p_a) = p_a^2 se_a^2,
#   var(p) = sum (n_a/N)^2 var(p_a), vi = var(p)/p^2 + se_uc^2.
# * resolve_bpi_severity_3m_md: RESOLVE Table 3, BPI pain severity at 3 months, adjusted MDs:
#   coach vs usual care -0.4 (-0.6, -0.3), online vs usual care -0.4 (-0.6, -0.2), coach vs online
#   -0.0 (-0.2, 0.1), n 778 / 776; arm variances back-calculated from the three contrasts
#   (s_uc = (v1 + v2 - v12)/2, s_a = v_a - s_uc), arms combined by Table 6.5.a on the means relative
#   to usual care with SD_a = sqrt(s_a n_a); yi = combined mean, vi = SD^2/N + s_uc.

suppressPackageStartupMessages(library(metafor))
library(jsonlite)
OUT <- "tests/oracle/data/metafor_multiarm.json"
source("tests/oracle/reference/json_helpers.R")

combine <- function(n, m, s) {  # Cochrane Handbook Table 6.5.a, arm after arm
  N <- n[1]; M <- m[1]; S <- s[1]
  for (i in seq_along(n)[-1]) {
    T <- N + n[i]
    S <- sqrt(((N - 1) * S^2 + (n[i] - 1) * s[i]^2 + N * n[i] / T * (M^2 + m[i]^2 - 2 * M * m[i])) / (T - 1))
    M <- (N * M + n[i] * m[i]) / T; N <- T
  }
  c(n = N, m = M, sd = S)
}

cases <- list()
h <- dat.hasselblad1998[dat.hasselblad1998$authors == "Cottraux et al.", ]
act <- h[h$trt %in% c("ind_counseling", "grp_counseling"), ]; ctl <- h[h$trt == "no_contact", ]
for (measure in c("RR", "OR", "RD")) {
  e <- escalc(measure = measure, ai = sum(act$xi), n1i = sum(act$ni), ci = ctl$xi, n2i = ctl$ni)
  cases[[sprintf("hasselblad_cottraux_%s", tolower(measure))]] <- list(
    measure = measure, events = arr(act$xi), n = arr(act$ni), events_ctrl = num(ctl$xi), n_ctrl = num(ctl$ni),
    r_call = sprintf('escalc(measure = "%s", ai = sum(xi of ind/grp counselling), n1i = sum(ni), ci = xi of no_contact, n2i = ni)', measure),
    yi = num(c(e$yi)), vi = num(e$vi))
}

w <- dat.senn2013[dat.senn2013$study == "Willms (1999)", ]
act <- w[w$treatment %in% c("metformin", "acarbose"), ]; ctl <- w[w$treatment == "placebo", ]
g <- combine(act$ni, act$mi, act$sdi)
for (measure in c("MD", "SMD")) {
  e <- escalc(measure = measure, m1i = g[["m"]], sd1i = g[["sd"]], n1i = g[["n"]], m2i = ctl$mi, sd2i = ctl$sdi,
              n2i = ctl$ni, vtype = "LS")
  cases[[sprintf("senn_willms_%s", tolower(measure))]] <- list(
    measure = measure, n = arr(act$ni), mean = arr(act$mi), sd = arr(act$sdi), n_ctrl = num(ctl$ni),
    mean_ctrl = num(ctl$mi), sd_ctrl = num(ctl$sdi), combined_n = num(g[["n"]]), combined_mean = num(g[["m"]]),
    combined_sd = num(g[["sd"]]),
    r_call = sprintf('g <- combine(ni, mi, sdi); escalc(measure = "%s", m1i = g["m"], sd1i = g["sd"], n1i = g["n"], m2i, sd2i, n2i of placebo, vtype = "LS")', measure),
    yi = num(c(e$yi)), vi = num(e$vi))
}

pct <- c(32.0, 26.6); lb <- c(29.3, 23.4); ub <- c(35.0, 30.2); n <- c(690, 643)
pct_uc <- 20.8; lb_uc <- 18.0; ub_uc <- 24.0; n_uc <- 703
z <- qnorm(0.975); p <- pct / 100; se <- (log(ub) - log(lb)) / (2 * z); se_uc <- (log(ub_uc) - log(lb_uc)) / (2 * z)
e <- escalc(measure = "RR", ai = sum(n * p), n1i = sum(n), ci = n_uc * pct_uc / 100, n2i = n_uc)
wt <- n / sum(n); pc <- sum(wt * p)
cases$resolve_ps3_rr <- list(
  measure = "RR", percent = arr(pct), lower = arr(lb), upper = arr(ub), n = arr(n), percent_ctrl = num(pct_uc),
  lower_ctrl = num(lb_uc), upper_ctrl = num(ub_uc), n_ctrl = num(n_uc),
  r_call = "escalc(measure = 'RR', ai = sum(n * p), n1i = sum(n), ci = n_uc * p_uc, n2i = n_uc)$yi; vi = sum((n/N)^2 p^2 se^2)/pc^2 + se_uc^2",
  yi = num(c(e$yi)), vi = num(sum(wt^2 * p^2 * se^2) / pc^2 + se_uc^2), combined_percent = num(100 * pc))

y <- c(-0.4, -0.4); lo <- c(-0.6, -0.6); hi <- c(-0.3, -0.2); v <- ((hi - lo) / (2 * z))^2
v12 <- ((0.1 - -0.2) / (2 * z))^2; n <- c(778, 776)
s_uc <- (v[1] + v[2] - v12) / 2; s <- v - s_uc
g <- combine(n, y, sqrt(s * n))
cases$resolve_bpi_severity_3m_md <- list(
  measure = "MD", yi_arms = arr(y), lower = arr(lo), upper = arr(hi), between_lower = num(-0.2),
  between_upper = num(0.1), n = arr(n),
  r_call = "s_uc <- (v1 + v2 - v12)/2; s <- v - s_uc; g <- combine(n, y, sqrt(s * n)); yi = g['m']; vi = g['sd']^2/g['n'] + s_uc",
  yi = num(g[["m"]]), vi = num(g[["sd"]]^2 / g[["n"]] + s_uc))

doc <- list(generator = "tests/oracle/reference/metafor_multiarm.R",
            metafor_version = as.character(packageVersion("metafor")),
            r_version = paste(R.version$major, R.version$minor, sep = "."), cases = cases)
writeLines(toJSON(sort_keys(doc), auto_unbox = TRUE, json_verbatim = TRUE, pretty = TRUE, na = "null",
                  null = "null"), OUT, useBytes = TRUE)
cat(sprintf("wrote %d cases to %s\n", length(cases), OUT))
