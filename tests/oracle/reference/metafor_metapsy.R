# metafor escalc("SMD") on the arm means, SDs and n that python -m evsynth.metapsy imports with
# the example maps in examples/metapsy/ (tests/data/test_metapsy.py compares our Hedges' g and
# its variance with these at TOL["escalc_rel"]).
#
# Every number below is a cell of a Metapsy database (ODC-By 1.0), on our outcome's scale (the
# FIQ rows of bodily distress, stored negated there, are turned back by the map):
#   bodily-distress-psyctr v25.0.1, doi:10.5281/zenodo.17405019 (Maas genannt Bermpohl F, Martin A)
#   depression-psyctr v24.0.2, doi:10.5281/zenodo.7254845 (Cuijpers P et al.)
#   depression-selfguided-psyctr v24.0.3, doi:10.5281/zenodo.12705748 (Tong L et al.)
# `row` is the database's own row number (the unnamed first column of its data.csv).
#
# Regenerate (from the repo root): Rscript tests/oracle/reference/metafor_metapsy.R
# -> tests/oracle/data/metafor_metapsy.json (byte-stable, see json_helpers.R).

suppressPackageStartupMessages({library(metafor); library(jsonlite)})
source("tests/oracle/reference/json_helpers.R")
OUT <- "tests/oracle/data/metafor_metapsy.json"

cols <- c("database", "study", "outcome", "timepoint", "row", "m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i")
v <- list(
  c("bodily-distress-psyctr", "Friesen 2017", "depression", "8w", 110, 10.13, 5.3, 30, 14, 5.44, 30),
  c("bodily-distress-psyctr", "Friesen 2017", "pain_intensity", "8w", 109, 4.99, 1.66, 30, 6.28, 1.28, 30),
  c("bodily-distress-psyctr", "Friesen 2017", "pain_interference", "8w", 115, 53.39, 18.94, 30, 64.59, 12.75, 30),
  c("bodily-distress-psyctr", "Kristjansdottir 2013", "pain_intensity", "4w", 198, 54.14, 24.06, 47, 50.56, 23.37, 40),
  c("bodily-distress-psyctr", "Kristjansdottir 2013", "pain_intensity", "24w", 199, 51.96, 23.76, 37, 58.45, 22.46, 40),
  c("bodily-distress-psyctr", "Menga 2014", "pain_interference", "6w", 272, 43.9, 16.4, 17, 58.6, 16.1, 27),
  c("bodily-distress-psyctr", "Menga 2014", "pain_interference", "12w", 273, 41, 19, 17, 57.7, 19.6, 27),
  c("bodily-distress-psyctr", "Nhu 2024", "depression", "8w", 309, 20.24, 12.18, 17, 20.11, 10.81, 18),
  c("bodily-distress-psyctr", "Nhu 2024", "pain_intensity", "8w", 307, 5.41, 1.41, 17, 5.11, 1.55, 18),
  c("bodily-distress-psyctr", "Nhu 2024", "pain_interference", "8w", 311, 56.65, 15.48, 17, 55.39, 19.17, 18),
  c("bodily-distress-psyctr", "Ong 2023", "pain_interference", "5w", 323, 62.12, 5.86, 43, 62.27, 6.34, 43),
  c("bodily-distress-psyctr", "Simister 2018", "depression", "8w", 401, 17.76, 10.83, 30, 26.97, 10.46, 31),
  c("bodily-distress-psyctr", "Simister 2018", "depression", "20w", 402, 18.36, 12.12, 30, 25.13, 12.29, 31),
  c("bodily-distress-psyctr", "Simister 2018", "pain_intensity", "8w", 399, 13.8, 8.81, 30, 21, 8.41, 31),
  c("bodily-distress-psyctr", "Simister 2018", "pain_intensity", "20w", 400, 21.46, 9.1, 30, 22.49, 9.21, 31),
  c("bodily-distress-psyctr", "Simister 2018", "pain_interference", "8w", 403, 39.07, 13.07, 30, 55.3, 12.65, 31),
  c("bodily-distress-psyctr", "Simister 2018", "pain_interference", "20w", 404, 31.95, 13.8, 30, 53.82, 13.92, 31),
  c("bodily-distress-psyctr", "Williams 2010", "depression", "24w", 435, 16.4, 11.9, 59, 17.5, 11.5, 59),
  c("bodily-distress-psyctr", "Williams 2010", "pain_intensity", "24w", 434, 4.3, 1.6, 59, 4.9, 1.5, 59),
  c("depression-psyctr", "Baumeister 2021", "depression", "9w", 49, 8.92, 4.71, 104, 11.29, 5.82, 105),
  c("depression-psyctr", "Buhrman 2015", "depression", "post", 84, 15.77, 7.79, 28, 17.95, 6.51, 24),
  c("depression-psyctr", "Sander 2020", "depression", "9w", 638, 6.28, 3.45, 149, 7.86, 3.99, 146),
  c("depression-psyctr", "Schlicker 2020", "depression", "9w", 645, 25.66, 8.48, 40, 28.91, 6.38, 36),
  c("depression-selfguided-psyctr", "O'Moore 2018", "depression", "11w", 261, 7.65, 4.73, 44, 12.46, 4.7, 25),
  c("depression-selfguided-psyctr", "O'Moore 2018", "depression", "24w", 262, 6.19, 4.68, 44, 10.48, 4.75, 25)
)
dat <- as.data.frame(matrix(unlist(v), ncol = length(cols), byrow = TRUE), stringsAsFactors = FALSE)
names(dat) <- cols
for (col in cols[5:11]) dat[[col]] <- as.numeric(dat[[col]])
es <- escalc(measure = "SMD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i, data = dat)

cases <- lapply(seq_len(nrow(dat)), function(i) list(
  database = dat$database[i], study = dat$study[i], outcome = dat$outcome[i], timepoint = dat$timepoint[i],
  row = num(dat$row[i]), m1i = num(dat$m1i[i]), sd1i = num(dat$sd1i[i]), n1i = num(dat$n1i[i]),
  m2i = num(dat$m2i[i]), sd2i = num(dat$sd2i[i]), n2i = num(dat$n2i[i]),
  yi = num(es$yi[i]), vi = num(es$vi[i])))
doc <- list(
  generator = "tests/oracle/reference/metafor_metapsy.R",
  metafor_version = as.character(packageVersion("metafor")),
  r_version = paste(R.version$major, R.version$minor, sep = "."),
  r_call = 'escalc(measure="SMD", m1i, sd1i, n1i, m2i, sd2i, n2i)  # exact J, vtype="LS"',
  cases = cases)
json <- toJSON(sort_keys(doc), auto_unbox = TRUE, json_verbatim = TRUE, pretty = TRUE, na = "null", null = "null")
writeLines(json, OUT, useBytes = TRUE)
cat(sprintf("wrote %d cases to %s\n", length(cases), OUT))
