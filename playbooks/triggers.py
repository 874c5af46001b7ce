"""Trigger kinds: their parameters (validated by a small form each), and which occurrences match.

An ``Occurrence`` is one thing that happened to one account (a colour change, a renewal 30
days away, an NPS answer): its ``key`` is stable, so finding it again never fires twice.
Where occurrences come from lives in occurrences.py; matching them against playbooks in
engine.py.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django import forms

from accounts.choices import TouchModel
from health.choices import Color
from journeys.choices import Severity, Stage
from playbooks.choices import KeyContactChange, TriggerKind


@dataclass(frozen=True)
class Occurrence:
    """One trigger occurrence on one account; ``facts`` are what the trigger saw."""

    kind: str
    key: str
    account_id: int
    occurred_at: datetime
    explanation: str
    facts: dict = field(default_factory=dict)


class ListField(forms.Field):
    """A list of short strings, from a JSON list or a comma-separated line."""

    def __init__(self, *, choices=None, **kwargs):
        self.allowed = dict(choices) if choices else None
        kwargs.setdefault("required", False)
        if choices:
            kwargs.setdefault("widget", forms.CheckboxSelectMultiple(choices=choices))
        super().__init__(**kwargs)

    def to_python(self, value):
        if value in (None, ""):
            return []
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
            raise forms.ValidationError("Expected a list of names (or a comma-separated line).")
        items = [i.strip() for i in items if i.strip()]
        if self.allowed is not None:
            unknown = [i for i in items if i not in self.allowed]
            if unknown:
                raise forms.ValidationError(
                    f"Unknown value {unknown[0]!r}; expected one of {', '.join(self.allowed)}."
                )
        return items

    def prepare_value(self, value):
        if self.allowed is None and isinstance(value, list | tuple):
            return ", ".join(value)
        return value


class ParamsForm(forms.Form):
    """Validates a params dict; refuses keys it does not know, naming them."""

    def __init__(self, data=None, **kwargs):
        self.unknown = sorted(set(data or {}) - set(self.base_fields)) if data is not None else []
        super().__init__(data, **kwargs)

    def clean(self):
        cleaned = super().clean()
        for name in self.unknown:
            self.add_error(None, f"Unknown parameter {name!r}.")
        return cleaned

    def params(self) -> dict:
        """The cleaned values as JSON (no empties, decimals as strings)."""
        out = {}
        for name, value in self.cleaned_data.items():
            if value in (None, "", []):
                continue
            out[name] = str(value) if isinstance(value, Decimal) else value
        return out


def _days(label="Days", maximum=3650, **kw):
    return forms.IntegerField(label=label, min_value=1, max_value=maximum, **kw)


class HealthColorParams(ParamsForm):
    from_colors = ListField(choices=Color.choices, help_text="Empty: any colour (or none).")
    to_colors = ListField(choices=Color.choices, help_text="Empty: any colour.")


class ScoreDropParams(ParamsForm):
    points = forms.IntegerField(min_value=1, max_value=100, help_text="At least this many points")
    days = _days("Within days", 365)


class StageParams(ParamsForm):
    stage = forms.ChoiceField(choices=Stage.choices)


class MilestoneParams(ParamsForm):
    milestone = forms.CharField(
        max_length=200, required=False, help_text="The milestone's name; empty: any milestone."
    )


class DaysParams(ParamsForm):
    days = _days()


class KeyContactParams(ParamsForm):
    changes = ListField(choices=KeyContactChange.choices, required=True)
    inactive_days = _days("Inactive for days", required=False)

    def clean(self):
        cleaned = super().clean()
        if KeyContactChange.INACTIVE in (cleaned.get("changes") or []) and not cleaned.get(
            "inactive_days"
        ):
            self.add_error("inactive_days", "Say after how many days without activity.")
        return cleaned


class NpsParams(ParamsForm):
    max_score = forms.IntegerField(
        min_value=0, max_value=6, required=False, help_text="Detractors score 0-6 (default 6)."
    )


class EscalationParams(ParamsForm):
    severities = ListField(choices=Severity.choices, help_text="Empty: any severity.")


class TenureParams(ParamsForm):
    months = forms.IntegerField(min_value=1, max_value=600, help_text="e.g. 36 for every 3 years")


class EventParams(ParamsForm):
    event_name = forms.CharField(max_length=200, help_text="e.g. export_failed")


class SegmentParams(ParamsForm):
    segment_plans = ListField(label="Plans")
    segment_touch_models = ListField(label="Touch models", choices=TouchModel.choices)
    segment_industries = ListField(label="Industries")
    segment_arr_min = forms.DecimalField(label="ARR from", min_value=0, required=False)
    segment_arr_max = forms.DecimalField(label="ARR up to", min_value=0, required=False)
    segment_employees_min = forms.IntegerField(label="Employees from", min_value=0, required=False)
    segment_employees_max = forms.IntegerField(label="Employees up to", min_value=0, required=False)

    def clean(self):
        cleaned = super().clean()
        if not any(cleaned.get(name) not in (None, "", []) for name in self.base_fields):
            self.add_error(None, "Describe the segment with at least one filter.")
        low, high = cleaned.get("segment_arr_min"), cleaned.get("segment_arr_max")
        if low is not None and high is not None and high < low:
            self.add_error("segment_arr_max", "Must not be below 'ARR from'.")
        return cleaned


def _any(values, value) -> bool:
    return not values or value in values


@dataclass(frozen=True)
class TriggerSpec:
    params_form: type[ParamsForm]
    matches: Callable[[dict, dict], bool]
    describe: Callable[[dict], str]
    #: Time-based and state triggers are found by the scheduler's scans.
    scanned: bool = False
    #: The triggering contact's persona is known (for the persona condition).
    has_contact: bool = False


def _same(*names):
    return lambda params, facts: all(params.get(n) == facts.get(n) for n in names)


def _milestone(state: str, scanned=False) -> TriggerSpec:
    return TriggerSpec(
        MilestoneParams,
        lambda p, f: not p.get("milestone") or p["milestone"].lower() == f["milestone"].lower(),
        lambda p: f"milestone {p.get('milestone') or 'any'} {state}",
        scanned=scanned,
    )


def _escalation(state: str, scanned=False) -> TriggerSpec:
    return TriggerSpec(
        EscalationParams,
        lambda p, f: _any(p.get("severities"), f["severity"]),
        lambda p: f"{'/'.join(p.get('severities', [])) or 'any'} escalation {state}",
        scanned=scanned,
    )


TRIGGERS: dict[str, TriggerSpec] = {
    TriggerKind.HEALTH_COLOR_CHANGED: TriggerSpec(
        HealthColorParams,
        lambda p, f: (
            _any(p.get("from_colors"), f["from_color"]) and _any(p.get("to_colors"), f["to_color"])
        ),
        lambda p: (
            f"health {'/'.join(p.get('from_colors', [])) or 'any'} → "
            f"{'/'.join(p.get('to_colors', [])) or 'any'}"
        ),
    ),
    TriggerKind.SCORE_DROPPED: TriggerSpec(
        ScoreDropParams,
        _same("points", "days"),
        lambda p: f"score dropped ≥ {p.get('points')} points within {p.get('days')} days",
        scanned=True,
    ),
    TriggerKind.STAGE_ENTERED: TriggerSpec(
        StageParams, _same("stage"), lambda p: f"entered {p.get('stage')}"
    ),
    TriggerKind.MILESTONE_REACHED: _milestone("reached"),
    TriggerKind.MILESTONE_OVERDUE: _milestone("overdue", scanned=True),
    TriggerKind.RENEWAL_WITHIN: TriggerSpec(
        DaysParams, _same("days"), lambda p: f"renewal within {p.get('days')} days", scanned=True
    ),
    TriggerKind.KEY_CONTACT_CHANGED: TriggerSpec(
        KeyContactParams,
        lambda p, f: (
            f["change"] in p.get("changes", [])
            and (f["change"] != KeyContactChange.INACTIVE or f["days"] == p.get("inactive_days"))
        ),
        lambda p: (
            f"key contact {' or '.join(p.get('changes', []))}"
            + (f" ({p['inactive_days']} days)" if p.get("inactive_days") else "")
        ),
        scanned=True,
        has_contact=True,
    ),
    TriggerKind.NPS_DETRACTOR: TriggerSpec(
        NpsParams,
        lambda p, f: f["score"] <= p.get("max_score", 6),
        lambda p: f"NPS answer of {p.get('max_score', 6)} or less",
        has_contact=True,
    ),
    TriggerKind.ESCALATION_OPENED: _escalation("opened"),
    TriggerKind.ESCALATION_BREACHED: _escalation("past its deadline", scanned=True),
    TriggerKind.ESCALATION_RESOLVED: _escalation("resolved"),
    TriggerKind.NO_ACTIVITY: TriggerSpec(
        DaysParams, _same("days"), lambda p: f"no activity for {p.get('days')} days", scanned=True
    ),
    TriggerKind.TENURE_ANNIVERSARY: TriggerSpec(
        TenureParams,
        _same("months"),
        lambda p: f"every {p.get('months')} months of tenure",
        scanned=True,
    ),
    TriggerKind.PRODUCT_EVENT: TriggerSpec(
        EventParams,
        _same("event_name"),
        lambda p: f"event {p.get('event_name')}",
        has_contact=True,
    ),
    TriggerKind.SEGMENT_ENTERED: TriggerSpec(
        SegmentParams,
        lambda p, f: True,  # segment occurrences are found per playbook (facts["playbook_id"])
        lambda p: (
            "entered the segment "
            + ", ".join(f"{k.removeprefix('segment_')}={v}" for k, v in p.items())
        ),
        scanned=True,
    ),
}


def clean_trigger(kind: str, params) -> dict:
    """Validated params for ``kind``; raises forms.ValidationError naming the field."""
    if kind not in TRIGGERS:
        raise forms.ValidationError(
            {"trigger_kind": f"Unknown trigger {kind!r}; expected one of {', '.join(TRIGGERS)}."}
        )
    if not isinstance(params, dict):
        raise forms.ValidationError({"trigger_params": "Expected an object of parameters."})
    form = TRIGGERS[kind].params_form(params)
    if not form.is_valid():
        raise forms.ValidationError(
            {
                ("trigger_params" if name == "__all__" else f"trigger_params.{name}"): errors
                for name, errors in form.errors.items()
            }
        )
    return form.params()


def trigger_matches(playbook, occurrence: Occurrence) -> bool:
    if occurrence.kind != playbook.trigger_kind:
        return False
    if occurrence.kind == TriggerKind.SEGMENT_ENTERED:
        return occurrence.facts.get("playbook_id") == playbook.pk
    return TRIGGERS[occurrence.kind].matches(playbook.trigger_params, occurrence.facts)


def describe_trigger(kind: str, params: dict) -> str:
    spec = TRIGGERS.get(kind)
    try:
        return spec.describe(params) if spec else kind
    except (KeyError, TypeError):
        return kind
