# metafor reference values for multilevel fits whose expected (Fisher) information is much
# flatter than the likelihood: plain Fisher scoring from metafor's start overshoots the
# REML/ML maximum more than twice over and oscillates without converging (evsynth.stats.
# multilevel._fisher before its line search reported "did not converge: last values", e.g.
# sigma2 0.0301 where the maximum is 0.0104). rma.mv() maximises the likelihood with nlminb,
# so it is the reference: sigma2 to TOL["nlminb_rel"], and the maximised log-likelihood.
#
# Data: generated (numpy default_rng(215), the data sets of a 2,400-fit check of the start
# value of fit_multilevel, rounded to 6 decimals), not study data: 8-11 trials of 1-4 effects,
# V = vi on the diagonal and rho sqrt(vi vj) between effects of one trial (CHE working model;
# rho = 0 is the three-level model), random = ~ 1 | trial (within = FALSE) or
# ~ 1 | trial/effect, intercept or ~ x1.
#
# CI never runs R: tests/stats/test_stats_seed3004_models.py pins the committed JSON.
# Generated with R 4.2.2 / metafor 3.8.1 / jsonlite 1.8.4. Regenerate (from the repo root):
#   Rscript tests/oracle/reference/metafor_multilevel_flat_information.R
# -> writes tests/oracle/data/metafor_multilevel_flat_information.json

suppressPackageStartupMessages({ library(metafor); library(jsonlite) })
source("tests/oracle/reference/json_helpers.R")
OUT <- "tests/oracle/data/metafor_multilevel_flat_information.json"
CTRL_MV <- list(rel.tol = 1e-10, iter.max = 10000, eval.max = 10000)

DATA <- list(
  gen382_trial_REML = list(
    yi = c(0.312628, 0.255840, 0.925502, 1.036707, 0.392546, 0.261204, 0.372306, 0.641622, 0.207360, 0.199324, -0.005570, 0.548781, 0.501458, 0.658629, 0.206562, -0.123752, 1.245285, 0.419003, 0.124248, 0.758070, 0.285922, 0.238949, -0.921168),
    vi = c(0.069989, 0.138767, 0.245376, 0.239407, 0.096266, 0.249263, 0.055282, 0.190565, 0.040806, 0.098751, 0.211506, 0.014350, 0.088024, 0.220336, 0.024255, 0.163004, 0.253002, 0.089402, 0.106644, 0.298588, 0.257818, 0.108575, 0.277328),
    trial = c(0, 1, 1, 2, 2, 3, 3, 3, 4, 5, 6, 6, 6, 7, 7, 8, 8, 9, 9, 9, 9, 10, 10),
    x1 = NULL,
    rho = 0.5, within = FALSE, method = "REML"),
  gen382_trial_ML = list(
    yi = c(0.312628, 0.255840, 0.925502, 1.036707, 0.392546, 0.261204, 0.372306, 0.641622, 0.207360, 0.199324, -0.005570, 0.548781, 0.501458, 0.658629, 0.206562, -0.123752, 1.245285, 0.419003, 0.124248, 0.758070, 0.285922, 0.238949, -0.921168),
    vi = c(0.069989, 0.138767, 0.245376, 0.239407, 0.096266, 0.249263, 0.055282, 0.190565, 0.040806, 0.098751, 0.211506, 0.014350, 0.088024, 0.220336, 0.024255, 0.163004, 0.253002, 0.089402, 0.106644, 0.298588, 0.257818, 0.108575, 0.277328),
    trial = c(0, 1, 1, 2, 2, 3, 3, 3, 4, 5, 6, 6, 6, 7, 7, 8, 8, 9, 9, 9, 9, 10, 10),
    x1 = NULL,
    rho = 0.5, within = FALSE, method = "ML"),
  gen411_trial_effect_REML = list(
    yi = c(0.023052, 1.320176, 1.333470, 0.792070, 0.211936, 0.148682, 0.215596, 0.221434, -0.028032, -0.303820, -0.226729, 0.107734, 0.665639, 0.102641, 0.391668, 0.550910, 0.933783, -0.168636, 0.510784, -0.134336, -0.439868, -0.596808, 0.298525, 0.223333, -0.413548, 0.043370, -1.046881, -0.980178),
    vi = c(0.178309, 0.178700, 0.199908, 0.205215, 0.108156, 0.189283, 0.096781, 0.044681, 0.291898, 0.238779, 0.241851, 0.191460, 0.063411, 0.139229, 0.130817, 0.237918, 0.029567, 0.122287, 0.023358, 0.239110, 0.163258, 0.056351, 0.246957, 0.023220, 0.221239, 0.088258, 0.228477, 0.196608),
    trial = c(0, 0, 0, 0, 1, 1, 2, 3, 3, 4, 4, 4, 5, 5, 5, 5, 6, 6, 7, 7, 7, 7, 8, 8, 8, 8, 9, 9),
    x1 = c(-0.160020, 0.412194, 0.642636, -0.497289, -0.102122, 0.374426, 0.720810, -0.462051, -0.606910, -0.347843, -0.650722, -0.756613, 0.392431, -0.612097, -0.373952, 0.282888, 2.055516, -2.442255, 1.226620, -1.141001, -0.685112, -0.441833, -1.053834, 1.346480, -0.822188, -0.475221, -0.565156, -1.612037),
    rho = 0.0, within = TRUE, method = "REML"),
  gen510_trial_effect_REML = list(
    yi = c(0.713608, -3.485381, -1.353082, 7.453730, 2.555269, -3.139600, 12.833791, -0.398813, 0.280456, -6.449300, 1.135559, -0.475528, -0.065694, -1.785599, 2.708273, 2.930880, -3.398432, -8.776194, -1.458500, -5.158743, -2.793479),
    vi = c(1.295334, 14.335746, 3.460443, 21.029160, 14.490267, 18.592688, 15.455438, 3.777533, 20.933888, 15.791100, 6.189280, 5.446568, 4.178911, 3.131543, 14.913305, 2.794198, 6.758340, 29.482705, 4.008558, 16.567330, 3.655820),
    trial = c(0, 0, 1, 2, 3, 3, 3, 3, 4, 5, 6, 7, 8, 9, 9, 9, 9, 10, 10, 10, 10),
    x1 = c(-0.323953, -0.390859, -0.331328, 0.234594, -1.271283, 0.203139, 2.005384, 0.407475, -0.970543, 1.055519, 1.464192, -0.227736, 0.411801, -0.742312, -0.548434, 1.653883, -1.223630, 0.169341, -1.524436, -0.281617, 0.832525),
    rho = 0.0, within = TRUE, method = "REML"),
  gen35_trial_REML = list(
    yi = c(4.273465, 3.775645, 0.766864, 2.682710, 3.288450, 7.637394, 0.317071, -0.873330, 2.006868, 1.472313, 0.897834, 1.128059, -4.717224, 0.938754, 0.987532, 7.699569, 2.370293, 1.230396, 1.371358, -1.141849, -8.755152, 4.226760, 3.802085, 4.962208),
    vi = c(7.041559, 15.683210, 6.923941, 29.408106, 7.087101, 22.245127, 21.786961, 29.568427, 3.486475, 5.186810, 17.208450, 9.628904, 19.636693, 17.500126, 22.807790, 27.425145, 23.129246, 22.555689, 16.124002, 1.517580, 18.242464, 24.502485, 22.107206, 27.571205),
    trial = c(0, 0, 0, 1, 1, 2, 2, 2, 2, 3, 4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7),
    x1 = NULL,
    rho = 0.8, within = FALSE, method = "REML")
)

cases <- list()
for (name in names(DATA)) {
  d <- DATA[[name]]
  k <- length(d$yi)
  V <- d$rho * outer(sqrt(d$vi), sqrt(d$vi)) * outer(d$trial, d$trial, "==")
  diag(V) <- d$vi
  dat <- data.frame(yi = d$yi, trial = d$trial, effect = seq_len(k))
  if (!is.null(d$x1)) dat$x1 <- d$x1
  random <- if (d$within) ~ 1 | trial / effect else ~ 1 | trial
  mods <- if (is.null(d$x1)) ~ 1 else ~ x1
  res <- rma.mv(yi, V, mods = mods, random = random, data = dat, method = d$method, control = CTRL_MV)
  cases[[name]] <- list(
    r_call = sprintf("rma.mv(yi, V, mods = %s, random = %s, data = dat, method = \"%s\", control = list(rel.tol = 1e-10))",
                     deparse(mods), deparse(random), d$method),
    inputs = list(yi = arr(d$yi), vi = arr(d$vi), trial = arr(d$trial),
                  x1 = if (is.null(d$x1)) NULL else arr(d$x1), rho = num(d$rho)),
    within = d$within, method = d$method,
    outputs = list(sigma2 = arr(res$sigma2), beta = arr(as.vector(res$b)), se = arr(res$se),
                   loglik = num(as.numeric(logLik(res)))))
}

doc <- list(
  generator = "tests/oracle/reference/metafor_multilevel_flat_information.R",
  metafor_version = as.character(packageVersion("metafor")),
  r_version = paste(R.version$major, R.version$minor, sep = "."),
  cases = cases)
json <- toJSON(sort_keys(doc), auto_unbox = TRUE, json_verbatim = TRUE,
               pretty = TRUE, na = "null", null = "null")
writeLines(json, OUT, useBytes = TRUE)
cat(sprintf("wrote %d cases to %s\n", length(cases), OUT))
