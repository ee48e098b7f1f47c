# metafor reference values for the network meta-analysis under test = "t" (evsynth.stats.network,
# fit_network(test = "t"); the random-effects network under an HKSJ method profile).
#
# CI never runs R: tests/oracle/test_network_t_metafor.py pins the committed JSON, and this file
# documents exactly how it was produced (R 4.2.2 / metafor 3.8.1 / metadat / jsonlite, Debian).
#
# Regenerate (from the repo root):
#   Rscript tests/oracle/reference/metafor_network_t.R
# -> writes tests/oracle/data/metafor_network_t.json (keys sorted, numbers round-trip exactly;
# conventions of metafor_network.R, whose model this is):
#   rma.mv(yi, V, mods = ~ 0 + <treatments but the reference>, random = ~ comp | study, rho = 1/2,
#          tau2 = tau2, test = "t", data = dat)          # dfs = "residual" (the default): k - p
# with tau2 the exact REML score root (as metafor_network.R: nlminb is good to ~1e-6 only) or the
# DL moment estimator. Every ordered pair of treatments: predict(res, newmods = e_i - e_j) for the
# estimate, SE and CI (t quantile on res$ddf), anova(res, X = e_i - e_j) for the t statistic and
# its p-value. metafor 3.8's rma.mv offers "z" and "t" only: no Knapp-Hartung rescaling.
#
# Cases: dat.senn2013 (26 trials, 10 treatments, one three-arm; MD of HbA1c) and
# dat.hasselblad1998 (24 trials, 4 treatments, two three-arm; logit of each arm's events), REML
# and DL; and the shipped table's one network of several trials, pain interference (post):
# the rows of studies.tsv with outcome pain_interference, timepoint post, include yes and a
# reported SE (SMD, positive favours treatment, so yi = -effect as lower is better; vi = se^2).

suppressPackageStartupMessages(library(metafor))
library(jsonlite)

OUT <- "tests/oracle/data/metafor_network_t.json"
source("tests/oracle/reference/json_helpers.R")

HELPERS <- paste(
  '# each arm against the study baseline (first arm in trts order); V and P per study',
  'baseline_contrasts <- function(arms, trts) {',
  '  out <- list()',
  '  for (s in unique(arms$study)) {',
  '    a <- arms[arms$study == s, ]; a <- a[order(match(a$trt, trts)), ]',
  '    for (i in 2:nrow(a))',
  '      out[[length(out) + 1]] <- data.frame(study = s, treatment = a$trt[i], comparator = a$trt[1],',
  '        yi = a$f[i] - a$f[1], vi = a$s[i] + a$s[1], vb = a$s[1])',
  '  }',
  '  do.call(rbind, out)',
  '}',
  'finish <- function(dat, trts) {',
  '  dat$comp <- paste(dat$treatment, dat$comparator, sep = " vs ")',
  '  for (t in trts) dat[[t]] <- (dat$treatment == t) - (dat$comparator == t)',
  '  dat }',
  'by_study <- function(dat, f) bldiag(lapply(split(dat, factor(dat$study, levels = unique(dat$study))), f))',
  'vcov_of <- function(dat) by_study(dat, function(x) { v <- matrix(x$vb[1], nrow(x), nrow(x)); diag(v) <- x$vi; v })',
  'struct_of <- function(dat) by_study(dat, function(x) { v <- matrix(0.5, nrow(x), nrow(x)); diag(v) <- 1; v })',
  'mods_of <- function(trts, ref) as.formula(paste("~ 0 +", paste(sprintf("`%s`", setdiff(trts, ref)), collapse = " + ")))',
  'exact_tau2 <- function(y, V, P, X) {',
  '  score <- function(t2) { W <- solve(V + t2 * P); A <- solve(t(X) %*% W %*% X)',
  '    M <- W - W %*% X %*% A %*% t(X) %*% W; My <- M %*% y',
  '    c(t(My) %*% P %*% My) - sum(diag(M %*% P)) }',
  '  if (score(0) <= 0) return(0)',
  '  hi <- 1; while (score(hi) > 0) hi <- 2 * hi',
  '  uniroot(score, c(0, hi), tol = 1e-15, maxiter = 10000)$root }',
  'dl_tau2 <- function(y, V, P, X) {',
  '  W <- solve(V); M <- W - W %*% X %*% solve(t(X) %*% W %*% X) %*% t(X) %*% W',
  '  max(0, (c(t(y) %*% M %*% y) - (nrow(X) - ncol(X))) / sum(diag(M %*% P))) }',
  sep = "\n")
eval(parse(text = HELPERS))

SETUPS <- list(
  senn2013 = paste(
    'arms <- data.frame(study = dat.senn2013$study, trt = dat.senn2013$treatment, f = dat.senn2013$mi,',
    '  s = dat.senn2013$sdi^2 / dat.senn2013$ni)',
    'trts <- c(sort(setdiff(unique(arms$trt), "placebo")), "placebo"); ref <- "placebo"',
    'dat <- finish(baseline_contrasts(arms, trts), trts)', sep = "\n"),
  hasselblad1998 = paste(
    'e <- escalc(measure = "PLO", xi = xi, ni = ni, data = dat.hasselblad1998)',
    'arms <- data.frame(study = paste(e$authors, e$year), trt = e$trt, f = c(e$yi), s = e$vi)',
    'trts <- c("ind_counseling", "grp_counseling", "self_help", "no_contact"); ref <- "no_contact"',
    'dat <- finish(baseline_contrasts(arms, trts), trts)', sep = "\n"),
  shipped_pain_interference_post = paste(
    's <- read.delim("studies.tsv", colClasses = "character", na.strings = "")',
    's <- s[s$outcome == "pain_interference" & s$timepoint == "post" & s$include == "yes" & !is.na(s$se), ]',
    'dat <- data.frame(study = s$study, treatment = s$treatment, comparator = s$comparator,',
    '  yi = -as.numeric(s$effect), vi = as.numeric(s$se)^2)',
    'dat$vb <- 0; trts <- c("coach", "online", "usual_care"); ref <- "usual_care"; dat <- finish(dat, trts)',
    sep = "\n"))

network_t_case <- function(name, method) {
  env <- new.env(parent = globalenv())
  eval(parse(text = SETUPS[[name]]), envir = env)
  call <- paste(
    'V <- vcov_of(dat); P <- struct_of(dat); X <- model.matrix(mods_of(trts, ref), data = dat); y <- dat$yi',
    if (method == "DL") 'tau2 <- dl_tau2(y, V, P, X)' else 'tau2 <- exact_tau2(y, V, P, X)',
    'res <- rma.mv(yi, V, mods = mods_of(trts, ref), random = ~ comp | study, rho = 1/2, tau2 = tau2, test = "t", data = dat)',
    sep = "; ")
  eval(parse(text = call), envir = env)
  res <- env$res; trts <- env$trts; ref <- env$ref
  pr <- expand.grid(j = seq_along(trts), i = seq_along(trts))[, 2:1]; pr <- pr[pr$i != pr$j, ]
  L <- t(sapply(seq_len(nrow(pr)), function(r) { v <- numeric(length(trts)); v[pr$i[r]] <- 1; v[pr$j[r]] <- v[pr$j[r]] - 1; v }))
  Lm <- L[, match(setdiff(trts, ref), trts), drop = FALSE]
  p <- predict(res, newmods = Lm)
  a <- anova(res, X = Lm)
  list(r_setup = SETUPS[[name]], r_call = call, method = method,
       inputs = list(study = env$dat$study, treatment = env$dat$treatment, comparator = env$dat$comparator,
                     yi = arr(env$dat$yi), vi = arr(env$dat$vi), vb = arr(env$dat$vb)),
       outputs = list(treatments = trts, reference = ref, tau2 = num(env$tau2), k = num(res$k), p = num(res$p),
                      ddf = num(res$ddf[1]), test = res$test,
                      league = list(treatment = trts[pr$i], comparator = trts[pr$j], estimate = arr(p$pred),
                                    se = arr(p$se), ci_lb = arr(p$ci.lb), ci_ub = arr(p$ci.ub),
                                    tval = arr(a$zval), pval = arr(a$pval))))
}

cases <- list()
for (name in names(SETUPS)) for (m in c("REML", "DL"))
  cases[[sprintf("%s_%s_t", name, tolower(m))]] <- network_t_case(name, m)

doc <- list(generator = "tests/oracle/reference/metafor_network_t.R", r_helpers = HELPERS,
            metafor_version = as.character(packageVersion("metafor")),
            r_version = paste(R.version$major, R.version$minor, sep = "."), cases = cases)
writeLines(toJSON(sort_keys(doc), auto_unbox = TRUE, json_verbatim = TRUE, pretty = TRUE, na = "null",
                  null = "null"), OUT, useBytes = TRUE)
cat(sprintf("wrote %d cases to %s\n", length(cases), OUT))
