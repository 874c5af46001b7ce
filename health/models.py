"""Scorecards, the current score of each account, its daily history and every colour change."""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import Account
from health.choices import Color, Sentiment


class JSONTextField(models.JSONField):
    """JSON stored as text: PostgreSQL's ``json`` rather than ``jsonb``.

    For documents written and read whole and never searched inside (a score's components):
    ``json`` only checks the text, where ``jsonb`` parses it into a tree on every write and
    prints it back on every read, which for 10,000 scores of ~3 KB is a large share of a
    nightly recompute. (``json`` has no equality operator: no DISTINCT or GROUP BY on it.)
    """

    def db_type(self, connection):
        return "json"


class Scorecard(models.Model):
    """How health is scored for a segment of accounts: bands and weighted measures.

    The rows here are what an admin edits; every saved edit publishes an immutable
    ``ScorecardVersion`` and scores point at the version they were computed with, so history
    computed under an older definition stays readable.
    """

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    priority = models.PositiveIntegerField(
        default=100, help_text="Lower comes first: an account gets the first scorecard it matches."
    )
    is_default = models.BooleanField(
        "default", default=False, help_text="Scores every account no other scorecard matches."
    )
    enabled = models.BooleanField(default=True)
    # The segment: empty filters match everything.
    plans = models.JSONField(default=list, blank=True, help_text='Plan names, e.g. ["Enterprise"]')
    touch_models = models.JSONField(default=list, blank=True)
    industries = models.JSONField(default=list, blank=True)
    stages = models.JSONField(default=list, blank=True, help_text="Journey stages.")
    arr_min = models.DecimalField(
        "ARR from", max_digits=14, decimal_places=2, null=True, blank=True
    )
    arr_max = models.DecimalField(
        "ARR up to", max_digits=14, decimal_places=2, null=True, blank=True
    )
    employees_min = models.PositiveIntegerField(null=True, blank=True)
    employees_max = models.PositiveIntegerField(null=True, blank=True)
    # Colour bands: green >= green_min, yellow >= yellow_min, red below.
    green_min = models.PositiveSmallIntegerField(
        default=70, validators=[MinValueValidator(1), MaxValueValidator(100)]
    )
    yellow_min = models.PositiveSmallIntegerField(
        default=40, validators=[MinValueValidator(1), MaxValueValidator(100)]
    )
    hysteresis = models.DecimalField(
        max_digits=4,
        decimal_places=1,
        default=3,
        validators=[MinValueValidator(0), MaxValueValidator(10)],
        help_text="Points a score must pass a band boundary by before the colour changes.",
    )
    current_version = models.ForeignKey(
        "ScorecardVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["priority", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_default=True), name="one_default_scorecard"
            ),
            models.CheckConstraint(
                condition=Q(green_min__gt=models.F("yellow_min")), name="scorecard_bands_ordered"
            ),
        ]

    def __str__(self):
        return self.name


class ScorecardMeasure(models.Model):
    """One weighted measure of a scorecard; ``kind`` names an entry of health.measures."""

    scorecard = models.ForeignKey(Scorecard, on_delete=models.CASCADE, related_name="measures")
    kind = models.CharField(max_length=40)
    weight = models.DecimalField(
        max_digits=6, decimal_places=2, validators=[MinValueValidator(0.01)]
    )
    params = models.JSONField(default=dict, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["scorecard", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["scorecard", "kind"], name="measure_once_per_scorecard"
            ),
            models.CheckConstraint(condition=Q(weight__gt=0), name="measure_weight_positive"),
        ]

    def __str__(self):
        return f"{self.kind} x {self.weight}"


class ScorecardVersion(models.Model):
    """An immutable copy of a scorecard as it was scored: segment, bands, measures."""

    scorecard = models.ForeignKey(Scorecard, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    definition = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["scorecard", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["scorecard", "number"], name="scorecard_version_unique")
        ]

    def __str__(self):
        return f"{self.definition.get('name', self.scorecard_id)} v{self.number}"


class AccountHealth(models.Model):
    """The current computed score of one account, with its components and explanation."""

    account = models.OneToOneField(
        Account, on_delete=models.CASCADE, primary_key=True, related_name="health"
    )
    score = models.FloatField()
    color = models.CharField(max_length=10, choices=Color.choices, db_index=True)
    components = JSONTextField(default=list)
    movers = models.JSONField(default=list, help_text="Biggest changes since 7 days ago.")
    explanation = models.TextField()
    trend_7d = models.FloatField(null=True, blank=True, help_text="Points since 7 days ago.")
    trend_30d = models.FloatField(null=True, blank=True, help_text="Points since 30 days ago.")
    as_of = models.DateField()
    computed_at = models.DateTimeField()
    scorecard_version = models.ForeignKey(
        ScorecardVersion, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    digest = models.CharField(
        max_length=32,
        blank=True,
        help_text="Of everything above: an unchanged score is not rewritten.",
    )

    class Meta:
        verbose_name_plural = "account health"

    def __str__(self):
        return f"{self.account_id}: {self.score:.0f} {self.color}"


class HealthSnapshot(models.Model):
    """One score per account per day: the history behind trends, charts and backtests."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="health_snapshots")
    date = models.DateField()
    score = models.FloatField()
    color = models.CharField(max_length=10, choices=Color.choices)
    components = JSONTextField(default=list)
    # The validation report reads only the points of each measure; decoding them from the
    # components' JSON made it 9 times the cost of reading the rows at 10,000 accounts
    # (health.validation_data._measure_points).
    measure_points = ArrayField(
        models.FloatField(null=True),
        default=list,
        blank=True,
        help_text="Each measure's points in the order of the version's measures, null where "
        "the measure had no data: the components' points as plain numbers.",
    )
    explanation = models.TextField(blank=True)
    scorecard_version = models.ForeignKey(
        ScorecardVersion, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["account", "-date"]
        constraints = [
            models.UniqueConstraint(fields=["account", "date"], name="health_snapshot_unique")
        ]
        indexes = [models.Index(fields=["date"], name="health_snapshot_date")]

    def __str__(self):
        return f"{self.account_id} {self.date}: {self.score:.0f}"

    @staticmethod
    def points_in_order(components: list[dict], kinds: list[str]) -> list[float | None]:
        """``measure_points`` of ``components``: the points of each of ``kinds`` in order,
        None for a measure without a component, without points or with NaN points."""
        points = {c["measure"]: c.get("points") for c in components if not c.get("missing")}
        return [None if (p := points.get(kind)) is None or p != p else float(p) for kind in kinds]


class HealthChange(models.Model):
    """An account's computed colour changed: what announces deteriorations to playbooks."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="health_changes")
    changed_at = models.DateTimeField(db_index=True)
    from_color = models.CharField(
        max_length=10, choices=Color.choices, blank=True, help_text="Empty for a first score."
    )
    to_color = models.CharField(max_length=10, choices=Color.choices)
    from_score = models.FloatField(null=True, blank=True)
    to_score = models.FloatField()
    drivers = models.JSONField(default=list, help_text="The measures that moved the most.")
    explanation = models.TextField()
    scorecard_version = models.ForeignKey(
        ScorecardVersion, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    backfilled = models.BooleanField(
        default=False, help_text="Rebuilt from history: never announced to playbooks."
    )

    class Meta:
        ordering = ["-changed_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(from_color=models.F("to_color")), name="health_change_changes"
            )
        ]
        indexes = [models.Index(fields=["account", "changed_at"], name="health_change_account")]

    def __str__(self):
        return f"{self.account_id}: {self.from_color or '∅'} → {self.to_color}"


class HealthOverride(models.Model):
    """A CSM's judgement over the computed colour, with a reason and an end date.

    Rows are never deleted: an ended override stays as the audit of who said what, when.
    """

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="health_overrides")
    color = models.CharField(max_length=10, choices=Color.choices)
    reason = models.TextField()
    expires_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    end_reason = models.CharField(
        max_length=20, blank=True, help_text="expired, cancelled or replaced."
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["account"], condition=Q(ended_at__isnull=True), name="one_open_override"
            ),
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("created_at")), name="override_expires_later"
            ),
        ]

    def __str__(self):
        return f"{self.account_id}: {self.color} until {self.expires_at:%Y-%m-%d}"

    def is_active(self, now=None) -> bool:
        return self.ended_at is None and self.expires_at > (now or timezone.now())


class CsmSentiment(models.Model):
    """How the CSM feels about the account (1-5): the manual measure of a scorecard."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="csm_sentiments")
    sentiment = models.PositiveSmallIntegerField(choices=Sentiment.choices)
    note = models.TextField(blank=True)
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    set_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-set_at"]
        indexes = [models.Index(fields=["account", "set_at"], name="sentiment_account_time")]
        constraints = [
            models.CheckConstraint(
                condition=Q(sentiment__gte=1) & Q(sentiment__lte=5), name="sentiment_1_to_5"
            )
        ]

    def __str__(self):
        return f"{self.account_id}: {self.get_sentiment_display()}"


class LearnedScorecard(models.Model):
    """A scorecard version fitted on churn outcomes as of a day: a draft until an admin
    publishes it (``health.drafts``), with the fit and its out-of-sample validation."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"
        DISCARDED = "discarded", "Discarded"

    scorecard = models.ForeignKey(Scorecard, on_delete=models.CASCADE, related_name="learned")
    version = models.OneToOneField(
        ScorecardVersion,
        on_delete=models.CASCADE,
        related_name="learned",
        help_text="The draft version: measures, directions, weights, thresholds and bands.",
    )
    as_of = models.DateField(help_text="Only what was known on this day entered the fit.")
    window_days = models.PositiveSmallIntegerField(help_text="Churn within this many days.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    report = models.JSONField(help_text="The fit, its cross-validation and the comparison.")
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.version} learned as of {self.as_of} ({self.get_status_display()})"


class LearningRun(models.Model):
    """A "learn from churn" request from the scorecard builder, fitted by a worker: a fit
    reads a year of behaviour (about a minute at 10,000 accounts), too long for a request.
    ``health.learning_runs`` queues, runs and recovers them."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    scorecard = models.ForeignKey(Scorecard, on_delete=models.CASCADE, related_name="learning_runs")
    as_of = models.DateField()
    window_days = models.PositiveSmallIntegerField()
    red_share = models.FloatField()
    yellow_share = models.FloatField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    error_field = models.CharField(max_length=40, blank=True)
    error = models.TextField(blank=True)
    learned = models.OneToOneField(
        LearnedScorecard, null=True, blank=True, on_delete=models.SET_NULL, related_name="run"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "created_at"], name="learning_run_status")]

    def __str__(self):
        return f"Learning {self.scorecard_id} as of {self.as_of} ({self.get_status_display()})"

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)
