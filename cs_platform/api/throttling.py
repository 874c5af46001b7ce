"""Per-token rate limits: a fixed one-minute window counted in the shared cache (Redis).

A throttled request gets 429 with Retry-After; every API response carries the
RateLimit-Limit / RateLimit-Remaining / RateLimit-Reset headers (IETF draft) so clients can
pace themselves before they hit the wall.

Each process takes its share of a window in **leases**: one round trip to the cache counts
several requests at once (at most 1/50 of what the window has left, at most 50), and the
process spends them locally. A round trip to Redis costs more than the rest of a cached
health read, so a busy token's requests mostly need none. No window ever serves more than
its limit (a lease is granted only from what the shared count has left); near the limit
leases shrink to one request, so what another process holds unused and a client may be
refused early is at most 1/50 of the limit per process.
"""

import threading
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

LEASE_MAX = 50
LEASE_SHARE = 50  # a lease is at most 1/LEASE_SHARE of what the window has left


def _redis_count(backend: RedisCache, key: str, amount: int = 1) -> int:
    global _expire_nx
    client = _redis_clients.get(backend._cache)
    if client is None:
        client = _redis_clients[backend._cache] = backend._cache.get_client(key, write=True)
    key = backend.make_and_validate_key(key)
    pipe = client.pipeline(transaction=False)
    pipe.incrby(key, amount)
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


def _generic_count(backend, key: str, amount: int = 1) -> int:
    backend.add(key, 0, timeout=KEY_TIMEOUT)
    try:
        return backend.incr(key, amount)
    except ValueError:  # expired between add and incr
        backend.set(key, amount, timeout=KEY_TIMEOUT)
        return amount


def count_request(key: str, amount: int = 1) -> int:
    """Count ``amount`` more requests under ``key`` in the shared cache; the new count.

    On Redis: INCRBY and EXPIRE NX pipelined, one round trip (the first INCRBY creates the
    key, EXPIRE NX gives it its lifetime once). Other caches: add, then incr.
    """
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        return _redis_count(backend, key, amount)
    return _generic_count(backend, key, amount)


class _Lease:
    """Requests this process may still serve under one key, and the shared count it saw."""

    __slots__ = ("left", "count")

    def __init__(self, left: int, count: int):
        self.left, self.count = left, count


# Per cache backend (each test's settings get their own; each thread has its own backend):
# (window, {key: lease}); a new window drops the old one's leases.
_leases: WeakKeyDictionary = WeakKeyDictionary()
_leases_lock = threading.Lock()


def take(key: str, limit: int, window: int) -> tuple[bool, int]:
    """Count one request under ``key`` (a key of ``window``) against ``limit``: (allowed,
    requests left in the window as this process knows it)."""
    backend = caches["default"]
    with _leases_lock:
        held = _leases.get(backend)
        if held is None or held[0] != window:
            held = _leases[backend] = (window, {})
        lease = held[1].get(key)
        if lease is not None and lease.left > 0:
            lease.left -= 1
            return True, max(0, limit - lease.count + lease.left)
    seen = lease.count if lease is not None else 0
    size = max(1, min(LEASE_MAX, (limit - seen) // LEASE_SHARE))
    count = count_request(key, size)
    granted = min(size, limit - (count - size))  # what the shared count had left
    with _leases_lock:
        held[1][key] = _Lease(max(0, granted - 1), count)
    if granted <= 0:
        return False, 0
    return True, max(0, limit - count + granted - 1)


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
        allowed, remaining = take(f"ratelimit:{ident}:{window}", limit, window)
        self.reset = max(1, int((window + 1) * WINDOW_SECONDS - now + 0.999))
        # The middleware copies these onto the response, whatever view or error produced it.
        request._request.ratelimit = (limit, remaining, self.reset)
        return allowed

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
