# metafor reference values for the sensitivity, influence and small-study tests.
#
# CI never runs R: the Python tests pin the committed JSON, and this file documents
# exactly how it was produced. Generated with R 4.2.2 / metafor 3.8.1 / jsonlite 1.8.4
# (Debian r-cran-metafor, r-cran-jsonlite).
#
# Regenerate (from the repo root):
#   Rscript tests/oracle/reference/metafor_sensitivity.R
# -> writes tests/oracle/data/metafor_sensitivity.json. Output is byte-stable: keys are sorted
# (C-locale) at every level, and numbers are the shortest of %.15g/%.16g/%.17g that
# round-trips to the identical double.
#
# Cases (id -> what it exercises):
#   bcg_rr_{reml,dl,ml,he,pm,sj,eb}_z  dat.bcg log risk ratio, every tau2 estimator the
#                                      pipeline offers, Wald-z inference
#   bcg_rr_{reml,dl}_knha              Knapp-Hartung (t on k-1 df; s2w scales every vb)
#   bcg_rr_reml_adhoc                  Knapp-Hartung with s2w floored at 1 (test="adhoc")
#   bcg3_rr_reml_z                     first three bcg trials: leave-one-out fits of k = 2
#   normand_smd_{reml,dl}_z            dat.normand1999 Hedges' g; study 3 (Orpington-
#                                      Moderate) is flagged influential; cumulated in data
#                                      order (the data set has no year)
#   raudenbush_smd_{reml,dl}_z         dat.raudenbush1985 (teacher expectancy, k = 19);
#                                      under REML study 10 (Maxwell 1970) is
#                                      flagged influential; years have ties; trim-and-fill
#                                      fills 3 studies on the left
#
# Per case: r_setup (code creating `dat`), r_call (the rma() fit `res`), r_calls (every
# function applied to `res`), inputs (study, year, yi, vi) and outputs:
#   leave1out   leave1out(res): one entry per omitted study, in data order
#   influence   influence(res): rstudent, dffits, cook_d, cov_r, tau2_del, QE_del, hat,
#               weight, dfbs (intercept), inf (metafor's is.infl flags)
#   baujat      baujat(res): x (squared Pearson residual), y (influence on the result)
#   cumul       cumul(res, order=<year or data order>): order = 1-based row of each step
#   regtest_lm  regtest(res, model="lm"): t test of the sei slope, limit estimate (b)
#   regtest_rma regtest(res, model="rma"): z (t under knha) test, limit estimate (b)
#   ranktest    ranktest(res): Kendall's tau and its p (exact=TRUE, metafor's default)
#   trimfill    trimfill(res, control=...) (with test= passed on for knha/adhoc fits):
#               trimfill's refits do not inherit the model's control (they would stop at
#               threshold 1e-5) nor its test (they would silently use test="z" and 95%)
# A function metafor refuses (e.g. a regression with k = 3) is stored as null.
# rank_cases: ranktest() on two more data sets (see the comment above them).
# Near tau2 = 0, metafor's Fisher scoring stops at ~1e-13 rather than 0 (step halving);
# tests compare tau2 with an absolute tolerance there.

suppressPackageStartupMessages(library(metafor))
library(jsonlite)

CTRL <- "control=list(threshold=1e-12, maxiter=1000)"
# uniroot (PM) stops at tol = .Machine$double.eps^0.25 ~ 1e-4 unless told otherwise.
CTRL_PM <- "control=list(threshold=1e-12, maxiter=1000, tol=1e-13)"
OUT <- "tests/oracle/data/metafor_sensitivity.json"

source("tests/oracle/reference/json_helpers.R")

# ---- what is recorded from each function -------------------------------------
fit_list <- function(r, stat_name) list(
  estimate = arr(r$estimate), se = arr(r$se), stat = arr(r[[stat_name]]),
  pval = arr(if (is.null(r$pval)) r$pvals else r$pval), ci_lb = arr(r$ci.lb),
  ci_ub = arr(r$ci.ub), Q = arr(r$Q), Qp = arr(r$Qp), tau2 = arr(r$tau2),
  I2 = arr(r$I2), H2 = arr(r$H2))

safely <- function(expr) tryCatch(expr, error = function(e) NULL)

run_case <- function(setup, method, test, order_expr) {
  env <- new.env(parent = globalenv())
  eval(parse(text = setup), envir = env)
  ctrl <- if (method == "PM") CTRL_PM else CTRL
  call <- sprintf('res <- rma(yi, vi, data=dat, method="%s", test="%s", %s)', method, test, ctrl)
  eval(parse(text = call), envir = env)
  # trimfill() refits without the model's control= (threshold 1e-5) and with test="z"
  # unless they are passed again through its `...`.
  tf_call <- sprintf("trimfill(res, %s%s)", if (test == "z") "" else sprintf('test="%s", ', test), ctrl)
  calls <- list(
    leave1out = "leave1out(res)", influence = "influence(res)",
    baujat = "baujat(res)  # drawn on pdf(NULL); the returned x, y",
    cumul = sprintf("cumul(res, order=%s)", order_expr),
    regtest_lm = 'regtest(res, model="lm")', regtest_rma = 'regtest(res, model="rma")',
    ranktest = "ranktest(res)", trimfill = tf_call)
  run <- function(name) safely(suppressWarnings(eval(parse(text = calls[[name]]), envir = env)))
  res <- env$res
  stat_name <- if (test == "z") "zval" else "tval"

  l1o <- run("leave1out")
  inf <- run("influence")
  pdf(NULL); bj <- run("baujat"); invisible(dev.off())
  cu <- run("cumul")
  rl <- run("regtest_lm")
  rr <- run("regtest_rma")
  rk <- run("ranktest")
  tf <- run("trimfill")

  cumul_order <- eval(parse(text = sprintf("order(%s)", order_expr)), envir = env)
  outputs <- list(
    model = list(beta = num(res$beta[1]), se = num(res$se), tau2 = num(res$tau2),
                 QE = num(res$QE), k = num(res$k)),
    leave1out = if (is.null(l1o)) NULL else fit_list(l1o, stat_name),
    influence = if (is.null(inf)) NULL else list(
      rstudent = arr(inf$inf$rstudent), dffits = arr(inf$inf$dffits),
      cook_d = arr(inf$inf$cook.d), cov_r = arr(inf$inf$cov.r),
      tau2_del = arr(inf$inf$tau2.del), QE_del = arr(inf$inf$QE.del),
      hat = arr(inf$inf$hat), weight = arr(inf$inf$weight),
      dfbs = arr(inf$dfbs$intrcpt), inf = lgl(inf$is.infl)),
    baujat = if (is.null(bj)) NULL else list(x = arr(bj$x), y = arr(bj$y)),
    cumul = if (is.null(cu)) NULL else c(fit_list(cu, stat_name),
                                          list(order = arr(cumul_order))),
    regtest_lm = if (is.null(rl)) NULL else list(
      stat = num(rl$zval), pval = num(rl$pval), df = num(rl$dfs), est = num(rl$est),
      ci_lb = num(rl$ci.lb), ci_ub = num(rl$ci.ub),
      slope = num(coef(rl$fit)[2])),
    regtest_rma = if (is.null(rr)) NULL else list(
      stat = num(rr$zval), pval = num(rr$pval), df = num(rr$dfs), est = num(rr$est),
      ci_lb = num(rr$ci.lb), ci_ub = num(rr$ci.ub), slope = num(rr$fit$beta[2]),
      slope_se = num(rr$fit$se[2]), tau2 = num(rr$fit$tau2)),
    ranktest = if (is.null(rk)) NULL else list(tau = num(rk$tau), pval = num(rk$pval)),
    trimfill = if (is.null(tf)) NULL else list(
      k0 = num(tf$k0), se_k0 = num(tf$se.k0), side = tf$side, beta = num(tf$beta[1]),
      se = num(tf$se), zval = num(tf$zval), pval = num(tf$pval), ci_lb = num(tf$ci.lb),
      ci_ub = num(tf$ci.ub), tau2 = num(tf$tau2), k = num(tf$k),
      fill_yi = arr(tf$yi[tf$fill]), fill_vi = arr(tf$vi[tf$fill])))
  outputs <- outputs[!vapply(outputs, is.null, logical(1))]

  dat <- env$dat
  inputs <- list(study = env$study, year = if (is.null(env$year)) NULL else arr(env$year),
                 yi = arr(as.numeric(dat$yi)), vi = arr(as.numeric(dat$vi)))
  inputs <- inputs[!vapply(inputs, is.null, logical(1))]
  list(r_setup = setup, r_call = call, r_calls = calls, method = method, test = test,
       inputs = inputs, outputs = outputs)
}

# ---- input definitions -------------------------------------------------------
bcg_setup <- paste(
  'dat <- escalc(measure="RR", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg)',
  'study <- paste(dat$author, dat$year); year <- dat$year', sep = "; ")
bcg3_setup <- paste(bcg_setup, "dat <- dat[1:3, ]; study <- study[1:3]; year <- year[1:3]",
                    sep = "; ")
normand_setup <- paste(
  'dat <- escalc(measure="SMD", m1i=m1i, sd1i=sd1i, n1i=n1i, m2i=m2i, sd2i=sd2i, n2i=n2i, data=dat.normand1999)',
  'study <- as.character(dat$source)', sep = "; ")
raudenbush_setup <- paste(
  'dat <- dat.raudenbush1985',
  'study <- paste(dat$author, dat$year); year <- dat$year', sep = "; ")

# ---- cases -------------------------------------------------------------------
cases <- list()
for (m in c("REML", "DL", "ML", "HE", "PM", "SJ", "EB"))
  cases[[sprintf("bcg_rr_%s_z", tolower(m))]] <- run_case(bcg_setup, m, "z", "year")
for (m in c("REML", "DL"))
  cases[[sprintf("bcg_rr_%s_knha", tolower(m))]] <- run_case(bcg_setup, m, "knha", "year")
cases$bcg_rr_reml_adhoc <- run_case(bcg_setup, "REML", "adhoc", "year")
cases$bcg3_rr_reml_z <- run_case(bcg3_setup, "REML", "z", "year")
for (m in c("REML", "DL")) {
  cases[[sprintf("normand_smd_%s_z", tolower(m))]] <-
    run_case(normand_setup, m, "z", "seq_len(nrow(dat))")
  cases[[sprintf("raudenbush_smd_%s_z", tolower(m))]] <-
    run_case(raudenbush_setup, m, "z", "year")
}

# Rank correlation test beyond the cases above: exact p for k = 102 (R computes it for
# any k without ties; evsynth does up to k = 300), the normal approximation metafor would
# give with exact=FALSE, and the tie-corrected normal approximation R falls back to.
rank_case <- function(setup, call_exact, call_normal = NULL) {
  env <- new.env(parent = globalenv())
  eval(parse(text = setup), envir = env)
  ex <- suppressWarnings(eval(parse(text = call_exact), envir = env))
  out <- list(tau = num(ex$tau), pval = num(ex$pval))
  calls <- list(ranktest = call_exact)
  if (!is.null(call_normal)) {
    nm <- eval(parse(text = call_normal), envir = env)
    out$pval_normal <- num(nm$pval)
    calls$ranktest_normal <- call_normal
  }
  list(r_setup = setup, r_calls = calls,
       inputs = list(yi = arr(as.numeric(env$yi)), vi = arr(as.numeric(env$vi))),
       outputs = out)
}
rank_cases <- list(
  curtis_rom_k102 = rank_case(
    paste('dat <- escalc(measure="ROM", m1i=m1i, sd1i=sd1i, n1i=n1i, m2i=m2i, sd2i=sd2i, n2i=n2i, data=dat.curtis1998)',
          'yi <- dat$yi; vi <- dat$vi', sep = "; "),
    "ranktest(yi, vi=vi)", "ranktest(yi, vi=vi, exact=FALSE)"),
  bcg_rounded_vi_ties = rank_case(
    paste('dat <- escalc(measure="RR", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg)',
          'yi <- dat$yi; vi <- pmax(round(dat$vi, 2), 0.01)', sep = "; "),
    "ranktest(yi, vi=vi)  # ties: R warns and uses the normal approximation"))

doc <- list(
  generator = "tests/reference/metafor_sensitivity.R",
  metafor_version = as.character(packageVersion("metafor")),
  r_version = paste(R.version$major, R.version$minor, sep = "."),
  control = CTRL,
  cases = cases,
  rank_cases = rank_cases)

json <- toJSON(sort_keys(doc), auto_unbox = TRUE, json_verbatim = TRUE,
               pretty = TRUE, na = "null", null = "null")
writeLines(json, OUT, useBytes = TRUE)
cat(sprintf("wrote %d cases to %s\n", length(cases), OUT))
