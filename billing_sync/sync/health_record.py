"""After a run's work: record every mapped company's health from what the run read."""

from __future__ import annotations

import logging

from billing_sync.mapping_health_reads import Readings
from billing_sync.mapping_health_record import read_for_health, record_readings
from billing_sync.sync.apply import AgreementJob
from billing_sync.sync.gather import RunContext

log = logging.getLogger(__name__)


def run_readings(jobs: list[AgreementJob], agreements) -> Readings:
    """The run's own reads: the agreements lookup (None: refused) and each job's additions."""
    readings = Readings(agreements=agreements)
    if agreements is None:
        readings.denied.add("agreements")
    for job in jobs:
        if job.active is not None:
            readings.active[job.target.agreement_id] = job.active
        elif job.additions_denied:
            readings.additions_denied.add(job.target.agreement_id)
    return readings


def note_run_health(
    factory, handle, context: RunContext, client, jobs: list[AgreementJob], agreements, *, halted
) -> None:
    """Judge and store health (previews too); a failure here is logged, never the run's."""
    if not context.targets:
        return
    try:
        readings = run_readings(jobs, agreements)
        if not halted:  # one grouped read of the catalog items and companies, not per company
            read_for_health(client, readings, context.targets, context.products)
        record_readings(
            factory,
            handle.partner_id,
            context.targets,
            context.products,
            readings,
            run_id=handle.run_id,
            now=handle.now,
        )
    except Exception:  # noqa: BLE001 - health is a report on the run, never a reason it fails
        log.exception("run %s could not record mapping health", handle.run_id)
