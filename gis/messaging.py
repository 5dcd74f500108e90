"""Message channels: how a text reaches a person's phone outside the browser (an urgent
event's alert, gis/urgent.py). One small interface, ``send(phone, text) -> Sent``, and a
registry of adapters by short name (pygeoapi's plugin registry in miniature):

- ``none`` (the default): the bureau has no channel; nothing is sent and no message alert is
  recorded.
- ``http``: an SMS gateway reached over HTTP. A POST of ``{"phone": …, "text": …}`` as JSON to
  ``SMS_GATEWAY_URL`` with ``Authorization: Bearer SMS_GATEWAY_TOKEN``; any 2xx answer is
  "accepted" (its JSON ``id``, if any, is kept), anything else is a failure with the status
  and the start of the answer. Most gateways of Chinese carriers and cloud vendors sit behind a
  small intranet relay that speaks this; a bureau with another protocol adds an adapter here.

A channel never raises: a refusal, a timeout or an unreachable gateway comes back as a failed
``Sent`` with the reason, which the caller records (``urgent_alert.failure``). Sending happens
in a background job, after the web alert went out, so a slow gateway delays nobody.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Callable, Protocol

# A failure's text is kept this long (a gateway's HTML error page is not).
MAX_REASON = 300


@dataclass(frozen=True)
class Sent:
    """What a channel says about one message: accepted (with the gateway's id) or why not."""

    ok: bool
    message_id: str | None = None
    failure: str | None = None


class Channel(Protocol):
    name: str

    def send(self, phone: str, text: str) -> Sent: ...


class NoChannel:
    """No message channel: ``enabled`` is False and callers record no message alerts."""

    name = "none"
    enabled = False

    def send(self, phone: str, text: str) -> Sent:
        return Sent(False, failure="no message channel is configured (SMS_GATEWAY = none)")


class HttpGateway:
    """An SMS gateway behind an HTTP endpoint (see the module's docstring for the protocol)."""

    name = "http"
    enabled = True

    def __init__(self, url: str, token: str | None = None, timeout: float = 10.0):
        if not url or not url.startswith(("http://", "https://")):
            raise ValueError("SMS_GATEWAY_URL must be an http:// or https:// address")
        self.url = url
        self.token = token or None
        self.timeout = float(timeout)

    def send(self, phone: str, text: str) -> Sent:
        body = json.dumps({"phone": phone, "text": text}, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8",
                   "Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer = response.read(65536)
                status = response.status
        except urllib.error.HTTPError as exc:
            try:
                detail = exc.read(400).decode("utf-8", "replace").strip()
            finally:
                exc.close()
            return Sent(False, failure=_reason(f"HTTP {exc.code}: {detail}"))
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            return Sent(False, failure=_reason(f"gateway unreachable: {reason}"))
        if not 200 <= status < 300:
            return Sent(False, failure=_reason(f"HTTP {status}"))
        try:
            message_id = json.loads(answer or b"{}").get("id")
        except (ValueError, AttributeError):
            message_id = None
        return Sent(True, message_id=None if message_id is None else str(message_id)[:100])


def _reason(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_REASON else text[:MAX_REASON - 1] + "…"


# name -> factory(settings). A bureau's own adapter is one more entry.
CHANNELS: dict[str, Callable[[dict], Channel]] = {
    "none": lambda settings: NoChannel(),
    "http": lambda settings: HttpGateway(settings.get("SMS_GATEWAY_URL") or "",
                                         settings.get("SMS_GATEWAY_TOKEN"),
                                         settings.get("SMS_GATEWAY_TIMEOUT_SECONDS", 10)),
}


def channel(settings: dict) -> Channel:
    """The channel ``SMS_GATEWAY`` names, built from the settings (``none`` when unset).
    An unknown name or a bad address raises ValueError: a misconfiguration is said at once,
    not found out during an emergency."""
    name = (settings.get("SMS_GATEWAY") or "none").strip().lower()
    if name not in CHANNELS:
        raise ValueError(f"SMS_GATEWAY must be one of {', '.join(sorted(CHANNELS))}, "
                         f"not {name!r}")
    return CHANNELS[name](settings)
