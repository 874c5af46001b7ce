"""python manage.py import_contacts FILE [--dry-run] [--valid-only]: contacts from a CSV file."""

from accounts.csv_import import import_contacts_csv
from accounts.management.commands.import_accounts import Command as ImportAccountsCommand


class Command(ImportAccountsCommand):
    help = (
        "Create or update contacts from a UTF-8 CSV file whose first line names the columns "
        "(external_id and/or email, account, name, persona, ..., traits.<name>). One bad row "
        "imports nothing unless --valid-only is given."
    )
    import_csv = staticmethod(import_contacts_csv)
