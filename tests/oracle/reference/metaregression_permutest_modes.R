# Reference values for the permutation test's refits (evsynth.stats.metaregression.permutation_test
# and its batched Fisher scoring) on meta-regressions where where Fisher scoring starts, or how
# it steps, decides the answer.
#
# CI never runs R: the Python tests (tests/stats/test_metaregression_full_mutation.py) pin the
# committed JSON, and this file documents exactly how it was produced (R 4.2.2 / metafor 3.8.1 /
# jsonlite).
#
# Regenerate (from the repo root):
#   Rscript tests/oracle/reference/metaregression_permutest_modes.R
# -> writes tests/oracle/data/metaregression_permutest_modes.json (keys sorted, numbers round-trip exact).
#
# The data are constructed (six effects, one continuous moderator x; values rounded as written
# here), found by searching generated data sets for these properties; they are not trial data.
#   ml_interior_maximum   the ML log-likelihood in tau² has a local maximum at tau² = 0 and a
#                         higher one inside (tau² ~ 0.056): rma's Fisher scoring from its moment
#                         (Hedges) start finds the inner one; started at 0 it would stay at 0.
#   ml_interior_maximum_near_edge  the same shape (inner maximum ~ 0.144, the higher), with the
#                         moment start close to the edge of the inner maximum's basin: a start
#                         somewhat lower would end at 0.
#   ml_zero_higher_within_tol  the ML log-likelihood is higher at 0 than at the inner maximum
#                         (~ 0.039) reached from the moment start, but by 6.2e-5, less than rma's
#                         ll0check tolerance (control tol = eps^0.25 = 1.2e-4): rma keeps the inner one.
#   reml_boundary_maximum the REML log-likelihood is highest at tau² = 0 with a lower local
#                         maximum inside (~ 0.039): from the moment start (0 here) rma stays at 0.
#   ml_interior_maximum_x10  the first on a 10 times larger scale (yi x 10, vi x 100, as a mean
#                         difference in points instead of tenths): the same p-values, reached with
#                         weights 100 times smaller.
# For each: rma(yi, vi, mods = ~ x, method, test) for test "z" and "knha" (tau2, zval, QM) and
# permutest(res, exact = TRUE) (6! = 720 orderings of x; pval, QMp).

suppressPackageStartupMessages(library(metafor))
library(jsonlite)

OUT <- "tests/oracle/data/metaregression_permutest_modes.json"
source("tests/oracle/reference/json_helpers.R")
CTRL_UNI <- "control=list(threshold=1e-12, maxiter=1000)"

data_sets <- list(
  ml_interior_maximum = list(method = "ML",
    setup = paste('dat <- data.frame(yi = c(1.238, 0.891, 0.749, 0.556, -0.324, 2.286),',
                  'vi = c(0.0967, 0.1143, 0.0011, 0.0394, 0.0929, 0.4063),',
                  'x = c(3.7, 4.2, 2.1, 3.3, 1.2, 9.9))')),
  ml_interior_maximum_near_edge = list(method = "ML",
    setup = paste('dat <- data.frame(yi = c(-0.968, -0.489, 0.812, -0.162, 0.74, 0.218),',
                  'vi = c(0.3985, 0.1645, 0.3372, 0.5543, 0.0404, 0.0018),',
                  'x = c(9.5, 8.0, 4.0, 8.3, 6.3, 2.9))')),
  ml_zero_higher_within_tol = list(method = "ML",
    setup = paste('dat <- data.frame(yi = c(0.102726, 0.537, 0.292, 0.412, 0.914, 0.929),',
                  'vi = c(0.0249, 0.3406, 0.0022, 0.002, 0.0441, 0.1125),',
                  'x = c(7.9, 8.4, 2.9, 8.3, 4.0, 5.9))')),
  reml_boundary_maximum = list(method = "REML",
    setup = paste('dat <- data.frame(yi = c(-0.559, -1.368, -0.311, -0.445, -1.664, -0.429),',
                  'vi = c(0.117, 0.6109, 0.0168, 0.0551, 0.3024, 0.0074),',
                  'x = c(4.9, 1.0, 5.1, 8.4, 1.7, 3.4))')),
  ml_interior_maximum_x10 = list(method = "ML",
    setup = paste('dat <- data.frame(yi = c(12.38, 8.91, 7.49, 5.56, -3.24, 22.86),',
                  'vi = c(9.67, 11.43, 0.11, 3.94, 9.29, 40.63),',
                  'x = c(3.7, 4.2, 2.1, 3.3, 1.2, 9.9))')))

cases <- list()
for (name in names(data_sets)) {
  ds <- data_sets[[name]]
  for (t in c("z", "knha")) {
    env <- new.env(parent = globalenv())
    eval(parse(text = ds$setup), envir = env)
    call <- sprintf('rma(yi, vi, mods = ~ x, data=dat, method="%s", test="%s", %s)', ds$method, t, CTRL_UNI)
    res <- eval(parse(text = call), envir = env)
    assign("res", res, envir = env)
    pcall <- "permutest(res, exact=TRUE, progbar=FALSE)"
    pt <- eval(parse(text = pcall), envir = env)
    cases[[sprintf("%s_%s", name, t)]] <- list(
      r_setup = ds$setup, r_call = call, r_permutest = pcall, method = ds$method, test = t,
      inputs = list(yi = arr(env$dat$yi), vi = arr(env$dat$vi), x = arr(env$dat$x)),
      outputs = list(tau2 = num(res$tau2), zval = arr(res$zval), QM = num(res$QM),
                     pval = arr(pt$pval), QMp = num(pt$QMp), iterations = num(nrow(pt$zval.perm))))
  }
}

doc <- list(generator = "tests/oracle/reference/metaregression_permutest_modes.R",
            metafor_version = as.character(packageVersion("metafor")),
            r_version = paste(R.version$major, R.version$minor, sep = "."), cases = cases)
json <- toJSON(sort_keys(doc), auto_unbox = TRUE, json_verbatim = TRUE, pretty = TRUE, na = "null", null = "null")
writeLines(json, OUT, useBytes = TRUE)
cat(sprintf("wrote %d cases to %s\n", length(cases), OUT))
