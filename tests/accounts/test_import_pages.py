"""CSV import in the dashboard: upload, preview with row errors, confirm, worker imports."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.models import Account, ImportJob
from cs_platform import celery_app, roles

pytestmark = pytest.mark.django_db

GOOD = b"external_id,name,plan,arr\nacme,Acme,Growth,12000\nglobex,Globex,Enterprise,300000\n"
MIXED = b"external_id,name,arr\nacme,Acme,12000\nbad,Bad,-5\n"


@pytest.fixture
def eager(monkeypatch):
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)


def upload(client, data, kind="accounts", name="accounts.csv"):
    return client.post(
        reverse("import-upload"), {"kind": kind, "file": SimpleUploadedFile(name, data)}
    )


def test_a_file_is_previewed_then_imported_by_the_worker(
    client, cs_admin, eager, django_capture_on_commit_callbacks
):
    client.force_login(cs_admin)
    response = upload(client, GOOD)
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "import-detail", args=[job.pk]
    )
    assert (job.status, job.rows, job.counts["created"]) == ("previewed", 2, 2)
    assert not Account.objects.exists()  # the preview wrote nothing
    page = client.get(reverse("import-detail", args=[job.pk])).content.decode()
    assert "would be created" in page and "Import 2 rows" in page

    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("import-detail", args=[job.pk]))
    job.refresh_from_db()
    assert (job.status, job.counts["created"]) == ("done", 2)
    assert set(Account.objects.values_list("external_id", flat=True)) == {"acme", "globex"}


def test_rejected_rows_are_listed_by_line_and_block_a_full_import(client, cs_admin, eager):
    client.force_login(cs_admin)
    upload(client, MIXED)
    job = ImportJob.objects.get()
    page = client.get(reverse("import-detail", args=[job.pk])).content.decode()
    assert "line 3: arr:" in page
    assert "Import the 1 valid rows, skip the 1 rejected" in page
    job.status = "previewed"
    from accounts.import_jobs import queue_import

    with pytest.raises(ValueError, match="some rows are rejected"):
        queue_import(job, valid_only=False)


def test_the_valid_rows_can_be_imported_alone(
    client, cs_admin, eager, django_capture_on_commit_callbacks
):
    client.force_login(cs_admin)
    upload(client, MIXED)
    job = ImportJob.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("import-detail", args=[job.pk]), {"valid_only": "1"})
    job.refresh_from_db()
    assert (job.status, job.counts["created"], job.counts["rejected"]) == ("done", 1, 1)
    assert list(Account.objects.values_list("external_id", flat=True)) == ["acme"]


def test_a_file_that_cannot_be_read_is_refused_on_upload(client, cs_admin):
    client.force_login(cs_admin)
    response = upload(client, "external_id,name\nacme,Café\n".encode("latin-1"))
    assert response.status_code == 200
    assert "line 2" in response.content.decode()
    response = upload(client, b"id,colour\n1,red\n")
    assert "colour" in response.content.decode()
    assert not ImportJob.objects.exists()


def test_the_progress_partial_polls_until_the_import_ends(client, cs_admin):
    client.force_login(cs_admin)
    upload(client, GOOD)
    job = ImportJob.objects.get()
    job.status = ImportJob.Status.QUEUED
    job.save()
    partial = client.get(reverse("import-detail", args=[job.pk]), HTTP_HX_REQUEST="true")
    body = partial.content.decode()
    assert 'hx-trigger="every 1s"' in body and "<html" not in body
    job.status = ImportJob.Status.DONE
    job.save()
    assert "every 1s" not in client.get(reverse("import-detail", args=[job.pk])).content.decode()


def test_a_confirmed_import_is_not_run_twice(client, cs_admin, eager):
    client.force_login(cs_admin)
    upload(client, GOOD)
    job = ImportJob.objects.get()
    from accounts.import_jobs import run_import

    assert run_import(job.pk).status == "previewed"  # never confirmed: the worker leaves it
    assert not Account.objects.exists()


@pytest.mark.parametrize("role", [roles.CSM, roles.VIEWER])
def test_only_admins_import(client, make_user, role):
    client.force_login(make_user("someone", role))
    assert client.get(reverse("import-upload")).status_code == 403
