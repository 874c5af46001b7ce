"""Customer accounts and everything observed about them: contacts, usage, surveys, notes."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from accounts import contracts
from accounts.choices import (
    SURVEY_SCORE_RANGE,
    AccountStatus,
    ContractSource,
    NoteKind,
    Persona,
    SurveyKind,
    TouchModel,
)


class Account(models.Model):
    """A customer company: what it bought, who owns it at our side, and when it renews."""

    external_id = models.CharField(
        "external id",
        max_length=255,
        unique=True,
        help_text="The id the CRM, billing system or Segment groupId uses for this customer.",
    )
    name = models.CharField(max_length=255, db_index=True)
    domain = models.CharField(max_length=255, blank=True, db_index=True, help_text="e.g. acme.com")
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="children",
        help_text="The parent company, for subsidiaries and business units.",
    )
    industry = models.CharField(max_length=100, blank=True, db_index=True)
    employee_count = models.PositiveIntegerField(null=True, blank=True)
    plan = models.CharField(max_length=100, blank=True, db_index=True)
    arr = models.DecimalField(
        "ARR",
        max_digits=14,
        decimal_places=2,
        default=0,
        validators=[MinValueValidator(0)],
        help_text="Annual recurring revenue, in the account's currency.",
    )
    currency = models.CharField(max_length=3, default="USD", help_text="ISO 4217 code")
    licenses_purchased = models.PositiveIntegerField(
        default=0, help_text="Seats bought; used for license utilisation."
    )
    touch_model = models.CharField(
        max_length=10, choices=TouchModel.choices, default=TouchModel.LOW, db_index=True
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_accounts",
        help_text="The CSM who owns this account.",
    )
    contract_start = models.DateField(null=True, blank=True)
    renewal_date = models.DateField(null=True, blank=True, db_index=True)
    status = models.CharField(
        max_length=10, choices=AccountStatus.choices, default=AccountStatus.ACTIVE, db_index=True
    )
    churned_at = models.DateTimeField(null=True, blank=True)
    traits = models.JSONField(
        default=dict, blank=True, help_text="Free-form attributes from CRM or Segment traits."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(arr__gte=0), name="account_arr_not_negative"),
            # A churned account says when; an active one carries no churn date.
            models.CheckConstraint(
                condition=(Q(status=AccountStatus.CHURNED) & Q(churned_at__isnull=False))
                | (Q(status=AccountStatus.ACTIVE) & Q(churned_at__isnull=True)),
                name="account_churned_at_matches_status",
            ),
            models.CheckConstraint(
                condition=Q(renewal_date__isnull=True)
                | Q(contract_start__isnull=True)
                | Q(renewal_date__gte=models.F("contract_start")),
                name="account_renewal_after_contract_start",
            ),
        ]
        indexes = [models.Index(fields=["owner", "status"], name="account_owner_status")]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        """Save, and record a ContractChange when the account is new or its terms changed."""
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and not set(update_fields) & {*self.CONTRACT_FIELDS}:
            return super().save(*args, **kwargs)
        adding = self._state.adding
        with transaction.atomic(using=kwargs.get("using")):
            before = None if adding else self._contract_before()
            super().save(*args, **kwargs)
            after = self._contract_terms()
            if len(after) < len(self.CONTRACT_FIELDS):  # deferred fields: read what was saved
                after = {**self._stored_terms(), **after}
            if adding or (before is not None and before != after):
                ContractChange.objects.create(
                    account=self,
                    arr_before=None if adding else before["arr"],
                    arr_after=after["arr"],
                    renewal_date_before=None if adding else before["renewal_date"],
                    renewal_date_after=after["renewal_date"],
                    source=contracts.current_source(),
                )
        self._contract_loaded = after
        return None

    def clean(self):
        if self.parent_id and self.parent_id == self.pk:
            raise ValidationError({"parent": "An account cannot be its own parent."})
        if self.status == AccountStatus.CHURNED and not self.churned_at:
            raise ValidationError({"churned_at": "A churned account needs the date it churned."})
        if self.status == AccountStatus.ACTIVE and self.churned_at:
            raise ValidationError({"churned_at": "An active account has no churn date."})
        if self.renewal_date and self.contract_start and self.renewal_date < self.contract_start:
            raise ValidationError({"renewal_date": "The renewal date precedes the contract start."})

    @property
    def is_churned(self) -> bool:
        return self.status == AccountStatus.CHURNED

    # --- contract history: a ContractChange for every save that changes ARR or renewal ----

    CONTRACT_FIELDS = ("arr", "renewal_date")

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        instance._contract_loaded = instance._contract_terms()
        return instance

    def _contract_terms(self) -> dict:
        """The loaded (not deferred) contract fields, as the database stores them."""
        return {
            name: self._meta.get_field(name).to_python(self.__dict__[name])
            for name in self.CONTRACT_FIELDS
            if name in self.__dict__
        }

    def _contract_before(self) -> dict | None:
        loaded = getattr(self, "_contract_loaded", {})
        if len(loaded) == len(self.CONTRACT_FIELDS):
            return loaded
        # Built by hand or with deferred fields: ask the database what it holds.
        return self._stored_terms() or None

    def _stored_terms(self) -> dict:
        rows = type(self)._base_manager.filter(pk=self.pk).values(*self.CONTRACT_FIELDS)
        return rows.first() or {}


class ContractChange(models.Model):
    """One change of an account's ARR or renewal date, or its creation (nothing before).

    Written by every path that changes those fields (see accounts/contracts.py) and never
    edited: expansion, contraction, ARR at a past date and renewals are all read from here.
    """

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="contract_changes")
    changed_at = models.DateTimeField(default=timezone.now)
    arr_before = models.DecimalField(
        "ARR before",
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Empty when the account was created (new business).",
    )
    arr_after = models.DecimalField("ARR after", max_digits=14, decimal_places=2)
    renewal_date_before = models.DateField(null=True, blank=True)
    renewal_date_after = models.DateField(null=True, blank=True)
    source = models.CharField(max_length=10, choices=ContractSource.choices)

    class Meta:
        ordering = ["account", "changed_at", "id"]
        indexes = [
            models.Index(fields=["account", "changed_at"], name="contract_change_account_time"),
            models.Index(fields=["renewal_date_before"], name="contract_change_renewal"),
            models.Index(fields=["changed_at"], name="contract_change_time"),
        ]

    def __str__(self):
        return f"{self.account_id} {self.kind} @ {self.changed_at:%Y-%m-%d}"

    @property
    def kind(self) -> str:
        """created, renewed, expansion, contraction or changed (a date moved back or cleared)."""
        if self.arr_before is None:
            return "created"
        before, after = self.renewal_date_before, self.renewal_date_after
        if before and after and after > before:
            return "renewed"
        if self.arr_before is not None and self.arr_after > self.arr_before:
            return "expansion"
        if self.arr_before is not None and self.arr_after < self.arr_before:
            return "contraction"
        return "changed"


class Contact(models.Model):
    """A person at a customer account, with the persona that sets what usage to expect."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="contacts")
    external_id = models.CharField(
        "external id",
        max_length=255,
        blank=True,
        help_text="The product's user id (Segment userId). Unique when set.",
    )
    email = models.EmailField(blank=True, db_index=True)
    name = models.CharField(max_length=255, blank=True)
    title = models.CharField(max_length=255, blank=True)
    persona = models.CharField(
        max_length=20, choices=Persona.choices, default=Persona.END_USER, db_index=True
    )
    is_key_contact = models.BooleanField(
        "key contact", default=False, help_text="A change of key contact is a renewal risk."
    )
    first_seen_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(
        "active", default=True, help_text="False once the person has left the customer."
    )
    traits = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "email"]
        constraints = [
            models.UniqueConstraint(
                fields=["external_id"],
                condition=~Q(external_id=""),
                name="contact_external_id_unique",
            ),
            models.UniqueConstraint(
                fields=["account", "email"],
                condition=~Q(email=""),
                name="contact_email_unique_per_account",
            ),
        ]
        indexes = [models.Index(fields=["account", "persona"], name="contact_account_persona")]

    def __str__(self):
        return self.name or self.email or self.external_id or f"Contact {self.pk}"


class Event(models.Model):
    """One raw product-usage event (a Segment track or page call, or a REST-pushed event)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="events")
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    name = models.CharField(max_length=200, help_text="The event name, e.g. report_created.")
    occurred_at = models.DateTimeField(help_text="When it happened, after clock-skew correction.")
    properties = models.JSONField(default=dict, blank=True)
    message_id = models.CharField(
        "message id",
        max_length=255,
        unique=True,
        help_text="The sender's unique id; a repeat is a duplicate and is not counted twice.",
    )
    received_at = models.DateTimeField(default=timezone.now, help_text="When we stored it.")

    class Meta:
        ordering = ["-occurred_at"]
        indexes = [
            models.Index(fields=["account", "occurred_at"], name="event_account_time"),
            models.Index(fields=["account", "name", "occurred_at"], name="event_account_name_time"),
            models.Index(fields=["contact", "occurred_at"], name="event_contact_time"),
        ]

    def __str__(self):
        return f"{self.name} @ {self.occurred_at:%Y-%m-%d %H:%M}"


class DailyAccountUsage(models.Model):
    """Per-account usage for one UTC day, rolled up from events."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="daily_usage")
    date = models.DateField()
    event_count = models.PositiveIntegerField(default=0)
    # db_default: ingestion inserts counts with raw SQL and fills these in right after.
    active_contacts = models.PositiveIntegerField(
        default=0, db_default=0, help_text="Distinct contacts with at least one event that day."
    )
    distinct_events = models.PositiveIntegerField(
        default=0, db_default=0, help_text="Distinct event names that day (feature breadth)."
    )

    class Meta:
        verbose_name_plural = "daily account usage"
        ordering = ["-date"]
        constraints = [
            models.UniqueConstraint(fields=["account", "date"], name="daily_account_usage_unique")
        ]

    def __str__(self):
        return f"{self.account_id} {self.date}: {self.event_count}"


class DailyContactUsage(models.Model):
    """Per-contact usage for one UTC day, rolled up from events."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="daily_usage")
    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="daily_contact_usage"
    )
    date = models.DateField()
    event_count = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name_plural = "daily contact usage"
        ordering = ["-date"]
        constraints = [
            # A user may act in more than one account (consultants, agencies).
            models.UniqueConstraint(
                fields=["contact", "account", "date"], name="daily_contact_usage_unique"
            )
        ]
        indexes = [models.Index(fields=["account", "date"], name="daily_contact_account_date")]

    def __str__(self):
        return f"{self.contact_id} {self.date}: {self.event_count}"


class DailyFeatureUsage(models.Model):
    """Per-account use of one feature (event name) for one UTC day: feature breadth and depth.

    Kept as rows rather than a distinct count so ingestion can add to them exactly.
    """

    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="daily_feature_usage"
    )
    date = models.DateField()
    name = models.CharField(max_length=200, help_text="The event name.")
    event_count = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name_plural = "daily feature usage"
        ordering = ["-date", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "date", "name"], name="daily_feature_usage_unique"
            )
        ]

    def __str__(self):
        return f"{self.account_id} {self.date} {self.name}: {self.event_count}"


class SurveyResponse(models.Model):
    """An NPS (0-10) or CSAT (1-5) answer from a contact."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="survey_responses")
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="survey_responses"
    )
    kind = models.CharField(max_length=10, choices=SurveyKind.choices, db_index=True)
    score = models.PositiveSmallIntegerField()
    comment = models.TextField(blank=True)
    responded_at = models.DateTimeField(db_index=True)
    external_id = models.CharField(
        "external id", max_length=255, blank=True, help_text="The survey tool's response id."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-responded_at"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind=SurveyKind.NPS) & Q(score__gte=0) & Q(score__lte=10))
                | (Q(kind=SurveyKind.CSAT) & Q(score__gte=1) & Q(score__lte=5)),
                name="survey_score_in_range",
            ),
            models.UniqueConstraint(
                fields=["external_id"],
                condition=~Q(external_id=""),
                name="survey_external_id_unique",
            ),
        ]
        indexes = [models.Index(fields=["account", "kind", "responded_at"], name="survey_account")]

    def __str__(self):
        return f"{self.get_kind_display()} {self.score}"

    def clean(self):
        low, high = SURVEY_SCORE_RANGE.get(self.kind, (None, None))
        if low is not None and self.score is not None and not low <= self.score <= high:
            raise ValidationError(
                {"score": f"A {self.kind.upper()} score is from {low} to {high}."}
            )

    @property
    def nps_category(self) -> str | None:
        """promoter (9-10), passive (7-8) or detractor (0-6); None for CSAT."""
        if self.kind != SurveyKind.NPS:
            return None
        if self.score >= 9:
            return "promoter"
        return "passive" if self.score >= 7 else "detractor"


class Note(models.Model):
    """A CSM's note about an account: a call, a meeting, an email or a plain note."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    kind = models.CharField(max_length=10, choices=NoteKind.choices, default=NoteKind.NOTE)
    # The same limit on every path: the API's serializer and the dashboard's form read it.
    body = models.TextField(max_length=10_000)
    occurred_at = models.DateTimeField(help_text="When the call or meeting took place.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at"]
        indexes = [models.Index(fields=["account", "occurred_at"], name="note_account_time")]

    def __str__(self):
        return f"{self.get_kind_display()} on {self.occurred_at:%Y-%m-%d}"


class DirtyAccount(models.Model):
    """An account whose data changed since its health was last computed.

    Marked in the same transaction as the data itself, so a committed change is never lost
    for recompute; the health worker drains these rows every few seconds.
    """

    account = models.OneToOneField(
        Account, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    marked_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = "account awaiting health recompute"

    def __str__(self):
        return f"{self.account_id} since {self.marked_at:%H:%M:%S}"


class ImportJob(models.Model):
    """A CSV file uploaded in the dashboard: previewed first, then imported by a worker."""

    class Kind(models.TextChoices):
        ACCOUNTS = "accounts", "Accounts"
        CONTACTS = "contacts", "Contacts"

    class Status(models.TextChoices):
        PREVIEWED = "previewed", "Previewed"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Importing"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    filename = models.CharField(max_length=255)
    content = models.BinaryField(help_text="The file as uploaded, imported later by a worker.")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PREVIEWED)
    valid_only = models.BooleanField(
        default=False, help_text="Import the valid rows and skip the rejected ones."
    )
    rows = models.PositiveIntegerField(default=0)
    counts = models.JSONField(default=dict, blank=True, help_text="Result counts by status.")
    errors = models.JSONField(default=list, blank=True, help_text="'line N: field: reason'")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.get_kind_display()} from {self.filename} ({self.get_status_display()})"

    @property
    def valid_rows(self) -> int:
        return self.rows - self.counts.get("rejected", 0)


class ProcessedMessage(models.Model):
    """The message id of every identify or group call, so a replay is reported as a duplicate.

    Track and page calls are deduplicated by Event.message_id itself. Rows older than
    PROCESSED_MESSAGE_DAYS are pruned nightly: Segment retries within hours, not weeks.
    """

    message_id = models.CharField(max_length=255, unique=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self):
        return self.message_id


# --- the event catalogue (accounts/catalogue.py keeps these rows) -------------------------


class EventDefinition(models.Model):
    """An event name the product sends, as the catalogue knows it: what the admin says about
    it (a key feature or not, a description) and how it is used, refreshed from the events by
    ``accounts.catalogue.refresh_event_catalogue``. Health measures read the key features
    through ``accounts.catalogue.key_feature_names``.

    The usage columns are written by the refresh only, the admin's columns by
    ``accounts.catalogue.describe_event`` only: the two never overwrite each other.
    """

    name = models.CharField(max_length=200, unique=True, help_text="The event name as sent.")
    key_feature = models.BooleanField(
        "key feature",
        default=False,
        db_default=False,
        help_text="Chosen by an admin: health measures of feature use count this event.",
    )
    description = models.TextField(
        blank=True, default="", db_default="", help_text="What the event means, in words."
    )
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Who last changed the key-feature choice or the description.",
    )
    changed_at = models.DateTimeField(null=True, blank=True)
    # Usage (db defaults: the refresh inserts new names with raw SQL).
    event_count = models.PositiveBigIntegerField("events", default=0, db_default=0)
    account_count = models.PositiveIntegerField(
        "accounts", default=0, db_default=0, help_text="Accounts that ever sent it."
    )
    user_count = models.PositiveIntegerField(
        "users",
        default=0,
        db_default=0,
        help_text="Contacts that ever sent it (a person in two accounts counts in each).",
    )
    first_seen_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    # Retained against churned accounts, for the suggestion (see accounts/catalogue.py).
    retained_accounts = models.PositiveIntegerField(
        null=True, blank=True, help_text="Active accounts that send events (the sample)."
    )
    retained_using = models.PositiveIntegerField(
        null=True, blank=True, help_text="... of which used this event in the last 28 days."
    )
    churned_accounts = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Churned accounts that sent events and churned after this event first "
        "appeared (the sample).",
    )
    churned_using = models.PositiveIntegerField(
        null=True, blank=True, help_text="... of which used this event in the 28 days before."
    )
    usage_difference = models.FloatField(
        null=True,
        blank=True,
        help_text="Share of retained accounts using it minus share of churned ones (-1..1); "
        "empty without both samples.",
    )
    mix_auc = models.FloatField(
        null=True,
        blank=True,
        help_text="Chance that a retained account gave this event a larger share of its events "
        "(last 28 days) than a churned account did in its 28 days before churning; 0.5: no "
        "difference. Empty without both samples.",
    )
    mix_p = models.FloatField(
        null=True,
        blank=True,
        help_text="How often chance alone would give a share difference this large (one-sided "
        "Mann-Whitney test).",
    )
    created_at = models.DateTimeField(default=timezone.now)

    # Use in the WINDOW_DAYS days up to today (retained) or the day of churning (churned).
    WINDOW_DAYS = 28
    # Suggested when more retained than churned accounts use it beyond chance (a one-sided
    # two-proportion z-test at 97.5%, z >= 1.96), or when retained accounts give it a larger
    # share of their events beyond chance at the same level (accounts/event_mix.py): a
    # churner that still uses a feature, only less, shows in the second. The first alone
    # does not suggest a feature whose share of churners' events is no smaller (churners
    # doing less of everything stop using rare events first).
    SUGGEST_Z = 1.96
    SUGGEST_P = 0.025

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def retained_share(self) -> float | None:
        """Share of retained accounts that used it in their window; None without any."""
        return self.retained_using / self.retained_accounts if self.retained_accounts else None

    @property
    def churned_share(self) -> float | None:
        """Share of churned accounts that used it before churning; None without any."""
        return self.churned_using / self.churned_accounts if self.churned_accounts else None

    @property
    def difference_z(self) -> float | None:
        """The difference of the two shares in standard errors (pooled); None when there is
        nothing to compare or both groups are all-or-nothing alike."""
        if not self.retained_accounts or not self.churned_accounts:
            return None
        n1, n2 = self.retained_accounts, self.churned_accounts
        pooled = (self.retained_using + self.churned_using) / (n1 + n2)
        spread = (pooled * (1 - pooled) * (1 / n1 + 1 / n2)) ** 0.5
        return (self.retained_share - self.churned_share) / spread if spread else None

    @property
    def suggested(self) -> bool:
        z = self.difference_z
        return (z is not None and z >= self.SUGGEST_Z and not self.mix_contradicts) or (
            self.mix_suggests
        )

    @property
    def mix_contradicts(self) -> bool:
        """Fewer churners used it, yet churners gave it no smaller a share of their events:
        they did less of everything, and this feature is no more telling than the rest."""
        return self.mix_auc is not None and self.mix_auc <= 0.5

    @property
    def mix_suggests(self) -> bool:
        """Retained accounts give it a larger share of their events beyond chance."""
        return (
            self.mix_p is not None
            and self.mix_auc is not None
            and self.mix_auc > 0.5
            and self.mix_p <= self.SUGGEST_P
        )

    @property
    def comparison(self) -> str:
        """The suggestion in words, with the sizes of both samples."""
        if self.retained_accounts is None:
            return "Not compared yet: the catalogue compares after its next refresh."
        if not self.churned_accounts:
            since = f" after {self.first_seen_at:%Y-%m-%d}" if self.first_seen_at else ""
            return (
                f"Nothing to compare: no account that sends events churned{since}, when this "
                "event first appeared."
                if since
                else "Nothing to compare: no churned account sends events."
            )
        if not self.retained_accounts:
            return "Nothing to compare: no active account sends events."
        points = round(100 * (self.retained_share - self.churned_share))
        text = (
            f"Used by {self.retained_share:.0%} of {self.retained_accounts} retained accounts "
            f"(last {self.WINDOW_DAYS} days) and {self.churned_share:.0%} of "
            f"{self.churned_accounts} churned accounts ({self.WINDOW_DAYS} days before "
            "churning): " + (f"{points:+d} points" if points else "no difference")
        )
        z = self.difference_z
        if z is not None and z >= self.SUGGEST_Z:
            text += ", more than chance explains"
        elif points > 0:
            text += ", within what chance explains"
        text += "."
        if self.mix_auc is not None:
            text += (
                " Retained accounts gave it a larger share of their events than churned ones "
                f"in {self.mix_auc:.0%} of pairs"
                + (
                    ", more than chance explains"
                    if self.mix_suggests
                    else ", within what chance explains"
                    if self.mix_auc > 0.5
                    else ""
                )
                + "."
            )
            if z is not None and z >= self.SUGGEST_Z and self.mix_contradicts:
                text += (
                    " Churners did less of everything, not of this feature in particular: not "
                    "a candidate on its own."
                )
        return f"{text} A candidate key feature." if self.suggested else text


class EventUse(models.Model):
    """Who sent an event name, and on which days first and last (UTC): one row per (name,
    account) with no contact, and one per (name, account, contact). Accounts and users per
    event are counted from here; the refresh keeps it from the raw events. Days rather than
    times: a row is rewritten at most once a day, not for every batch of events."""

    name = models.CharField(max_length=200)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey(
        Contact,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Empty on the account's own row.",
    )
    first_seen = models.DateField()
    last_seen = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["name", "account", "contact"],
                nulls_distinct=False,
                name="event_use_unique",
            )
        ]

    def __str__(self):
        return f"{self.name} by {self.contact_id or 'account'} of {self.account_id}"


class EventWeek(models.Model):
    """Events of one name in one ISO week (Monday, UTC): the catalogue's weekly volume."""

    name = models.CharField(max_length=200)
    week = models.DateField(help_text="The Monday the ISO week starts on (UTC).")
    event_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["name", "week"]
        constraints = [
            models.UniqueConstraint(fields=["name", "week"], name="event_week_unique"),
        ]

    def __str__(self):
        return f"{self.name} week of {self.week}: {self.event_count}"


class EventCatalogueState(models.Model):
    """The one row saying how far the catalogue has read the events (by event id)."""

    events_through = models.BigIntegerField(
        default=0, help_text="Every event with an id up to this one is counted."
    )
    refreshed_at = models.DateTimeField(null=True, blank=True)
    rebuilt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "event catalogue state"

    def __str__(self):
        return f"events through {self.events_through}"
