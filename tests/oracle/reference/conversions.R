# Reference values for evsynth.stats.conversions: data as trials report it.
#
# metafor 3.8 has no conv.* functions (conv.fivenum, conv.wald, conv.delta arrived in 4.0), so
# this script computes the same quantities independently, in base R, from the papers' formulas:
#   - SD from the SE of an arm mean: SE * sqrt(n) (Cochrane Handbook v6.5 6.5.2.2);
#   - SD from the CI of an arm mean: sqrt(n) * (U - L) / (2 * qt(p, n - 1)) for n < 60, else
#     qnorm(p) (Handbook 6.5.2.3);
#   - mean (Luo et al. 2018, eqs. 7, 11, 15) and SD (Wan et al. 2014, eqs. 9, 16; Shi et al.
#     2020, eq. 10) from the median with range and/or quartiles, and the skewness test of Shi
#     et al. (2023) (statistic and critical value) -- the defaults of metafor >= 4.0's
#     conv.fivenum(method = "luo/wan/shi", test = TRUE);
#   - SD of a change from baseline from baseline and final SDs and their correlation, and the
#     correlation implied by three SDs (Handbook 6.5.2.8);
#   - SMD from a 2x2 table, ln(OR) sqrt(3)/pi (Chinn 2000): metafor 3.8's escalc(measure = "OR2DL");
#   - SE of a contrast from its two-sided p-value (normal, or t on df) and from its t statistic
#     (Handbook 6.3.2, 6.5.2.3).
#
# CI never runs R: tests/stats/test_conversions.py reads the JSON this writes. Regenerate from
# the repo root with
#   Rscript tests/oracle/reference/conversions.R
# -> tests/oracle/data/conversions.json (byte-stable: see json_helpers.R).

suppressPackageStartupMessages({library(jsonlite); library(metafor)})
source("tests/oracle/reference/json_helpers.R")
OUT <- "tests/oracle/data/conversions.json"

xi <- function(n) 2 * qnorm((n - 0.375) / (n + 0.25))
eta <- function(n) 2 * qnorm((0.75 * n - 0.125) / (n + 0.25))

fivenum_case <- function(n, a = NA, q1 = NA, m, q3 = NA, b = NA) {
  if (!is.na(a) && is.na(q1)) {          # S1
    w <- 4 / (4 + n^0.75)
    mean <- w * (a + b) / 2 + (1 - w) * m
    sd <- (b - a) / xi(n)
    t <- abs((a + b - 2 * m) / (b - a))
    crit <- 1 / log(n + 9) + 2.5 / (n + 1)
    scenario <- "S1"
  } else if (is.na(a)) {                 # S2
    w <- 0.7 + 0.39 / n
    mean <- w * (q1 + q3) / 2 + (1 - w) * m
    sd <- (q3 - q1) / eta(n)
    t <- abs((q1 + q3 - 2 * m) / (q3 - q1))
    crit <- 2.65 / sqrt(n) - 6 / n^2
    scenario <- "S2"
  } else {                               # S3
    w1 <- 2.2 / (2.2 + n^0.75)
    w2 <- 0.7 - 0.72 / n^0.55
    mean <- w1 * (a + b) / 2 + w2 * (q1 + q3) / 2 + (1 - w1 - w2) * m
    w <- 1 / (1 + 0.07 * n^0.6)
    sd <- w * (b - a) / xi(n) + (1 - w) * (q3 - q1) / eta(n)
    t <- max(2.65 * log(0.6 * n) / sqrt(n) * abs((a + b - 2 * m) / (b - a)), abs((q1 + q3 - 2 * m) / (q3 - q1)))
    crit <- 3 / sqrt(n) - 40 / n^3
    scenario <- "S3"
  }
  list(inputs = list(n = num(n), min = num(a), q1 = num(q1), median = num(m), q3 = num(q3), max = num(b)),
       scenario = scenario, mean = num(mean), sd = num(sd), skew_statistic = num(t), skew_critical = num(crit),
       skewed = t >= crit)
}

fivenum <- list(
  s1_n10 = fivenum_case(10, a = 1, m = 4, b = 9),
  s1_n200 = fivenum_case(200, a = 0, m = 5.1, b = 10),
  s1_skewed = fivenum_case(30, a = 0, m = 1, b = 10),
  s2_n12 = fivenum_case(12, q1 = 3, m = 4.5, q3 = 6.5),
  s2_n150 = fivenum_case(150, q1 = -1.2, m = 0.1, q3 = 1.3),
  s2_skewed = fivenum_case(80, q1 = 2, m = 2.5, q3 = 7),
  s3_n25 = fivenum_case(25, a = 1, q1 = 3, m = 4, q3 = 5.5, b = 9),
  s3_n400 = fivenum_case(400, a = 20, q1 = 41, m = 48, q3 = 55, b = 80),
  s3_skewed = fivenum_case(60, a = 0, q1 = 1, m = 1.5, q3 = 6, b = 30))

ci_case <- function(lower, upper, n, level) {
  p <- 1 - (1 - level / 100) / 2
  c <- if (n < 60) qt(p, n - 1) else qnorm(p)
  list(lower = num(lower), upper = num(upper), n = num(n), level = num(level),
       sd = num(sqrt(n) * (upper - lower) / (2 * c)))
}
mean_ci <- list(
  n25_95 = ci_case(11.1, 20.9, 25, 95),
  n59_95 = ci_case(-3.2, 1.4, 59, 95),
  n60_95 = ci_case(-3.2, 1.4, 60, 95),
  n200_90 = ci_case(40.5, 44.1, 200, 90),
  n8_99 = ci_case(2.0, 6.0, 8, 99))

se <- list(se = arr(c(0.3, 1.25, 0.04)), n = arr(c(40, 9, 1200)),
           sd = arr(c(0.3, 1.25, 0.04) * sqrt(c(40, 9, 1200))))

p_case <- function(estimate, p, df = NA) {
  q <- if (is.na(df)) qnorm(p / 2, lower.tail = FALSE) else qt(p / 2, df, lower.tail = FALSE)
  list(estimate = num(estimate), p = num(p), df = num(df), se = num(abs(estimate) / q))
}
p_values <- list(
  md_z = p_case(-1.1, 0.03),
  md_t45 = p_case(3.8, 0.008, 45),  # Handbook 6.5.2.3's example: MD 3.8, p = 0.008, 25 + 22 - 2 df
  log_or_z = p_case(log(0.62), 0.0004))
t_stats <- list(estimate = arr(c(3.8, -0.41)), t = arr(c(2.78, -1.9)), se = arr(abs(c(3.8, -0.41) / c(2.78, -1.9))))

# Change from baseline (Handbook 6.5.2.8): SD_change = sqrt(b^2 + f^2 - 2 r b f), and r from three SDs.
change <- list(baseline = arr(c(4.1, 1.8, 10)), final = arr(c(4.5, 2.0, 12)), r = arr(c(0.5, 0.75, -0.2)))
change$sd <- arr(sqrt(c(4.1, 1.8, 10)^2 + c(4.5, 2.0, 12)^2 - 2 * c(0.5, 0.75, -0.2) * c(4.1, 1.8, 10) * c(4.5, 2.0, 12)))
change$sd_change_reported <- arr(c(3.2, 1.1, 15))
change$r_implied <- arr((c(4.1, 1.8, 10)^2 + c(4.5, 2.0, 12)^2 - c(3.2, 1.1, 15)^2) / (2 * c(4.1, 1.8, 10) * c(4.5, 2.0, 12)))

# Binary results in an SMD outcome (Chinn 2000): metafor's own escalc(measure = "OR2DL"), with its
# default continuity correction (add = 1/2 to = "only0"), as the pipeline's from_counts.
chinn_dat <- data.frame(ai = c(30, 12, 0), n1i = c(100, 40, 25), ci = c(20, 18, 4), n2i = c(100, 41, 25))
chinn_es <- escalc(measure = "OR2DL", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = chinn_dat)
chinn <- list(r_call = 'escalc(measure = "OR2DL", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = chinn_dat)',
              metafor_version = as.character(packageVersion("metafor")),
              ai = arr(chinn_dat$ai), n1i = arr(chinn_dat$n1i), ci = arr(chinn_dat$ci), n2i = arr(chinn_dat$n2i),
              yi = arr(as.numeric(chinn_es$yi)), vi = arr(as.numeric(chinn_es$vi)))

doc <- list(
  generator = "tests/oracle/reference/conversions.R",
  r_version = paste(R.version$major, R.version$minor, sep = "."),
  fivenum = fivenum,
  mean_ci = mean_ci,
  sd_from_se = se,
  p_values = p_values,
  t_stats = t_stats,
  change = change,
  chinn = chinn)

json <- toJSON(sort_keys(doc), auto_unbox = TRUE, json_verbatim = TRUE, pretty = TRUE, na = "null", null = "null")
writeLines(json, OUT, useBytes = TRUE)
cat(sprintf("wrote %s\n", OUT))
