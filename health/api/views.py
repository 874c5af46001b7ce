"""REST endpoints of the health app."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from health.metrics import MetricsError, Segment, portfolio_metrics


class MetricsQuerySerializer(serializers.Serializer):
    start = serializers.DateField(help_text="First day of the period.")
    end = serializers.DateField(help_text="Last day of the period (inclusive).")
    plan = serializers.CharField(required=False, default="")
    touch_model = serializers.CharField(required=False, default="")
    industry = serializers.CharField(required=False, default="")
    owner = serializers.CharField(required=False, default="", help_text="CSM username.")


class MetricsView(APIView):
    """Portfolio metrics (churn, NPS, CSAT, CLV, adoption, time to value, escalations)."""

    @extend_schema(
        parameters=[MetricsQuerySerializer],
        responses={200: OpenApiResponse(description="Metrics with their definitions")},
    )
    def get(self, request):
        query = MetricsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        segment = Segment(**{k: data[k] for k in ("plan", "touch_model", "industry", "owner")})
        try:
            return Response(portfolio_metrics(data["start"], data["end"], segment))
        except MetricsError as exc:
            return Response({exc.field: [str(exc)]}, status=400)
