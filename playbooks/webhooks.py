"""Outgoing HTTP: signed JSON webhooks and Slack messages, behind an SSRF guard.

A destination is refused when any address its host resolves to is not a global one
(private, loopback, link-local, reserved, shared, multicast...), unless an admin allowed
the host, the IP or its network (PLAYBOOK_WEBHOOK_ALLOWED_HOSTS or WebhookAllowedHost).
Redirects are not followed, so an allowed host cannot bounce a request inwards.
"""

import hashlib
import hmac
import ipaddress
import json
import socket
import time
from urllib.parse import urlsplit

import requests
from django.conf import settings

SIGNATURE_HEADER = "X-CS-Signature"
TIMESTAMP_HEADER = "X-CS-Timestamp"


class DeliveryError(Exception):
    """A failed delivery; ``permanent`` ones are not retried (a refused address, a 4xx)."""

    def __init__(self, message: str, *, permanent=False, response_code=None):
        super().__init__(message)
        self.permanent = permanent
        self.response_code = response_code


def allow_list() -> list[str]:
    from playbooks.models import WebhookAllowedHost

    return [*settings.PLAYBOOK_WEBHOOK_ALLOWED_HOSTS] + list(
        WebhookAllowedHost.objects.values_list("host", flat=True)
    )


def _allowed(host: str, ip, allowed: list[str]) -> bool:
    for entry in allowed:
        entry = entry.strip().lower()
        if entry == host:
            return True
        try:
            if ip is not None and ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def check_destination(url: str) -> None:
    """Refuse a URL that is not http(s) or whose host resolves to a non-public address."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise DeliveryError(f"Not an http(s) URL: {url}", permanent=True)
    host = parts.hostname.lower()
    allowed = allow_list()
    if _allowed(host, None, allowed):
        return
    try:
        infos = socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise DeliveryError(f"Cannot resolve {host}: {exc}") from None
    for info in infos:
        ip = ipaddress.ip_address(info[4][0].split("%")[0])
        mapped = getattr(ip, "ipv4_mapped", None)
        ip = mapped or ip
        if (not ip.is_global or ip.is_multicast) and not _allowed(host, ip, allowed):
            raise DeliveryError(
                f"Refused: {host} resolves to {ip}, a private, loopback, link-local or reserved "
                "address. An admin can allow it (PLAYBOOK_WEBHOOK_ALLOWED_HOSTS or Webhook "
                "allowed hosts).",
                permanent=True,
            )


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over "{timestamp}.{body}", hex, as the signature header carries it."""
    message = timestamp.encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def post_json(url: str, payload: dict, *, secret: str = "", timeout: float | None = None) -> int:
    """POST ``payload``; returns the status code, raises DeliveryError on failure."""
    check_destination(url)
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True, default=str).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "cs-platform-playbooks/1"}
    if secret:
        timestamp = str(int(time.time()))
        headers[TIMESTAMP_HEADER] = timestamp
        headers[SIGNATURE_HEADER] = sign(secret, timestamp, body)
    try:
        response = requests.post(
            url,
            data=body,
            headers=headers,
            timeout=timeout or settings.PLAYBOOK_WEBHOOK_TIMEOUT_SECONDS,
            allow_redirects=False,
        )
    except requests.Timeout:
        raise DeliveryError(f"Timed out after {timeout} s") from None
    except requests.RequestException as exc:
        raise DeliveryError(f"Connection failed: {exc.__class__.__name__}: {exc}") from None
    code = response.status_code
    if 200 <= code < 300:
        return code
    permanent = 300 <= code < 500 and code not in {408, 409, 425, 429}
    raise DeliveryError(
        f"HTTP {code}: {response.text[:200]}", permanent=permanent, response_code=code
    )
