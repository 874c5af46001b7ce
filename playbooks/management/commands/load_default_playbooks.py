from django.core.management.base import BaseCommand

from playbooks.defaults import install_default_playbooks


class Command(BaseCommand):
    help = "Create the default playbooks (green to yellow check-in, renewal risk, ...) if missing."

    def add_arguments(self, parser):
        parser.add_argument("--disabled", action="store_true", help="Create them switched off.")

    def handle(self, *args, disabled=False, **options):
        created = install_default_playbooks(enabled=not disabled)
        self.stdout.write(f"{len(created)} default playbook(s) created.")
