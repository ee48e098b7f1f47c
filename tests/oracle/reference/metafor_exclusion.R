# metafor reference values for the outlier and influence exclusion re-runs
# (evsynth.stats.exclusion; metapsyTools' "outliers" and "influence" analyses).
#
# CI never runs R: the Python tests pin the committed JSON, and this file documents
# exactly how it was produced (R 4.2.2 / metafor 3.8.1 / jsonlite).
#
# Regenerate (from the repo root):
#   Rscript tests/oracle/reference/metafor_exclusion.R
# -> writes tests/oracle/data/metafor_exclusion.json (keys sorted, numbers round-trip exact).
#
# Rules, per case (fit `res`):
#   outliers     metapsyTools' metapsyFindOutliers() / dmetar's find.outliers() (Harrer et
#                al. 2021, Doing Meta-Analysis with R, ch. 5.4.1): a study whose Wald CI
#                yi -/+ qnorm(1 - alpha/2) sqrt(vi) lies entirely above res$ci.ub or below
#                res$ci.lb (metapsyTools writes 1.96 for the quantile)
#   influential  influence(res)$is.infl
# and each re-run is rma(..., subset = !excluded) under the same method, test and control.
#
# Cases (id -> what it exercises):
#   bcg_rr_reml_z        dat.bcg log risk ratio, REML, Wald z: outliers on both sides
#   bcg_rr_dl_knha       dat.bcg, DL with Knapp-Hartung (the wider pooled CI: fewer outliers)
#   normand_smd_reml_z   dat.normand1999 Hedges' g: Orpington-Moderate is influential
#   raudenbush_smd_reml_z  dat.raudenbush1985: Maxwell 1970 is influential
#   bcg3_rr_reml_z       first three bcg trials: no outlier (no re-run)

suppressPackageStartupMessages(library(metafor))
library(jsonlite)

CTRL <- "control=list(threshold=1e-12, maxiter=1000)"
OUT <- "tests/oracle/data/metafor_exclusion.json"
source("tests/oracle/reference/json_helpers.R")

fit_out <- function(r) list(
  k = num(r$k), beta = num(r$beta[1]), se = num(r$se), ci_lb = num(r$ci.lb),
  ci_ub = num(r$ci.ub), pval = num(r$pval), tau2 = num(r$tau2), I2 = num(r$I2),
  QE = num(r$QE))

run_case <- function(setup, method, test) {
  env <- new.env(parent = globalenv())
  eval(parse(text = setup), envir = env)
  call <- sprintf('res <- rma(yi, vi, data=dat, method="%s", test="%s", %s)', method, test, CTRL)
  eval(parse(text = call), envir = env)
  res <- env$res
  dat <- env$dat
  z <- qnorm(0.975)
  lower <- as.numeric(dat$yi) - z * sqrt(dat$vi)
  upper <- as.numeric(dat$yi) + z * sqrt(dat$vi)
  outlier <- upper < res$ci.lb | lower > res$ci.ub
  infl <- influence(res)$is.infl
  rerun <- function(excluded) {
    if (!any(excluded) || sum(!excluded) < 2) return(NULL)
    env$keep <- !excluded
    refit <- eval(parse(text = sprintf(
      'rma(yi, vi, data=dat, subset=keep, method="%s", test="%s", %s)', method, test, CTRL)), envir = env)
    fit_out(refit)
  }
  outputs <- list(model = fit_out(res), outlier = lgl(outlier), influential = lgl(infl),
                  outlier_side = ifelse(lower > res$ci.ub, "above", ifelse(upper < res$ci.lb, "below", "")),
                  rerun_outliers = rerun(outlier), rerun_influential = rerun(infl))
  outputs <- outputs[!vapply(outputs, is.null, logical(1))]
  list(r_setup = setup, r_call = call,
       r_calls = list(
         outliers = "upper < res$ci.lb | lower > res$ci.ub  # upper, lower = yi -/+ qnorm(0.975)*sqrt(vi)",
         influential = "influence(res)$is.infl",
         rerun = sprintf('rma(yi, vi, data=dat, subset=!excluded, method="%s", test="%s", %s)', method, test, CTRL)),
       method = method, test = test,
       inputs = list(study = env$study, yi = arr(as.numeric(dat$yi)), vi = arr(as.numeric(dat$vi))),
       outputs = outputs)
}

bcg_setup <- paste(
  'dat <- escalc(measure="RR", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg)',
  'study <- paste(dat$author, dat$year)', sep = "; ")
bcg3_setup <- paste(bcg_setup, "dat <- dat[1:3, ]; study <- study[1:3]", sep = "; ")
normand_setup <- paste(
  'dat <- escalc(measure="SMD", m1i=m1i, sd1i=sd1i, n1i=n1i, m2i=m2i, sd2i=sd2i, n2i=n2i, data=dat.normand1999)',
  'study <- as.character(dat$source)', sep = "; ")
raudenbush_setup <- paste(
  'dat <- dat.raudenbush1985', 'study <- paste(dat$author, dat$year)', sep = "; ")

cases <- list(
  bcg_rr_reml_z = run_case(bcg_setup, "REML", "z"),
  bcg_rr_dl_knha = run_case(bcg_setup, "DL", "knha"),
  normand_smd_reml_z = run_case(normand_setup, "REML", "z"),
  raudenbush_smd_reml_z = run_case(raudenbush_setup, "REML", "z"),
  bcg3_rr_reml_z = run_case(bcg3_setup, "REML", "z"))

doc <- list(
  generator = "tests/oracle/reference/metafor_exclusion.R",
  metafor_version = as.character(packageVersion("metafor")),
  r_version = paste(R.version$major, R.version$minor, sep = "."),
  control = CTRL,
  cases = cases)
json <- toJSON(sort_keys(doc), auto_unbox = TRUE, json_verbatim = TRUE,
               pretty = TRUE, na = "null", null = "null")
writeLines(json, OUT, useBytes = TRUE)
cat(sprintf("wrote %d cases to %s\n", length(cases), OUT))
