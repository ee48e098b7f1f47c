# metafor reference values for the edge cases of issue 21 (tests/oracle/test_edges_metafor.py).
#
# Generated with R 4.2.2 / metafor 3.8.1 / jsonlite (Debian r-cran-metafor, r-cran-jsonlite).
# Regenerate (from the repo root):
#   Rscript tests/oracle/reference/metafor_edges.R
# -> writes tests/oracle/data/metafor_edges.json (byte-stable: keys sorted, numbers the
# shortest of %.15g/%.16g/%.17g that round-trips; json_helpers.R).
#
# Cases (id -> what it exercises):
#   all_events_{rr,or,rd}   escalc + rma(REML, z) on five hand-made 2x2 tables: an arm with
#                           every participant an event (20/20), a table with events in every
#                           cell, one with only events in both arms (15/15 vs 15/15) and one
#                           with none in either (0/10 vs 0/12); add=1/2, to="only0"; drop00=TRUE
#                           for RR/OR (RevMan), FALSE for RD (metafor's default)
#   k1_{z,knha}             one study: rma() fixes tau2 = 0 and reports yi with its Wald/t CI
#   k2_homogeneous_{reml,dl}_knha  two near-identical studies: tau2 = 0 on the boundary at k = 2
#   boundary_{reml,dl,pm}_z four studies with Q far below k - 1: tau2 = 0, and the Q-profile
#                           CI of tau2 is [0, 0] (confint's "null set" case)
#   ci_touches_null_z       a reported RR 1.5 [1.00, 2.25] (CI symmetric on the log scale): a
#                           contrast whose lower limit is exactly no effect (p = 0.05)
#   ranktest_ties3          ranktest(rma(yi, vi, method="EE")) with two groups of three identical
#                           studies: ties of size 3 in both the deviates and the variances, the
#                           last tie-correction term of Kendall's variance (R's cor.test)
# Per case: r_setup, r_call, inputs (yi, vi and the raw data) and outputs as
# metafor_reference.R (beta, se, ci, pval, tau2, I2, QE, QEp, Q-profile CIs when k >= 2).

suppressPackageStartupMessages(library(metafor))
library(jsonlite)

CTRL <- "control=list(threshold=1e-12, tol=1e-12, maxiter=1000)"
OUT <- "tests/oracle/data/metafor_edges.json"
source("tests/oracle/reference/json_helpers.R")

run_case <- function(setup, method, test, raw = list()) {
  env <- new.env(parent = globalenv())
  eval(parse(text = setup), envir = env)
  call <- sprintf('rma(yi, vi, data=dat, method="%s", test="%s", %s)', method, test, CTRL)
  res <- suppressWarnings(eval(parse(text = call), envir = env))
  tau2_ci <- c(NA_real_, NA_real_)
  if (res$k >= 2) {
    ci <- confint(res, control = list(tol = 1e-12, tau2.max = 1e7))
    tau2_ci <- unname(ci$random["tau^2", c("ci.lb", "ci.ub")])
  }
  knha <- test == "knha"
  out <- list(beta = num(res$beta[1]), se = num(res$se), pval = num(res$pval),
              ci_lb = num(res$ci.lb), ci_ub = num(res$ci.ub), tau2 = num(res$tau2),
              I2 = num(if (res$k >= 2) res$I2 else NA), QE = num(res$QE), QEp = num(res$QEp),
              k = num(res$k), stat = num(res$zval), df = num(if (knha) res$k - 1 else NA),
              tau2_ci_lb = num(tau2_ci[1]), tau2_ci_ub = num(tau2_ci[2]))
  dat <- env$dat
  ins <- lapply(raw, arr)
  ins$yi <- arr(as.numeric(dat$yi))
  ins$vi <- arr(as.numeric(dat$vi))
  list(r_setup = setup, r_call = call, method = method, test = test, inputs = ins, outputs = out)
}

counts <- list(ai = c(20, 12, 30, 15, 0), n1i = c(20, 25, 40, 15, 10),
               ci = c(10, 8, 21, 15, 0), n2i = c(20, 25, 40, 15, 12))
counts_setup <- function(measure, drop00)
  sprintf(paste0('dat <- escalc(measure="%s", ai=c(20,12,30,15,0), n1i=c(20,25,40,15,10), ',
                 'ci=c(10,8,21,15,0), n2i=c(20,25,40,15,12), add=1/2, to="only0", drop00=%s)'),
          measure, drop00)

cases <- list()
cases$all_events_rr <- run_case(counts_setup("RR", "TRUE"), "REML", "z", counts)
cases$all_events_or <- run_case(counts_setup("OR", "TRUE"), "REML", "z", counts)
cases$all_events_rd <- run_case(counts_setup("RD", "FALSE"), "REML", "z", counts)

k1_setup <- "dat <- data.frame(yi=0.3, vi=0.04)"
cases$k1_z <- run_case(k1_setup, "REML", "z")
cases$k1_knha <- run_case(k1_setup, "REML", "knha")

k2_setup <- "dat <- data.frame(yi=c(0.41, 0.43), vi=c(0.02, 0.03))"
cases$k2_homogeneous_reml_knha <- run_case(k2_setup, "REML", "knha")
cases$k2_homogeneous_dl_knha <- run_case(k2_setup, "DL", "knha")

boundary_setup <- "dat <- data.frame(yi=c(0.2, 0.2001, 0.1999, 0.2), vi=c(0.010, 0.020, 0.015, 0.012))"
for (m in c("REML", "DL", "PM"))
  cases[[sprintf("boundary_%s_z", tolower(m))]] <- run_case(boundary_setup, m, "z")

cases$ci_touches_null_z <- run_case(
  "dat <- data.frame(yi=log(1.5), vi=((log(2.25)-log(1))/(2*qnorm(.975)))^2)", "REML", "z",
  list(ratio = 1.5, ratio_ci_lb = 1, ratio_ci_ub = 2.25))

ties_setup <- paste0('dat <- data.frame(yi=c(.1,.1,.1,.5,.5,.5,.3,.8,-.2,.05), ',
                     'vi=c(.04,.04,.04,.09,.09,.09,.02,.1,.05,.03))')
rank_case <- function(setup) {
  env <- new.env(parent = globalenv())
  eval(parse(text = setup), envir = env)
  call <- sprintf('ranktest(rma(yi, vi, data=dat, method="EE", %s))', CTRL)
  rt <- suppressWarnings(eval(parse(text = call), envir = env))
  list(r_setup = setup, r_call = call,
       inputs = list(yi = arr(env$dat$yi), vi = arr(env$dat$vi)),
       outputs = list(tau = num(rt$tau), pval = num(rt$pval)))
}
cases$ranktest_ties3 <- rank_case(ties_setup)

doc <- list(
  generator = "tests/oracle/reference/metafor_edges.R",
  metafor_version = as.character(packageVersion("metafor")),
  r_version = paste(R.version$major, R.version$minor, sep = "."),
  control = CTRL,
  cases = cases)
json <- toJSON(sort_keys(doc), auto_unbox = TRUE, json_verbatim = TRUE,
               pretty = TRUE, na = "null", null = "null")
writeLines(json, OUT, useBytes = TRUE)
cat(sprintf("wrote %d cases to %s\n", length(cases), OUT))
