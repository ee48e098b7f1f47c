# metafor reference values for evsynth.network (network meta-analysis of delivery modes).
#
# CI never runs R: the Python tests pin the committed JSON, and this file documents
# exactly how it was produced. Generated with R 4.2.2 / metafor 3.8.1 / metadat /
# jsonlite 1.8.4 (Debian r-cran-metafor, r-cran-metadat, r-cran-jsonlite). netmeta is not
# installable here (no Debian package), so metafor's rma.mv is the only oracle.
#
# Regenerate (from the repo root):
#   Rscript tests/oracle/reference/metafor_network.R
# -> writes tests/oracle/data/metafor_network.json. Same conventions as metafor_reference.R and
# metafor_multivariate.R: keys sorted (C locale) at every level; numbers are the shortest
# of %.15g/%.16g/%.17g that round-trips to the identical double; each case stores r_setup
# (code creating `arms`, one row per study arm on the analysis scale) and r_call.
#
# The model (contrast-based consistency model; Higgins & Whitehead 1996, Salanti 2008):
# every study contributes the contrasts of its arms against one baseline arm (its first
# arm in the order `trts`), y = f(arm) - f(baseline), with the sampling covariance of
# independent arms (variance of the shared baseline arm off the diagonal) and random
# effects of variance tau2 with covariance tau2/2 between contrasts of one study:
#   rma.mv(yi, V, mods = ~ 0 + <treatment columns, reference dropped>,
#          random = ~ comp | study, rho = 1/2, data = dat)        (struct "CS", rho fixed)
# as netmeta's own REML/ML fits do (netmeta.R: random = ~ factor(comparison) | studlab,
# rho = 0.5). The common-effect model is the same call without `random`.
#
# tau2: rma.mv maximises the (restricted) likelihood with nlminb, good to ~1e-6 relative,
# so REML/ML tau2 is pinned to the root of the score equation found by uniroot (dense
# matrix algebra, tol 1e-15; 0 when the score at 0 is negative), and every other output
# comes from rma.mv(..., tau2 = tau2) (rho stays fixed at 1/2). The optimiser's own value
# is kept as tau2_nlminb. DL: the moment estimator tau2 = max(0, (Q - df) / tr(M P)),
# M = W - W X (X'WX)^-1 X'W, W = V^-1, P the random-effects structure (1 on the diagonal,
# 1/2 off it within a study) -- netmeta's method.tau = "DL" (nma_ruecker: (Q - df) /
# tr((I - H) B B' E / 2 W)), the same number in netmeta's all-pairs parametrisation.
# rma.mv has no DL, so DL tau2 comes from this algebra and the rest from rma.mv(tau2 = ).
#
# Outputs per case: coefficients against the reference and their vcov; every ordered pair
# of treatments (predict(res, newmods = e_i - e_j): estimate, se, Wald CI, prediction
# interval on the normal distribution (metafor's), and t-based ones on QE df and QE df - 1
# (netmeta's) by formula); P-scores (Rucker & Schwarzer 2015) with larger values better:
# P_i = mean over j != i of pnorm((b_i - b_j) / se_ij); Q total = QE of the common-effect
# model, its design-based decomposition (Krahn, Binder & Konig 2013; netmeta decomp.design):
# Q within designs = QE of the common-effect design-by-treatment interaction model
# (one coefficient per design x non-baseline arm), Q between designs = Q total - Q within;
# its random-effects version as netmeta's Q.inc.random: tau2_within = the moment estimator
# above in the design-by-treatment model (netmeta's tau.within), and Q between =
# r'Wr(consistency) - r'Wr(interaction model) at W = (V + tau2_within P)^-1.
# Node splitting (every comparison A-B with direct evidence -- studies with both arms --
# and indirect evidence -- A and B still connected without those studies): direct =
# rma(yi, vi, tau2 = tau2 of the model) on those studies' A-B contrasts (all pairs, each
# study's own A-B contrast); back-calculation (netmeta netsplit; Dias et al. 2010):
# prop = se_network^2 / se_direct^2, indirect = (network - prop * direct) / (1 - prop),
# se_indirect = se_network / sqrt(1 - prop), z = (direct - indirect) / sqrt(se_d^2 + se_i^2);
# and the separate indirect estimate: the network model fitted without the direct studies
# (component of A and B only) at the same tau2 (Bucher 1997 generalised).

suppressPackageStartupMessages(library(metafor))
library(jsonlite)

OUT <- "tests/oracle/data/metafor_network.json"
source("tests/oracle/reference/json_helpers.R")

# ---- helpers (stored in the JSON as r_helpers) ---------------------------------
HELPERS <- paste(
  '# every pair of arms of a study, treatment before comparator in trts order (the pipeline\'s',
  '# arm-level contrasts: evsynth.arms), with each arm\'s variance',
  'all_pairs <- function(arms, trts) {',
  '  out <- list()',
  '  for (s in unique(arms$study)) {',
  '    a <- arms[arms$study == s, ]; a <- a[order(match(a$trt, trts)), ]',
  '    for (i in 1:(nrow(a) - 1)) for (j in (i + 1):nrow(a))',
  '      out[[length(out) + 1]] <- data.frame(study = s, treatment = a$trt[i], comparator = a$trt[j],',
  '        yi = a$f[i] - a$f[j], vi = a$s[i] + a$s[j], var_treat_arm = a$s[i], var_ctrl_arm = a$s[j],',
  '        n_treat = a$n[i], n_ctrl = a$n[j])',
  '  }',
  '  do.call(rbind, out)',
  '}',
  '# each arm against the study baseline (first arm in trts order); V and P per study',
  'baseline_contrasts <- function(arms, trts) {',
  '  out <- list()',
  '  for (s in unique(arms$study)) {',
  '    a <- arms[arms$study == s, ]; a <- a[order(match(a$trt, trts)), ]',
  '    for (i in 2:nrow(a))',
  '      out[[length(out) + 1]] <- data.frame(study = s, treatment = a$trt[i], comparator = a$trt[1],',
  '        yi = a$f[i] - a$f[1], vi = a$s[i] + a$s[1], vb = a$s[1])',
  '  }',
  '  dat <- do.call(rbind, out)',
  '  dat$comp <- paste(dat$treatment, dat$comparator, sep = " vs ")',
  '  for (t in trts) dat[[t]] <- (dat$treatment == t) - (dat$comparator == t)',
  '  dat',
  '}',
  'by_study <- function(dat, f) bldiag(lapply(split(dat, factor(dat$study, levels = unique(dat$study))), f))',
  'vcov_of <- function(dat) by_study(dat, function(x) { v <- matrix(x$vb[1], nrow(x), nrow(x)); diag(v) <- x$vi; v })',
  'struct_of <- function(dat) by_study(dat, function(x) { v <- matrix(0.5, nrow(x), nrow(x)); diag(v) <- 1; v })',
  'mods_of <- function(trts, ref) as.formula(paste("~ 0 +", paste(sprintf("`%s`", setdiff(trts, ref)), collapse = " + ")))',
  '# REML/ML tau2 as the root of the score equation, Sigma = V + tau2 P',
  'exact_tau2 <- function(y, V, P, X, method) {',
  '  score <- function(t2) { W <- solve(V + t2 * P); A <- solve(t(X) %*% W %*% X)',
  '    M <- W - W %*% X %*% A %*% t(X) %*% W; My <- M %*% y',
  '    c(t(My) %*% P %*% My) - if (method == "REML") sum(diag(M %*% P)) else sum(diag(W %*% P)) }',
  '  if (score(0) <= 0) return(0)',
  '  hi <- 1; while (score(hi) > 0) hi <- 2 * hi',
  '  uniroot(score, c(0, hi), tol = 1e-15, maxiter = 10000)$root }',
  '# moment (DerSimonian-Laird type) estimator: netmeta method.tau = "DL" and tau.within',
  'dl_tau2 <- function(y, V, P, X) {',
  '  W <- solve(V); M <- W - W %*% X %*% solve(t(X) %*% W %*% X) %*% t(X) %*% W',
  '  tr <- sum(diag(M %*% P)); if (tr <= 0) return(0)',
  '  max(0, (c(t(y) %*% M %*% y) - (nrow(X) - ncol(X))) / tr) }',
  'rss <- function(y, X, W) c(t(y) %*% (W - W %*% X %*% solve(t(X) %*% W %*% X) %*% t(X) %*% W) %*% y)',
  '# are a and b connected through the studies in dat (rows: treatment, comparator, study)?',
  'component <- function(dat, a) {',
  '  seen <- a; repeat { e <- dat$treatment %in% seen | dat$comparator %in% seen',
  '    new <- unique(c(seen, dat$treatment[e], dat$comparator[e])); if (length(new) == length(seen)) break; seen <- new }',
  '  seen }',
  sep = "\n")
eval(parse(text = HELPERS))

senn_setup <- paste(
  'arms <- data.frame(study = dat.senn2013$study, trt = dat.senn2013$treatment, f = dat.senn2013$mi,',
  '  s = dat.senn2013$sdi^2 / dat.senn2013$ni, n = dat.senn2013$ni)',
  'trts <- c(sort(setdiff(unique(arms$trt), "placebo")), "placebo"); ref <- "placebo"', sep = "\n")
hass_setup <- paste(
  'e <- escalc(measure = "PLO", xi = xi, ni = ni, data = dat.hasselblad1998)  # logit, 1/2 added to a zero arm',
  'arms <- data.frame(study = paste(e$authors, e$year), trt = e$trt, f = c(e$yi), s = e$vi, n = e$ni)',
  'trts <- c("ind_counseling", "grp_counseling", "self_help", "no_contact"); ref <- "no_contact"', sep = "\n")
resolve_setup <- paste(
  '# RESOLVE (DeBar 2025, JAMA, Table 2): >=30% pain-severity response at 3 months, adjusted %',
  'pct <- c(32.0, 26.6, 20.8); lb <- c(29.3, 23.4, 18.0); ub <- c(35.0, 30.2, 24.0)',
  'arms <- data.frame(study = "DeBar 2025", trt = c("coach", "online", "usual_care"), f = log(pct / 100),',
  '  s = ((log(ub) - log(lb)) / (2 * qnorm(0.975)))^2, n = c(690, 643, 703))',
  'trts <- c("coach", "online", "usual_care"); ref <- "usual_care"', sep = "\n")

network_case <- function(setup, method) {
  env <- new.env(parent = globalenv())
  eval(parse(text = setup), envir = env)
  with_random <- method != "EE"
  prep <- paste(
    'pairs <- all_pairs(arms, trts); dat <- baseline_contrasts(arms, trts)',
    'V <- vcov_of(dat); P <- struct_of(dat); X <- model.matrix(mods_of(trts, ref), data = dat); y <- dat$yi', sep = "; ")
  eval(parse(text = prep), envir = env)
  fit0 <- sprintf('rma.mv(yi, V, mods = mods_of(trts, ref), %sdata = dat)',
                  if (with_random) sprintf('random = ~ comp | study, rho = 1/2, method = "%s", ', if (method == "DL") "REML" else method) else "")
  tau2_call <- switch(method,
    EE = 'tau2 <- 0',
    DL = 'tau2 <- dl_tau2(y, V, P, X)',
    sprintf('tau2 <- if (nrow(X) > ncol(X)) exact_tau2(y, V, P, X, "%s") else 0', method))
  fit_call <- if (with_random) sub(")$", ", tau2 = tau2)", fit0) else fit0
  call <- paste(c(prep, if (with_random && method != "DL") sprintf('res0 <- %s', fit0),
                  tau2_call, sprintf('res <- %s', fit_call)), collapse = "; ")
  eval(parse(text = call), envir = env)
  e <- env
  res <- e$res
  trts <- e$trts; ref <- e$ref
  b <- setNames(c(res$beta[, 1], 0), c(setdiff(trts, ref), ref))[trts]
  vb <- matrix(0, length(trts), length(trts), dimnames = list(trts, trts))
  vb[setdiff(trts, ref), setdiff(trts, ref)] <- vcov(res)
  # every ordered pair
  pr <- expand.grid(j = seq_along(trts), i = seq_along(trts))[, 2:1]; pr <- pr[pr$i != pr$j, ]
  L <- t(sapply(seq_len(nrow(pr)), function(r) { v <- numeric(length(trts)); v[pr$i[r]] <- 1; v[pr$j[r]] <- v[pr$j[r]] - 1; v }))
  Lm <- L[, match(setdiff(trts, ref), trts), drop = FALSE]
  p <- predict(res, newmods = Lm)
  df <- res$k - res$p
  half <- function(d) if (d >= 1) qt(0.975, d) * sqrt(p$se^2 + e$tau2) else rep(NA, nrow(pr))
  league <- list(treatment = trts[pr$i], comparator = trts[pr$j], estimate = arr(p$pred), se = arr(p$se),
                 ci_lb = arr(p$ci.lb), ci_ub = arr(p$ci.ub))
  if (with_random) {
    league$pi_lb <- arr(p$pi.lb); league$pi_ub <- arr(p$pi.ub)
    league$pi_t_lb <- arr(p$pred - half(df)); league$pi_t_ub <- arr(p$pred + half(df))
    league$pi_t2_lb <- arr(p$pred - half(df - 1)); league$pi_t2_ub <- arr(p$pred + half(df - 1))
  }
  # P-scores, larger is better
  ps <- sapply(seq_along(trts), function(i) mean(sapply(setdiff(seq_along(trts), i), function(j)
    pnorm((b[i] - b[j]) / sqrt(vb[i, i] + vb[j, j] - 2 * vb[i, j])))))
  # node splitting
  ns <- list()
  for (i in seq_along(trts)) for (j in seq_along(trts)) if (i < j) {
    A <- trts[i]; B <- trts[j]
    both <- unique(e$pairs$study[e$pairs$treatment == A & e$pairs$comparator == B])
    rest <- e$dat[!(e$dat$study %in% both), ]
    if (!length(both) || !(B %in% component(rest, A))) next
    d <- e$pairs[e$pairs$treatment == A & e$pairs$comparator == B, ]
    dir <- if (with_random) rma(yi, vi, tau2 = e$tau2, data = d) else rma(yi, vi, method = "EE", data = d)
    r <- which(trts[pr$i] == A & trts[pr$j] == B)
    net <- p$pred[r]; se_net <- p$se[r]
    prop <- se_net^2 / dir$se^2
    ind <- (net - prop * c(dir$beta)) / (1 - prop); se_ind <- se_net / sqrt(1 - prop)
    z <- (c(dir$beta) - ind) / sqrt(dir$se^2 + se_ind^2)
    comp <- component(rest, A); sub <- rest[rest$treatment %in% comp | rest$comparator %in% comp, ]
    ctr <- trts[trts %in% comp]; sref <- ctr[length(ctr)]
    sub_call <- if (with_random)
      'rma.mv(yi, vcov_of(sub), mods = mods_of(ctr, sref), random = ~ comp | study, rho = 1/2, tau2 = tau2, data = sub)' else
      'rma.mv(yi, vcov_of(sub), mods = mods_of(ctr, sref), data = sub)'
    env2 <- new.env(parent = e); assign("sub", sub, env2); assign("ctr", ctr, env2); assign("sref", sref, env2)
    sfit <- eval(parse(text = sub_call), envir = env2)
    lv <- (ctr == A) - (ctr == B); sp <- predict(sfit, newmods = rbind(lv[ctr != sref]))
    sz <- (c(dir$beta) - sp$pred) / sqrt(dir$se^2 + sp$se^2)
    ns[[length(ns) + 1]] <- list(treatment = A, comparator = B, k_direct = nrow(d),
      direct = c(dir$beta), direct_se = dir$se, network = net, network_se = se_net, prop = prop,
      indirect = ind, indirect_se = se_ind, z = z, p = 2 * pnorm(-abs(z)),
      separate_indirect = sp$pred, separate_indirect_se = sp$se, separate_z = sz, separate_p = 2 * pnorm(-abs(sz)))
  }
  nscol <- function(name, f = arr) if (length(ns)) f(sapply(ns, `[[`, name)) else f(numeric(0))
  out <- list(treatments = trts, reference = ref, tau2 = num(e$tau2), beta = arr(b), vcov = mat(vb),
              QE = num(res$QE), QEdf = num(df), QEp = num(res$QEp), k = num(res$k),
              I2 = num(if (res$QE > 0) max(0, 100 * (res$QE - df) / res$QE) else 0),
              league = league, pscore = arr(ps),
              nodesplit = list(treatment = if (length(ns)) sapply(ns, `[[`, "treatment") else character(0),
                               comparator = if (length(ns)) sapply(ns, `[[`, "comparator") else character(0)))
  for (name in c("k_direct", "direct", "direct_se", "network", "network_se", "prop", "indirect", "indirect_se",
                 "z", "p", "separate_indirect", "separate_indirect_se", "separate_z", "separate_p"))
    out$nodesplit[[name]] <- nscol(name)
  if (!is.null(e$res0)) out$tau2_nlminb <- num(e$res0$tau2)
  if (!with_random) {  # design-based decomposition of Q (common-effect model) and Q.inc.random
    dec <- paste(
      'des <- sapply(split(arms$trt, arms$study), function(t) paste(trts[trts %in% t], collapse = ":"))',
      'dat$design <- des[dat$study]; cell <- paste(dat$design, dat$treatment, sep = "|")',
      'Xf <- sapply(unique(cell), function(c) as.numeric(cell == c))',
      'within <- rma.mv(yi, V, mods = Xf, intercept = FALSE, data = dat)',
      'Q_within <- within$QE; df_within <- within$k - within$p',
      'tau2_within <- dl_tau2(y, V, P, Xf); Wt <- solve(V + tau2_within * P)',
      'Q_between_random <- rss(y, X, Wt) - rss(y, Xf, Wt)', sep = "; ")
    eval(parse(text = dec), envir = e)
    call <- paste(call, dec, sep = "; ")
    out$decomposition <- list(Q_total = num(res$QE), df_total = num(df), Q_within = num(e$Q_within),
      df_within = num(e$df_within), Q_between = num(res$QE - e$Q_within), df_between = num(df - e$df_within),
      tau2_within = num(e$tau2_within), Q_between_random = num(e$Q_between_random),
      designs = num(length(unique(e$dat$design))))
  }
  ins <- list(study = e$pairs$study, treatment = e$pairs$treatment, comparator = e$pairs$comparator,
              yi = arr(e$pairs$yi), vi = arr(e$pairs$vi), var_treat_arm = arr(e$pairs$var_treat_arm),
              var_ctrl_arm = arr(e$pairs$var_ctrl_arm), n_treat = arr(e$pairs$n_treat), n_ctrl = arr(e$pairs$n_ctrl))
  list(r_setup = setup, r_call = call, method = method, inputs = ins, outputs = out)
}

cases <- list()
for (m in c("EE", "REML", "ML", "DL")) {
  cases[[sprintf("senn2013_%s", tolower(m))]] <- network_case(senn_setup, m)
  cases[[sprintf("hasselblad1998_%s", tolower(m))]] <- network_case(hass_setup, m)
}
cases$resolve_ps3_ee <- network_case(resolve_setup, "EE")
cases$resolve_ps3_reml <- network_case(resolve_setup, "REML")

doc <- list(
  generator = "tests/reference/metafor_network.R",
  r_helpers = HELPERS,
  metafor_version = as.character(packageVersion("metafor")),
  r_version = paste(R.version$major, R.version$minor, sep = "."),
  cases = cases)
json <- toJSON(sort_keys(doc), auto_unbox = TRUE, json_verbatim = TRUE,
               pretty = TRUE, na = "null", null = "null")
writeLines(json, OUT, useBytes = TRUE)
cat(sprintf("wrote %d cases to %s\n", length(cases), OUT))
