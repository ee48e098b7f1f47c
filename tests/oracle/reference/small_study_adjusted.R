# metafor reference values for the selection models and PET-PEESE, and independent R
# implementations of the limit meta-analysis (Rücker et al. 2011) and WAAP-WLS (Stanley et
# al. 2017) formulas, for evsynth.stats.selection and evsynth.stats.bias_adjusted.
#
# CI never runs R: tests/oracle/test_small_study_adjusted.py pins the committed JSON.
# Generated with R 4.2.2 / metafor 3.8.1 / jsonlite 1.8.4.
#
# Regenerate (from the repo root):
#   Rscript tests/oracle/reference/small_study_adjusted.R
# -> writes tests/oracle/data/small_study_adjusted.json (byte-stable, see json_helpers.R).
#
# Per dataset (inputs yi, vi, oriented so that selection favours large values):
#   selmodel_3psm   selmodel(rma(yi, vi, method="ML"), type="stepfun", steps=0.025)
#   selmodel_user   the same with steps=c(0.025, 0.5)
#   vevea_woods     selmodel(..., steps=<Vevea & Woods 2005 Table 1>, delta=<each function>)
#   pet / peese     rma(yi, vi, mods = ~ sqrt(vi)) and ~ vi, method REML (test z and knha) and DL
#   limit           lm(yi/s ~ I(1/s)), s = sqrt(vi + tau2), tau2 from rma(method="REML"),
#                   unit residual variance: beta + tau * alpha and its variance (Rücker 2011)
#   wls / waap      lm(yi ~ 1, weights = 1/vi); WAAP: the same over sqrt(vi) <= |WLS| / 2.8
suppressPackageStartupMessages({ library(metafor); library(jsonlite) })
source("tests/oracle/reference/json_helpers.R")
OUT <- "tests/oracle/data/small_study_adjusted.json"
CTRL <- list(threshold = 1e-12)

VW_STEPS <- c(0.005, 0.01, 0.05, 0.10, 0.25, 0.35, 0.50, 0.65, 0.75, 0.90, 0.95, 0.99, 0.995, 1)
VW <- list(
  "moderate one-tailed" = c(1, 0.99, 0.95, 0.80, 0.75, 0.65, 0.60, 0.55, 0.50, 0.50, 0.50, 0.50, 0.50, 0.50),
  "severe one-tailed" = c(1, 0.99, 0.90, 0.75, 0.60, 0.50, 0.40, 0.35, 0.30, 0.25, 0.10, 0.10, 0.10, 0.10),
  "moderate two-tailed" = c(1, 0.99, 0.95, 0.90, 0.80, 0.75, 0.60, 0.60, 0.75, 0.80, 0.90, 0.95, 0.99, 1.00),
  "severe two-tailed" = c(1, 0.99, 0.90, 0.75, 0.60, 0.50, 0.25, 0.25, 0.50, 0.60, 0.75, 0.90, 0.99, 1.00))

sel_out <- function(sel) {
  list(beta = num(as.numeric(sel$beta)), se = num(sel$se), ci_lb = num(sel$ci.lb), ci_ub = num(sel$ci.ub),
       pval = num(sel$pval), tau2 = num(sel$tau2), delta = arr(sel$delta),
       se_delta = arr(sel$se.delta), ll = num(sel$ll), LRT = num(sel$LRT), LRTdf = num(sel$LRTdf),
       LRTp = num(sel$LRTp))
}
reg_out <- function(fit) {
  list(beta = num(coef(fit)[1]), se = num(fit$se[1]), ci_lb = num(fit$ci.lb[1]), ci_ub = num(fit$ci.ub[1]),
       pval = num(fit$pval[1]), tau2 = num(fit$tau2))
}
safe <- function(expr) tryCatch(expr, error = function(e) NULL)

limit_meta <- function(yi, vi, tau2) {
  s <- sqrt(vi + tau2)
  fit <- lm(I(yi / s) ~ I(1 / s))
  X <- model.matrix(fit)
  V <- solve(crossprod(X))                      # unit residual variance (the model's eps ~ N(0, 1))
  a <- coef(fit)[[1]]; b <- coef(fit)[[2]]; tau <- sqrt(tau2)
  est <- b + tau * a
  se <- sqrt(V[2, 2] + tau2 * V[1, 1] + 2 * tau * V[1, 2])
  list(theta = num(est), se = num(se), alpha = num(a), alpha_p = num(2 * pnorm(-abs(a) / sqrt(V[1, 1]))),
       tau2 = num(tau2))
}
wls_fit <- function(yi, vi) {
  fit <- lm(yi ~ 1, weights = 1 / vi)
  s <- summary(fit)
  ci <- confint(fit)
  list(theta = num(coef(fit)[[1]]), se = num(s$coefficients[1, 2]), ci_lb = num(ci[1, 1]),
       ci_ub = num(ci[1, 2]), pval = num(s$coefficients[1, 4]), k = num(length(yi)))
}

dataset <- function(setup, yi, vi) {
  ml <- rma(yi, vi, method = "ML", control = CTRL)
  out <- list(r_setup = setup, inputs = list(yi = arr(yi), vi = arr(vi)))
  out$selmodel_3psm <- sel_out(selmodel(ml, type = "stepfun", steps = 0.025))
  out$selmodel_user <- safe(sel_out(selmodel(ml, type = "stepfun", steps = c(0.025, 0.5))))
  out$vevea_woods <- lapply(VW, function(d) sel_out(selmodel(ml, type = "stepfun", steps = VW_STEPS, delta = d)))
  out$pet <- list(
    reml_z = reg_out(rma(yi, vi, mods = ~ sqrt(vi), method = "REML", control = CTRL)),
    reml_knha = reg_out(rma(yi, vi, mods = ~ sqrt(vi), method = "REML", test = "knha", control = CTRL)),
    dl_z = reg_out(rma(yi, vi, mods = ~ sqrt(vi), method = "DL")))
  out$peese <- list(
    reml_z = reg_out(rma(yi, vi, mods = ~ vi, method = "REML", control = CTRL)),
    reml_knha = reg_out(rma(yi, vi, mods = ~ vi, method = "REML", test = "knha", control = CTRL)),
    dl_z = reg_out(rma(yi, vi, mods = ~ vi, method = "DL")))
  reml <- rma(yi, vi, method = "REML", control = CTRL)
  out$limit <- limit_meta(yi, vi, reml$tau2)
  out$wls <- wls_fit(yi, vi)
  w <- wls_fit(yi, vi)
  powered <- sqrt(vi) <= abs(as.numeric(w$theta)) / 2.8
  out$waap <- if (sum(powered) >= 2) wls_fit(yi[powered], vi[powered]) else NULL
  out
}

hack <- escalc(measure = "OR", yi = yi, vi = vi, data = dat.hackshaw1998)
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
bask <- dat.baskerville2012

cases <- list(
  hackshaw_or = dataset("dat.hackshaw1998 (log OR as given)", hack$yi, hack$vi),
  bcg_rr_negated = dataset('-yi of escalc(measure="RR", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg)',
                           -bcg$yi, bcg$vi),
  baskerville_smd = dataset("dat.baskerville2012 (SMD as given)", bask$smd, bask$se^2))

# The worked example of limit meta-analysis in Schwarzer, Carpenter & Rücker (2015), Meta-Analysis
# with R, chapter 5: Moore et al. (1998, BMJ 316:333), topical NSAIDs in acute pain, 37 trials,
# treatment success (>= 50% pain relief), as metasens's data set nsaids / Moore1998 and metadat's
# dat.moore1998 (not in the metadat installed here, so typed in from metasens's data/nsaids.txt).
# Log OR with 0.5 added to the cells of a table with a zero cell (meta's and escalc()'s default);
# tau2 by DerSimonian-Laird, meta's default when the book was written, and by REML.
nsaids <- data.frame(
  Ee = c(23, 69, 79, 35, 10, 23, 20, 35, 56, 28, 10, 44, 21, 17, 34, 25, 38, 85, 53, 16, 18, 6, 26, 41, 33,
         30, 18, 22, 18, 39, 30, 11, 44, 67, 24, 7, 21),
  Ne = c(30, 123, 102, 49, 15, 50, 32, 50, 84, 40, 23, 92, 50, 20, 42, 30, 60, 118, 64, 20, 30, 12, 32, 84,
         46, 38, 20, 26, 21, 51, 30, 13, 90, 83, 29, 10, 25),
  Ec = c(10, 54, 45, 13, 2, 13, 9, 40, 33, 16, 3, 40, 19, 3, 11, 13, 27, 46, 52, 6, 5, 0, 13, 33, 13, 22, 13,
         14, 13, 9, 19, 0, 40, 38, 14, 1, 12),
  Nc = c(30, 116, 102, 42, 15, 50, 24, 50, 84, 40, 24, 89, 50, 20, 40, 30, 60, 113, 66, 20, 30, 12, 28, 84,
         42, 36, 22, 26, 22, 47, 30, 12, 89, 86, 27, 10, 25))
moore <- escalc(measure = "OR", ai = Ee, n1i = Ne, ci = Ec, n2i = Nc, data = nsaids)
limit_examples <- list(moore1998_nsaids_or = list(
  r_setup = 'escalc(measure="OR", ai=Ee, n1i=Ne, ci=Ec, n2i=Nc, data=<metasens nsaids>)',
  inputs = list(yi = arr(moore$yi), vi = arr(moore$vi)),
  limit_dl = limit_meta(moore$yi, moore$vi, rma(yi, vi, data = moore, method = "DL")$tau2),
  limit_reml = limit_meta(moore$yi, moore$vi, rma(yi, vi, data = moore, method = "REML", control = CTRL)$tau2)))

doc <- list(
  generator = "tests/oracle/reference/small_study_adjusted.R",
  limit_examples = limit_examples,
  metafor_version = as.character(packageVersion("metafor")),
  r_version = paste(R.version$major, R.version$minor, sep = "."),
  vevea_woods_steps = arr(VW_STEPS),
  cases = cases)
json <- toJSON(sort_keys(doc), auto_unbox = TRUE, json_verbatim = TRUE,
               pretty = TRUE, na = "null", null = "null")
writeLines(json, OUT, useBytes = TRUE)
cat(sprintf("wrote %d cases to %s\n", length(cases), OUT))
