# Reference values for the Bayesian random-effects model (evsynth.stats.bayes), computed
# independently of the Python code with base R only: integrate() at rel.tol 1e-12 for every
# integral over tau, uniroot() at tol 1e-13 for every quantile, and matrices (not sums) for
# the marginal likelihood and the conditional posterior of mu.
#
# CI never runs R: tests/oracle/test_bayes_oracle.py pins the committed JSON, and this file
# documents how it was produced. Generated with R 4.2.2, metafor 3.8.1 (escalc only),
# jsonlite 1.8.4.
#
# Regenerate (from the repo root):
#   Rscript tests/oracle/reference/bayes_reference.R
# -> writes tests/oracle/data/bayes_reference.json (byte-stable, see json_helpers.R).
#
# The model (Röver 2020, J Stat Softw 93(6)): y_i ~ N(mu, v_i + tau^2), prior p(tau), mu flat
# or N(m0, s0^2). Here:
#   p(y | tau): flat mu prior -> the restricted likelihood
#       -1/2 [log det S + log(1' S^-1 1) + y' P y],  S = diag(v + tau^2);
#     normal mu prior -> the multivariate normal density of y with covariance S + s0^2 J.
#   p(tau | y) = p(tau) p(y | tau) / Z, Z by integrate() over (0, Inf).
#   mu | tau, y ~ N(m(tau), V(tau)) by generalised least squares with the prior as a row.
#   Quantiles of mu, tau, a new trial (N(m, V + tau^2)) and shrunken trial effects from
#   their cdfs, each an integral over tau; shortest intervals by optimize() over the lower
#   tail probability (tol 1e-10).
#   "joint_check": P(mu > t) once more by a double integral of the joint density over
#   (mu, tau), without the conditional-normal algebra (flat prior on mu, mu on [-12, 12]).
suppressPackageStartupMessages({ library(metafor); library(jsonlite) })
source("tests/oracle/reference/json_helpers.R")
OUT <- "tests/oracle/data/bayes_reference.json"
RTOL <- 1e-12
UTOL <- 1e-13

prior_density <- function(p) {
  switch(p$family,
    "half-normal" = function(t) 2 * dnorm(t, 0, p$scale),
    "half-cauchy" = function(t) 2 * dcauchy(t, 0, p$scale),
    # log tau^2 ~ N(location, scale^2): density of tau^2 times d tau^2 / d tau = 2 tau.
    "log-normal" = function(t) ifelse(t > 0, dlnorm(t^2, p$location, p$scale) * 2 * t, 0),
    # log tau^2 ~ location + scale * t_df: density of log tau^2 times d log tau^2 / d tau = 2 / tau.
    "log-t" = function(t) ifelse(t > 0, dt((log(t^2) - p$location) / p$scale, p$df) / p$scale * 2 / t, 0))
}

gls <- function(y, v, tau, mu_prior) {
  # m(tau), V(tau) and log p(y | tau) (up to a constant) by matrix algebra.
  k <- length(y)
  S <- diag(v + tau^2, k)
  X <- matrix(1, k, 1)
  if (is.null(mu_prior)) {
    Si <- solve(S)
    V <- 1 / as.numeric(t(X) %*% Si %*% X)
    m <- V * as.numeric(t(X) %*% Si %*% y)
    P <- Si - Si %*% X %*% t(X) %*% Si * V
    ll <- -0.5 * (as.numeric(determinant(S)$modulus) - log(V) + as.numeric(t(y) %*% P %*% y))
  } else {
    C <- S + mu_prior$sd^2 * matrix(1, k, k)
    r <- y - mu_prior$mean
    ll <- -0.5 * (as.numeric(determinant(C)$modulus) + as.numeric(t(r) %*% solve(C, r)))
    Xa <- rbind(X, 1); ya <- c(y, mu_prior$mean); Sa <- diag(c(v + tau^2, mu_prior$sd^2), k + 1)
    Sai <- solve(Sa)
    V <- 1 / as.numeric(t(Xa) %*% Sai %*% Xa)
    m <- V * as.numeric(t(Xa) %*% Sai %*% ya)
  }
  c(m = m, V = V, ll = ll)
}

fit <- function(y, v, prior, mu_prior = NULL, level = 0.95, thresholds = 0, shortest = TRUE) {
  dprior <- prior_density(prior)
  # memoised by the exact double: integrate() revisits the same nodes for every x
  memo <- new.env(hash = TRUE)
  cond1 <- function(ti) {
    key <- sprintf("%a", ti)
    out <- memo[[key]]
    if (is.null(out)) { out <- gls(y, v, ti, mu_prior); assign(key, out, envir = memo) }
    out
  }
  cond <- function(t) vapply(t, cond1, numeric(3))
  # shift the log likelihood by its value at a typical tau to keep exp() in range
  ll0 <- gls(y, v, 0.1, mu_prior)[["ll"]]
  unnorm <- function(t) dprior(t) * exp(cond(t)["ll", ] - ll0)
  Z <- integrate(unnorm, 0, Inf, rel.tol = RTOL, subdivisions = 1000L)$value
  post <- function(t) unnorm(t) / Z
  mixcdf <- function(x, sdfun, meanfun = function(cc, t) cc["m", ]) {
    integrate(function(t) { cc <- cond(t); pnorm(x, meanfun(cc, t), sdfun(cc, t)) * post(t) },
              0, Inf, rel.tol = RTOL, subdivisions = 1000L)$value
  }
  quant <- function(cdf, p, lo, hi) uniroot(function(x) cdf(x) - p, c(lo, hi), tol = UTOL,
                                            extendInt = "upX", maxiter = 1000)$root
  summarise <- function(cdf, lo, hi, lower_bound = -Inf) {
    q <- sapply(c(0.5, (1 - level) / 2, (1 + level) / 2), function(p) quant(cdf, p, lo, hi))
    out <- list(median = num(q[1]), central_lower = num(q[2]), central_upper = num(q[3]))
    if (shortest) {
      Q <- function(p) if (p <= 0 && is.finite(lower_bound)) lower_bound else quant(cdf, p, lo, hi)
      width <- function(p) Q(p + level) - Q(p)
      opt <- optimize(width, c(0, 1 - level), tol = 1e-10)
      p <- opt$minimum
      # a density falling from the lower bound: the optimum is the boundary itself
      if (is.finite(lower_bound) && width(0) <= opt$objective) p <- 0
      out$shortest_lower <- num(Q(p)); out$shortest_upper <- num(Q(p + level))
    }
    out
  }
  tau_cdf <- function(x) integrate(post, 0, x, rel.tol = RTOL, subdivisions = 1000L)$value
  res <- list()
  res$tau <- summarise(tau_cdf, 1e-6, 5, lower_bound = 0)
  res$tau$mean <- num(integrate(function(t) t * post(t), 0, Inf, rel.tol = RTOL)$value)
  sd_mu <- function(cc, t) sqrt(cc["V", ])
  sd_new <- function(cc, t) sqrt(cc["V", ] + t^2)
  res$mu <- summarise(function(x) mixcdf(x, sd_mu), -5, 5)
  res$mu$mean <- num(integrate(function(t) cond(t)["m", ] * post(t), 0, Inf, rel.tol = RTOL)$value)
  res$prediction <- summarise(function(x) mixcdf(x, sd_new), -8, 8)
  res$prob_above <- arr(sapply(thresholds, function(x) 1 - mixcdf(x, sd_mu)))
  res$prob_above_prediction <- arr(sapply(thresholds, function(x) 1 - mixcdf(x, sd_new)))
  # shrunken trial i: given tau and mu, theta_i ~ N((y/v + mu/tau^2) / (1/v + 1/tau^2), 1/(1/v + 1/tau^2));
  # mu | tau ~ N(m, V) adds (weight of mu)^2 V to the variance.
  shr <- lapply(seq_along(y), function(i) {
    meanf <- function(cc, t) (y[i] / v[i] + cc["m", ] / t^2) / (1 / v[i] + 1 / t^2)
    sdf <- function(cc, t) sqrt(1 / (1 / v[i] + 1 / t^2) + ((1 / t^2) / (1 / v[i] + 1 / t^2))^2 * cc["V", ])
    cdf <- function(x) mixcdf(x, sdf, meanf)
    sapply(c(0.5, (1 - level) / 2, (1 + level) / 2), function(p) quant(cdf, p, -8, 8))
  })
  shr <- do.call(rbind, shr)
  res$shrunken_median <- arr(shr[, 1]); res$shrunken_lower <- arr(shr[, 2]); res$shrunken_upper <- arr(shr[, 3])
  res
}

joint_check <- function(y, v, prior, threshold) {
  # P(mu > threshold | y) under a flat prior on mu, by a double integral of the joint density.
  dprior <- prior_density(prior)
  lik <- function(mu, t) sapply(mu, function(m) exp(sum(dnorm(y, m, sqrt(v + t^2), log = TRUE)) + 20))
  inner <- function(t, lo, hi) sapply(t, function(ti) dprior(ti) *
    integrate(function(mu) lik(mu, ti), lo, hi, rel.tol = 1e-11)$value)
  num_ <- integrate(function(t) inner(t, threshold, 12), 0, Inf, rel.tol = 1e-10)$value
  den <- integrate(function(t) inner(t, -12, 12), 0, Inf, rel.tol = 1e-10)$value
  num_ / den
}

prior_json <- function(p) lapply(p, function(x) if (is.numeric(x)) num(x) else x)

bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
normand <- escalc(measure = "SMD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i,
                  n2i = n2i, data = dat.normand1999)
# Crins et al. 2014 (Pediatr Transplant 18:839), acute rejection, the example data of
# Röver 2020 (bayesmeta's CrinsEtAl2014): IL-2RA vs control.
crins <- escalc(measure = "OR", ai = c(14, 16, 3, 9, 4, 0), n1i = c(61, 28, 18, 54, 36, 50),
                ci = c(15, 19, 8, 29, 11, 3), n2i = c(20, 28, 12, 54, 36, 34))

# dat.normand1999 as a mean difference (days), the data on an outcome's own scale: its prior
# is half-normal(UISD / 4), the unit information standard deviation (Röver et al. 2021, Res
# Synth Methods 12:448, eq. 6) computed here as bayesmeta's uisd() documents its second form,
# sqrt(mean sample size x harmonic mean of the variances), n the two arms' total.
normand_md <- escalc(measure = "MD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i,
                     n2i = n2i, data = dat.normand1999)
normand_n <- dat.normand1999$n1i + dat.normand1999$n2i
normand_uisd <- sqrt(mean(normand_n) / mean(1 / normand_md$vi))

HN <- list(family = "half-normal", scale = 0.5)
HC <- list(family = "half-cauchy", scale = 0.5)
TURNER_ANY <- list(family = "log-normal", location = -2.56, scale = 1.74)
RHODES_ANY <- list(family = "log-t", location = -3.44, scale = 2.59, df = 5)

case <- function(data_call, yi, vi, prior, mu_prior = NULL, thresholds = 0, shortest = TRUE) {
  c(list(r_setup = data_call, inputs = list(yi = arr(yi), vi = arr(vi)), tau_prior = prior_json(prior),
         mu_prior = if (is.null(mu_prior)) "flat" else prior_json(mu_prior),
         thresholds = arr(thresholds), level = num(0.95)),
    fit(yi, vi, prior, mu_prior, thresholds = thresholds, shortest = shortest))
}
BCG <- 'escalc(measure="RR", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg)'
NORMAND_MD <- 'escalc(measure="MD", m1i=m1i, sd1i=sd1i, n1i=n1i, m2i=m2i, sd2i=sd2i, n2i=n2i, data=dat.normand1999)'
NORMAND <- 'escalc(measure="SMD", m1i=m1i, sd1i=sd1i, n1i=n1i, m2i=m2i, sd2i=sd2i, n2i=n2i, data=dat.normand1999)'
CRINS <- 'Crins et al. 2014 acute rejection, escalc(measure="OR")'

cases <- list(
  bcg_halfnormal = case(BCG, bcg$yi, bcg$vi, HN, thresholds = c(0, -0.5)),
  bcg_halfcauchy_normalmu = case(BCG, bcg$yi, bcg$vi, HC, list(mean = 0, sd = 4), thresholds = c(0, -0.5)),
  bcg_turner_any = case(BCG, bcg$yi, bcg$vi, TURNER_ANY),
  normand_rhodes_any = case(NORMAND, normand$yi, normand$vi, RHODES_ANY, thresholds = c(0, -0.5)),
  normand_halfnormal = case(NORMAND, normand$yi, normand$vi, HN),
  crins_halfnormal = case(CRINS, crins$yi, crins$vi, HN, thresholds = c(0, log(0.8))),
  crins_halfcauchy = case(CRINS, crins$yi, crins$vi, HC),
  bcg_k1_halfnormal = case(paste(BCG, "[1, ]"), bcg$yi[1], bcg$vi[1], HN),
  bcg_k2_halfnormal = case(paste(BCG, "[1:2, ]"), bcg$yi[1:2], bcg$vi[1:2], HN),
  bcg_k2_turner_normalmu = case(paste(BCG, "[1:2, ]"), bcg$yi[1:2], bcg$vi[1:2], TURNER_ANY,
                                list(mean = 0, sd = 2)),
  crins_k2_halfcauchy = case(paste(CRINS, "[1:2, ]"), crins$yi[1:2], crins$vi[1:2], HC),
  normand_md_uisd_halfnormal = c(
    case(NORMAND_MD, normand_md$yi, normand_md$vi, list(family = "half-normal", scale = normand_uisd / 4),
         thresholds = c(0, -5)),
    list(n = arr(normand_n), uisd = num(normand_uisd)))
)

joint <- list(bcg_halfnormal = list(threshold = num(-0.5),
                                    prob_above = num(joint_check(bcg$yi, bcg$vi, HN, -0.5))))

doc <- list(
  generator = "tests/oracle/reference/bayes_reference.R",
  r_version = paste(R.version$major, R.version$minor, sep = "."),
  tolerances = list(integrate_rel_tol = num(RTOL), uniroot_tol = num(UTOL)),
  cases = cases,
  joint_check = joint)
json <- toJSON(sort_keys(doc), auto_unbox = TRUE, json_verbatim = TRUE,
               pretty = TRUE, na = "null", null = "null")
writeLines(json, OUT, useBytes = TRUE)
cat(sprintf("wrote %d cases to %s\n", length(cases), OUT))
