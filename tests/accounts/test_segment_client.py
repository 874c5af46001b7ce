"""Segment's own Python library, pointed at our server, works unchanged."""

from datetime import UTC, datetime

import pytest
from segment.analytics import Client
from segment.analytics import request as segment_request

from accounts.models import Account, Contact, Event

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _close_keepalive():
    yield
    # The library keeps one HTTP session for the process; closing it ends the server thread
    # (and its database connection) that served it.
    segment_request._session.close()


@pytest.mark.parametrize("gzip", [False, True])
def test_the_segment_python_client_delivers_group_identify_track_and_page(
    live_server, issue_token, gzip
):
    raw, _ = issue_token("ingest")
    errors = []
    client = Client(
        write_key=raw,
        host=live_server.url,
        sync_mode=True,  # send on each call: no background thread to race the assertions
        gzip=gzip,
        max_retries=0,
        on_error=lambda error, batch: errors.append(error),
    )
    client.group("u-1", "acct-9", {"name": "Globex", "plan": "Growth", "employees": 80})
    client.identify(
        "u-1", {"email": "hank@globex.example", "persona": "champion"},
        context={"groupId": "acct-9"},
    )  # fmt: skip
    client.track(
        "u-1", "report_shared", {"report": "weekly"},
        context={"groupId": "acct-9"}, timestamp=datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
    )  # fmt: skip
    client.page("u-1", "Docs", "Getting started", context={"groupId": "acct-9"})
    client.flush()

    assert errors == []
    account = Account.objects.get(external_id="acct-9")
    assert (account.name, account.plan, account.employee_count) == ("Globex", "Growth", 80)
    contact = Contact.objects.get(external_id="u-1")
    assert (contact.account, contact.persona) == (account, "champion")
    shared = Event.objects.get(name="report_shared")
    assert shared.occurred_at == datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    assert shared.properties == {"report": "weekly"} and shared.contact == contact
    assert Event.objects.filter(name="page_viewed", account=account).count() == 1
