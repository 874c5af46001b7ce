"""Scorecard definitions: validation, publishing immutable versions, matching accounts.

Validation is one function used by the admin, the dashboard form and the API alike, so the
same bad scorecard gets the same message wherever it is entered, and nothing is saved.
"""

from __future__ import annotations

import numbers
from decimal import Decimal

import pandas as pd
from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.choices import Persona, TouchModel
from health.measures import REGISTRY
from health.models import Scorecard, ScorecardVersion
from journeys.choices import Severity, Stage

SEGMENT_CHOICES = {
    "touch_models": {c.value for c in TouchModel},
    "stages": {c.value for c in Stage},
}


def _number(value) -> bool:
    return isinstance(value, numbers.Real | Decimal) and not isinstance(value, bool)


def clean_params(kind: str, params: dict | None, field: str = "params") -> dict:
    """The measure's parameters with defaults filled in; a ValidationError names the field."""
    measure = REGISTRY.get(kind)
    if measure is None:
        raise ValidationError(
            {"kind": f"Unknown measure {kind!r}; choose one of {', '.join(sorted(REGISTRY))}."}
        )
    params = params or {}
    if not isinstance(params, dict):
        raise ValidationError({field: "Parameters must be an object of name: value."})
    specs = {p.name: p for p in measure.params}
    unknown = set(params) - set(specs)
    if unknown:
        raise ValidationError(
            {
                field: f"{kind} has no parameter {', '.join(sorted(unknown))}; "
                f"it takes {', '.join(specs) or 'none'}."
            }
        )
    cleaned = measure.defaults()
    for name, value in params.items():
        cleaned[name] = _clean_param(specs[name], value, f"{field}.{name}")
    if "zero_at" in cleaned and cleaned["zero_at"] == cleaned["full_at"]:
        raise ValidationError({f"{field}.full_at": "Must differ from zero_at."})
    return cleaned


def _check_range(spec, value, where: str) -> None:
    if spec.minimum is not None and value < spec.minimum:
        raise ValidationError({where: f"Must be at least {spec.minimum}."})
    if spec.maximum is not None and value > spec.maximum:
        raise ValidationError({where: f"Must be at most {spec.maximum}."})


def _clean_param(spec, value, where: str):
    if spec.kind in ("number", "integer"):
        if not _number(value) or (spec.kind == "integer" and int(value) != value):
            raise ValidationError(
                {where: f"Must be {'a whole' if spec.kind == 'integer' else 'a'} number."}
            )
        _check_range(spec, value, where)
        return int(value) if spec.kind == "integer" else float(value)
    if spec.kind in ("per_persona", "per_severity"):
        allowed = {c.value for c in (Persona if spec.kind == "per_persona" else Severity)}
        if not isinstance(value, dict):
            raise ValidationError({where: f"Must be an object of {', '.join(sorted(allowed))}."})
        cleaned = dict(spec.default)
        for key, item in value.items():
            if key not in allowed:
                raise ValidationError(
                    {where: f"Unknown {spec.kind[4:]} {key!r}; use {', '.join(sorted(allowed))}."}
                )
            if not _number(item):
                raise ValidationError({f"{where}.{key}": "Must be a number."})
            _check_range(spec, item, f"{where}.{key}")
            cleaned[key] = float(item)
        return cleaned
    if spec.kind == "names":
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise ValidationError({where: "Must be a list of event names."})
        return [v.strip() for v in value]
    if spec.kind == "choice":
        if value not in spec.choices:
            raise ValidationError({where: f"Must be one of {', '.join(spec.choices)}."})
        return value
    raise ValueError(spec.kind)  # pragma: no cover


def validate_bands(green_min, yellow_min, hysteresis) -> None:
    if not 1 <= yellow_min < green_min <= 100:
        raise ValidationError(
            {
                "green_min": f"Bands overlap: green from {green_min} must be above yellow from "
                f"{yellow_min}, both between 1 and 100."
            }
        )
    if not 0 <= hysteresis <= 10:
        raise ValidationError({"hysteresis": "Must be between 0 and 10 points."})
    if hysteresis * 2 >= green_min - yellow_min:
        raise ValidationError({"hysteresis": "Must be less than half the yellow band's width."})


def validate_segment(data: dict) -> None:
    for field, allowed in SEGMENT_CHOICES.items():
        bad = [v for v in data.get(field) or [] if v not in allowed]
        if bad:
            raise ValidationError(
                {field: f"Unknown {', '.join(bad)}; use {', '.join(sorted(allowed))}."}
            )
    for field in ("plans", "industries", *SEGMENT_CHOICES):
        value = data.get(field) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValidationError({field: "Must be a list of names."})
    for low, high in (("arr_min", "arr_max"), ("employees_min", "employees_max")):
        lo, hi = data.get(low), data.get(high)
        for name, value in ((low, lo), (high, hi)):
            if value is not None and (not _number(value) or value < 0):
                raise ValidationError({name: "Must be a number of 0 or more."})
        if lo is not None and hi is not None and lo > hi:
            raise ValidationError({high: f"Must not be below {low}."})


def validate_measures(measures: list[dict]) -> list[dict]:
    """Each {kind, weight, params}: known kind, positive weight, params in range, once each."""
    if not measures:
        raise ValidationError({"measures": "A scorecard needs at least one measure."})
    seen, cleaned = set(), []
    for index, item in enumerate(measures):
        kind, weight = item.get("kind"), item.get("weight")
        where = f"measures[{index}]"
        if kind in seen:
            raise ValidationError({f"{where}.kind": f"{kind} is listed twice."})
        seen.add(kind)
        if not _number(weight) or weight <= 0:
            raise ValidationError({f"{where}.weight": "Must be a number above 0."})
        try:
            params = clean_params(kind, item.get("params"), f"{where}.params")
        except ValidationError as exc:
            raise ValidationError(
                {
                    k if k.startswith(where) else f"{where}.{k}": v
                    for k, v in exc.message_dict.items()
                }
            ) from None
        cleaned.append({"kind": kind, "weight": float(weight), "params": params})
    return cleaned


def build_definition(scorecard: Scorecard, measures=None) -> dict:
    measures = measures if measures is not None else list(scorecard.measures.all())
    return {
        "scorecard_id": scorecard.pk,
        "name": scorecard.name,
        "is_default": scorecard.is_default,
        "segment": {
            "plans": list(scorecard.plans or []),
            "touch_models": list(scorecard.touch_models or []),
            "industries": list(scorecard.industries or []),
            "stages": list(scorecard.stages or []),
            "arr_min": None if scorecard.arr_min is None else float(scorecard.arr_min),
            "arr_max": None if scorecard.arr_max is None else float(scorecard.arr_max),
            "employees_min": scorecard.employees_min,
            "employees_max": scorecard.employees_max,
        },
        "bands": {
            "green_min": scorecard.green_min,
            "yellow_min": scorecard.yellow_min,
            "hysteresis": float(scorecard.hysteresis),
        },
        "measures": [
            {"kind": m.kind, "weight": float(m.weight), "params": clean_params(m.kind, m.params)}
            for m in sorted(measures, key=lambda m: (m.position, m.pk or 0))
        ],
    }


@transaction.atomic
def publish(scorecard: Scorecard, by=None) -> ScorecardVersion:
    """Freeze the scorecard as a new version if it changed; scores then use that version."""
    definition = build_definition(scorecard)
    current = scorecard.current_version
    if current and current.definition == definition:
        return current
    number = (scorecard.versions.order_by("-number").values_list("number", flat=True).first()) or 0
    version = ScorecardVersion.objects.create(
        scorecard=scorecard, number=number + 1, definition=definition, created_by=by
    )
    Scorecard.objects.filter(pk=scorecard.pk).update(current_version=version)
    scorecard.current_version = version
    return version


def active_versions() -> list[ScorecardVersion]:
    """Enabled scorecards' current versions, in matching order (by priority, the default last).

    Priority is read from the scorecard, not the version: reordering needs no new version.
    """
    cards = (
        Scorecard.objects.filter(enabled=True, current_version__isnull=False)
        .select_related("current_version")
        .order_by("is_default", "priority", "name")
    )
    return [card.current_version for card in cards]


def match(accounts: pd.DataFrame, versions: list[ScorecardVersion]) -> pd.Series:
    """Which version scores each account: the first whose segment it is in, else the default.

    ``accounts`` is indexed by id with plan, touch_model, industry, arr, employee_count, stage.
    """
    assigned = pd.Series(None, index=accounts.index, dtype=object)
    for version in versions:
        seg = version.definition["segment"]
        mask = assigned.isna()
        if not version.definition.get("is_default"):
            for field, column in (
                ("plans", "plan"),
                ("touch_models", "touch_model"),
                ("industries", "industry"),
                ("stages", "stage"),
            ):
                if seg.get(field):
                    wanted = {v.lower() for v in seg[field]}
                    mask &= accounts[column].fillna("").str.lower().isin(wanted)
            for low, high, column in (
                ("arr_min", "arr_max", "arr"),
                ("employees_min", "employees_max", "employee_count"),
            ):
                if seg.get(low) is not None:
                    mask &= accounts[column].astype(float) >= seg[low]
                if seg.get(high) is not None:
                    mask &= accounts[column].astype(float) <= seg[high]
        assigned[mask] = version
    return assigned
