from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo portfolio generator: writes through accounts, journeys and health; owns no
    models, so it can sit above every app it fills."""

    name = "demo"
    verbose_name = "Demo portfolio"
