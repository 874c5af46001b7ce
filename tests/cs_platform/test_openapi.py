"""The OpenAPI schema describes every endpoint, validates, and no generated request breaks it."""

import io
import json
import re

import pytest
import schemathesis
import yaml
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from cs_platform.wsgi import application

pytestmark = pytest.mark.django_db


def test_the_schema_generates_without_warnings_and_validates():
    out = io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", "--format=openapi", stdout=out)
    schema = yaml.safe_load(out.getvalue())
    paths = set(schema["paths"])
    for path in (
        "/api/v1/accounts/", "/api/v1/accounts/bulk/",
        "/api/v1/accounts/by-external-id/{external_id}/", "/api/v1/contacts/",
        "/api/v1/contacts/bulk/", "/api/v1/events/", "/api/v1/surveys/", "/api/v1/notes/",
        "/api/v1/stages/", "/api/v1/stage-transitions/", "/api/v1/escalations/",
        "/v1/batch", "/v1/track", "/v1/identify", "/v1/group", "/v1/page",
    ):  # fmt: skip
        assert path in paths, path
    schemes = schema["components"]["securitySchemes"]
    assert schemes["bearerToken"]["scheme"] == "bearer"
    assert schemes["segmentWriteKey"]["scheme"] == "basic"


def test_fields_the_api_returns_as_null_are_nullable_in_the_schema():
    document = SchemaGenerator().get_schema(request=None, public=True)
    schemas = json.loads(OpenApiJsonRenderer().render(document))["components"]["schemas"]
    for component, field in (
        ("Note", "author"), ("Account", "stage"), ("StageTransition", "moved_by"),
        ("AccountMilestone", "reached_by"), ("Escalation", "owner"),
        ("Escalation", "feedback_score"),
    ):  # fmt: skip
        assert schemas[component]["properties"][field].get("nullable") is True, (component, field)


def test_the_schema_and_docs_are_served_without_a_cdn(client, csm):
    client.force_login(csm)
    assert client.get("/api/schema/").status_code == 200
    docs = client.get("/api/docs/").content.decode()
    assert "swagger-ui" in docs
    urls = re.findall(r'(?:src|href)="([^"]+)"', docs)
    assert urls and all(u.startswith("/") for u in urls), urls
    for url in urls:
        if url.startswith("/static/"):  # shipped by an installed package
            assert finders.find(url.removeprefix("/static/")), url


@pytest.fixture
def api_schema():
    # As Django's test client does: keep the test's connection (and transaction) open
    # between requests, instead of closing it at the end of each one.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield _load_schema()
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _load_schema():
    document = SchemaGenerator().get_schema(request=None, public=True)
    loaded = schemathesis.openapi.from_dict(json.loads(OpenApiJsonRenderer().render(document)))
    loaded.app = application  # requests go through the WSGI app, in the test's transaction
    return loaded


def test_no_generated_request_causes_a_server_error(api_schema, issue_token):
    """Schemathesis generates requests for every operation; none may answer 5xx."""
    headers = {"Authorization": f"Bearer {issue_token('admin')[0]}"}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 20

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=8, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def check(case):
            case.call_and_validate(headers=headers, checks=[not_a_server_error])

        check()
