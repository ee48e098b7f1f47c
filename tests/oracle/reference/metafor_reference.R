# metafor reference values for the evsynth Python tests.
#
# CI never runs R, so this script is the only place these numbers come from:
# the Python tests pin the committed JSON, and this file documents exactly how
# it was produced. Generated with R 4.2.2 / metafor 3.8.1 / jsonlite 1.8.4
# (Debian r-cran-metafor, r-cran-jsonlite).
#
# Regenerate (from the repo root):
#   Rscript tests/oracle/reference/metafor_reference.R
# -> writes tests/oracle/data/metafor_reference.json. Output is byte-stable: keys are
# sorted (C-locale) at every level, and numbers are the shortest of
# %.15g/%.16g/%.17g that round-trips to the identical double.
#
# Cases (id -> what it exercises):
#   bcg_rr_{reml,dl,ml,he}_{z,knha}  dat.bcg log risk ratio; every tau2 estimator
#                                    x Wald-z / Knapp-Hartung inference
#   bcg_or_dl_z, bcg_rd_dl_z         same trials, log odds ratio / risk difference
#   normand_smd_{reml,dl}_{z,knha}   dat.normand1999 Hedges' g (escalc default:
#                                    exact bias correction, vtype "LS")
#   normand_md_{reml,dl}_z           same data, raw mean difference
#   zero_cells_{or,rr}_dl_z          0.5 added only to studies with a zero cell;
#                                    double-zero study dropped (drop00=TRUE), k=3
#   zero_cells_rd_dl_z               RD with drop00=FALSE (the default): the
#                                    double-zero study is kept (yi=0) and also
#                                    gets the 0.5 correction in its variance
#   reported_ci_mixed_{reml,dl}_z    ratios + 95% CIs as published (RESOLVE trial
#                                    RRs); SE back-derived from the CI width
#   huge_variance_reml               bcg log RR with vi[1]=1e10 (PyMARE silently
#                                    returns garbage here)
#   k2_reml_z, k2_dl_knha            first two bcg trials only (smallest k)
#   bcg_rr_{pm,sj,eb}_{z,knha}       the estimators PyMARE lacks
#   bcg_rr_reml_adhoc                Knapp-Hartung with the ad hoc floor
#   smallk_{dl,reml}_{z,knha,adhoc}  anchors.md c.8: Q < k-1, so plain Knapp-Hartung
#                                    is 6x narrower than Wald and adhoc restores it
#   shipped_interference_coach_*     real data from studies.tsv (see the setup)
#
# Per case: r_setup (code creating `dat`), r_call (the rma() fit),
# r_call_common_effect (the EE fit), inputs (arm data, yi, vi; NA -> null),
# and outputs. Outputs also hold predict(res) pi_lb/pi_ub (metafor defaults: normal
# under z, t(k-1) with the Knapp-Hartung SE under knha/adhoc), the t(k-2) interval
# pi_tk2_*, and the Q-profile CIs for tau2, I2 and H2 from
# confint(res, control=list(tol=1e-12)).
# Weights are percent, aligned with the inputs (null for a study not fitted).
# confint() runs with tau2.max=1e7 so the Q-profile upper limits are solved, not
# capped.

suppressPackageStartupMessages(library(metafor))
library(jsonlite)

# tol: uniroot() tolerance for PM (metafor's default eps^0.25 leaves PM off by ~1e-6).
CTRL <- "control=list(threshold=1e-12, tol=1e-12, maxiter=1000)"
OUT <- "tests/oracle/data/metafor_reference.json"

source("tests/oracle/reference/json_helpers.R")

# Align per-study values with the input rows (rma drops NA studies silently).
expand <- function(v, not_na) { out <- rep(NA_real_, length(not_na)); out[not_na] <- v; out }

run_case <- function(setup, method, test, inputs, yi_vi = "yi, vi", fit_extra = "") {
  env <- new.env(parent = globalenv())
  eval(parse(text = setup), envir = env)
  call <- sprintf('rma(%s, data=dat, method="%s", test="%s"%s, %s)',
                  yi_vi, method, test, fit_extra, CTRL)
  ee_call <- sprintf('rma(%s, data=dat, method="EE"%s, %s)', yi_vi, fit_extra, CTRL)
  res <- eval(parse(text = call), envir = env)
  ee <- eval(parse(text = ee_call), envir = env)
  pr <- predict(res)
  knha <- test %in% c("knha", "adhoc")

  tau2_ci <- i2_ci <- h2_ci <- c(NA_real_, NA_real_)
  if (res$k >= 2) {
    # tau2.max lifted: metafor's default search cap (100, or 10*tau2) truncates
    # the upper limit on wide scales (dat.normand1999 MD: ">2054" vs 2889.45).
    ci <- confint(res, control = list(tol = 1e-12, tau2.max = 1e7))
    tau2_ci <- unname(ci$random["tau^2", c("ci.lb", "ci.ub")])
    i2_ci <- unname(ci$random["I^2(%)", c("ci.lb", "ci.ub")])
    h2_ci <- unname(ci$random["H^2", c("ci.lb", "ci.ub")])
  }
  # Higgins-Thompson-Spiegelhalter prediction interval on t(k-2) (not in metafor 3.8's
  # predict()): same estimate and SE, wider quantile.
  hts <- if (res$k >= 3) c(res$beta) + c(-1, 1) * qt(0.975, res$k - 2) * sqrt(res$tau2 + res$se^2) else c(NA, NA)

  out <- list(
    beta = num(res$beta[1]), se = num(res$se), pval = num(res$pval),
    ci_lb = num(res$ci.lb), ci_ub = num(res$ci.ub),
    tau2 = num(res$tau2), I2 = num(res$I2), H2 = num(res$H2),
    QE = num(res$QE), QEp = num(res$QEp), k = num(res$k),
    df = num(if (knha) res$k - 1 else NA),
    weights = arr(expand(weights(res), res$not.na)),
    pi_lb = num(pr$pi.lb), pi_ub = num(pr$pi.ub),
    tau2_ci_lb = num(tau2_ci[1]), tau2_ci_ub = num(tau2_ci[2]),
    I2_ci_lb = num(i2_ci[1]), I2_ci_ub = num(i2_ci[2]),
    H2_ci_lb = num(h2_ci[1]), H2_ci_ub = num(h2_ci[2]),
    pi_tk2_lb = num(hts[1]), pi_tk2_ub = num(hts[2]),
    common_effect = list(beta = num(ee$beta[1]), se = num(ee$se),
                         ci_lb = num(ee$ci.lb), ci_ub = num(ee$ci.ub),
                         pval = num(ee$pval)))
  # metafor stores the test statistic in $zval for both tests; name it honestly.
  out[[if (knha) "tval" else "zval"]] <- num(res$zval)

  dat <- env$dat
  ins <- lapply(inputs(dat), function(v) if (is.numeric(v)) arr(v) else v)
  ins$yi <- arr(as.numeric(dat$yi))
  ins$vi <- arr(as.numeric(dat$vi))
  list(r_setup = setup, r_call = call, r_call_common_effect = ee_call,
       method = method, test = test, inputs = ins, outputs = out)
}

# ---- input definitions -------------------------------------------------------
bcg_setup <- function(measure)
  sprintf('dat <- escalc(measure="%s", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg)', measure)
bcg_inputs <- function(d) list(
  study = paste(d$author, d$year), ai = d$tpos, bi = d$tneg, ci = d$cpos, di = d$cneg,
  events_treat = d$tpos, n_treat = d$tpos + d$tneg,
  events_ctrl = d$cpos, n_ctrl = d$cpos + d$cneg)

normand_setup <- function(measure)
  sprintf(paste0('dat <- escalc(measure="%s", m1i=m1i, sd1i=sd1i, n1i=n1i, ',
                 'm2i=m2i, sd2i=sd2i, n2i=n2i, data=dat.normand1999)'), measure)
normand_inputs <- function(d) list(
  study = as.character(d$source), m1i = d$m1i, sd1i = d$sd1i, n1i = d$n1i,
  m2i = d$m2i, sd2i = d$sd2i, n2i = d$n2i)

zero_setup <- function(measure, drop00)
  sprintf(paste0('dat <- escalc(measure="%s", ai=c(0,2,5,0), n1i=c(20,30,50,15), ',
                 'ci=c(3,4,9,0), n2i=c(20,30,50,15), add=1/2, to="only0", drop00=%s)'),
          measure, drop00)
zero_inputs <- function(d) list(ai = c(0, 2, 5, 0), n1i = c(20, 30, 50, 15),
                                ci = c(3, 4, 9, 0), n2i = c(20, 30, 50, 15))

reported_setup <- paste(
  'rr <- c(1.54, 1.28, 1.20); lb <- c(1.30, 1.06, 1.03); ub <- c(1.82, 1.55, 1.40)',
  'dat <- data.frame(yi=log(rr), sei=(log(ub)-log(lb))/(2*qnorm(.975)))',
  'dat$vi <- dat$sei^2', sep = "; ")
reported_inputs <- function(d) list(ratio = c(1.54, 1.28, 1.20), ratio_ci_lb = c(1.30, 1.06, 1.03),
                                    ratio_ci_ub = c(1.82, 1.55, 1.40), sei = d$sei)

# ---- cases -------------------------------------------------------------------
cases <- list()
for (m in c("REML", "DL", "ML", "HE")) for (t in c("z", "knha"))
  cases[[sprintf("bcg_rr_%s_%s", tolower(m), t)]] <- run_case(bcg_setup("RR"), m, t, bcg_inputs)
cases$bcg_or_dl_z <- run_case(bcg_setup("OR"), "DL", "z", bcg_inputs)
cases$bcg_rd_dl_z <- run_case(bcg_setup("RD"), "DL", "z", bcg_inputs)

for (m in c("REML", "DL")) {
  for (t in c("z", "knha"))
    cases[[sprintf("normand_smd_%s_%s", tolower(m), t)]] <-
      run_case(normand_setup("SMD"), m, t, normand_inputs)
  cases[[sprintf("normand_md_%s_z", tolower(m))]] <-
    run_case(normand_setup("MD"), m, "z", normand_inputs)
}

cases$zero_cells_or_dl_z <- run_case(zero_setup("OR", "TRUE"), "DL", "z", zero_inputs)
cases$zero_cells_rr_dl_z <- run_case(zero_setup("RR", "TRUE"), "DL", "z", zero_inputs)
cases$zero_cells_rd_dl_z <- run_case(zero_setup("RD", "FALSE"), "DL", "z", zero_inputs)

# Fit from sei (not vi) to mirror how a reported-CI contrast enters metafor.
for (m in c("REML", "DL"))
  cases[[sprintf("reported_ci_mixed_%s_z", tolower(m))]] <-
    run_case(reported_setup, m, "z", reported_inputs, yi_vi = "yi, sei=sei")

cases$huge_variance_reml <- run_case(paste(bcg_setup("RR"), "dat$vi[1] <- 1e10", sep = "; "),
                                     "REML", "z", bcg_inputs)
# Real data from the shipped studies.tsv: Hedges' g for pain interference, coach-led CBT vs
# usual care, post-treatment (secondary meta-analysis supplement; see docs/shipped_studies.md).
# g is reported with positive = benefit; interference is lower-is-better, so yi = -g.
shipped_setup <- paste(
  'study <- c("Buhrman 2004", "Buhrman 2011", "Buhrman 2013a", "Buhrman 2015", "Dear 2013", "Friesen 2017", "Hedman-Lagerlof 2018")',
  'g <- c(0.000, 0.000, 0.072, 0.204, 0.578, 0.498, 0.774); se <- c(0.278, 0.268, 0.233, 0.275, 0.256, 0.259, 0.174)',
  'dat <- data.frame(study=study, yi=-g, sei=se, vi=se^2)', sep = "; ")
shipped_inputs <- function(d) list(study = d$study, g = -d$yi, sei = d$sei)
for (m in c("REML", "DL"))
  for (t in c("z", "knha"))
    cases[[sprintf("shipped_interference_coach_%s_%s", tolower(m), t)]] <-
      run_case(shipped_setup, m, t, shipped_inputs, yi_vi = "yi, sei=sei")
for (m in c("PM", "SJ", "EB"))
  for (t in c("z", "knha"))
    cases[[sprintf("bcg_rr_%s_%s", tolower(m), t)]] <- run_case(bcg_setup("RR"), m, t, bcg_inputs)
cases$bcg_rr_reml_adhoc <- run_case(bcg_setup("RR"), "REML", "adhoc", bcg_inputs)
smallk_setup <- "dat <- data.frame(yi=c(0.20, 0.22, 0.19, 0.21), vi=c(0.010, 0.020, 0.015, 0.012))"
smallk_inputs <- function(d) list()
for (m in c("DL", "REML"))
  for (t in c("z", "knha", "adhoc"))
    cases[[sprintf("smallk_%s_%s", tolower(m), t)]] <- run_case(smallk_setup, m, t, smallk_inputs)
k2_setup <- paste(bcg_setup("RR"), "dat <- dat[1:2, ]", sep = "; ")
cases$k2_reml_z <- run_case(k2_setup, "REML", "z", bcg_inputs)
cases$k2_dl_knha <- run_case(k2_setup, "DL", "knha", bcg_inputs)

doc <- list(
  generator = "tests/reference/metafor_reference.R",
  metafor_version = as.character(packageVersion("metafor")),
  r_version = paste(R.version$major, R.version$minor, sep = "."),
  control = CTRL,
  cases = cases)

json <- toJSON(sort_keys(doc), auto_unbox = TRUE, json_verbatim = TRUE,
               pretty = TRUE, na = "null", null = "null")
writeLines(json, OUT, useBytes = TRUE)
cat(sprintf("wrote %d cases to %s\n", length(cases), OUT))
