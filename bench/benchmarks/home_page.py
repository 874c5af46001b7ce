"""The home page (accounts.views.account_list): first page of active accounts, for an admin."""

from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.urls import reverse

from accounts.choices import AccountStatus
from accounts.models import Account
from accounts.views import PAGE_SIZE
from bench.registry import Case, Context, benchmark
from journeys.models import AccountStage


@benchmark("home_page_render")
def home_page_render(ctx: Context) -> Case:
    User = get_user_model()
    client = Client()
    client.force_login(User.objects.get(username="admin"))  # once: logins are not measured
    url = reverse("home")

    def subject():
        response = client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"GET {url} answered {response.status_code}, expected 200")
        return response

    # Floor: the page's rows alone, one raw SELECT with the same joins, filter, order and
    # limit as the view's queryset; no session, auth, count, template or middleware.
    qn = connection.ops.quote_name
    sql = (
        f"SELECT a.*, u.*, j.* FROM {qn(Account._meta.db_table)} a "
        f"LEFT OUTER JOIN {qn(User._meta.db_table)} u ON u.id = a.owner_id "
        f"LEFT OUTER JOIN {qn(AccountStage._meta.db_table)} j ON j.account_id = a.id "
        "WHERE a.status = %s ORDER BY a.name, a.id LIMIT %s"
    )

    def floor():
        with connection.cursor() as cursor:
            cursor.execute(sql, [AccountStatus.ACTIVE, PAGE_SIZE])
            return cursor.fetchall()

    # The floor is only meaningful if it reads the rows the page shows.
    expected = Account.objects.filter(status=AccountStatus.ACTIVE).order_by("name", "id")
    if [row[0] for row in floor()] != list(expected.values_list("id", flat=True)[:PAGE_SIZE]):
        raise RuntimeError("home_page_render: the floor does not read the page's rows")
    return Case(subject=subject, floor=floor)
