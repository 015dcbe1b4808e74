"""The periodic job's life cycle: a run handed to the loop as the job stops does no work."""

from __future__ import annotations

import asyncio

from chargepark.scheduler import IntervalJob


class CountingJob(IntervalJob):
    def __init__(self) -> None:
        super().__init__("counting", 3600)
        self.runs = 0

    async def work(self) -> None:
        self.runs += 1
        await asyncio.sleep(0)


async def test_a_run_that_starts_after_stop_does_no_work():
    job = CountingJob()
    await job.start()
    await job.run_once()
    await job.stop()
    # The scheduler may have created the run's task just before stop(); it starts afterwards.
    await job.run_once()
    assert job.runs == 1


async def test_a_stopped_job_started_again_runs():
    job = CountingJob()
    await job.start()
    await job.stop()
    await job.start()
    await job.run_once()
    await job.stop()
    assert job.runs == 1
