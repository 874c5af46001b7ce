from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_roles(sender, **kwargs):
    from cs_platform.roles import ADMIN_ONLY_APP_LABELS, APP_LABELS, sync_role_permissions

    # Our apps' permissions exist by now (auth's own post_migrate receiver runs first).
    if sender.label not in APP_LABELS + ADMIN_ONLY_APP_LABELS:
        return

    sync_role_permissions()


class CsPlatformConfig(AppConfig):
    name = "cs_platform"
    verbose_name = "CS platform"

    def ready(self):
        from cs_platform import sql  # noqa: F401  (registers the __any lookup before any query)

        post_migrate.connect(_sync_roles, dispatch_uid="cs_platform.sync_roles")
