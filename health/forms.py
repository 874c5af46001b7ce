"""The scorecard builder's forms: the scorecard itself, and one row per measure of the registry.

Fields only parse what was typed (numbers, lists, checkboxes). Whether the result is a valid
scorecard is decided by health.scorecards, exactly as for the Django admin and the API; its
error keys ("measures[2].params.lookback_days") are put back on the input they came from.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.forms.utils import ErrorDict

from accounts.choices import Persona, TouchModel
from health.measures import REGISTRY
from health.models import Scorecard
from health.scorecards import clean_params, validate_bands, validate_measures, validate_segment
from journeys.choices import Severity, Stage

SUBKEYS = {"per_persona": Persona.choices, "per_severity": Severity.choices}


class NamesField(forms.CharField):
    """Comma-separated text in, a list of names out (empty: any)."""

    def to_python(self, value):
        text = super().to_python(value)
        return [name.strip() for name in text.split(",") if name.strip()]

    def prepare_value(self, value):
        return ", ".join(value) if isinstance(value, list | tuple) else value


class SegmentChoiceField(forms.MultipleChoiceField):
    """Checkboxes whose values are checked by validate_segment, with its message."""

    widget = forms.CheckboxSelectMultiple

    def validate(self, value):
        if self.required and not value:
            raise ValidationError(self.error_messages["required"], code="required")


def disable_all(form: forms.BaseForm) -> None:
    """Read-only: every input rendered disabled (and bound data ignored)."""
    for field in form.fields.values():
        field.disabled = True


class ScorecardForm(forms.ModelForm):
    plans = NamesField(required=False, help_text="Comma-separated plan names; empty: any plan.")
    industries = NamesField(
        required=False, help_text="Comma-separated industries; empty: any industry."
    )
    touch_models = SegmentChoiceField(
        choices=TouchModel.choices, required=False, help_text="None ticked: any touch model."
    )
    stages = SegmentChoiceField(
        choices=Stage.choices,
        required=False,
        label="Journey stages",
        help_text="None ticked: any stage.",
    )

    class Meta:
        model = Scorecard
        fields = [
            "name", "description", "priority", "is_default", "enabled",
            "plans", "industries", "touch_models", "stages",
            "arr_min", "arr_max", "employees_min", "employees_max",
            "green_min", "yellow_min", "hysteresis",
        ]  # fmt: skip
        labels = {
            "arr_min": "ARR from",
            "arr_max": "ARR up to",
            "employees_min": "Employees from",
            "employees_max": "Employees up to",
            "green_min": "Green from",
            "yellow_min": "Yellow from",
        }
        help_texts = {
            "green_min": "A score at or above this is green.",
            "yellow_min": "A score at or above this (and below green) is yellow; below is red.",
        }
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}

    segment_fields = (
        "plans", "industries", "touch_models", "stages",
        "arr_min", "arr_max", "employees_min", "employees_max",
    )  # fmt: skip

    def clean(self):
        data = super().clean()
        try:
            if not {"green_min", "yellow_min", "hysteresis"} & set(self.errors):
                validate_bands(data["green_min"], data["yellow_min"], data["hysteresis"])
        except ValidationError as exc:
            self._add_errors(exc)
        try:
            validate_segment({f: data.get(f) for f in self.segment_fields if f not in self.errors})
        except ValidationError as exc:
            self._add_errors(exc)
        if data.get("is_default"):
            others = Scorecard.objects.filter(is_default=True).exclude(pk=self.instance.pk)
            other = others.first()
            if other is not None:
                self.add_error(
                    "is_default",
                    f"{other.name} is already the default scorecard; untick its default box first.",
                )
        return data

    def _add_errors(self, exc: ValidationError) -> None:
        for field, messages in exc.message_dict.items():
            self.add_error(field if field in self.fields else None, messages)


def param_fields(kind: str) -> dict[str, forms.Field]:
    """Form fields for a measure's parameters: one input per number, per persona, per severity."""
    fields = {}
    for spec in REGISTRY[kind].params:
        bounds = {"min": spec.minimum, "max": spec.maximum}
        bounds = {k: v for k, v in bounds.items() if v is not None}
        help_text = spec.help
        if spec.kind in ("number", "integer"):
            field_class = forms.IntegerField if spec.kind == "integer" else forms.FloatField
            step = "1" if spec.kind == "integer" else "any"
            fields[spec.name] = field_class(
                required=False,
                label=spec.name.replace("_", " ").capitalize(),
                help_text=f"{help_text} {_range(spec)}".strip(),
                widget=forms.NumberInput(
                    attrs={**bounds, "step": step, "placeholder": spec.default}
                ),
            )
        elif spec.kind in SUBKEYS:
            for key, label in SUBKEYS[spec.kind]:
                fields[f"{spec.name}__{key}"] = forms.FloatField(
                    required=False,
                    label=label,
                    help_text=_range(spec),
                    widget=forms.NumberInput(
                        attrs={**bounds, "step": "any", "placeholder": spec.default.get(key, "")}
                    ),
                )
        elif spec.kind == "names":
            fields[spec.name] = NamesField(
                required=False,
                label=spec.name.replace("_", " ").capitalize(),
                help_text=f"{help_text} Comma-separated.",
            )
        elif spec.kind == "choice":
            fields[spec.name] = forms.ChoiceField(
                required=False,
                label=spec.name.replace("_", " ").capitalize(),
                help_text=help_text,
                choices=[("", f"default ({spec.default})"), *[(c, c) for c in spec.choices]],
            )
        else:  # pragma: no cover - a new Param kind needs an input here
            raise ValueError(spec.kind)
    return fields


def _range(spec) -> str:
    if spec.minimum is not None and spec.maximum is not None:
        return f"{spec.minimum:g} to {spec.maximum:g}."
    return ""


def param_initial(kind: str, params: dict | None) -> dict:
    """The row's initial values from stored parameters (defaults filled in)."""
    try:
        values = clean_params(kind, params)
    except ValidationError:  # stored before a rule tightened: show the defaults, not a crash
        values = REGISTRY[kind].defaults()
    initial = {}
    for spec in REGISTRY[kind].params:
        value = values.get(spec.name)
        if spec.kind in SUBKEYS:
            for key, _ in SUBKEYS[spec.kind]:
                initial[f"{spec.name}__{key}"] = (value or {}).get(key)
        else:
            initial[spec.name] = value
    return initial


class MeasureForm(forms.Form):
    """One measure kind: include it or not, its weight and its parameters."""

    kind = forms.CharField(widget=forms.HiddenInput)
    include = forms.BooleanField(required=False, label="Include")
    weight = forms.DecimalField(
        required=False,
        max_digits=6,
        decimal_places=2,
        help_text="Relative: weights are shared out in proportion.",
        widget=forms.NumberInput(attrs={"step": "any", "min": "0.01"}),
    )

    def __init__(self, *args, kind: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.measure = REGISTRY.get(kind)
        self.param_names = []
        if self.measure is not None:
            extra = param_fields(kind)
            self.fields.update(extra)
            self.param_names = list(extra)

    def param_groups(self) -> list[dict]:
        """The parameter inputs for the template: one group per Param (several per persona)."""
        groups = []
        for spec in self.measure.params if self.measure else ():
            if spec.kind in SUBKEYS:
                names = [f"{spec.name}__{key}" for key, _ in SUBKEYS[spec.kind]]
                title = spec.name.replace("_", " ").capitalize()
                groups.append(
                    {"title": title, "help": spec.help, "fields": [self[n] for n in names]}
                )
            else:
                groups.append({"title": "", "help": "", "fields": [self[spec.name]]})
        return groups

    def included(self) -> bool:
        field = self.fields["include"]
        if field.disabled or not self.is_bound:
            return bool(self.initial.get("include"))
        return field.clean(
            field.widget.value_from_datadict(self.data, None, self.add_prefix("include"))
        )

    def full_clean(self):
        super().full_clean()
        if self.is_bound and not self.included():
            # A measure left out is not validated: what its inputs hold does not matter.
            self._errors = ErrorDict()

    def item(self) -> dict:
        """{kind, weight, params} as validate_measures takes it; empty inputs mean default."""
        data, params = self.cleaned_data, {}
        if self.measure is not None:
            for spec in self.measure.params:
                if spec.kind in SUBKEYS:
                    values = {key: data.get(f"{spec.name}__{key}") for key, _ in SUBKEYS[spec.kind]}
                    values = {k: v for k, v in values.items() if v is not None}
                    if values:
                        params[spec.name] = values
                elif spec.kind == "names":
                    params[spec.name] = data.get(spec.name) or []
                elif data.get(spec.name) not in (None, ""):
                    params[spec.name] = data[spec.name]
        return {"kind": data.get("kind"), "weight": data.get("weight"), "params": params}

    def add_validation_error(self, key: str, messages: list[str]) -> None:
        """Put an error of validate_measures ("weight", "params.benchmarks.admin") in place."""
        name = key.removeprefix("params.")
        candidates = [key, name, name.replace(".", "__")]
        target = next((c for c in candidates if c in self.fields), None)
        if target is None and name != key:
            label = name.replace("_", " ").replace(".", " ")
            messages = [f"{label.capitalize()}: {m}" for m in messages]
        for message in messages:
            self.add_error(target, message)


class BaseMeasureFormSet(forms.BaseFormSet):
    """One form per measure kind; a kind comes with its row (a hidden input), not its index."""

    def get_form_kwargs(self, index):
        kwargs = super().get_form_kwargs(index)
        if self.is_bound:
            kwargs["kind"] = self.data.get(f"{self.add_prefix(index)}-kind", "")
        elif index is not None and index < len(self.initial or []):
            kwargs["kind"] = self.initial[index]["kind"]
        return kwargs

    def clean(self):
        self.measures = []
        if any(self.errors):
            return
        rows = [form for form in self.forms if form.included()]
        try:
            self.measures = validate_measures([form.item() for form in rows])
        except ValidationError as exc:
            for key, messages in exc.message_dict.items():
                index, _, rest = key.partition("].")
                if key.startswith("measures[") and rest:
                    rows[int(index.removeprefix("measures["))].add_validation_error(rest, messages)
                else:
                    raise ValidationError(messages) from None


MeasureFormSet = forms.formset_factory(
    MeasureForm,
    formset=BaseMeasureFormSet,
    extra=0,
    max_num=len(REGISTRY),
    absolute_max=len(REGISTRY),
    validate_max=True,
)


def measure_initial(scorecard: Scorecard | None) -> list[dict]:
    """A row per registry kind: the scorecard's measures first, in order, then the others."""
    rows = []
    measures = list(scorecard.measures.all()) if scorecard and scorecard.pk else []
    for m in sorted(measures, key=lambda m: (m.position, m.pk)):
        if m.kind in REGISTRY:
            rows.append(
                {"kind": m.kind, "include": True, "weight": m.weight}
                | param_initial(m.kind, m.params)
            )
    used = {row["kind"] for row in rows}
    for kind in REGISTRY:
        if kind not in used:
            rows.append({"kind": kind, "include": False} | param_initial(kind, {}))
    return rows
