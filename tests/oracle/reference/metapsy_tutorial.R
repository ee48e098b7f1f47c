# metafor + clubSandwich on the worked example of examples/metapsy/ (metapsyTools' example data
# depressionPsyCtr, CBT vs wait list or care as usual: the selection of metapsyTools' "Get
# Started" tutorial), for tests/oracle/test_metapsy_tutorial.py and
# tests/workflow/test_metapsy_example.py.
#
# Data: examples/metapsy/studies.tsv (26 effects of 14 trials, each row citing its row of
# depressionPsyCtr; Harrer M, Kuper P, Sprenger A, Cuijpers P, metapsyTools v1.0.14,
# doi:10.5281/zenodo.6566632, MIT). Effect sizes as metapsyTools' calculateEffectSizes
# computes them (the `metapsy` profile): g = d (1 - 3/(4N - 9)), variance N/(n1 n2) + d²/(2N)
# of the uncorrected d; remission counts: Chinn's d = ln(OR) sqrt(3)/pi times the same J,
# variance var(ln OR) 3/pi², turned round (remission is good, lower symptoms are better).
#
# Models (rho = 0.6, metapsyTools' rho.within.study default):
#   overall   rma(yi, vi, method = "REML", test = "knha") on all 26 effects as if independent
#   primary   the same on the 14 primary effects (primary != "no"), pooled.tsv's analysis
#   rob       the same on the effects with risk-of-bias score > 2 (the tutorial's "rob > 2")
#   primary_rob  the primary effects with score > 2 (the example's sensitivity subset)
#   aggregated_arms / aggregated  aggregate(escalc, cluster = arm / trial, rho = 0.6), then rma
#   lowest / highest  each trial's lowest / highest yi (first on ties), then rma
#   threelevel  rma.mv(yi, vi, random = ~ 1 | study/es) + robust(clubSandwich = TRUE) (CR2)
#   che       the same with V = vcalc(vi, cluster = study, obs = es, rho = 0.6)
#   che_smooth  the same with V = impute_covariance_matrix(vi, study, r = 0.6, smooth_vi = TRUE)
#             (each trial's mean variance, as metapsyTools' runMetaAnalysis builds it)
#   remission the 7 remission effects as if independent: Q < k, the other branch of the I² CI
#   selmodel_combined  what metapsyTools' correctPublicationBias(res, which.run = "combined")
#             runs for its "Selection model" row: rma.uni(yi, sei, method = "REML", test = "t")
#             on aggregated_arms (its hakn = TRUE), then selmodel(type = "stepfun",
#             alternative = "less", steps = 0.05) (lower.is.better = TRUE, selmodel.steps = 0.05):
#             refitted by ML, Wald z CI
#   trimfill_combined  its "Trim-and-fill method" row, R meta's trimfill() defaults written with
#             metafor (meta is not installed): the number missing and the filled studies under the
#             common-effect model (ma.common = TRUE; trimfill(rma(method = "FE")), L0, side from
#             the sign of the FE slope on sqrt(vi), i.e. of Egger's classical intercept, meta's
#             rule), then the observed plus filled studies pooled as the input model was:
#             rma(method = "REML", test = "knha"); also metafor's own trimfill() of the REML model
#             (trimming with REML: k0 = 0 here) for the contrast
#   trimfill_primary  the same common-effect trimming on the 14 primary effects, then rma(method =
#             "REML", test = "knha") on observed plus filled: the trim-and-fill row of the example's
#             sensitivity/small_study.tsv under the metapsy profile (trimfill_trim_model: common);
#             reml_k0 is metafor's own trimfill() of the REML model (what the other profiles do)
#   trimfill_fe_bcg  not the example: trimfill(rma(method = "FE")) on dat.bcg (log RR), where the
#             common-effect trimming fills 4 studies and the REML trimming 1
#   exclusions_primary / exclusions_overall  outlier and influence re-runs (evsynth.stats.exclusion)
#             on the 14 primary effects (the example's pooled.tsv analysis) and on all 26 (the
#             tutorial's "overall" model, on which its "Outliers removed" and "Influence
#             Analysis" rows are run): res <- rma(yi, vi, method = "REML", test = "knha"); an
#             outlier's Wald CI yi +- qnorm(0.975) sqrt(vi) lies outside [res$ci.lb, res$ci.ub]
#             (Harrer et al. 2021 ch. 5.4.1; metapsyFindOutliers writes 1.96 and takes the HK CI
#             of meta::metagen(hakn = TRUE)); influential: influence(res)$is.infl (Viechtbauer &
#             Cheung 2010); each re-run rma(yi, vi, subset = !excluded, ...). is_infl_z records
#             influence() of the test = "z" fit, which metapsyInfluenceAnalysis uses.
#   subgroups_bcg  not the example: dat.bcg (log RR) by allocation, the metapsy profile's test for
#             subgroup differences: per subgroup rma(test = "knha"), then Q between the subgroup
#             estimates weighted by 1 / (their Hartung-Knapp SE)² (R meta under hakn = TRUE).
# For the rma() fits also the Q-based I² with the test-based CI of Higgins & Thompson (2002,
# appendix; R meta's isquared) and the prediction interval on t(k-2) with the non-HK SE (R
# meta < 7's metagen), written out below as formulas (the meta package is not used).
#
# Regenerate (from the repo root): Rscript tests/oracle/reference/metapsy_tutorial.R
# -> tests/oracle/data/metapsy_tutorial.json (byte-stable, see json_helpers.R).

suppressPackageStartupMessages({library(metafor); library(clubSandwich); library(jsonlite)})
source("tests/oracle/reference/json_helpers.R")
OUT <- "tests/oracle/data/metapsy_tutorial.json"

tab <- read.delim("examples/metapsy/studies.tsv", colClasses = "character", na.strings = "")
n <- function(x) as.numeric(x)
N <- n(tab$n_treat) + n(tab$n_ctrl)
J <- 1 - 3 / (4 * N - 9)
sp <- sqrt(((n(tab$n_treat) - 1) * n(tab$sd_treat)^2 + (n(tab$n_ctrl) - 1) * n(tab$sd_ctrl)^2) / (N - 2))
d <- (n(tab$mean_treat) - n(tab$mean_ctrl)) / sp
a <- n(tab$events_treat); c_ <- n(tab$events_ctrl)
lor <- log(a * (n(tab$n_ctrl) - c_) / ((n(tab$n_treat) - a) * c_))
vlor <- 1 / a + 1 / (n(tab$n_treat) - a) + 1 / c_ + 1 / (n(tab$n_ctrl) - c_)
counts <- !is.na(a)
yi <- ifelse(counts, -lor * sqrt(3) / pi * J, d * J)
vi <- ifelse(counts, vlor * 3 / pi^2, N / (n(tab$n_treat) * n(tab$n_ctrl)) + d^2 / (2 * N))
dat <- data.frame(study = tab$study, arm = paste(tab$study, tab$extra_arm), es = seq_len(nrow(tab)),
                  primary = is.na(tab$primary) | tab$primary != "no",
                  rob = n(tab$extra_rob_score), yi = yi, vi = vi)

CONTROL <- list(threshold = 1e-12, maxiter = 1000)
MVCONTROL <- list(rel.tol = 1e-10, iter.max = 10000, eval.max = 10000)

# I² from Q and its test-based CI (Higgins & Thompson 2002, appendix), as meta::isquared.
i2_q <- function(Q, k) {
  H <- sqrt(Q / (k - 1))
  se <- if (Q > k) 0.5 * (log(Q) - log(k - 1)) / (sqrt(2 * Q) - sqrt(2 * k - 3))
        else sqrt(1 / (2 * (k - 2)) * (1 - 1 / (3 * (k - 2)^2)))
  lim <- pmax(exp(log(H) + c(-1, 1) * qnorm(0.975) * se), 1)
  c(i2 = max(0, 100 * (Q - (k - 1)) / Q), i2_lb = 100 * (lim[1]^2 - 1) / lim[1]^2,
    i2_ub = 100 * (lim[2]^2 - 1) / lim[2]^2)
}

uni <- function(yi, vi, label) {
  res <- rma(yi, vi, method = "REML", test = "knha", control = CONTROL)
  se_z <- 1 / sqrt(sum(1 / (vi + res$tau2)))          # SE without the Hartung-Knapp scaling
  pi <- c(res$b) + c(-1, 1) * qt(0.975, res$k - 2) * sqrt(res$tau2 + se_z^2)
  i2 <- i2_q(res$QE, res$k)
  list(r_call = paste0(label, ': rma(yi, vi, method = "REML", test = "knha"); I² from Q with the ',
                       "Higgins-Thompson test-based CI; PI on t(k-2) with the non-HK SE"),
       k = res$k, beta = num(c(res$b)), se = num(res$se), ci_lb = num(res$ci.lb), ci_ub = num(res$ci.ub),
       pval = num(res$pval), tval = num(res$zval), tau2 = num(res$tau2), QE = num(res$QE),
       i2_q = num(i2[["i2"]]), i2_q_lb = num(i2[["i2_lb"]]), i2_q_ub = num(i2[["i2_ub"]]),
       I2_tau2 = num(res$I2), pi_lb = num(pi[1]), pi_ub = num(pi[2]), se_wald = num(se_z),
       yi = arr(yi), vi = arr(vi))
}

# Outlier and influence exclusion re-runs of rma(test = "knha") on d, each refit with subset =.
exclusions <- function(d, label) {
  res <- rma(yi, vi, data = d, method = "REML", test = "knha", control = CONTROL)
  z <- qnorm(0.975)
  flags <- list(outliers = d$yi + z * sqrt(d$vi) < res$ci.lb | d$yi - z * sqrt(d$vi) > res$ci.ub,
                influential = unname(influence(res)$is.infl))
  infl_z <- unname(influence(rma(yi, vi, data = d, method = "REML", control = CONTROL))$is.infl)
  lapply(setNames(names(flags), names(flags)), function(rule) {
    excluded <- flags[[rule]]
    keep <- !excluded
    refit <- rma(yi, vi, data = d, subset = keep, method = "REML", test = "knha", control = CONTROL)
    stopifnot(refit$k == sum(keep))
    case <- uni(d$yi[keep], d$vi[keep], paste0(label, ", ", rule, " excluded: rma(yi, vi, subset = !excluded, ",
                                                'method = "REML", test = "knha")'))
    stopifnot(isTRUE(all.equal(c(refit$b), case$beta |> as.numeric(), tolerance = 1e-12)))
    c(case, list(excluded = lgl(excluded), excluded_labels = I(d$arm[excluded]), is_infl_z = lgl(infl_z),
                 full_ci_lb = num(res$ci.lb), full_ci_ub = num(res$ci.ub)))
  })
}

pick <- function(fun) {
  rows <- unlist(lapply(split(seq_len(nrow(dat)), factor(dat$study, levels = unique(dat$study))),
                        function(i) i[fun(dat$yi[i])[1]]))
  dat[sort(rows), ]
}

multilevel <- function(V, label) {
  fit <- rma.mv(yi, V, random = ~ 1 | study / es, data = dat, control = MVCONTROL)
  rob <- robust(fit, cluster = dat$study, clubSandwich = TRUE)
  model_t <- rma.mv(yi, V, random = ~ 1 | study / es, data = dat, test = "t", control = MVCONTROL)
  p_t <- predict(model_t)
  p_r <- predict(rob)
  vdiag <- if (is.matrix(V)) diag(V) else V  # the variances the model was given
  W <- diag(1 / vdiag)
  X <- matrix(1, nrow(dat))
  P <- W - W %*% X %*% solve(t(X) %*% W %*% X) %*% t(X) %*% W
  typical <- (fit$k - fit$p) / sum(diag(P))
  i2 <- 100 * fit$sigma2 / (sum(fit$sigma2) + typical)
  list(r_call = paste0(label, "; robust(fit, cluster = study, clubSandwich = TRUE) (CR2, Satterthwaite)"),
       beta = num(c(fit$b)), se = num(fit$se), sigma2 = arr(fit$sigma2), i2 = arr(i2),
       robust_se = num(rob$se), robust_df = num(rob$ddf), robust_ci_lb = num(rob$ci.lb),
       robust_ci_ub = num(rob$ci.ub), robust_pval = num(rob$pval),
       pi_lb_robust = num(p_r$pi.lb), pi_ub_robust = num(p_r$pi.ub),
       pi_lb_t = num(p_t$pi.lb), pi_ub_t = num(p_t$pi.ub))
}

es <- escalc(yi = yi, vi = vi, data = dat)
agg_arms <- aggregate(es, cluster = arm, rho = 0.6)
agg <- aggregate(es, cluster = study, rho = 0.6)
prim <- dat[dat$primary, ]
low_rob <- dat[dat$rob > 2, ]
prim_rob <- prim[prim$rob > 2, ]
lowest <- pick(which.min)
highest <- pick(which.max)

cases <- list(
  overall = uni(dat$yi, dat$vi, "all 26 effects"),
  primary = uni(prim$yi, prim$vi, "the 14 primary effects"),
  rob = uni(low_rob$yi, low_rob$vi, "effects with rob > 2"),
  primary_rob = uni(prim_rob$yi, prim_rob$vi, "primary effects with rob > 2"),
  aggregated_arms = uni(agg_arms$yi, agg_arms$vi, "aggregate(escalc, cluster = arm, rho = 0.6)"),
  aggregated = uni(agg$yi, agg$vi, "aggregate(escalc, cluster = study, rho = 0.6)"),
  lowest = uni(lowest$yi, lowest$vi, "each trial's lowest yi"),
  highest = uni(highest$yi, highest$vi, "each trial's highest yi"),
  threelevel = multilevel(dat$vi, "rma.mv(yi, vi, random = ~ 1 | study/es)"),
  che = multilevel(vcalc(vi, cluster = study, obs = es, rho = 0.6, data = dat),
                   "rma.mv(yi, vcalc(vi, cluster = study, obs = es, rho = 0.6), random = ~ 1 | study/es)"),
  che_smooth = multilevel(impute_covariance_matrix(dat$vi, cluster = dat$study, r = 0.6, smooth_vi = TRUE,
                                                   return_list = FALSE),
                          paste("rma.mv(yi, impute_covariance_matrix(vi, study, r = 0.6, smooth_vi = TRUE),",
                                "random = ~ 1 | study/es)"))
)
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
fits <- lapply(split(bcg, bcg$alloc), function(d) rma(yi, vi, data = d, method = "REML", test = "knha",
                                                      control = CONTROL))
theta <- sapply(fits, function(f) c(f$b)); se <- sapply(fits, function(f) f$se)
w <- 1 / se^2
Qb <- sum(w * (theta - sum(w * theta) / sum(w))^2)
cases$exclusions_primary <- exclusions(prim, "the 14 primary effects")
cases$exclusions_overall <- exclusions(dat, "all 26 effects")
cases$remission <- uni(dat$yi[counts], dat$vi[counts], "the 7 remission effects")
m_comb <- rma.uni(yi = agg_arms$yi, sei = sqrt(agg_arms$vi), method = "REML", test = "t", control = CONTROL)
sel <- selmodel(m_comb, type = "stepfun", alternative = "less", steps = 0.05)
cases$selmodel_combined <- list(
  r_call = paste('rma.uni(yi, sei = sqrt(vi), method = "REML", test = "t") on aggregated_arms;',
                 'selmodel(type = "stepfun", alternative = "less", steps = 0.05)'),
  k = sel$k, beta = num(c(sel$beta)), se = num(sel$se), ci_lb = num(sel$ci.lb), ci_ub = num(sel$ci.ub),
  pval = num(sel$pval), tau2 = num(sel$tau2), delta = arr(sel$delta), delta_se = arr(sel$se.delta),
  LRT = num(sel$LRT), LRTp = num(sel$LRTp), ll = num(sel$ll))
tf_fe <- trimfill(rma(yi, vi, data = agg_arms, method = "FE"))
filled <- rma(tf_fe$yi, tf_fe$vi, method = "REML", test = "knha", control = CONTROL)
tf_reml <- trimfill(rma(yi, vi, data = agg_arms, method = "REML", control = CONTROL))
cases$trimfill_combined <- list(
  r_call = paste('trimfill(rma(yi, vi, method = "FE")) on aggregated_arms; rma(yi, vi, method = "REML",',
                 'test = "knha") on its observed plus filled studies'),
  k0 = tf_fe$k0, side = tf_fe$side, filled_yi = arr(tf_fe$yi[tf_fe$fill]), filled_vi = arr(tf_fe$vi[tf_fe$fill]),
  k = filled$k, beta = num(c(filled$b)), se = num(filled$se), ci_lb = num(filled$ci.lb),
  ci_ub = num(filled$ci.ub), pval = num(filled$pval), tau2 = num(filled$tau2),
  reml_k0 = tf_reml$k0, reml_side = tf_reml$side)
tf_prim <- trimfill(rma(yi, vi, data = prim, method = "FE"))
filled_prim <- rma(tf_prim$yi, tf_prim$vi, method = "REML", test = "knha", control = CONTROL)
tf_prim_reml <- trimfill(rma(yi, vi, data = prim, method = "REML", control = CONTROL))
cases$trimfill_primary <- list(
  r_call = paste('trimfill(rma(yi, vi, method = "FE")) on the 14 primary effects; rma(yi, vi, method = "REML",',
                 'test = "knha") on its observed plus filled studies'),
  k0 = tf_prim$k0, side = tf_prim$side, filled_yi = arr(tf_prim$yi[tf_prim$fill]),
  filled_vi = arr(tf_prim$vi[tf_prim$fill]), k = filled_prim$k, beta = num(c(filled_prim$b)),
  se = num(filled_prim$se), ci_lb = num(filled_prim$ci.lb), ci_ub = num(filled_prim$ci.ub),
  pval = num(filled_prim$pval), tau2 = num(filled_prim$tau2), reml_k0 = tf_prim_reml$k0)
tf_bcg <- trimfill(rma(yi, vi, data = bcg, method = "FE"))
tf_bcg_reml <- trimfill(rma(yi, vi, data = bcg, method = "REML", control = CONTROL))
cases$trimfill_fe_bcg <- list(
  r_call = 'not the example: escalc("RR", dat.bcg); trimfill(rma(yi, vi, method = "FE")) (k0 1 under REML)',
  yi = arr(bcg$yi), vi = arr(bcg$vi), k0 = tf_bcg$k0, side = tf_bcg$side,
  filled_yi = arr(tf_bcg$yi[tf_bcg$fill]), filled_vi = arr(tf_bcg$vi[tf_bcg$fill]),
  reml_k0 = tf_bcg_reml$k0, reml_side = tf_bcg_reml$side)
cases$subgroups_bcg <- list(
  r_call = paste('escalc("RR", dat.bcg); per alloc rma(method = "REML", test = "knha");',
                 "Qb = sum(w (theta - weighted mean)^2), w = 1/se_knha^2, df = G - 1"),
  levels = names(fits), yi = arr(bcg$yi), vi = arr(bcg$vi), alloc = bcg$alloc,
  theta = arr(theta), se = arr(se), Qb = num(Qb), pval = num(pchisq(Qb, length(fits) - 1, lower.tail = FALSE)))

doc <- list(
  generator = "tests/oracle/reference/metapsy_tutorial.R",
  metafor_version = as.character(packageVersion("metafor")),
  clubSandwich_version = as.character(packageVersion("clubSandwich")),
  r_version = paste(R.version$major, R.version$minor, sep = "."),
  data = "examples/metapsy/studies.tsv (metapsyTools v1.0.14 depressionPsyCtr, doi:10.5281/zenodo.6566632)",
  yi = arr(dat$yi), vi = arr(dat$vi),
  cases = cases)
json <- toJSON(sort_keys(doc), auto_unbox = TRUE, json_verbatim = TRUE, pretty = TRUE, na = "null", null = "null")
writeLines(json, OUT, useBytes = TRUE)
cat(sprintf("wrote %d cases to %s\n", length(cases), OUT))
