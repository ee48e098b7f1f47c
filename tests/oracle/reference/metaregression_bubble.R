# Reference values for the meta-regression bubble plots' fitted lines, CI bands and per-level
# estimates (evsynth.stats.metaregression.predict, evsynth.stats.robust.linear_contrasts) and
# their bubble weights.
#
# CI never runs R: the Python tests pin the committed JSON, and this file documents exactly
# how it was produced (R 4.2.2 / metafor 3.8.1 / clubSandwich 0.5.8 / metadat / jsonlite).
#
# Regenerate (from the repo root):
#   Rscript tests/oracle/reference/metaregression_bubble.R
# -> writes tests/oracle/data/metaregression_bubble.json (keys sorted, numbers round-trip exact).
#
# Cases:
#   bcg_ablat_knha     dat.bcg log RR, rma(yi, vi, mods = ~ ablat, test = "knha"): predict() on a
#                      grid of latitudes (the line and its CI band), weights(res) (bubble areas)
#   bcg_alloc_knha     rma(yi, vi, mods = ~ factor(alloc), test = "knha"): predict() at each level
#   assink_year_che    dat.assink2016, CHE (V = vcalc(vi, cluster=study, obs=esid, rho=0.6),
#                      rma.mv(yi, V, mods = ~ year, random = ~ 1 | study/esid), REML):
#                      linear_contrast(res, vcov = "CR2", cluster = study, contrasts = rbind(c(1, x)),
#                      test = "Satterthwaite") on a grid of years (each point its own df);
#                      weights(res) (diagonal of the inverse marginal covariance, in percent)
#   assink_deltype_che same with mods = ~ factor(deltype): one contrast per level
# rma.mv's sigma2 from nlminb (rel.tol 1e-10) is good to ~1e-8 relative, which bounds the CHE
# cases' agreement.

suppressPackageStartupMessages({library(metafor); library(clubSandwich); library(metadat)})
library(jsonlite)

OUT <- "tests/oracle/data/metaregression_bubble.json"
source("tests/oracle/reference/json_helpers.R")
CTRL_UNI <- "control=list(threshold=1e-12, maxiter=1000)"
CTRL_MV <- "control=list(rel.tol=1e-10, iter.max=10000, eval.max=10000)"

bcg_setup <- 'dat <- escalc(measure="RR", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg)'
assink_setup <- paste('dat <- dat.assink2016',
                      'V <- vcalc(vi, cluster=study, obs=esid, data=dat, rho=0.6)', sep = "; ")

uni_case <- function(mods, newmods, newmods_code) {
  env <- new.env(parent = globalenv())
  eval(parse(text = bcg_setup), envir = env)
  call <- sprintf('rma(yi, vi, mods = %s, data=dat, method="REML", test="knha", %s)', mods, CTRL_UNI)
  res <- eval(parse(text = call), envir = env)
  pr <- predict(res, newmods = newmods)
  list(r_setup = bcg_setup, r_call = call, r_predict = sprintf("predict(res, newmods = %s)", newmods_code),
       inputs = list(yi = arr(as.numeric(env$dat$yi)), vi = arr(env$dat$vi),
                     ablat = arr(env$dat$ablat), alloc = as.character(env$dat$alloc)),
       outputs = list(newmods = mat(newmods), pred = arr(pr$pred), se = arr(pr$se),
                      ci_lb = arr(pr$ci.lb), ci_ub = arr(pr$ci.ub), weights = arr(weights(res)),
                      tau2 = num(res$tau2), beta = arr(res$beta)))
}

che_case <- function(mods, contrasts, contrasts_code) {
  env <- new.env(parent = globalenv())
  eval(parse(text = assink_setup), envir = env)
  call <- sprintf('rma.mv(yi, V, mods = %s, random = ~ 1 | study/esid, data=dat, method="REML", test="t", %s)',
                  mods, CTRL_MV)
  res <- eval(parse(text = call), envir = env)
  lc <- linear_contrast(res, vcov = "CR2", cluster = env$dat$study, contrasts = contrasts,
                        test = "Satterthwaite")
  list(r_setup = assink_setup, r_call = call,
       r_contrast = sprintf('linear_contrast(res, vcov="CR2", cluster=dat$study, contrasts=%s, test="Satterthwaite")',
                            contrasts_code),
       inputs = list(yi = arr(env$dat$yi), vi = arr(env$dat$vi), study = arr(env$dat$study),
                     year = arr(env$dat$year), deltype = as.character(env$dat$deltype)),
       outputs = list(contrasts = mat(contrasts), est = arr(lc$Est), se = arr(lc$SE), df = arr(lc$df),
                      ci_lb = arr(lc$CI_L), ci_ub = arr(lc$CI_U), sigma2 = arr(res$sigma2),
                      weights = arr(weights(res))))
}

grid_ablat <- cbind(seq(10, 60, by = 10))
grid_year <- seq(-12, 4, by = 4)  # assink2016's year is centred (-13.5 to 5.5)
cases <- list(
  bcg_ablat_knha = uni_case("~ ablat", grid_ablat, "cbind(seq(10, 60, by = 10))"),
  bcg_alloc_knha = uni_case("~ factor(alloc)", rbind(c(0, 0), c(1, 0), c(0, 1)),
                            "rbind(c(0, 0), c(1, 0), c(0, 1))  # alternate, random, systematic"),
  assink_year_che = che_case("~ year", cbind(1, grid_year), "cbind(1, seq(-12, 4, by = 4))"),
  assink_deltype_che = che_case("~ factor(deltype)", rbind(c(1, 0, 0), c(1, 1, 0), c(1, 0, 1)),
                                "rbind(c(1, 0, 0), c(1, 1, 0), c(1, 0, 1))  # covert, general, overt"))

doc <- list(generator = "tests/oracle/reference/metaregression_bubble.R",
            metafor_version = as.character(packageVersion("metafor")),
            clubsandwich_version = as.character(packageVersion("clubSandwich")),
            r_version = paste(R.version$major, R.version$minor, sep = "."), cases = cases)
json <- toJSON(sort_keys(doc), auto_unbox = TRUE, json_verbatim = TRUE, pretty = TRUE, na = "null", null = "null")
writeLines(json, OUT, useBytes = TRUE)
cat(sprintf("wrote %d cases to %s\n", length(cases), OUT))
