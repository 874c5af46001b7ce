"""Per-token rate limits: a fixed one-minute window counted in the shared cache (Redis).

A throttled request gets 429 with Retry-After; every API response carries the
RateLimit-Limit / RateLimit-Remaining / RateLimit-Reset headers (IETF draft) so clients can
pace themselves before they hit the wall.
"""

import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

from cs_platform.models import ApiToken

WINDOW_SECONDS = 60


def _identity(request) -> tuple[str, int]:
    if isinstance(request.auth, ApiToken):
        limit = request.auth.rate_limit_per_minute or settings.API_RATE_LIMIT_PER_MINUTE
        return f"token:{request.auth.pk}", limit
    if request.user and request.user.is_authenticated:
        return f"user:{request.user.pk}", settings.API_RATE_LIMIT_PER_MINUTE
    return f"ip:{request.META.get('REMOTE_ADDR', '')}", settings.API_RATE_LIMIT_PER_MINUTE


class TokenRateThrottle(BaseThrottle):
    def allow_request(self, request, view):
        ident, limit = _identity(request)
        now = time.time()
        window = int(now // WINDOW_SECONDS)
        key = f"ratelimit:{ident}:{window}"
        cache.add(key, 0, timeout=WINDOW_SECONDS + 5)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=WINDOW_SECONDS + 5)
            count = 1
        self.reset = max(1, int((window + 1) * WINDOW_SECONDS - now + 0.999))
        # The middleware copies these onto the response, whatever view or error produced it.
        request._request.ratelimit = (limit, max(0, limit - count), self.reset)
        return count <= limit

    def wait(self):
        return self.reset


class RateLimitHeadersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        state = getattr(request, "ratelimit", None)
        if state:
            limit, remaining, reset = state
            response["RateLimit-Limit"] = str(limit)
            response["RateLimit-Remaining"] = str(remaining)
            response["RateLimit-Reset"] = str(reset)
            response["RateLimit-Policy"] = f"{limit};w={WINDOW_SECONDS}"
        return response
