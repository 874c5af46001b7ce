"""How well a scorecard predicted churn: validate_health --scorecard Default --start 2026-01-01."""

import json
from datetime import date

from django.core.management.base import BaseCommand, CommandError

from health.models import Scorecard
from health.validation_data import EVERY, Period, ValidationInputError, scorecard_validation


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{value!r} is not a date (YYYY-MM-DD).") from None


def _pct(value) -> str:
    return "—" if value is None else f"{value:.0%}"


def _num(value, digits=2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _note(item: dict) -> str:
    return f"  ({item['note']})" if item.get("note") else ""


def _headline(report: dict) -> list[str]:
    period, obs, auc = report["period"], report["observations"], report["auc"]
    card = report["scorecard"]
    lines = [
        f"{card['name']} v{card['version']}: {len(period['observation_dates'])} observation "
        f"dates ({period['every']}ly) from {period['observation_dates'][0]} to "
        f"{period['observation_dates'][-1]}, {period['window_days']}-day window",
        f"Observations: {obs['observations']} of {obs['accounts']} accounts, {obs['churned']} "
        f"churned within the window ({_pct(obs['churn_rate'])})",
    ]
    if period["dates_left_out"]:
        lines.append(f"Left out (window not over yet): {', '.join(period['dates_left_out'])}")
    lines += [
        "",
        f"AUC {_num(auc['value'])} (95% interval {_num(auc['low'])} to {_num(auc['high'])}, "
        f"{auc['resamples']} resamples of {auc['resampled']}){_note(auc)}",
    ]
    return lines


def _recall_and_alarms(report: dict) -> list[str]:
    lines = ["", "Recall: churners yellow or red N days before they churned"]
    for row in report["recall"]:
        lines.append(
            f"  {row['days_before']:>2} days: {_pct(row['recall']):>4}  ({row['flagged']} of "
            f"{row['scored']} scored that day; {row['churners']} churners){_note(row)}"
        )
    alarms = report["false_alarms"]
    lines.append(
        f"False alarms: {_pct(alarms['rate'])} of accounts that never churned were yellow or "
        f"red on a typical observation date ({alarms['observations']} observations of "
        f"{alarms['accounts']} accounts){_note(alarms)}"
    )
    return lines


def _bands_and_calibration(report: dict) -> list[str]:
    lines = ["", "Churn within the window by colour"]
    for band in report["bands"]:
        lift = report["lift"].get(f"{band['color']}_vs_green")
        extra = f"  lift {_num(lift['value'], 1)}x{_note(lift)}" if lift else ""
        lines.append(
            f"  {band['color']:<7}{band['observations']:>7} obs {band['churned']:>6} churned "
            f"{_pct(band['churn_rate']):>5}{extra}"
        )
    lines += ["", "Calibration: churn per score decile, lowest scores first"]
    for row in report["calibration"]:
        lines.append(
            f"  {row['decile']:>2}  {row['score_min']:>5.1f} to {row['score_max']:>5.1f}"
            f"{row['observations']:>7} obs {row['churned']:>6} churned {_pct(row['churn_rate']):>5}"
        )
    return lines


def _measures(report: dict) -> list[str]:
    lines = ["", "Measures: AUC of its points, missing, at its most common value"]
    for m in sorted(report["measures"], key=lambda m: -(m["auc"] or 0)):
        lines.append(
            f"  {m['label']:<28} AUC {_num(m['auc'])}  missing {_pct(m['missing_share']):>4}  "
            f"modal {_pct(m['modal_share']):>4}{_note(m)}"
        )
    return lines


def readable(report: dict) -> str:
    """The report as text for a terminal."""
    parts = (_headline, _recall_and_alarms, _bands_and_calibration, _measures)
    return "\n".join(line for part in parts for line in part(report))


def find_scorecard(name_or_id: str) -> Scorecard:
    cards = Scorecard.objects.select_related("current_version")
    card = cards.filter(name__iexact=name_or_id).first()
    if card is None and name_or_id.isdigit():
        card = cards.filter(pk=int(name_or_id)).first()
    if card is None:
        names = ", ".join(Scorecard.objects.values_list("name", flat=True))
        raise CommandError(f"No scorecard {name_or_id!r}; there are: {names}.")
    return card


class Command(BaseCommand):
    help = (
        "Judge a scorecard version by outcomes from its stored history: AUC, recall at 14, "
        "30 and 60 days, false alarms, churn and lift per colour, calibration, measures."
    )

    def add_arguments(self, parser):
        parser.add_argument("--scorecard", required=True, help="Name or id.")
        parser.add_argument(
            "--scorecard-version", type=int, help="Version number (default: the current one)."
        )
        parser.add_argument("--start", type=_day, help="First day (default: a year ago).")
        parser.add_argument("--end", type=_day, help="Last day (default: today).")
        parser.add_argument("--window", type=int, default=60, help="Days (default 60).")
        parser.add_argument("--every", choices=list(EVERY), default="month")
        parser.add_argument("--resamples", type=int, default=1000, help="Bootstrap resamples.")
        parser.add_argument("--seed", type=int, default=0, help="Bootstrap seed.")
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")

    def handle(self, *args, **options):
        card = find_scorecard(options["scorecard"])
        period = Period.of(options["start"], options["end"], options["window"], options["every"])
        if not 1 <= options["resamples"] <= 100_000:
            raise CommandError("--resamples must be from 1 to 100000.")
        try:
            report = scorecard_validation(
                card,
                period,
                version=options["scorecard_version"],
                resamples=options["resamples"],
                seed=options["seed"],
            )
        except ValidationInputError as exc:
            flag = "scorecard-version" if exc.field == "version" else exc.field
            raise CommandError(f"--{flag}: {exc}") from None
        self.stdout.write(json.dumps(report, indent=2) if options["json"] else readable(report))
