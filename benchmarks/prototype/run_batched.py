"""PROTOTYPE batch runner (benchmarks/prototype/batched.smk): run one per-analysis script
once per timepoint window of an outcome, in this one process.

For window i it builds the ``snakemake`` object the per-analysis rule would have had
(input/output/log entry i of each named list, that window's params and wildcards) and
executes the unchanged script with it.
"""

from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

from snakemake.iocontainers import Namedlist

if TYPE_CHECKING:
    from snakemake.script import snakemake

params = snakemake.params
source = Path(snakemake.scriptdir).parents[0] / params.script
if not source.exists():  # the runner sits in <workdir>/benchmarks_prototype
    source = Path.cwd() / params.script
code = compile(source.read_text(), str(source), "exec")
shared = set(getattr(params, "shared_inputs", []))


def pick(named, i):
    return Namedlist(fromdict={key: (named[key] if key in shared else named[key][i]) for key in named.keys()})


for i, timepoint in enumerate(params.timepoints):
    job = SimpleNamespace(
        input=pick(snakemake.input, i),
        output=pick(snakemake.output, i),
        log=Namedlist([snakemake.log[i]]),
        params=Namedlist(fromdict=params.per_window[timepoint]),
        wildcards=Namedlist(fromdict={"outcome": params.outcome, "timepoint": timepoint}),
        threads=1,
        resources=snakemake.resources,
        config=snakemake.config,
        rule=snakemake.rule,
        scriptdir=str(source.parent),
    )
    exec(code, {"snakemake": job, "__name__": "__main__", "__file__": str(source)})
