"""All portfolio metrics for the whole generated window (issue 4: 10,000 accounts under 2 s)."""

from django.db import connection

from bench.registry import Case, Context, benchmark
from health.metrics import portfolio_metrics

# Floor: a bare read of the same rows the metrics read, raw cursor, nothing computed.
FLOOR_QUERIES = [
    "SELECT id, arr, contract_start, churned_at FROM accounts_account",
    "SELECT kind, score FROM accounts_surveyresponse "
    "WHERE responded_at >= %s AND responded_at <= %s",
    "SELECT DISTINCT account_id FROM accounts_dailyfeatureusage WHERE date >= %s AND date <= %s",
    "SELECT m.reached_at, a.contract_start FROM journeys_accountmilestone m "
    "JOIN accounts_account a ON a.id = m.account_id WHERE m.reached_at >= %s",
    "SELECT response_due_at, first_response_at FROM journeys_escalation WHERE opened_at >= %s",
]


@benchmark("portfolio_metrics")
def portfolio_metrics_bench(ctx: Context) -> Case:
    period = (ctx.start, ctx.as_of)

    def floor():
        with connection.cursor() as cursor:
            for sql in FLOOR_QUERIES:
                cursor.execute(sql, list(period)[: sql.count("%s")])
                cursor.fetchall()

    return Case(subject=lambda: portfolio_metrics(*period), floor=floor)
