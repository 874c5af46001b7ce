"""Segment-compatible endpoints: /v1/batch, /v1/track, /v1/identify, /v1/group, /v1/page.

The write key is an ingest-scoped API token, sent as the HTTP Basic username (as Segment's
libraries do), as a Bearer token, or as ``writeKey`` in the body. Bodies may be gzipped.
"""

import base64
import binascii
import gzip
import json
import zlib

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed, ParseError
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.ingest import (
    ACCEPTED,
    DUPLICATE,
    MAX_BATCH_BYTES,
    MAX_MESSAGE_BYTES,
    REJECTED,
    event_time,
    ingest_messages,
)
from cs_platform.api.authentication import authenticate_token, authorization_header
from cs_platform.models import Scope


class PayloadTooLarge(ParseError):
    status_code = 413


def read_body(request, limit: int) -> dict:
    """The JSON object of the request, gunzipped if need be; cached on the request."""
    django_request = request._request
    if hasattr(django_request, "segment_payload"):
        return django_request.segment_payload
    raw = django_request.body
    encoding = django_request.headers.get("Content-Encoding", "").lower()
    if encoding == "gzip":
        try:
            # Decompress at most limit+1 bytes: a small gzip bomb cannot exhaust memory.
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            raw = inflater.decompress(raw, limit + 1)
        except (zlib.error, gzip.BadGzipFile) as exc:
            raise ParseError(f"body: not valid gzip ({exc})") from None
    elif encoding not in ("", "identity"):
        raise ParseError(f"Content-Encoding: {encoding!r} is not supported (use gzip)")
    if len(raw) > limit:
        raise PayloadTooLarge(f"body: larger than {limit // 1024} KB (Segment's limit)")
    try:
        payload = json.loads(raw or b"null", parse_constant=_no_constants)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ParseError(f"body: malformed JSON ({exc})") from None
    except ValueError as exc:
        raise ParseError(f"body: {exc}") from None
    except RecursionError:
        raise ParseError("body: JSON nested too deeply") from None
    if not isinstance(payload, dict):
        raise ParseError("body: expected a JSON object")
    django_request.segment_payload = payload
    return payload


def _no_constants(name):
    raise ValueError(f"{name} is not valid JSON (use null or a number)")


class WriteKeyAuthentication(BaseAuthentication):
    """Basic auth with the write key as username, Bearer, or ``writeKey`` in the body."""

    def authenticate(self, request):
        parts = authorization_header(request).split()
        if parts and parts[0].lower() == b"basic" and len(parts) == 2:
            try:
                decoded = base64.b64decode(parts[1], validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise AuthenticationFailed("Authorization: malformed Basic credentials") from None
            return authenticate_token(decoded.partition(":")[0])
        if parts and parts[0].lower() == b"bearer" and len(parts) == 2:
            return authenticate_token(parts[1].decode("latin-1"))
        if parts:
            raise AuthenticationFailed("Authorization: use Basic <writeKey:> or Bearer <token>")
        key = read_body(request, request.parser_context["view"].body_limit).get("writeKey")
        if isinstance(key, str) and key:
            return authenticate_token(key)
        return None

    def authenticate_header(self, request):
        return 'Basic realm="segment"'


class SegmentResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    messageId = serializers.CharField()  # noqa: N815 (Segment's spelling)
    status = serializers.ChoiceField(choices=[ACCEPTED, DUPLICATE, REJECTED])
    reason = serializers.CharField(required=False)


class SegmentResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    rejected = serializers.IntegerField()
    results = SegmentResultSerializer(many=True)


class SegmentView(APIView):
    authentication_classes = [WriteKeyAuthentication]
    scopes_by_method = {"POST": {Scope.INGEST}}
    parser_classes: list = []  # the body is read by read_body (gzip, limits)
    message_type: str | None = None  # None: a batch
    body_limit = MAX_MESSAGE_BYTES

    def messages(self, payload) -> list:
        message = {k: v for k, v in payload.items() if k != "writeKey"}
        message.setdefault("type", self.message_type)
        return [message]

    @extend_schema(
        request={"application/json": {"type": "object"}},
        responses={
            200: SegmentResponseSerializer,
            400: OpenApiResponse(description="Malformed body, or every message rejected"),
            413: OpenApiResponse(description="Body over the size limit"),
        },
    )
    def post(self, request):
        received_at = timezone.now()
        payload = read_body(request, self.body_limit)
        messages = self.messages(payload)
        sent_at = None
        if payload.get("sentAt"):
            try:
                sent_at = event_time({"timestamp": payload["sentAt"]}, received_at, None)
            except ValueError as exc:
                raise ParseError(f"sentAt: {exc}") from None
        results = ingest_messages(messages, received_at=received_at, sent_at=sent_at)
        counts = {s: sum(r.status == s for r in results) for s in (ACCEPTED, DUPLICATE, REJECTED)}
        body = {
            "success": counts[REJECTED] == 0,
            "accepted": counts[ACCEPTED],
            "duplicates": counts[DUPLICATE],
            "rejected": counts[REJECTED],
            "results": [r.as_dict() for r in results],
        }
        everything_rejected = results and counts[REJECTED] == len(results)
        return Response(body, status=400 if everything_rejected else 200)


class BatchView(SegmentView):
    body_limit = MAX_BATCH_BYTES

    def messages(self, payload) -> list:
        batch = payload.get("batch")
        if not isinstance(batch, list):
            raise ParseError("batch: expected a list of messages")
        if not batch:
            raise ParseError("batch: is empty")
        return batch


class TrackView(SegmentView):
    message_type = "track"


class PageView(SegmentView):
    message_type = "page"


class IdentifyView(SegmentView):
    message_type = "identify"


class GroupView(SegmentView):
    message_type = "group"


class WriteKeyScheme(OpenApiAuthenticationExtension):
    """Segment's write key: the HTTP Basic username (or a Bearer token, or writeKey)."""

    target_class = WriteKeyAuthentication
    name = "segmentWriteKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "basic",
            "description": "An ingest-scoped API token as the username, empty password.",
        }
