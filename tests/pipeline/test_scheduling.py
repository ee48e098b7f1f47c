"""evsynth.pipeline.scheduling: Snakemake's scheduler keeps one re-evaluation timer pending."""

import threading

from snakemake.scheduling.job_scheduler import JobScheduler

from evsynth.pipeline.scheduling import coalesce_reevaluation_timers, single_reevaluation_timer


class _Scheduler:
    def __init__(self):
        self._open_jobs = threading.Semaphore(0)


def test_a_second_request_while_one_is_pending_starts_no_timer():
    scheduler = _Scheduler()
    single_reevaluation_timer(scheduler, 0.2)
    first = scheduler._evsynth_timer
    single_reevaluation_timer(scheduler, 0.2)
    assert scheduler._evsynth_timer is first and first.daemon  # a finished run does not wait
    first.join()
    assert scheduler._open_jobs.acquire(timeout=1)  # the pending timer woke the loop once
    assert not scheduler._open_jobs.acquire(timeout=0.3)  # and no second chain was started


def test_a_request_after_the_timer_fired_starts_a_new_one():
    scheduler = _Scheduler()
    single_reevaluation_timer(scheduler, 0.01)
    scheduler._evsynth_timer.join()
    single_reevaluation_timer(scheduler, 0.01)
    scheduler._evsynth_timer.join()
    assert scheduler._open_jobs.acquire(timeout=1) and scheduler._open_jobs.acquire(timeout=1)


def test_the_snakemake_scheduler_is_patched(monkeypatch):
    monkeypatch.setattr(JobScheduler, "_schedule_reevalutation", JobScheduler._schedule_reevalutation)
    monkeypatch.delattr(JobScheduler, "_evsynth_single_timer", raising=False)
    assert coalesce_reevaluation_timers()
    assert JobScheduler._schedule_reevalutation is single_reevaluation_timer
    assert coalesce_reevaluation_timers()  # idempotent


def test_a_snakemake_without_the_method_is_left_as_released(monkeypatch):
    monkeypatch.delattr(JobScheduler, "_evsynth_single_timer", raising=False)
    monkeypatch.delattr(JobScheduler, "_schedule_reevalutation")
    assert not coalesce_reevaluation_timers()
    assert not hasattr(JobScheduler, "_schedule_reevalutation")
