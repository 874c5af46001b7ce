"""python manage.py create_api_token --user U --scopes read,write --name N: prints it once."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from cs_platform.models import ApiToken, TokenError


class Command(BaseCommand):
    help = "Create an API token for a user and print it (it is shown only this once)."

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, help="Username the token acts as.")
        parser.add_argument(
            "--scopes", required=True, help="Comma-separated: read, write, ingest, admin."
        )
        parser.add_argument("--name", required=True, help="What uses the token.")
        parser.add_argument(
            "--rate-limit", type=int, default=None, help="Requests per minute for this token."
        )

    def handle(self, *args, user, scopes, name, rate_limit, **opts):
        try:
            owner = get_user_model().objects.get(username=user)
        except get_user_model().DoesNotExist:
            raise CommandError(f"--user: no user named {user!r}") from None
        if rate_limit is not None and rate_limit < 1:
            raise CommandError("--rate-limit: must be at least 1")
        try:
            token, raw = ApiToken.issue(owner, name, scopes.split(","), rate_limit)
        except TokenError as exc:
            raise CommandError(f"--{exc}") from None
        self.stderr.write(
            f"Created token {token.name!r} for {owner.username} with scopes "
            f"{', '.join(token.scopes)}. Store it now: it is not shown again."
        )
        self.stdout.write(raw)
