# Reference values for combining a multi-arm trial's arms when the combined 2x2 table has a zero
# cell (evsynth.stats.multiarm.combined_counts and its default zero-cell correction).
#
# CI never runs R: tests/stats/test_multiarm_full_mutation.py pins the committed JSON. Generated
# with R 4.2.2 / metafor 3.8.1 / metadat / jsonlite (Debian). Regenerate from the repo root:
#   Rscript tests/oracle/reference/metafor_multiarm_zero_cell.R
# -> tests/oracle/data/metafor_multiarm_zero_cell.json (keys sorted, numbers round-trip exactly).
#
# Case dong_33_{rr,or,rd}: dat.dong2013 (Dong et al. 2013, Thorax 68:48-56), trial id 33: deaths
# LABA-ICS 1/131, LABA 0/131, placebo 0/125. The two active arms summed (Cochrane Handbook v6.5,
# 6.5.2.10: 1/262) vs placebo 0/125: the placebo arm has no event, so escalc() adds its default
# add = 1/2 to every cell of the table (to = "only0").

suppressPackageStartupMessages(library(metafor))
library(jsonlite)
OUT <- "tests/oracle/data/metafor_multiarm_zero_cell.json"
source("tests/oracle/reference/json_helpers.R")

d <- dat.dong2013[dat.dong2013$id == 33, ]
act <- d[d$treatment %in% c("LABA-ICS", "LABA"), ]; ctl <- d[d$treatment == "Placebo", ]
cases <- list()
for (measure in c("RR", "OR", "RD")) {
  e <- escalc(measure = measure, ai = sum(act$death), n1i = sum(act$randomized), ci = ctl$death, n2i = ctl$randomized)
  cases[[sprintf("dong_33_%s", tolower(measure))]] <- list(
    measure = measure, events = arr(act$death), n = arr(act$randomized), events_ctrl = num(ctl$death),
    n_ctrl = num(ctl$randomized),
    r_call = sprintf('escalc(measure = "%s", ai = sum(death of LABA-ICS, LABA), n1i = sum(randomized), ci = death of Placebo, n2i = randomized)  # add = 1/2, to = "only0" (defaults)', measure),
    yi = num(c(e$yi)), vi = num(e$vi))
}

doc <- list(generator = "tests/oracle/reference/metafor_multiarm_zero_cell.R",
            metafor_version = as.character(packageVersion("metafor")),
            r_version = paste(R.version$major, R.version$minor, sep = "."), cases = cases)
writeLines(toJSON(sort_keys(doc), auto_unbox = TRUE, json_verbatim = TRUE, pretty = TRUE, na = "null",
                  null = "null"), OUT, useBytes = TRUE)
cat(sprintf("wrote %d cases to %s\n", length(cases), OUT))
