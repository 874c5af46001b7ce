from django.apps import AppConfig


class DashboardConfig(AppConfig):
    """The CSM's pages that bring every app together (portfolio, accounts, account 360,
    metrics). It sits above all other apps: it reads from each and nothing imports it."""

    name = "dashboard"
    verbose_name = "Dashboard"
