"""CSV imports from the dashboard: preview every row first, then import in a worker."""

import logging

from django.db import transaction
from django.utils import timezone

from accounts.csv_import import CsvError, import_accounts_csv, import_contacts_csv
from accounts.models import ImportJob
from accounts.upsert import retry_on_conflict

logger = logging.getLogger(__name__)

IMPORTERS = {
    ImportJob.Kind.ACCOUNTS: import_accounts_csv,
    ImportJob.Kind.CONTACTS: import_contacts_csv,
}
MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_ERRORS_KEPT = 1000


def preview_import(kind: str, filename: str, data: bytes, user) -> ImportJob:
    """Dry-run the whole file and keep it with what an import would do, row by row.

    Raises CsvError when the file as a whole is unusable (encoding, header, size).
    """
    if len(data) > MAX_FILE_BYTES:
        raise CsvError(f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
    # valid_only in the dry run: the valid rows say what they would do, the bad ones why not.
    preview = IMPORTERS[kind](data, dry_run=True, valid_only=True)
    return ImportJob.objects.create(
        kind=kind,
        filename=filename[:255],
        content=data,
        uploaded_by=user,
        rows=len(preview.lines),
        counts=preview.counts,
        errors=preview.errors[:MAX_ERRORS_KEPT],
    )


def queue_import(job: ImportJob, *, valid_only: bool) -> None:
    """Confirm a previewed file; a worker imports it once this transaction commits."""
    from accounts.tasks import run_import_task

    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job.pk)  # two clicks, one import
        if job.status != ImportJob.Status.PREVIEWED:
            raise ValueError(f"this import is already {job.get_status_display().lower()}")
        if job.counts.get("rejected") and not valid_only:
            raise ValueError("some rows are rejected: fix the file, or import only the valid rows")
        job.status, job.valid_only = ImportJob.Status.QUEUED, valid_only
        job.save(update_fields=["status", "valid_only"])
        transaction.on_commit(lambda: run_import_task.delay(job.pk))


def run_import(job_id: int) -> ImportJob:
    """Import a queued file. Its status is committed at each step, so the page can follow."""
    job = ImportJob.objects.get(pk=job_id)
    if job.status != ImportJob.Status.QUEUED:
        return job  # a retried or duplicated task: the import ran already
    job.status, job.started_at = ImportJob.Status.RUNNING, timezone.now()
    job.save(update_fields=["status", "started_at"])
    try:
        result = retry_on_conflict(
            IMPORTERS[job.kind], bytes(job.content), valid_only=job.valid_only
        )
    except CsvError as exc:  # the file changed meaning since the preview (e.g. a parent left)
        job.status, job.errors = ImportJob.Status.FAILED, [str(exc)]
    except Exception as exc:  # never leave a job "importing" forever
        logger.exception("import %s failed", job.pk)
        job.status, job.errors = ImportJob.Status.FAILED, [f"the import failed: {exc}"]
    else:
        job.counts, job.errors = result.counts, result.errors[:MAX_ERRORS_KEPT]
        job.status = (
            ImportJob.Status.FAILED
            if result.counts["rejected"] and not job.valid_only
            else ImportJob.Status.DONE
        )
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "counts", "errors", "finished_at"])
    return job
