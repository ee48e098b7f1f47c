# metafor + clubSandwich timings for benchmarks/run.py (case 6): the CHE working model with CR2
# inference on the same data as evsynth's (written by the Python worker).
#
#   Rscript benchmarks/metafor_dependent_bench.R DATAFILE K REPS CALLS
#
# DATAFILE holds K little-endian doubles yi, K doubles vi and K trial codes. Each rep times
# CALLS calls of
#   V <- vcalc(vi, cluster = trial, obs = obs, rho = 0.6)
#   res <- rma.mv(yi, V, random = ~ 1 | trial/obs, test = "t")
#   coef_test(res, vcov = "CR2", cluster = trial, test = "Satterthwaite")
# after one warm-up call; a warm-up slower than 5 s (k = 1,000 takes ~30 s of CPU) counts as the
# first sample instead, where warming up changes nothing. Prints one JSON line as metafor_bench.R does.
suppressMessages({library(metafor); library(clubSandwich)})
args <- commandArgs(trailingOnly = TRUE)
path <- args[1]
k <- as.integer(args[2])
reps <- as.integer(args[3])
calls <- as.integer(args[4])
con <- file(path, "rb")
x <- readBin(con, "double", n = 3 * k, endian = "little")
close(con)
dat <- data.frame(yi = x[1:k], vi = x[(k + 1):(2 * k)], trial = x[(2 * k + 1):(3 * k)])
dat$obs <- seq_len(k)
one <- function() {
  V <- vcalc(vi, cluster = trial, obs = obs, rho = 0.6, data = dat)
  res <- rma.mv(yi, V, random = ~ 1 | trial/obs, test = "t", data = dat)
  ct <- coef_test(res, vcov = "CR2", cluster = dat$trial, test = "Satterthwaite")
  invisible(list(res, ct))
}
json_escape <- function(s) gsub('"', "'", gsub("[\r\n]+", " ", s))
start <- proc.time()
ok <- tryCatch({ one(); TRUE }, error = function(e) {
  cat(sprintf('{"ok": false, "error": "%s", "elapsed": %.6f}\n', json_escape(conditionMessage(e)),
              proc.time()[["elapsed"]] - start[["elapsed"]]))
  FALSE
})
if (ok) {
  warm <- proc.time()
  samples <- numeric(reps)
  cpu <- numeric(reps)
  first <- 1
  if (warm[["elapsed"]] - start[["elapsed"]] > 5) {
    samples[1] <- warm[["elapsed"]] - start[["elapsed"]]
    cpu[1] <- warm[["user.self"]] + warm[["sys.self"]] - start[["user.self"]] - start[["sys.self"]]
    calls <- 1L
    first <- 2
  }
  for (r in seq_len(reps)[seq_len(reps) >= first]) {
    t0 <- proc.time()
    for (i in seq_len(calls)) one()
    t1 <- proc.time()
    samples[r] <- (t1[["elapsed"]] - t0[["elapsed"]]) / calls
    cpu[r] <- (t1[["user.self"]] + t1[["sys.self"]] - t0[["user.self"]] - t0[["sys.self"]]) / calls
  }
  cat(sprintf('{"ok": true, "samples": [%s], "cpu_samples": [%s], "calls_per_rep": %d, "metafor": "%s", "clubSandwich": "%s", "r": "%s"}\n',
              paste(sprintf("%.9f", samples), collapse = ", "), paste(sprintf("%.9f", cpu), collapse = ", "), calls,
              as.character(packageVersion("metafor")), as.character(packageVersion("clubSandwich")),
              paste(R.version$major, R.version$minor, sep = ".")))
}
