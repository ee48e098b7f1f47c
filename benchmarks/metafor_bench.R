# metafor timings for benchmarks/run.py (case 1): the same full summary as evsynth's pool()
# under the cochrane-2025 profile, on the same data (written by the Python worker).
#
#   Rscript benchmarks/metafor_bench.R DATAFILE K METHOD REPS CALLS
#
# DATAFILE holds K little-endian doubles yi then K doubles vi. Each rep times CALLS calls of
#   res <- rma(yi, vi, method=METHOD, test="knha", control=list(threshold=1e-12))
#   confint(res); predict(res)
# (estimate, HKSJ CI, tau², Q, I², H², Q-profile CIs for tau²/I²/H², prediction interval on
# t(k-1)), after one warm-up call. Prints one JSON line: {"ok": true, "samples": [...],
# "cpu_samples": [...]} in seconds per call (elapsed, and user + system CPU), or {"ok": false, "error": "...", "elapsed": s} when metafor fails
# (it builds k x k matrices: at k = 1e5 that is "cannot allocate vector of size 74.5 Gb").
suppressMessages(library(metafor))
args <- commandArgs(trailingOnly = TRUE)
path <- args[1]
k <- as.integer(args[2])
method <- args[3]
reps <- as.integer(args[4])
calls <- as.integer(args[5])
con <- file(path, "rb")
x <- readBin(con, "double", n = 2 * k, endian = "little")
close(con)
yi <- x[1:k]
vi <- x[(k + 1):(2 * k)]
one <- function() {
  res <- rma(yi, vi, method = method, test = "knha", control = list(threshold = 1e-12))
  ci <- confint(res)
  pr <- predict(res)
  invisible(list(res, ci, pr))
}
json_escape <- function(s) gsub('"', "'", gsub("[\r\n]+", " ", s))
start <- proc.time()[["elapsed"]]
ok <- tryCatch({ one(); TRUE }, error = function(e) {
  cat(sprintf('{"ok": false, "error": "%s", "elapsed": %.6f}\n', json_escape(conditionMessage(e)),
              proc.time()[["elapsed"]] - start))
  FALSE
})
if (ok) {
  samples <- numeric(reps)
  cpu <- numeric(reps)
  for (r in seq_len(reps)) {
    t0 <- proc.time()
    for (i in seq_len(calls)) one()
    t1 <- proc.time()
    samples[r] <- (t1[["elapsed"]] - t0[["elapsed"]]) / calls
    cpu[r] <- (t1[["user.self"]] + t1[["sys.self"]] - t0[["user.self"]] - t0[["sys.self"]]) / calls
  }
  cat(sprintf('{"ok": true, "samples": [%s], "cpu_samples": [%s], "calls_per_rep": %d, "metafor": "%s", "r": "%s"}\n',
              paste(sprintf("%.9f", samples), collapse = ", "), paste(sprintf("%.9f", cpu), collapse = ", "), calls,
              as.character(packageVersion("metafor")), paste(R.version$major, R.version$minor, sep = ".")))
}
