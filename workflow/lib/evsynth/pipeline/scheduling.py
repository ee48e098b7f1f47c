"""One pending re-evaluation timer in Snakemake's job scheduler (issue 18).

Snakemake 9's job-rate limiter (``--max-jobs-per-timespan``, default ``100/1s``) ends every
scheduling round by starting a ``threading.Timer`` that triggers another round one timespan
later. A round started by such a timer starts the next one, and every job that finishes starts a
round of its own, so after n finished jobs about n timer chains run side by side, and each
round checks the existence and size of every input of every ready job. Measured on the shipped
table (2 cores, ``--cores 4``): a profiled cold run of 251 jobs made 10,720 scheduling rounds, and
Snakemake's own process spent 54 of an unprofiled run's 347 CPU s; with one computing job per
analysis (113 jobs), 29.3 CPU s, and 6.6 CPU s with this patch (the jobs' own CPU unchanged).
One pending timer does the limiter's job: a round it
triggers early finds the limit unchanged and starts the next timer. The timer is a daemon, so a
finished run does not wait for it to fire before exiting.

Installed at parse time by ``workflow/rules/common.smk``. If a Snakemake release renames or
removes the method, nothing is patched and the scheduler behaves as released.
"""

from __future__ import annotations

import threading

_PATCHED = "_evsynth_single_timer"


def single_reevaluation_timer(scheduler, delay: float) -> None:
    """Start a re-evaluation round after ``delay`` seconds unless one is already pending.

    Parameters
    ----------
    scheduler : snakemake.scheduling.job_scheduler.JobScheduler
        The running scheduler; its ``_open_jobs`` semaphore wakes the scheduling loop.
    delay : float
        Seconds until the round (the rate limiter's timespan).
    """
    pending = getattr(scheduler, "_evsynth_timer", None)
    if pending is not None and pending.is_alive():
        return
    timer = threading.Timer(delay, scheduler._open_jobs.release)
    timer.daemon = True
    scheduler._evsynth_timer = timer
    timer.start()


def coalesce_reevaluation_timers() -> bool:
    """Make Snakemake's scheduler keep at most one re-evaluation timer pending.

    Returns
    -------
    bool
        True when the scheduler is patched (now or before), False when this Snakemake has no
        ``JobScheduler._schedule_reevalutation`` to patch (it is then left as released).
    """
    try:
        from snakemake.scheduling.job_scheduler import JobScheduler
    except ImportError:
        return False
    if getattr(JobScheduler, _PATCHED, False):
        return True
    if not callable(getattr(JobScheduler, "_schedule_reevalutation", None)):
        return False
    JobScheduler._schedule_reevalutation = single_reevaluation_timer
    setattr(JobScheduler, _PATCHED, True)
    return True
