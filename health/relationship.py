"""Measures of the relationship rather than of product use: survey answers, open
escalations, the renewal date, key contacts' activity, milestones and the CSM's sentiment.

Like every measure each is computed for a whole chunk of accounts with one aggregate query,
as of any past day (health/measures.py holds the building blocks and the registry).
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
from django.db.models import Count, Max, Q

from accounts.models import DailyContactUsage, SurveyResponse
from health.measures import PERSONA_LABELS, Measure, Param, _band, empty_result, fmt
from journeys.choices import Severity
from journeys.models import AccountMilestone, Escalation


class SurveyMeasure(Measure):
    """The latest answer of each respondent in the look-back, averaged per account."""

    survey_kind = ""
    name = ""

    def compute(self, ctx, params):
        since = ctx.day_end - timedelta(days=params["lookback_days"])
        rows = SurveyResponse.objects.filter(
            account_id__any=ctx.account_ids,
            kind=self.survey_kind,
            responded_at__gt=since,
            responded_at__lte=ctx.day_end,
        ).values_list("id", "account_id", "contact_id", "contact__persona", "score", "responded_at")
        frame = pd.DataFrame(
            rows, columns=["id", "account_id", "contact_id", "persona", "score", "at"]
        )
        result = empty_result(ctx.account_ids)
        result["note"] = f"no {self.name} answer in {params['lookback_days']} days"
        if frame.empty:
            return result
        frame = frame.sort_values(["at", "id"])
        # Anonymous answers each count; a known contact counts once, with their latest answer.
        frame["who"] = frame["contact_id"].fillna(-frame["id"])
        latest = frame.drop_duplicates(["account_id", "who"], keep="last")
        stats = latest.groupby("account_id")["score"].agg(["mean", "size"])
        result["raw"] = stats["mean"].reindex(result.index).astype(float)
        # The lowest answer of each account (the earliest of equals), for the note.
        lowest = latest.sort_values(["account_id", "score", "at", "id"]).drop_duplicates(
            "account_id"
        )
        lowest = lowest.set_index("account_id").loc[stats.index]
        notes = []
        for score, persona, mean, size in zip(
            lowest["score"].tolist(),
            lowest["persona"].tolist(),
            stats["mean"].tolist(),
            stats["size"].tolist(),
            strict=True,
        ):
            label = PERSONA_LABELS.get(persona)
            who = f"the {label.lower()}" if label else "an unknown contact"
            notes.append(
                f"{self.name} {score} from {who}"
                if size == 1
                else f"{self.name} {mean:.1f} average of {size} answers, lowest {score} from {who}"
            )
        result.loc[stats.index, "note"] = notes
        return result

    def describe(self, component):
        return component["note"]


class Nps(SurveyMeasure):
    survey_kind = "nps"
    name = "NPS"


class Csat(SurveyMeasure):
    survey_kind = "csat"
    name = "CSAT"


SEVERITY_WEIGHTS = {Severity.LOW: 1, Severity.MEDIUM: 2, Severity.HIGH: 4, Severity.CRITICAL: 8}


class OpenEscalations(Measure):
    quantity = "weight of open escalations"
    higher_is_better = False

    def compute(self, ctx, params):
        weights = params["severity_weights"]
        rows = (
            Escalation.objects.filter(account_id__any=ctx.account_ids, opened_at__lte=ctx.day_end)
            .filter(Q(resolved_at__isnull=True) | Q(resolved_at__gt=ctx.day_end))
            .values("account_id", "severity")
            .annotate(n=Count("id"))
            .values_list("account_id", "severity", "n")
        )
        frame = pd.DataFrame(rows, columns=["account_id", "severity", "n"])
        frame["weighted"] = frame["severity"].map(weights).fillna(0) * frame["n"]
        result = empty_result(ctx.account_ids)
        result["raw"] = frame.groupby("account_id")["weighted"].sum().reindex(result.index)
        if params["none_open"] == "full_points":
            result["raw"] = result["raw"].fillna(0)
        # Otherwise only an open escalation says something: with none the measure is left
        # out, so it lowers a score but never props up one whose usage collapsed.
        result["note"] = "no open escalation"
        for account_id, group in frame.groupby("account_id"):
            result.at[account_id, "note"] = ", ".join(
                f"{n} {sev} escalation{'s' if n > 1 else ''} open"
                for sev, n in zip(group["severity"], group["n"], strict=True)
            )
        return result

    def describe(self, component):
        return component["note"]

    def describe_change(self, old, new):
        if not old.get("raw"):
            return f"{new['note']} (none 7 days ago)"
        if not new.get("raw"):
            return "no escalation open any more"
        return super().describe_change(old, new) + " (weighted by severity)"


class DaysToRenewal(Measure):
    higher_is_better = None

    quantity = "days to the renewal"

    def compute(self, ctx, params):
        result = empty_result(ctx.account_ids)
        # The renewal date known on the day, from the contract history (health.measures).
        renewal = pd.to_datetime(ctx.contract["renewal"].reindex(result.index))
        days = (renewal - pd.Timestamp(ctx.as_of)).dt.days
        result["raw"] = days.astype(float)
        result["note"] = [
            "no renewal date" if pd.isna(d) else f"renews in {int(d)} days" for d in days
        ]
        return result

    def describe(self, component):
        return component["note"]


class KeyContactEngagement(Measure):
    quantity = "days since a key contact was active"
    higher_is_better = False

    def compute(self, ctx, params):
        lookback = params["lookback_days"]
        start, end = ctx.window(lookback)
        result = empty_result(ctx.account_ids)
        keys = pd.DataFrame(
            ctx.known_contacts().filter(is_key_contact=True).values_list("id", "account_id"),
            columns=["contact_id", "account_id"],
        )
        with_keys = set(keys["account_id"])
        result["note"] = "no key contact"
        if not with_keys:
            return result
        last_seen = dict(
            DailyContactUsage.objects.filter(
                account_id__any=ctx.account_ids,
                contact_id__any=keys["contact_id"].tolist(),
                date__gte=start,
                date__lte=end,
            )
            .values("account_id")
            .annotate(last=Max("date"))
            .values_list("account_id", "last")
        )
        # Not seen in a look-back that starts before the data began: maybe active before
        # it, so no data rather than the whole look-back.
        covered = ctx.covers(lookback)
        accounts, raws, notes = sorted(with_keys), [], []
        for account_id in accounts:
            if account_id in last_seen:
                days = (ctx.as_of - last_seen[account_id]).days
                raws.append(float(days))
                notes.append(f"a key contact was active {days} days ago")
            elif covered:
                raws.append(float(lookback))
                notes.append(f"no key contact active in {lookback} days")
            else:
                raws.append(np.nan)
                notes.append(f"no key contact active since the data began ({ctx.data_start})")
        result.loc[accounts, "raw"] = raws
        result.loc[accounts, "note"] = notes
        return result

    def describe(self, component):
        return component["note"]

    def describe_change(self, old, new):
        return (
            f"days since a key contact was active went from {fmt(old['raw'])} to {fmt(new['raw'])}"
        )


class MilestoneProgress(Measure):
    def compute(self, ctx, params):
        rows = (
            AccountMilestone.objects.filter(account_id__any=ctx.account_ids)
            .values("account_id")
            .annotate(
                reached=Count("id", filter=Q(reached_at__lte=ctx.day_end)),
                overdue=Count(
                    "id",
                    filter=Q(due_date__lt=ctx.as_of)
                    & (Q(reached_at__isnull=True) | Q(reached_at__gt=ctx.day_end)),
                ),
            )
            .values_list("account_id", "reached", "overdue")
        )
        frame = pd.DataFrame(rows, columns=["account_id", "reached", "overdue"]).set_index(
            "account_id"
        )
        result = empty_result(ctx.account_ids)
        result["note"] = "no milestone due yet"
        due = frame[(frame["reached"] + frame["overdue"]) > 0]
        result.loc[due.index, "raw"] = due["reached"] / (due["reached"] + due["overdue"]) * 100
        result.loc[due.index, "note"] = [
            f"{reached} milestones reached, {overdue} overdue"
            for reached, overdue in zip(due["reached"], due["overdue"], strict=True)
        ]
        return result

    def describe(self, component):
        return component["note"]


class CsmSentimentMeasure(Measure):
    def compute(self, ctx, params):
        from health.models import CsmSentiment  # the same app; imported late to avoid a cycle

        since = ctx.day_end - timedelta(days=params["lookback_days"])
        rows = CsmSentiment.objects.filter(
            account_id__any=ctx.account_ids, set_at__gt=since, set_at__lte=ctx.day_end
        ).values_list("account_id", "sentiment", "set_at", "id")
        frame = pd.DataFrame(rows, columns=["account_id", "sentiment", "at", "id"])
        result = empty_result(ctx.account_ids)
        result["note"] = f"no CSM sentiment in {params['lookback_days']} days"
        latest = frame.sort_values(["at", "id"]).drop_duplicates("account_id", keep="last")
        labels = {
            1: "very negative",
            2: "negative",
            3: "neutral",
            4: "positive",
            5: "very positive",
        }
        accounts = latest["account_id"].tolist()
        result.loc[accounts, "raw"] = latest["sentiment"].astype(float).tolist()
        result.loc[accounts, "note"] = [
            f"the CSM feels {labels[s]}" for s in latest["sentiment"].tolist()
        ]
        return result

    def describe(self, component):
        return component["note"]


RELATIONSHIP_MEASURES = (
    Nps(
        "nps",
        "NPS",
        "Latest NPS answer (0-10) of each respondent in the look-back, averaged.",
        "",
        (
            Param("lookback_days", 365, 1, 1095, "integer", "Days of answers looked at."),
            *_band(3, 9, 0, 10),
        ),
    ),
    Csat(
        "csat",
        "CSAT",
        "Latest CSAT answer (1-5) of each respondent in the look-back, averaged.",
        "",
        (
            Param("lookback_days", 180, 1, 1095, "integer", "Days of answers looked at."),
            *_band(1, 5, 1, 5),
        ),
    ),
    OpenEscalations(
        "open_escalations",
        "Open escalations",
        "Escalations open on the day, weighted by severity; with none open the measure is "
        "left out (or, if chosen, earns full points).",
        "",
        (
            Param(
                "none_open",
                "left_out",
                kind="choice",
                choices=("left_out", "full_points"),
                help="With no escalation open: leave the measure out, or give full points.",
            ),
            Param(
                "severity_weights",
                {str(k): v for k, v in SEVERITY_WEIGHTS.items()},
                0,
                100,
                "per_severity",
                "Weight of one open escalation per severity.",
            ),
            *_band(8, 0, 0, 1000),
        ),
    ),
    DaysToRenewal(
        "days_to_renewal",
        "Days to renewal",
        "Days from the day to the renewal date; a near renewal leaves little time to fix risk.",
        " days",
        _band(0, 120, -3650, 3650, " (days)"),
    ),
    KeyContactEngagement(
        "key_contact_engagement",
        "Key-contact engagement",
        "Days since a key contact was last active (looked back up to lookback_days).",
        " days",
        (
            Param("lookback_days", 90, 1, 365, "integer", "Days looked back."),
            *_band(60, 7, 0, 365, " (days)"),
        ),
    ),
    MilestoneProgress(
        "milestone_progress",
        "Milestone progress",
        "Milestones reached / milestones reached or overdue on the day.",
        "%",
        _band(0, 100, 0, 100, " (%)"),
    ),
    CsmSentimentMeasure(
        "csm_sentiment",
        "CSM sentiment",
        "The CSM's latest sentiment (1 very negative - 5 very positive) in the look-back.",
        "",
        (
            Param("lookback_days", 90, 1, 365, "integer", "Days looked back."),
            *_band(1, 5, 1, 5),
        ),
    ),
)
