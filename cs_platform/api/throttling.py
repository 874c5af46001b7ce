"""Per-token rate limits: a fixed one-minute window counted in the shared cache (Redis).

A throttled request gets 429 with Retry-After; every API response carries the
RateLimit-Limit / RateLimit-Remaining / RateLimit-Reset headers (IETF draft) so clients can
pace themselves before they hit the wall.
"""

import time
from weakref import WeakKeyDictionary

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ResponseError
from rest_framework.throttling import BaseThrottle

from cs_platform.models import ApiToken

WINDOW_SECONDS = 60
KEY_TIMEOUT = WINDOW_SECONDS + 5

# Redis clients by the cache backend's client: Django's RedisCache builds a new one (a
# surprisingly costly object) for every operation; the counter needs one per process.
_redis_clients: WeakKeyDictionary = WeakKeyDictionary()
_expire_nx = True  # EXPIRE ... NX needs Redis 7; older servers get a plain EXPIRE


def _redis_count(backend: RedisCache, key: str) -> int:
    global _expire_nx
    client = _redis_clients.get(backend._cache)
    if client is None:
        client = _redis_clients[backend._cache] = backend._cache.get_client(key, write=True)
    key = backend.make_and_validate_key(key)
    pipe = client.pipeline(transaction=False)
    pipe.incr(key)
    pipe.expire(key, KEY_TIMEOUT, nx=_expire_nx)
    count, expired = pipe.execute(raise_on_error=False)
    if isinstance(count, Exception):
        raise count
    if isinstance(expired, Exception):
        if not (_expire_nx and isinstance(expired, ResponseError)):
            raise expired
        _expire_nx = False  # the INCR has counted: give the key its expiry the old way
        client.expire(key, KEY_TIMEOUT)
    return count


def _generic_count(backend, key: str) -> int:
    backend.add(key, 0, timeout=KEY_TIMEOUT)
    try:
        return backend.incr(key)
    except ValueError:  # expired between add and incr
        backend.set(key, 1, timeout=KEY_TIMEOUT)
        return 1


def count_request(key: str) -> int:
    """Count one more request under ``key`` in the shared cache, for this window; the count.

    On Redis: INCR and EXPIRE NX pipelined, one round trip (the first INCR creates the key,
    EXPIRE NX gives it its lifetime once). Other caches: add, then incr.
    """
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        return _redis_count(backend, key)
    return _generic_count(backend, key)


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
        count = count_request(f"ratelimit:{ident}:{window}")
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
