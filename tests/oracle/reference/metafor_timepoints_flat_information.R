# metafor reference values for AR / HAR fits across follow-up windows (Ishak et al. 2007) on
# which plain Fisher scoring overshoots the REML maximum and oscillates: the expected
# information is much flatter than the likelihood there, and evsynth.stats.timepoints.
# fit_timepoints before its line search stopped after 1,000 steps and reported "did not
# converge: last values" with tau2 or rho off by 36% to 1,100% of metafor's. rma.mv()
# maximises the restricted likelihood with nlminb, so it is the reference: tau2 and rho to
# TOL["nlminb_rel"], and the maximised log-likelihood.
# EDGE: generated data sets on which fit_timepoints stops at the edge of the parameter space
# (tau2 0 or |rho| 1); rma.mv's maximum is on that boundary too (|rho| within 2e-7 of 1).
#
# Data: generated (numpy default_rng(seed), a 600-fit check of fit_timepoints' convergence:
# 3-12 trials, 2-4 windows each reported with probability 0.5-0.95, true rho in (-0.3, 0.95),
# tau2 0 to 1 times the scale of v, yi and vi rounded to 6 decimals), not study data. The
# sampling covariance is vcalc(vi, cluster = trial, time1 = time, phi = 0.97) (AR(1) over the
# window positions, as Ishak et al. imputed it).
#
# CI never runs R: tests/stats/test_timepoints_convergence.py pins the committed JSON.
# Generated with R 4.2.2 / metafor 3.8.1 / jsonlite 1.8.4. Regenerate (from the repo root):
#   Rscript tests/oracle/reference/metafor_timepoints_flat_information.R
# -> writes tests/oracle/data/metafor_timepoints_flat_information.json

suppressPackageStartupMessages({ library(metafor); library(jsonlite) })
source("tests/oracle/reference/json_helpers.R")
OUT <- "tests/oracle/data/metafor_timepoints_flat_information.json"
CTRL_MV <- list(rel.tol = 1e-10, iter.max = 10000, eval.max = 10000)

DATA <- list(
  gen6_AR = list(
    yi = c(-0.192463, -1.153958, -0.695964, -1.020870, -0.366033, 1.520164, -0.104386, -0.878421, -0.834416, 0.336603, -1.079376, -1.683450, -0.600197),
    vi = c(1.163253, 0.855800, 0.249632, 1.312661, 0.295522, 0.715521, 0.921589, 0.546809, 0.685276, 1.341750, 0.735790, 0.854946, 1.458685),
    trial = c(0, 0, 1, 1, 2, 2, 3, 4, 5, 5, 6, 6, 6),
    time = c(0, 1, 0, 2, 1, 2, 1, 2, 0, 2, 0, 1, 2),
    struct = "AR"),
  gen107_AR = list(
    yi = c(-5.540114, 4.509447, 3.009795, 1.970798, 0.767165, 3.919272, -3.626872, -1.863173, 3.170506),
    vi = c(14.682390, 4.919764, 5.407821, 2.408466, 13.883818, 5.050598, 13.973383, 8.342586, 4.382812),
    trial = c(0, 0, 1, 1, 2, 2, 3, 3, 3),
    time = c(0, 2, 0, 1, 0, 2, 0, 1, 2),
    struct = "AR"),
  gen108_AR = list(
    yi = c(-0.119217, 1.602858, 1.675412, 2.214391, -0.960891, 0.996258, 0.600465, 1.149484, 1.653958, 0.901769, 1.844159),
    vi = c(0.362341, 0.583541, 0.412026, 1.091594, 1.289488, 0.199696, 0.940870, 0.244575, 1.363449, 0.617868, 1.154327),
    trial = c(0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2),
    time = c(0, 1, 2, 3, 0, 2, 3, 0, 1, 2, 3),
    struct = "AR"),
  gen118_AR = list(
    yi = c(0.476917, -0.483509, -0.880620, -0.172012, -0.452508, -1.094584, -0.679835, 0.399571, -0.697105, -0.694436, 0.323959, 0.636196, -0.433611, -1.384886, 0.172941, -0.638213, -1.199939, -0.695790, 0.613338, 0.355105, -0.650529, 0.542616),
    vi = c(0.208182, 0.063337, 0.197735, 0.107298, 0.220821, 0.134316, 0.257039, 0.257839, 0.153405, 0.281178, 0.080879, 0.234605, 0.188877, 0.151182, 0.040525, 0.270217, 0.177653, 0.123356, 0.023057, 0.094586, 0.192521, 0.289573),
    trial = c(0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 5, 5, 5, 5),
    time = c(0, 1, 2, 3, 0, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 3, 0, 1, 2, 3),
    struct = "AR"),
  gen202_AR = list(
    yi = c(0.373384, -0.228249, 0.288825, 0.432834, -0.246528, 0.555113, 0.189016, 0.007895),
    vi = c(0.156043, 0.062692, 0.145295, 0.279796, 0.204290, 0.053587, 0.216409, 0.215829),
    trial = c(0, 0, 1, 1, 2, 2, 3, 3),
    time = c(1, 2, 0, 1, 0, 2, 1, 2),
    struct = "AR"),
  gen70_HAR = list(
    yi = c(0.043800, 2.302436, -2.384398, -0.643329, 1.731713, 0.232989, 0.791992, 2.726816, -0.525478, 0.358442, 2.165964, 0.341249, 0.496041, 2.794364, 0.008759, 0.672857, 2.046580, -1.208933, -0.985111, 1.289755, -1.205862, -0.000887, 1.481347, -3.886346, -2.634629, 0.229599),
    vi = c(0.537933, 0.185973, 0.741603, 0.819182, 0.214680, 1.462421, 0.513255, 0.464778, 1.373177, 0.686475, 0.284868, 1.082752, 0.258753, 0.913216, 0.504953, 1.077828, 0.720935, 1.364498, 1.205898, 1.022687, 0.476902, 0.168824, 0.400539, 0.969459, 1.417268, 0.629707),
    trial = c(0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5, 6, 6, 6, 7, 7, 7, 8, 8, 8),
    time = c(0, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2),
    struct = "HAR"),
  gen154_HAR = list(
    yi = c(-6.787433, -11.831109, 3.582642, -2.262884, -7.193958, -1.851714, 0.532901, -0.528932, -4.083423, 1.418232, 3.888371),
    vi = c(12.325609, 14.047992, 3.289816, 14.730192, 7.724899, 1.959174, 10.151885, 5.791848, 7.908315, 10.177719, 12.832723),
    trial = c(0, 0, 1, 1, 2, 2, 3, 4, 4, 5, 5),
    time = c(0, 1, 0, 1, 1, 2, 2, 0, 2, 0, 2),
    struct = "HAR")
)

EDGE <- list(
  gen233_AR = list(
    yi = c(3.199873, 2.503136, 1.578864, 0.060953, 1.790411, 1.041440),
    vi = c(0.790699, 1.331804, 1.248939, 1.204376, 0.769402, 0.713561),
    trial = c(0, 0, 1, 1, 2, 2),
    time = c(0, 1, 0, 1, 0, 1),
    struct = "AR"),
  gen27_AR = list(
    yi = c(-0.052323, 0.364541, -0.405971, -0.038594, 0.074263, -0.295107, 0.165845),
    vi = c(0.029864, 0.057749, 0.023784, 0.060260, 0.036559, 0.050295, 0.067661),
    trial = c(0, 0, 1, 1, 1, 2, 2),
    time = c(0, 1, 0, 1, 2, 0, 1),
    struct = "AR"),
  gen211_HAR = list(
    yi = c(-0.293485, -1.415562, 0.582611, 0.535904, 0.849097, 0.190614, 1.040264, 0.619530, 1.330462),
    vi = c(0.285770, 1.172185, 1.438779, 1.489596, 1.459303, 0.210946, 0.420380, 0.808473, 0.474085),
    trial = c(0, 0, 0, 1, 2, 2, 3, 3, 3),
    time = c(0, 1, 2, 2, 0, 1, 0, 1, 2),
    struct = "HAR")
)

fit <- function(d) {
  dat <- data.frame(yi = d$yi, vi = d$vi, trial = d$trial, time = d$time)
  V <- vcalc(vi, cluster = trial, time1 = time, phi = 0.97, data = dat)
  rma.mv(yi, V, mods = ~ factor(time) - 1, random = ~ time | trial, struct = d$struct, data = dat,
         control = CTRL_MV)
}
R_SETUP <- "V <- vcalc(vi, cluster = trial, time1 = time, phi = 0.97, data = dat)"
R_CALL <- "rma.mv(yi, V, mods = ~ factor(time) - 1, random = ~ time | trial, struct = \"%s\", data = dat, control = list(rel.tol = 1e-10))"
inputs_of <- function(d) list(yi = arr(d$yi), vi = arr(d$vi), trial = arr(d$trial), time = arr(d$time))

cases <- list()
for (name in names(DATA)) {
  d <- DATA[[name]]
  res <- fit(d)
  cases[[name]] <- list(
    r_setup = R_SETUP, r_call = sprintf(R_CALL, d$struct), inputs = inputs_of(d), struct = d$struct,
    outputs = list(tau2 = arr(res$tau2), rho = num(res$rho), beta = arr(as.vector(res$b)), se = arr(res$se),
                   loglik = num(as.numeric(logLik(res)))))
}
edge_cases <- list()
for (name in names(EDGE)) {
  d <- EDGE[[name]]
  res <- fit(d)
  edge_cases[[name]] <- list(
    r_setup = R_SETUP, r_call = sprintf(R_CALL, d$struct), inputs = inputs_of(d), struct = d$struct,
    outputs = list(tau2 = arr(res$tau2), rho = num(res$rho), loglik = num(as.numeric(logLik(res)))))
}

doc <- list(
  generator = "tests/oracle/reference/metafor_timepoints_flat_information.R",
  metafor_version = as.character(packageVersion("metafor")),
  r_version = paste(R.version$major, R.version$minor, sep = "."),
  cases = cases,
  edge_cases = edge_cases)
json <- toJSON(sort_keys(doc), auto_unbox = TRUE, json_verbatim = TRUE,
               pretty = TRUE, na = "null", null = "null")
writeLines(json, OUT, useBytes = TRUE)
cat(sprintf("wrote %d + %d cases to %s\n", length(cases), length(edge_cases), OUT))
