"""learn_scorecard --as-of 2026-06-01 [--publish]: fit a draft scorecard on churn known by that
day (published only with --publish, and only when the fit succeeded)."""

import json
from datetime import date

from django.core.management.base import BaseCommand, CommandError

from health.drafts import learn_scorecard, publish_learned
from health.learning import RED_SHARE, YELLOW_SHARE, LearningError
from health.models import Scorecard
from health.validation import Minimums

SHARE_HELP = (
    "Share of the training observations that did not churn to flag {} (the false alarms "
    "accepted); default %(default)s."
)


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--as-of: {value!r} is not a date (YYYY-MM-DD).") from None


def _num(value, digits=2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _pct(value) -> str:
    return "—" if value is None else f"{value:.0%}"


def _value(value: float) -> str:
    """A threshold as people write it: 1,160 rather than 1.16e+03, 4.5, 0.25."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _side(summary: dict) -> str:
    if not summary.get("available"):
        return f"  {summary['label']:<24} no scores with outcomes on these dates"
    if summary["auc"] is None:
        return (
            f"  {summary['label']:<24} too few outcomes to judge the AUC or recall "
            f"({summary['churned']} churned of {summary['observations']} observations, "
            f"{Minimums.churned} needed); false alarms {_pct(summary['false_alarms'])}"
        )
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
            f"(0 points at {_value(m['zero_at'])}, 100 at {_value(m['full_at'])})"
        )
        if m.get("kept_because"):
            lines.append(f"           kept: {m['kept_because']}")
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
        parser.add_argument(
            "--red-share", type=float, default=RED_SHARE, help=SHARE_HELP.format("red")
        )
        parser.add_argument(
            "--yellow-share", type=float, default=YELLOW_SHARE, help=SHARE_HELP.format("yellow")
        )
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")
        parser.add_argument(
            "--publish",
            action="store_true",
            help="Publish the draft at once (the admin's confirmation, given in advance); "
            "then rebuild its history with backfill_health.",
        )

    def handle(self, *args, as_of, scorecard, window, red_share, yellow_share, **options):
        card = self._scorecard(scorecard)
        try:
            draft = learn_scorecard(
                card, as_of, window=window, red_share=red_share, yellow_share=yellow_share
            )
        except LearningError as exc:
            raise CommandError(f"--{exc.field.replace('_', '-')}: {exc}") from None
        published = publish_learned(draft) if options["publish"] else None
        if options["json"]:
            number = published.number if published else None
            body = {"id": draft.pk, "published_version": number, **draft.report}
            self.stdout.write(json.dumps(body, indent=2))
            return
        lines = _lines(draft)
        if published:
            lines[-1] = (
                f"Published as {published}: accounts are rescored with it from the next "
                "recompute; backfill_health rebuilds its history."
            )
        self.stdout.write("\n".join(lines))

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
