"""All portfolio metrics (issue 4: 10,000 accounts and a year of data under 2 s).

Two periods: the generated usage window, and the full year up to the same day (revenue
retention and renewals are read from the contract history, which goes back years).
"""

from datetime import timedelta

from django.db import connection

from bench.registry import Case, Context, benchmark
from health.metrics import portfolio_metrics

# Floor: a bare read of the same rows the metrics read, raw cursor, nothing computed.
FLOOR_QUERIES = [
    "SELECT id, arr, contract_start, churned_at, renewal_date FROM accounts_account",
    "SELECT account_id, changed_at, arr_before, arr_after FROM accounts_contractchange "
    "WHERE changed_at <= %s",
    "SELECT account_id, changed_at, renewal_date_before, renewal_date_after "
    "FROM accounts_contractchange WHERE renewal_date_before >= %s AND renewal_date_before <= %s",
    "SELECT kind, score FROM accounts_surveyresponse "
    "WHERE responded_at >= %s AND responded_at <= %s",
    "SELECT DISTINCT account_id FROM accounts_dailyfeatureusage WHERE date >= %s AND date <= %s",
    "SELECT m.reached_at, a.contract_start FROM journeys_accountmilestone m "
    "JOIN accounts_account a ON a.id = m.account_id WHERE m.reached_at >= %s",
    "SELECT response_due_at, first_response_at FROM journeys_escalation WHERE opened_at >= %s",
]


def _case(start, end) -> Case:
    def floor():
        with connection.cursor() as cursor:
            for sql in FLOOR_QUERIES:
                params = [end] if sql.count("%s") == 1 and "changed_at" in sql else [start, end]
                cursor.execute(sql, params[: sql.count("%s")])
                cursor.fetchall()

    return Case(subject=lambda: portfolio_metrics(start, end), floor=floor)


@benchmark("portfolio_metrics")
def portfolio_metrics_bench(ctx: Context) -> Case:
    return _case(ctx.start, ctx.as_of)


@benchmark("portfolio_metrics_year")
def portfolio_metrics_year_bench(ctx: Context) -> Case:
    return _case(ctx.as_of - timedelta(days=364), ctx.as_of)
