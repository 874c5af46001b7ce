"""Outgoing HTTP: signed JSON webhooks and Slack messages, behind an SSRF guard.

A destination is refused when any address its host resolves to is not a global one
(private, loopback, link-local, reserved, shared, multicast...), unless an admin allowed
the host, the IP or its network (PLAYBOOK_WEBHOOK_ALLOWED_HOSTS or WebhookAllowedHost).
Redirects are not followed, so an allowed host cannot bounce a request inwards, and the
connection goes to the address that was checked (DNS is not asked twice).
"""

import hashlib
import hmac
import ipaddress
import json
import socket
import time
from urllib.parse import urlsplit

import certifi
import urllib3
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


def check_destination(url: str):
    """Refuse a URL that is not http(s) or whose host resolves to a non-public address;
    return the address to connect to (the request is pinned to it: a second DNS answer
    cannot point it elsewhere)."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise DeliveryError(f"Not an http(s) URL: {url}", permanent=True)
    host = parts.hostname.lower()
    allowed = allow_list()
    host_allowed = _allowed(host, None, allowed)
    try:
        infos = socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise DeliveryError(f"Cannot resolve {host}: {exc}") from None
    addresses = []
    for info in infos:
        ip = ipaddress.ip_address(info[4][0].split("%")[0])
        mapped = getattr(ip, "ipv4_mapped", None)
        ip = mapped or ip
        if (
            not host_allowed
            and (not ip.is_global or ip.is_multicast)
            and not _allowed(host, ip, allowed)
        ):
            raise DeliveryError(
                f"Refused: {host} resolves to {ip}, a private, loopback, link-local or reserved "
                "address. An admin can allow it (PLAYBOOK_WEBHOOK_ALLOWED_HOSTS or Webhook "
                "allowed hosts).",
                permanent=True,
            )
        addresses.append(ip)
    return addresses[0]


def _pinned_post(url: str, ip, body: bytes, headers: dict, timeout: float):
    """POST to the checked address, with the URL's host in the Host header and, for https,
    in SNI and the certificate check."""
    parts = urlsplit(url)
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    options = {"timeout": urllib3.Timeout(total=timeout), "retries": False, "maxsize": 1}
    if https:
        pool = urllib3.HTTPSConnectionPool(
            str(ip),
            port,
            server_hostname=parts.hostname,
            assert_hostname=parts.hostname,
            cert_reqs="CERT_REQUIRED",
            ca_certs=certifi.where(),
            **options,
        )
    else:
        pool = urllib3.HTTPConnectionPool(str(ip), port, **options)
    with pool:
        return pool.urlopen(
            "POST",
            path,
            body=body,
            headers={**headers, "Host": parts.netloc.rsplit("@", 1)[-1]},
            redirect=False,
            preload_content=True,
        )


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over "{timestamp}.{body}", hex, as the signature header carries it."""
    message = timestamp.encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def post_json(url: str, payload: dict, *, secret: str = "", timeout: float | None = None) -> int:
    """POST ``payload``; returns the status code, raises DeliveryError on failure."""
    ip = check_destination(url)
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True, default=str).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "cs-platform-playbooks/1"}
    if secret:
        timestamp = str(int(time.time()))
        headers[TIMESTAMP_HEADER] = timestamp
        headers[SIGNATURE_HEADER] = sign(secret, timestamp, body)
    timeout = timeout or settings.PLAYBOOK_WEBHOOK_TIMEOUT_SECONDS
    try:
        response = _pinned_post(url, ip, body, headers, timeout)
    except urllib3.exceptions.TimeoutError:
        raise DeliveryError(f"Timed out after {timeout} s") from None
    except urllib3.exceptions.HTTPError as exc:
        raise DeliveryError(f"Connection failed: {exc.__class__.__name__}: {exc}") from None
    code = response.status
    if 200 <= code < 300:
        return code
    permanent = 300 <= code < 500 and code not in {408, 409, 425, 429}
    text = response.data[:200].decode("utf-8", "replace")
    raise DeliveryError(f"HTTP {code}: {text}", permanent=permanent, response_code=code)
