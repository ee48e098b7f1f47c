# metafor reference values for tests/stats/test_stats_seed3005_inputs.py: PET and PEESE at the
# smallest k the config allows (sensitivity.small_study_min_k >= 3), and rstudent() for a trial
# whose estimate is exactly the mean of the others.
#
# CI never runs R: the test reads the committed JSON.
# Generated with R 4 / metafor 3.8.1 / metadat / jsonlite.
#
# Regenerate (from the repo root):
#   Rscript tests/oracle/reference/seed3005_inputs.R
# -> writes tests/oracle/data/seed3005_inputs.json (byte-stable, see json_helpers.R).
#
#   pet_k3 / peese_k3  dat.bcg trials 1-3 (Colditz et al. 1994, JAMA 271:698; metadat), log RR by
#                      escalc("RR"); rma(yi, vi, mods = ~ sqrt(vi)) and ~ vi, method "REML", test "z"
#   rstudent_mid       yi = (0.1, 0.2, 0.3), vi = 0.01 each (hand-made: trial 2 sits at the mean of
#                      the others); rstudent(rma(yi, vi, method = "REML"))$z
suppressPackageStartupMessages({ library(metafor); library(jsonlite) })
source("tests/oracle/reference/json_helpers.R")
OUT <- "tests/oracle/data/seed3005_inputs.json"
CTRL <- list(threshold = 1e-12)

bcg <- escalc("RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)[1:3, ]
reg <- function(mods) {
  fit <- rma(bcg$yi, bcg$vi, mods = mods, method = "REML", test = "z", control = CTRL)
  list(theta = num(fit$beta[1]), se = num(fit$se[1]), ci_lower = num(fit$ci.lb[1]),
       ci_upper = num(fit$ci.ub[1]), p_value = num(fit$pval[1]))
}
yi <- c(0.1, 0.2, 0.3)
vi <- rep(0.01, 3)
rs <- rstudent(rma(yi, vi, method = "REML", control = CTRL))
out <- list(
  pet_k3 = c(reg(~ sqrt(bcg$vi)), list(yi = arr(as.numeric(bcg$yi)), vi = arr(bcg$vi))),
  peese_k3 = c(reg(~ bcg$vi), list(yi = arr(as.numeric(bcg$yi)), vi = arr(bcg$vi))),
  rstudent_mid = list(yi = arr(yi), vi = arr(vi), z = arr(rs$z), resid = arr(rs$resid))
)
json <- toJSON(sort_keys(list(cases = out)), auto_unbox = TRUE, json_verbatim = TRUE, pretty = TRUE, na = "null", null = "null")
writeLines(json, OUT, useBytes = TRUE)
cat(sprintf("wrote %d cases to %s\n", length(out), OUT))
