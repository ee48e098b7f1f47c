# metafor reference values for evsynth.multivariate and evsynth.subgroups.
#
# CI never runs R: the Python tests pin the committed JSON, and this file documents
# exactly how it was produced. Generated with R 4.2.2 / metafor 3.8.1 / jsonlite 1.8.4
# (Debian r-cran-metafor, r-cran-jsonlite).
#
# Regenerate (from the repo root):
#   Rscript tests/oracle/reference/metafor_multivariate.R
# -> writes tests/oracle/data/metafor_multivariate.json. Same conventions as
# metafor_reference.R: keys sorted (C locale) at every level; numbers are the shortest of
# %.15g/%.16g/%.17g that round-trips to the identical double; each case stores r_setup
# (code creating `dat`, and `V` where used) and r_call.
#
# Cases (id -> what it exercises):
#   go_*             Gleser & Olkin (2009) multiple-treatment SMD example (metafor's
#                    analyses:gleser2009): 4 studies, 6 SMDs, two studies with two
#                    treatment arms sharing a control; V from G&O eq. 19.27.
#                    go_trt_ee reproduces the published coef 2.3743 / 1.5702, QE 3.9447.
#   bcg_alloc_*      dat.bcg log RR, mods = ~ alloc, diagonal V (rma(), Fisher scoring,
#                    threshold 1e-12); QM(2) = 1.7675 (z), F(2,10) = 0.9662 (knha);
#                    _adhoc: Knapp-Hartung with s2 floored at 1 (binds here: s2 = 0.915);
#                    the _mv twins fit the same model with rma.mv(..., random = ~ 1 | id).
#   resolve_ps3_*    RESOLVE (DeBar 2025) >=30% pain-severity response at 3 months: coach
#                    vs usual care and online vs usual care as log RRs built from the
#                    three arms' adjusted percentages (SE from each arm's 95% CI on the
#                    log scale), covariance = variance of the shared usual-care arm.
#                    resolve_ps3_mode_reml_z is saturated (k = p = 2): metafor returns
#                    sigma2 = 0 without a warning.
#   *_knha_algebra   metafor 3.8's rma.mv has no test="knha" (only "z", "t"): these apply
#                    rma()'s Knapp-Hartung factor s2 = r'(V + tau2 I)^-1 r / (k - p) to an
#                    rma.mv(test="t") fit by matrix algebra in R (stated in r_call).
#   sep_*            Subgroup differences with separate tau2 per subgroup (RevMan / meta):
#                    rma() per subgroup, then Q between subgroup estimates. Without
#                    shared arms (bcg) this is rma(coefs, sei=ses, method="EE")$QE; with
#                    shared arms (go, resolve) the generalised Q = d' S^-1 d with
#                    S[g,h] = sum_i sum_j w_gi w_hj V_ij / (W_g W_h) off the diagonal and
#                    the subgroup's SE^2 on it, computed by matrix algebra in R.
#
# rma.mv fits use metafor's default optimiser (nlminb); its tau2 agrees with the exact
# REML score root to ~5e-9 relative on go_intercept_reml_z (checked with uniroot), which
# is why the Python tests use 1e-6 relative.

suppressPackageStartupMessages(library(metafor))
library(jsonlite)

CTRL <- "control=list(threshold=1e-12, maxiter=1000)"
OUT <- "tests/oracle/data/metafor_multivariate.json"
source("tests/oracle/reference/json_helpers.R")

# ---- data --------------------------------------------------------------------
go_setup <- paste(
  'dat <- data.frame(study=c(1,1,2,3,4,4), trt=c(1,2,1,1,1,2), m1i=c(7.87,4.35,9.32,8.08,7.44,5.34), m2i=c(-1.36,-1.36,0.98,1.17,0.45,0.45), sdpi=c(4.2593,4.2593,2.8831,3.1764,2.9344,2.9344), n1i=c(25,22,38,50,30,30), n2i=c(25,25,40,50,30,30))',
  'dat$id <- 1:6; dat$yi <- with(dat, (m1i-m2i)/sdpi)',
  'dat$Ni <- unlist(lapply(split(dat, dat$study), function(x) rep(sum(x$n1i) + x$n2i[1], each=nrow(x))))',
  'dat$vi <- with(dat, 1/n1i + 1/n2i + yi^2/(2*Ni))',
  'calc.v <- function(x) { v <- matrix(1/x$n2i[1] + outer(x$yi, x$yi, "*")/(2*x$Ni[1]), nrow=nrow(x), ncol=nrow(x)); diag(v) <- x$vi; v }',
  'V <- bldiag(lapply(split(dat, dat$study), calc.v))', sep = "; ")
bcg_setup <- paste('dat <- escalc(measure="RR", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg)',
                   'dat$id <- seq_len(nrow(dat)); V <- diag(dat$vi)', sep = "; ")
resolve_setup <- paste(
  'pct <- c(coach=32.0, online=26.6, usual_care=20.8); lb <- c(29.3, 23.4, 18.0); ub <- c(35.0, 30.2, 24.0)',
  'va <- ((log(ub) - log(lb)) / (2*qnorm(0.975)))^2',
  'dat <- data.frame(id=1:2, mode=c("coach","online"), yi=unname(log(pct[1:2]/pct[3])))',
  'V <- diag(va[1:2]) + va[3]; dat$vi <- diag(V)', sep = "; ")

# ---- model cases -------------------------------------------------------------
mv_out <- function(res) {
  tau2 <- if (!is.null(res$sigma2) && length(res$sigma2)) res$sigma2 else res$tau2
  out <- list(beta = arr(res$beta), se = arr(res$se), vcov = mat(vcov(res)),
              pval = arr(res$pval), ci_lb = arr(res$ci.lb), ci_ub = arr(res$ci.ub),
              tau2 = num(if (is.null(tau2)) 0 else tau2), QE = num(res$QE), QEp = num(res$QEp),
              QEdf = num(res$k - res$p), QM = num(res$QM), QMp = num(res$QMp),
              QMdf = arr(res$QMdf[!is.na(res$QMdf)]), btt = arr(res$btt - 1), k = num(res$k),
              p = num(res$p), logLik = num(as.numeric(logLik(res))), names = rownames(res$beta))
  out[[if (res$test == "z") "zval" else "tval"]] <- arr(res$zval)
  out
}
# metafor's rma.mv maximises the (restricted) likelihood with nlminb, whose tau2 is only
# good to ~1e-6 relative (here 5e-9 to 9e-7). So each rma.mv fit with random effects is
# pinned in two steps: tau2 = the root of the REML/ML score equation found by uniroot
# (dense matrix algebra, tol 1e-15; 0 when the score at 0 is negative), then metafor's
# rma.mv(..., sigma2 = tau2) gives every other output. The optimiser's own value is kept
# as tau2_nlminb.
EXACT_TAU2 <- paste(
  'exact_tau2 <- function(y, V, X, method) {',
  '  score <- function(t2) { W <- solve(V + diag(t2, nrow(V))); A <- solve(t(X) %*% W %*% X)',
  '    P <- W - W %*% X %*% A %*% t(X) %*% W; Py <- P %*% y',
  '    sum(Py^2) - if (method == "REML") sum(diag(P)) else sum(diag(W)) }',
  '  if (score(0) <= 0) return(0)',
  '  hi <- 1; while (score(hi) > 0) hi <- 2 * hi',
  '  uniroot(score, c(0, hi), tol = 1e-15, maxiter = 10000)$root }', sep = "\n")
eval(parse(text = EXACT_TAU2))

run_model <- function(setup, call, inputs = c("yi")) {
  env <- new.env(parent = globalenv())
  eval(parse(text = setup), envir = env)
  res <- eval(parse(text = call), envir = env)
  tau2_nlminb <- NULL
  if (inherits(res, "rma.mv") && isTRUE(res$withS) && res$k > res$p) {
    tau2_nlminb <- res$sigma2
    V_used <- if (grepl("rma.mv(yi, vi", call, fixed = TRUE)) diag(env$dat$vi) else env$V
    env$tau2 <- exact_tau2(env$dat$yi, V_used, res$X, res$method)
    call <- sprintf('tau2 <- exact_tau2(dat$yi, %s, model.matrix(res0), "%s"); %s',
                    if (identical(V_used, env$V)) "V" else "diag(dat$vi)", res$method,
                    sub(")$", ", sigma2=tau2)", call))
    call <- sprintf('res0 <- %s; %s', sub(", sigma2=tau2)$", ")", sub(".*; ", "", call)), call)
    res <- eval(parse(text = sub(".*; ", "", call)), envir = env)
  }
  ins <- list(yi = arr(env$dat$yi), V = mat(env$V))
  for (col in setdiff(names(env$dat), c("yi", "vi")))
    ins[[col]] <- if (is.numeric(env$dat[[col]])) arr(env$dat[[col]]) else as.character(env$dat[[col]])
  out <- mv_out(res)
  if (!is.null(tau2_nlminb)) out$tau2_nlminb <- num(tau2_nlminb)
  list(r_setup = setup, r_call = call, method = res$method, test = res$test,
       inputs = ins, outputs = out)
}
# Knapp-Hartung scaling of an rma.mv(test="t") fit, by matrix algebra (not in metafor 3.8).
knha_algebra <- function(case, fit_call) {
  algebra <- paste(
    sprintf('res0 <- %s', fit_call),
    'tau2 <- exact_tau2(dat$yi, V, model.matrix(res0), res0$method)',
    sprintf('res <- %s', sub(")$", ", sigma2=tau2)", fit_call)),
    'S <- V + res$sigma2 * diag(nrow(V)); r <- dat$yi - c(res$X %*% res$beta)',
    's2 <- c(t(r) %*% solve(S, r)) / (res$k - res$p); vb <- s2 * vcov(res)',
    'b <- res$beta[res$btt]; F <- c(t(b) %*% solve(vb[res$btt, res$btt, drop=FALSE], b)) / length(res$btt)',
    'se <- sqrt(diag(vb)); tval <- c(res$beta) / se; df <- res$k - res$p', sep = "; ")
  env <- new.env(parent = globalenv())
  eval(parse(text = case$r_setup), envir = env)
  eval(parse(text = algebra), envir = env)
  e <- as.list(env)
  case$r_call <- algebra
  case$test <- "knha"
  case$outputs$s2 <- num(e$s2)
  case$outputs$se <- arr(e$se); case$outputs$vcov <- mat(e$vb); case$outputs$tval <- arr(e$tval)
  case$outputs$pval <- arr(2 * pt(abs(e$tval), e$df, lower.tail = FALSE))
  case$outputs$ci_lb <- arr(c(e$res$beta) - qt(0.975, e$df) * e$se)
  case$outputs$ci_ub <- arr(c(e$res$beta) + qt(0.975, e$df) * e$se)
  case$outputs$QM <- num(e$F); case$outputs$QMdf <- arr(c(length(e$res$btt), e$df))
  case$outputs$QMp <- num(pf(e$F, length(e$res$btt), e$df, lower.tail = FALSE))
  case
}

cases <- list()
cases$go_trt_ee <- run_model(go_setup, 'rma.mv(yi, V, mods=~0+factor(trt), data=dat)')
cases$go_intercept_ee <- run_model(go_setup, 'rma.mv(yi, V, data=dat)')
for (m in c("REML", "ML")) for (t in c("z", "t")) {
  cases[[sprintf("go_intercept_%s_%s", tolower(m), t)]] <-
    run_model(go_setup, sprintf('rma.mv(yi, V, random=~1|id, data=dat, method="%s", test="%s")', m, t))
  cases[[sprintf("go_trt_%s_%s", tolower(m), t)]] <-
    run_model(go_setup, sprintf('rma.mv(yi, V, mods=~factor(trt), random=~1|id, data=dat, method="%s", test="%s")', m, t))
}
cases$go_intercept_reml_knha_algebra <- knha_algebra(
  cases$go_intercept_reml_t, 'rma.mv(yi, V, random=~1|id, data=dat, method="REML", test="t")')
cases$go_trt_reml_knha_algebra <- knha_algebra(
  cases$go_trt_reml_t, 'rma.mv(yi, V, mods=~factor(trt), random=~1|id, data=dat, method="REML", test="t")')

for (m in c("REML", "ML")) for (t in c("z", "knha"))
  cases[[sprintf("bcg_alloc_%s_%s", tolower(m), t)]] <- run_model(
    bcg_setup, sprintf('rma(yi, vi, mods=~alloc, data=dat, method="%s", test="%s", %s)', m, t, CTRL))
cases$bcg_alloc_reml_adhoc <- run_model(
  bcg_setup, sprintf('rma(yi, vi, mods=~alloc, data=dat, method="REML", test="adhoc", %s)', CTRL))
cases$bcg_alloc_reml_z_mv <- run_model(bcg_setup, 'rma.mv(yi, vi, mods=~alloc, random=~1|id, data=dat)')
cases$bcg_alloc_reml_t_mv <- run_model(bcg_setup, 'rma.mv(yi, vi, mods=~alloc, random=~1|id, data=dat, test="t")')
cases$bcg_alloc_reml_knha_algebra <- knha_algebra(
  cases$bcg_alloc_reml_t_mv, 'rma.mv(yi, vi, mods=~alloc, random=~1|id, data=dat, test="t")')

for (m in c("REML", "ML")) for (t in c("z", "t"))
  cases[[sprintf("resolve_ps3_any_%s_%s", tolower(m), t)]] <- run_model(
    resolve_setup, sprintf('rma.mv(yi, V, random=~1|id, data=dat, method="%s", test="%s")', m, t))
# Saturated (k = p = 2): tau2 is not identifiable; metafor 3.8 does not refuse and returns
# sigma2 = 0, so QM equals the EE fit's, i.e. the coach vs online test from the arms.
cases$resolve_ps3_mode_ee <- run_model(resolve_setup, 'rma.mv(yi, V, mods=~mode, data=dat)')
cases$resolve_ps3_mode_reml_z <- run_model(resolve_setup, 'rma.mv(yi, V, mods=~mode, random=~1|id, data=dat)')

# ---- subgroup differences, separate tau2 -------------------------------------
separate_case <- function(setup, group, method, shared) {
  fit_call <- sprintf('fits <- lapply(split(dat, dat$%s), function(d) if (nrow(d) > 1) rma(yi, vi, data=d, method="%s", %s) else rma(yi, vi, data=d, method="EE"))',
                      group, method, CTRL)
  if (!shared) {
    q_call <- 'qb <- rma(sapply(fits, coef), sei=sapply(fits, function(f) f$se), method="EE")'
    algebra <- paste(fit_call, q_call, 'Q <- qb$QE; df <- qb$k - 1', sep = "; ")
  } else {
    algebra <- paste(
      fit_call,
      sprintf('g <- dat$%s; lv <- names(fits); G <- length(lv)', group),
      'a <- sapply(seq_along(g), function(i) { f <- fits[[as.character(g[i])]]; w <- 1/(dat$vi[i] + f$tau2); w / sum(1/(dat$vi[g == g[i]] + f$tau2)) })',
      'E <- sapply(lv, function(l) ifelse(as.character(g) == l, a, 0)); S <- t(E) %*% V %*% E',
      'diag(S) <- sapply(fits, function(f) f$se^2); th <- sapply(fits, coef)',
      'C <- cbind(-1, diag(G - 1)); d <- C %*% th; Q <- c(t(d) %*% solve(C %*% S %*% t(C), d)); df <- G - 1',
      'Q_naive <- rma(th, sei=sqrt(diag(S)), method="EE")$QE', sep = "; ")
  }
  env <- new.env(parent = globalenv())
  eval(parse(text = setup), envir = env)
  eval(parse(text = algebra), envir = env)
  fits <- env$fits
  out <- list(Q = num(env$Q), df = num(env$df), p = num(pchisq(env$Q, env$df, lower.tail = FALSE)),
              I2 = num(max(0, 100 * (env$Q - env$df) / env$Q)), groups = names(fits),
              k = arr(sapply(fits, function(f) f$k)), theta = arr(sapply(fits, coef)),
              se = arr(sapply(fits, function(f) f$se)), tau2 = arr(sapply(fits, function(f) f$tau2)))
  if (shared) { out$S <- mat(env$S); out$Q_naive <- num(env$Q_naive) }
  ins <- list(yi = arr(env$dat$yi), vi = arr(env$dat$vi), group = as.character(env$dat[[group]]))
  if (shared) ins$V <- mat(env$V)
  list(r_setup = setup, r_call = algebra, method = method, inputs = ins, outputs = out)
}
for (m in c("DL", "REML")) {
  cases[[sprintf("sep_bcg_alloc_%s", tolower(m))]] <- separate_case(bcg_setup, "alloc", m, FALSE)
  cases[[sprintf("sep_go_trt_%s", tolower(m))]] <- separate_case(go_setup, "trt", m, TRUE)
}
cases$sep_resolve_ps3 <- separate_case(resolve_setup, "mode", "REML", TRUE)

doc <- list(
  generator = "tests/reference/metafor_multivariate.R",
  r_helpers = EXACT_TAU2,
  metafor_version = as.character(packageVersion("metafor")),
  r_version = paste(R.version$major, R.version$minor, sep = "."),
  control = CTRL,
  cases = cases)
json <- toJSON(sort_keys(doc), auto_unbox = TRUE, json_verbatim = TRUE,
               pretty = TRUE, na = "null", null = "null")
writeLines(json, OUT, useBytes = TRUE)
cat(sprintf("wrote %d cases to %s\n", length(cases), OUT))
