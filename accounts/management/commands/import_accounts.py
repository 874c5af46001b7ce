"""python manage.py import_accounts FILE [--dry-run] [--valid-only]: accounts from a CSV file."""

from django.core.management.base import BaseCommand, CommandError

from accounts.csv_import import CsvError, import_accounts_csv


class Command(BaseCommand):
    help = (
        "Create or update accounts from a UTF-8 CSV file whose first line names the columns "
        "(external_id, name, plan, arr, ..., traits.<name>). One bad row imports nothing "
        "unless --valid-only is given."
    )
    import_csv = staticmethod(import_accounts_csv)

    def add_arguments(self, parser):
        parser.add_argument("file", help="Path of the CSV file.")
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Check every row and report what would change, but write nothing.",
        )
        parser.add_argument(
            "--valid-only",
            action="store_true",
            help="Import the valid rows and report the rejected ones.",
        )

    def handle(self, *args, file, dry_run, valid_only, **options):
        try:
            with open(file, "rb") as stream:
                result = self.import_csv(stream, dry_run=dry_run, valid_only=valid_only)
        except FileNotFoundError:
            raise CommandError(f"no such file: {file}") from None
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror}") from None
        except CsvError as exc:
            raise CommandError(f"{file}: {exc}") from None

        summary = ", ".join(f"{n} {status}" for status, n in result.counts.items() if n)
        if dry_run:
            summary += " (dry run: nothing was written)"
        self.stdout.write(f"{file}: {summary or 'no rows'}")
        for error in result.errors:
            self.stdout.write(error)
        if result.failed:
            hint = "" if valid_only else "; fix them, or use --valid-only to import the others"
            rejected = result.counts["rejected"]
            rows = "row was" if rejected == 1 else "rows were"
            raise CommandError(f"{rejected} {rows} rejected, nothing imported{hint}")
