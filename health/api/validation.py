"""GET /api/v1/scorecards/{id}/validation: how well a scorecard version predicted churn.

Everyone who may read scorecards (admins, CSMs, viewers; tokens with the read scope) may
read its validation. The serializers below the view only document the response's shape.
"""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from health.models import Scorecard
from health.validation_data import (
    EVERY,
    MAX_WINDOW,
    Period,
    ValidationInputError,
    scorecard_validation,
)

_MAX_ID = 2**63 - 1  # beyond a bigint no scorecard (PostgreSQL would refuse the number)


class ValidationQuerySerializer(serializers.Serializer):
    start = serializers.DateField(
        required=False, help_text="First day of the period (default: a year before `end`)."
    )
    end = serializers.DateField(
        required=False, help_text="Last day of the period, at the latest today (default)."
    )
    window = serializers.IntegerField(
        required=False,
        default=60,
        min_value=1,
        max_value=MAX_WINDOW,
        help_text="Days after each observation date in which a churn counts (default 60).",
    )
    every = serializers.ChoiceField(
        choices=list(EVERY),
        required=False,
        default="month",
        help_text="Observation dates: the 1st of each month (default) or each Monday.",
    )
    version = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=2**31 - 1,
        help_text="Scorecard version number (default: the current one).",
    )


def _judged(**fields):
    return {
        **fields,
        "judged": serializers.BooleanField(),
        "note": serializers.CharField(
            allow_null=True, help_text='"too few outcomes to judge: ..." when not judged.'
        ),
    }


def _rate(**kwargs):
    return serializers.FloatField(allow_null=True, **kwargs)


def _counts(name: str):
    return inline_serializer(
        name,
        {
            "observations": serializers.IntegerField(),
            "churned": serializers.IntegerField(),
            "stayed": serializers.IntegerField(),
            "churn_rate": _rate(),
        },
    )


_report = inline_serializer(
    "ScorecardValidation",
    {
        "scorecard": inline_serializer(
            "ValidatedScorecard",
            {
                "id": serializers.IntegerField(),
                "name": serializers.CharField(),
                "version": serializers.IntegerField(),
            },
        ),
        "period": serializers.DictField(
            help_text="start, end, window_days, every, observation_dates, dates_left_out "
            "(window not over yet), outcomes_known_until."
        ),
        "observations": serializers.DictField(
            help_text="observations, churned, stayed, churn_rate, accounts, and per_date."
        ),
        "minimums": serializers.DictField(child=serializers.IntegerField()),
        "judged": serializers.BooleanField(help_text="Enough outcomes for an AUC."),
        "auc": inline_serializer(
            "ValidationAuc",
            _judged(
                value=_rate(help_text="0.5 is chance."),
                low=_rate(),
                high=_rate(),
                confidence=serializers.FloatField(),
                resamples=serializers.IntegerField(),
                resampled=serializers.CharField(help_text="accounts"),
                seed=serializers.IntegerField(),
                observations=serializers.IntegerField(),
                churned=serializers.IntegerField(),
                accounts=serializers.IntegerField(),
            ),
        ),
        "roc": serializers.ListField(child=serializers.DictField()),
        "recall": inline_serializer(
            "ValidationRecall",
            _judged(
                days_before=serializers.IntegerField(),
                churners=serializers.IntegerField(),
                scored=serializers.IntegerField(),
                flagged=serializers.IntegerField(),
                recall=_rate(),
            ),
            many=True,
        ),
        "false_alarms": serializers.DictField(),
        "bands": _counts("ValidationBand"),
        "lift": serializers.DictField(child=serializers.DictField()),
        "calibration": serializers.ListField(child=serializers.DictField()),
        "measures": inline_serializer(
            "ValidationMeasure",
            _judged(
                measure=serializers.CharField(),
                label=serializers.CharField(),
                with_data=serializers.IntegerField(),
                missing_share=_rate(),
                distinct_values=serializers.IntegerField(),
                modal_share=_rate(),
                auc=_rate(),
            ),
            many=True,
        ),
        "definitions": serializers.DictField(child=serializers.CharField()),
    },
)


class ScorecardValidationView(APIView):
    """AUC with a bootstrap interval, recall 14/30/60 days ahead, false alarms, churn and lift
    per colour, calibration and strength per measure, from the version's stored history."""

    @extend_schema(
        operation_id="scorecards_validation",
        parameters=[ValidationQuerySerializer],
        responses={
            200: _report,
            400: OpenApiResponse(description="{field: [reason]} for a period it cannot judge"),
        },
    )
    def get(self, request, pk):
        if int(pk) > _MAX_ID:
            pk = 0  # no such scorecard
        card = get_object_or_404(Scorecard.objects.select_related("current_version"), pk=pk)
        query = ValidationQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        period = Period.of(data.get("start"), data.get("end"), data["window"], data["every"])
        try:
            report = scorecard_validation(card, period, version=data.get("version"))
        except ValidationInputError as exc:
            return Response({exc.field: [str(exc)]}, status=400)
        return Response(report)
