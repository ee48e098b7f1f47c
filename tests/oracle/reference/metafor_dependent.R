# metafor + clubSandwich reference values for several effect sizes per trial (issue 15):
# evsynth.stats.multilevel (three-level and CHE models), evsynth.stats.robust (CR2 with
# Satterthwaite df, HTZ Wald test), evsynth.stats.dependent (aggregation within trial,
# I² by level), evsynth.stats.timepoints (AR / HAR across follow-ups) and
# evsynth.stats.metaregression (R², permutation tests).
#
# CI never runs R: the Python tests pin the committed JSON, and this file documents exactly
# how it was produced. Generated with R 4.2.2 / metafor 3.8.1 / clubSandwich 0.5.8 /
# metadat / jsonlite 1.8.4 (Debian packages).
#
# Regenerate (from the repo root):
#   Rscript tests/oracle/reference/metafor_dependent.R
# -> writes tests/oracle/data/metafor_dependent.json (keys sorted, numbers round-trip exactly;
# json_helpers.R). Each case stores r_setup (code creating `dat`, and `V` where used) and r_call.
#
# Tight convergence: rma.mv() maximises the (restricted) likelihood with nlminb, whose optimum
# is good to ~1e-8 relative (nlminb, optim BFGS and Nelder-Mead differ by ~4e-8 on
# Konstantopoulos). So a model with sigma2 components is pinned in two steps, as in
# metafor_multivariate.R: sigma2 = the root of the REML/ML score equations, found by Fisher
# scoring on dense matrix algebra (exact_sigma2 below, from nlminb's value, to |step| < 1e-15
# relative), then every other output from rma.mv(..., sigma2 = sigma2); nlminb's own value is
# kept as sigma2_nlminb. Models with a G structure (struct "AR"/"HAR") keep nlminb's tau2/rho
# (rel.tol 1e-10) and also store the outputs at those values held fixed (`fixed`: the same
# call with tau2= and rho=), which pins the rest of the computation independently of the
# optimiser.
#
# Cases:
#   konstantopoulos_*  dat.konstantopoulos2011 (Konstantopoulos 2011, Res Synth Methods 2:61-76):
#                      three-level model, schools within districts, REML and ML, tests z and t;
#                      CR2 by district; published: REML 0.1847 (SE 0.0846), sigma2 (0.0651,
#                      0.0327); ML 0.1845 (0.0805), sigma2 (0.0577, 0.0329), PI [-0.4262, 0.7951].
#   assink_*           dat.assink2016 (Assink & Wibbelink 2016, Quant Meth Psych 12:154-174):
#                      100 effects in 17 studies. Three-level (diagonal V) and CHE (V from
#                      vcalc(vi, cluster=study, obs=esid, rho=0.6): rho sqrt(vi vj) off the
#                      diagonal, which is clubSandwich's impute_covariance_matrix(vi, study,
#                      r = 0.6)); CR2 by study; meta-regression on year (continuous) and deltype
#                      (categorical) with coef_test(CR2, Satterthwaite) and Wald_test(HTZ).
#   bcg_cr2_*          dat.bcg log RR, rma(yi, vi) REML with coef_test(CR2) by trial: metafor's
#                      test_misc_robust.r (published: vcov 0.03229357, df 11.04125; ~ ablat + year:
#                      SE 33.655367, 0.011994, 0.016963, df 2.724625, 2.112895, 2.745919).
#   ishak_*            dat.ishak2007 (Ishak 2007, Clin Trials 4:537-548): 4 follow-ups, V from
#                      vcalc(vi, cluster=study, time1=time, phi=0.97) (AR(1) sampling errors);
#                      random = ~ time | study with struct "HAR" and "AR". Published (metafor's
#                      test_analysis_example_ishak2007.r): HAR means -25.9047, -27.4608, -28.6559,
#                      -26.4934, tau2 22.7258, 33.7295, 26.1426, 31.1803, rho 0.8832.
#   aggregate_*        aggregate(escalc, cluster=study, rho=0.6) (Borenstein 2009 ch. 24).
#   permutest_*        permutest(rma(yi, vi, mods=~random, test=...), exact=TRUE) on dat.bcg with
#                      random = (alloc == "random"): 13!/(7! 6!) = 1716 permutations; and the
#                      intercept-only sign-flip version at k = 10 (2^10 = 1024).
#   r2_*               rma(yi, vi, mods=...) R² (metafor: 100 (tau2_RE - tau2_ME) / tau2_RE,
#                      floored at 0) on dat.bcg.

suppressPackageStartupMessages({library(metafor); library(clubSandwich); library(metadat)})
library(jsonlite)

OUT <- "tests/oracle/data/metafor_dependent.json"
source("tests/oracle/reference/json_helpers.R")
CTRL_MV <- "control=list(rel.tol=1e-10, iter.max=10000, eval.max=10000)"
CTRL_UNI <- "control=list(threshold=1e-12, maxiter=1000)"

# I² by level (metafor FAQ "I^2 for multilevel and multivariate models"; Cheung 2014):
# W = diag(1/vi), P = W - W X (X'WX)^-1 X'W, I²_l = 100 sigma2_l / (sum sigma2 + (k-p)/tr(P)).
I2_LEVELS <- paste(
  'i2_levels <- function(res, vi) { W <- diag(1/vi); X <- model.matrix(res)',
  '  P <- W - W %*% X %*% solve(t(X) %*% W %*% X) %*% t(X) %*% W',
  '  100 * res$sigma2 / (sum(res$sigma2) + (res$k - res$p) / sum(diag(P))) }', sep = "\n")
eval(parse(text = I2_LEVELS))

# Fisher scoring for the sigma2 of M = V + sum_r sigma2_r Z_r Z_r' (Z_r: indicators of the
# r-th random factor's levels): score_r = (y'P D_r P y - tr(P D_r)) / 2 (REML; ML: W in the
# trace), information_rs = tr(P D_r P D_s) / 2 (REML; ML: W D_r W D_s).
EXACT_SIGMA2 <- paste(
  'exact_sigma2 <- function(y, V, X, levels, start, method) {',
  '  D <- lapply(levels, function(f) tcrossprod(model.matrix(~ 0 + factor(f))))',
  '  s <- start',
  '  for (it in 1:1000) { M <- V; for (r in seq_along(D)) M <- M + s[r] * D[[r]]',
  '    W <- solve(M); P <- W - W %*% X %*% solve(t(X) %*% W %*% X, t(X) %*% W)',
  '    Q <- if (method == "REML") P else W; Py <- P %*% y',
  '    g <- sapply(D, function(d) c(t(Py) %*% d %*% Py) - sum(diag(Q %*% d)))',
  '    I <- outer(seq_along(D), seq_along(D), Vectorize(function(r, q) sum(diag(Q %*% D[[r]] %*% Q %*% D[[q]]))))',
  '    step <- c(solve(I, g)); s <- s + step',
  '    if (any(s < 0)) stop("a variance component reached 0: not an interior optimum")',
  '    if (max(abs(step) / s) < 1e-15) break }',
  '  s }', sep = "\n")
eval(parse(text = EXACT_SIGMA2))

inputs_of <- function(dat, V = NULL) {
  ins <- list()
  for (col in names(dat)) {
    x <- dat[[col]]
    ins[[col]] <- if (is.numeric(x)) arr(x) else as.character(x)
  }
  if (!is.null(V)) ins$V <- mat(V)
  ins
}

fit_out <- function(res) {
  out <- list(beta = arr(res$beta), se = arr(res$se), vcov = mat(vcov(res)), pval = arr(res$pval),
              ci_lb = arr(res$ci.lb), ci_ub = arr(res$ci.ub), QE = num(res$QE), QEp = num(res$QEp),
              QM = num(res$QM), QMp = num(res$QMp), QMdf = arr(res$QMdf[!is.na(res$QMdf)]),
              btt = arr(res$btt - 1), k = num(res$k), p = num(res$p),
              logLik = num(as.numeric(logLik(res))), names = rownames(res$beta))
  out[[if (res$test == "z") "zval" else "tval"]] <- arr(res$zval)
  if (length(res$sigma2) && res$withS) out$sigma2 <- arr(res$sigma2)
  if (isTRUE(res$withG)) { out$tau2 <- arr(res$tau2); out$rho <- arr(res$rho) }
  if (inherits(res, "rma.uni")) out$tau2 <- num(res$tau2)
  out
}

cr2_out <- function(res, cluster) {
  ct <- coef_test(res, vcov = "CR2", cluster = cluster, test = "Satterthwaite")
  vc <- vcovCR(res, cluster = cluster, type = "CR2")
  out <- list(se = arr(ct$SE), tstat = arr(ct$tstat), df = arr(ct$df_Satt), pval = arr(ct$p_Satt),
              vcov = mat(as.matrix(vc)))
  if (res$p > 1) {
    btt <- res$btt
    C <- diag(res$p)[btt, , drop = FALSE]
    w <- Wald_test(res, constraints = C, vcov = vc, test = "HTZ")
    out$htz <- list(Fstat = num(w$Fstat), df_num = num(w$df_num), df_denom = num(w$df_denom),
                    p = num(w$p_val), btt = arr(btt - 1))
  }
  if (res$p == 1) {
    # metafor's robust(clubSandwich = TRUE) is the same CR2 fit; its predict() gives the
    # prediction interval on the Satterthwaite df.
    pr <- predict(robust(res, cluster = cluster, clubSandwich = TRUE))
    out$pi_lb <- num(pr$pi.lb); out$pi_ub <- num(pr$pi.ub)
  }
  ci <- conf_int(res, vcov = vc, test = "Satterthwaite")
  out$ci_lb <- arr(ci$CI_L); out$ci_ub <- arr(ci$CI_U)
  out
}

cases <- list()
# V is stored once per data set (store_V): the other cases rebuild it from r_setup.
run <- function(id, setup, call, cluster = NULL, vi_col = "vi", fixed = NULL, pred = TRUE,
                levels = NULL, store_V = FALSE) {
  env <- new.env(parent = globalenv())
  eval(parse(text = setup), envir = env)
  res <- eval(parse(text = call), envir = env)
  sigma2_nlminb <- NULL
  if (!is.null(levels)) {
    # Polish sigma2 to the exact score root, then take everything else at it.
    sigma2_nlminb <- res$sigma2
    Vm <- if (grepl("rma.mv(yi, V,", call, fixed = TRUE)) env$V else diag(env$dat[[vi_col]])
    lv <- lapply(levels, function(l) eval(parse(text = l), envir = env))
    env$sigma2 <- exact_sigma2(env$dat$yi, Vm, model.matrix(res), lv, res$sigma2, res$method)
    call <- sprintf('sigma2 <- exact_sigma2(dat$yi, %s, model.matrix(%s), list(%s), c(%s), "%s"); %s',
                    if (identical(Vm, env$V)) "V" else "diag(dat$vi)", call, paste(levels, collapse = ", "),
                    paste(fmt_num(sigma2_nlminb), collapse = ","), res$method, sub(")$", ", sigma2=sigma2)", call))
    res <- eval(parse(text = sub(".*; ", "", call)), envir = env)
  }
  out <- fit_out(res)
  if (!is.null(sigma2_nlminb)) out$sigma2_nlminb <- arr(sigma2_nlminb)
  if (pred && res$p == 1) {
    pr <- predict(res)
    out$pi_lb <- num(pr$pi.lb); out$pi_ub <- num(pr$pi.ub)
  }
  if (inherits(res, "rma.mv") && res$withS) out$I2_levels <- arr(i2_levels(res, env$dat[[vi_col]]))
  case <- list(r_setup = setup, r_call = call, method = res$method, test = res$test,
               inputs = inputs_of(env$dat, if (store_V) env$V), outputs = out)
  if (!is.null(cluster)) {
    case$cr2_call <- sprintf('coef_test(res, vcov="CR2", cluster=%s, test="Satterthwaite"); Wald_test(res, constraints=C, vcov="CR2", test="HTZ"); conf_int(res, vcov="CR2", test="Satterthwaite")', cluster)
    case$cr2 <- cr2_out(res, eval(parse(text = cluster), envir = env))
  }
  if (!is.null(fixed)) {
    fcall <- fixed(res)
    fres <- eval(parse(text = fcall), envir = env)
    case$fixed <- list(r_call = fcall, outputs = fit_out(fres))
  }
  cases[[id]] <<- case
}
fix_G <- function(call) function(res)
  sub(")$", sprintf(", tau2=c(%s), rho=%s)", paste(fmt_num(res$tau2), collapse = ","), fmt_num(res$rho)), call)

# ---- three-level: Konstantopoulos 2011 ------------------------------------------------------
k_setup <- 'dat <- dat.konstantopoulos2011'
KL <- c("dat$district", "paste(dat$district, dat$school)")
for (m in c("REML", "ML")) for (t in c("z", "t")) {
  call <- sprintf('rma.mv(yi, vi, random = ~ 1 | district/school, data=dat, method="%s", test="%s", %s)', m, t, CTRL_MV)
  run(sprintf("konstantopoulos_%s_%s", tolower(m), t), k_setup, call, cluster = "dat$district", levels = KL)
}
call <- sprintf('rma.mv(yi, vi, mods = ~ I(year - 1990), random = ~ 1 | district/school, data=dat, %s)', CTRL_MV)
run("konstantopoulos_year_reml_z", k_setup, call, cluster = "dat$district", levels = KL)

# ---- Assink 2016: three-level and CHE (rho = 0.6) -------------------------------------------
a_setup <- 'dat <- dat.assink2016; V <- vcalc(vi, cluster=study, obs=esid, rho=0.6, data=dat)'
AL <- c("dat$study", "paste(dat$study, dat$esid)")
for (t in c("z", "t")) {
  call <- sprintf('rma.mv(yi, vi, random = ~ 1 | study/esid, data=dat, test="%s", %s)', t, CTRL_MV)
  run(sprintf("assink_3level_reml_%s", t), a_setup, call, cluster = "dat$study", levels = AL)
  call <- sprintf('rma.mv(yi, V, random = ~ 1 | study/esid, data=dat, test="%s", %s)', t, CTRL_MV)
  run(sprintf("assink_che_reml_%s", t), a_setup, call, cluster = "dat$study", levels = AL, store_V = t == "z")
}
call <- sprintf('rma.mv(yi, V, random = ~ 1 | study/esid, data=dat, method="ML", %s)', CTRL_MV)
run("assink_che_ml_z", a_setup, call, cluster = "dat$study", levels = AL)
for (mods in c("year", "deltype")) {
  m <- if (mods == "deltype") 'factor(deltype)' else 'year'
  call <- sprintf('rma.mv(yi, V, mods = ~ %s, random = ~ 1 | study/esid, data=dat, test="t", %s)', m, CTRL_MV)
  run(sprintf("assink_che_%s_reml_t", mods), a_setup, call, cluster = "dat$study", levels = AL)
  call <- sprintf('rma.mv(yi, vi, mods = ~ %s, random = ~ 1 | study/esid, data=dat, test="t", %s)', m, CTRL_MV)
  run(sprintf("assink_3level_%s_reml_t", mods), a_setup, call, cluster = "dat$study", levels = AL)
}
# Intercept-only CHE model's sigma2 for R² (metafor's formula on the summed components).

# ---- dat.bcg with CR2 (metafor test_misc_robust.r) -------------------------------------------
b_setup <- 'dat <- escalc(measure="RR", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg); dat$random <- as.numeric(dat$alloc == "random"); dat <- as.data.frame(dat)'
call <- sprintf('rma(yi, vi, data=dat, method="REML", %s)', CTRL_UNI)
run("bcg_cr2_intercept", b_setup, call, cluster = "dat$trial")
call <- sprintf('rma(yi, vi, mods = ~ ablat + year, data=dat, method="REML", %s)', CTRL_UNI)
run("bcg_cr2_ablat_year", b_setup, call, cluster = "dat$trial")
call <- sprintf('rma(yi, vi, mods = ~ ablat + year, data=dat, method="REML", test="knha", %s)', CTRL_UNI)
run("bcg_ablat_year_knha", b_setup, call)

# ---- Ishak 2007: AR / HAR across follow-ups -------------------------------------------------
i_setup <- paste(
  'dat <- reshape(dat.ishak2007, direction="long", idvar="study", v.names=c("yi","vi"), varying=list(c(2,4,6,8), c(3,5,7,9)))',
  'dat <- dat[order(dat$study, dat$time),]; dat <- dat[!is.na(dat$yi),]; rownames(dat) <- NULL',
  'dat <- dat[, c("study", "time", "yi", "vi")]',
  'V <- vcalc(vi, cluster=study, time1=time, phi=0.97, data=dat)', sep = "; ")
for (s in c("HAR", "AR")) {
  call <- sprintf('rma.mv(yi, V, mods = ~ factor(time) - 1, random = ~ time | study, struct="%s", data=dat, %s)', s, CTRL_MV)
  run(sprintf("ishak_%s_reml_z", tolower(s)), i_setup, call, fixed = fix_G(call), pred = FALSE, store_V = s == "HAR")
}
call <- sprintf('rma.mv(yi, V, mods = ~ factor(time) - 1, random = ~ 1 | study, data=dat, %s)', CTRL_MV)
run("ishak_study_reml_z", i_setup, call, pred = FALSE, levels = "dat$study")

# ---- aggregation within trial (Borenstein 2009 ch. 24) ---------------------------------------
for (rho in c(0, 0.6)) {
  setup <- 'dat <- escalc(yi=yi, vi=vi, data=dat.assink2016)'
  call <- sprintf('aggregate(dat, cluster=study, rho=%s)', rho)
  env <- new.env(parent = globalenv()); eval(parse(text = setup), envir = env)
  agg <- eval(parse(text = call), envir = env)
  cases[[sprintf("aggregate_assink_rho%s", sub("\\.", "", rho))]] <- list(
    r_setup = setup, r_call = call, rho = num(rho), inputs = inputs_of(as.data.frame(env$dat)),
    outputs = list(study = arr(agg$study), yi = arr(agg$yi), vi = arr(agg$vi)))
}

# ---- permutation tests (exact) ---------------------------------------------------------------
for (t in c("z", "knha")) {
  call <- sprintf('permutest(rma(yi, vi, mods = ~ random, data=dat, method="REML", test="%s", %s), exact=TRUE, progbar=FALSE)', t, CTRL_UNI)
  env <- new.env(parent = globalenv()); eval(parse(text = b_setup), envir = env)
  pt <- eval(parse(text = call), envir = env)
  cases[[sprintf("permutest_bcg_random_%s", t)]] <- list(
    r_setup = b_setup, r_call = call, method = "REML", test = t, inputs = inputs_of(env$dat),
    outputs = list(pval = arr(pt$pval), QMp = num(pt$QMp), QM = num(pt$QM), beta = arr(pt$beta),
                   zval = arr(pt$zval), iterations = num(nrow(pt$zval.perm))))
}
p_setup <- paste(b_setup, 'dat <- dat[1:10, ]', sep = "; ")
for (t in c("z", "knha")) {
  call <- sprintf('permutest(rma(yi, vi, data=dat, method="REML", test="%s", %s), exact=TRUE, progbar=FALSE)', t, CTRL_UNI)
  env <- new.env(parent = globalenv()); eval(parse(text = p_setup), envir = env)
  pt <- eval(parse(text = call), envir = env)
  cases[[sprintf("permutest_bcg10_intercept_%s", t)]] <- list(
    r_setup = p_setup, r_call = call, method = "REML", test = t, inputs = inputs_of(env$dat),
    outputs = list(pval = arr(pt$pval), QMp = num(pt$QMp), QM = num(pt$QM), beta = arr(pt$beta),
                   zval = arr(pt$zval), iterations = num(NROW(pt$zval.perm))))
}

# ---- R² of a meta-regression ----------------------------------------------------------------
for (mods in c("ablat", "ablat + year", "factor(alloc)")) {
  call <- sprintf('rma(yi, vi, mods = ~ %s, data=dat, method="REML", test="knha", %s)', mods, CTRL_UNI)
  env <- new.env(parent = globalenv()); eval(parse(text = b_setup), envir = env)
  res <- eval(parse(text = call), envir = env)
  res0 <- rma(yi, vi, data = env$dat, method = "REML", control = list(threshold = 1e-12, maxiter = 1000))
  cases[[sprintf("r2_bcg_%s", gsub("[^a-z]+", "_", mods))]] <- list(
    r_setup = b_setup, r_call = call, method = "REML", test = "knha", inputs = inputs_of(env$dat),
    outputs = c(fit_out(res), list(R2 = num(res$R2), tau2_re = num(res0$tau2))))
}

doc <- list(
  generator = "tests/oracle/reference/metafor_dependent.R",
  r_helpers = paste(I2_LEVELS, EXACT_SIGMA2, sep = "\n"),
  metafor_version = as.character(packageVersion("metafor")),
  clubsandwich_version = as.character(packageVersion("clubSandwich")),
  r_version = paste(R.version$major, R.version$minor, sep = "."),
  control = list(rma_mv = CTRL_MV, rma = CTRL_UNI),
  cases = cases)
json <- toJSON(sort_keys(doc), auto_unbox = TRUE, json_verbatim = TRUE,
               pretty = TRUE, na = "null", null = "null")
writeLines(json, OUT, useBytes = TRUE)
cat(sprintf("wrote %d cases to %s\n", length(cases), OUT))
