# Reference p-values of the intercept-only permutation test (random sign flips of the effects;
# evsynth.stats.metaregression.permutation_test) on data whose p-value lies inside (0, 1), so
# that every one of the 2^k sign patterns counts (the metafor_dependent.json intercept case,
# dat.bcg's first 10 trials, has only the observed data and their mirror image as extreme).
#
# CI never runs R: the Python tests (tests/stats/test_permutation_full_mutation.py) pin the
# committed JSON, and this file documents exactly how it was produced (R 4.2.2 / metafor 3.8.1 /
# metadat / jsonlite).
#
# Regenerate (from the repo root):
#   Rscript tests/oracle/reference/metaregression_permutest.R
# -> writes tests/oracle/data/metaregression_permutest.json (keys sorted, numbers round-trip exact).
#
# Cases (permutest(rma(yi, vi, method = "REML", test), exact = TRUE): all 2^k sign patterns):
#   normand_md_{z,knha}           dat.normand1999 (Normand 1999, Stat Med 18:321-359): length of
#                                 stay, mean difference, 9 trials, large tau² (2^9 = 512 refits)
#   raudenbush_weeks_gt1_{z,knha} dat.raudenbush1985 (Raudenbush 1984, J Educ Psychol 76:85-97):
#                                 teacher expectancy, the 11 studies with more than one week of
#                                 prior contact, tau² = 0 (2^11 = 2048 refits)

suppressPackageStartupMessages({library(metafor); library(metadat)})
library(jsonlite)

OUT <- "tests/oracle/data/metaregression_permutest.json"
source("tests/oracle/reference/json_helpers.R")
CTRL_UNI <- "control=list(threshold=1e-12, maxiter=1000)"

setups <- list(
  normand_md = 'dat <- escalc(measure="MD", m1i=m1i, sd1i=sd1i, n1i=n1i, m2i=m2i, sd2i=sd2i, n2i=n2i, data=dat.normand1999)',
  raudenbush_weeks_gt1 = 'dat <- subset(dat.raudenbush1985, weeks > 1)')

cases <- list()
for (name in names(setups)) {
  for (t in c("z", "knha")) {
    env <- new.env(parent = globalenv())
    eval(parse(text = setups[[name]]), envir = env)
    call <- sprintf('permutest(rma(yi, vi, data=dat, method="REML", test="%s", %s), exact=TRUE, progbar=FALSE)',
                    t, CTRL_UNI)
    pt <- eval(parse(text = call), envir = env)
    fit <- eval(parse(text = sub("^permutest\\((.*), exact=TRUE, progbar=FALSE\\)$", "\\1", call)), envir = env)
    cases[[sprintf("%s_%s", name, t)]] <- list(
      r_setup = setups[[name]], r_call = call, method = "REML", test = t,
      inputs = list(yi = arr(as.numeric(env$dat$yi)), vi = arr(as.numeric(env$dat$vi))),
      outputs = list(pval = arr(pt$pval), QMp = num(pt$QMp), QM = num(pt$QM), beta = arr(pt$beta),
                     zval = arr(pt$zval), tau2 = num(fit$tau2), iterations = num(NROW(pt$zval.perm))))
  }
}

doc <- list(generator = "tests/oracle/reference/metaregression_permutest.R",
            metafor_version = as.character(packageVersion("metafor")),
            r_version = paste(R.version$major, R.version$minor, sep = "."), cases = cases)
json <- toJSON(sort_keys(doc), auto_unbox = TRUE, json_verbatim = TRUE, pretty = TRUE, na = "null", null = "null")
writeLines(json, OUT, useBytes = TRUE)
cat(sprintf("wrote %d cases to %s\n", length(cases), OUT))
