# JSON helpers shared by the oracle scripts in this folder (source()d from the repo root).
#
# jsonlite's digits=NA still rounds to 15 significant digits, which does not round-trip
# every double; numbers are formatted here as the shortest of %.15g/%.16g/%.17g that reads
# back as the identical double, and spliced into the JSON verbatim. Keys are sorted in
# C-locale (radix) order at every level, so the files are byte-stable whatever LC_COLLATE.

fmt_num <- function(x) {
  vapply(x, function(v) {
    if (is.na(v)) return("null")
    if (!is.finite(v)) stop("non-finite value cannot go into JSON")
    for (d in 15:17) {
      s <- sprintf(paste0("%.", d, "g"), v)
      if (as.numeric(s) == v) return(s)
    }
    s
  }, character(1), USE.NAMES = FALSE)
}
num <- function(x) structure(fmt_num(x), class = "json")                             # scalar
arr <- function(x) structure(paste0("[", paste(fmt_num(x), collapse = ","), "]"), class = "json")
mat <- function(m) structure(paste0("[", paste(apply(as.matrix(m), 1, function(r)
  paste0("[", paste(fmt_num(r), collapse = ","), "]")), collapse = ","), "]"), class = "json")
lgl <- function(x) structure(paste0("[", paste(ifelse(x, "true", "false"), collapse = ","), "]"),
                             class = "json")                                        # logicals

sort_keys <- function(x) {
  if (!is.list(x) || inherits(x, "json")) return(x)
  if (!is.null(names(x))) x <- x[order(names(x), method = "radix")]
  lapply(x, sort_keys)
}
