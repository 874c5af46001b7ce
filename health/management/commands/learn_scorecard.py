"""learn_scorecard --as-of 2026-06-01: fit a draft scorecard on churn known by that day."""

import json
from datetime import date

from django.core.management.base import BaseCommand, CommandError

from health.drafts import learn_scorecard
from health.learning import LearningError
from health.models import Scorecard


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--as-of: {value!r} is not a date (YYYY-MM-DD).") from None


def _num(value, digits=2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _pct(value) -> str:
    return "—" if value is None else f"{value:.0%}"


def _side(summary: dict) -> str:
    if not summary.get("available"):
        return f"  {summary['label']:<24} no scores with outcomes on these dates"
    return (
        f"  {summary['label']:<24} AUC {_num(summary['auc'])} "
        f"({_num(summary['auc_low'])}-{_num(summary['auc_high'])}), 30-day recall "
        f"{_pct(summary['recall_30'])}, false alarms {_pct(summary['false_alarms'])}, "
        f"{summary['observations']} observations, {summary['churned']} churned"
    )


def _lines(draft) -> list[str]:
    report = draft.report
    lines = [
        f"Draft {draft.version} (id {draft.pk}) learned as of {report['as_of']} from "
        f"{report['observations']} observations on {len(report['observation_dates'])} dates, "
        f"{report['churned_observations']} churned within {report['window_days']} days.",
        f"Regularisation C={report['cross_validation']['c']} (cross-validated AUC by C: "
        + ", ".join(f"{c}: {_num(a, 3)}" for c, a in report["cross_validation"]["auc_by_c"].items())
        + ")",
        "",
        "Measures:",
    ]
    for m in report["measures"]:
        lines.append(
            f"  {m['weight']:>6.2f}%  {m['kind']:<24} {m['says']} "
            f"(0 points at {m['zero_at']:.3g}, 100 at {m['full_at']:.3g})"
        )
    for kind, why in report["left_out"].items():
        lines.append(f"  left out {kind}: {why}")
    bands = report["bands"]
    lines += [
        f"Bands by alert budget: green from {bands['green_min']}, yellow from "
        f"{bands['yellow_min']}, red below (hysteresis {bands['hysteresis']}).",
    ]
    for key in ("compare_training", "compare_after"):
        part = report[key]
        lines += ["", part["what"]]
        if "note" in part:
            lines.append(f"  {part['note']}")
            continue
        lines += [_side(part["draft"]), _side(part["current"])]
    lines += ["", "Nothing is published: an admin confirms the draft on the scorecard's page."]
    return lines


class Command(BaseCommand):
    help = "Fit a draft scorecard on churn outcomes known by --as-of; nothing is published."

    def add_arguments(self, parser):
        parser.add_argument("--as-of", required=True, type=_day)
        parser.add_argument("--scorecard", default=None, help="Name or id (default: Default).")
        parser.add_argument("--window", type=int, default=60, help="Churn within N days.")
        parser.add_argument("--red-share", type=float, default=0.05)
        parser.add_argument("--yellow-share", type=float, default=0.10)
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")

    def handle(self, *args, as_of, scorecard, window, red_share, yellow_share, **options):
        card = self._scorecard(scorecard)
        try:
            draft = learn_scorecard(
                card, as_of, window=window, red_share=red_share, yellow_share=yellow_share
            )
        except LearningError as exc:
            raise CommandError(f"--{exc.field.replace('_', '-')}: {exc}") from None
        if options["json"]:
            self.stdout.write(json.dumps({"id": draft.pk, **draft.report}, indent=2))
        else:
            self.stdout.write("\n".join(_lines(draft)))

    def _scorecard(self, value) -> Scorecard:
        cards = Scorecard.objects.all()
        if value is None:
            found = cards.filter(is_default=True).first()
        elif value.isdigit():
            found = cards.filter(pk=int(value)).first()
        else:
            found = cards.filter(name=value).first()
        if found is None:
            raise CommandError(f"--scorecard: no scorecard {value or '(default)'!r}.")
        return found
