"""Alert delivery in a child process of serve's: `python -m shipyard.serve.deliver`.

apprise loads every one of its plugins when first used (some 40 MB); `serve` runs for
months and sends alerts rarely, so a child loads apprise and delivers, and serve itself
stays small. The child is long-lived: it takes one request a line on stdin and answers
one line each, until stdin ends. The channels' URLs travel on its stdin, never in its
argv.

The parent side is `alerts.DeliveryWorker`, which starts the child ahead of need (when a
check first fails), so the plugins are loaded by the time an incident opens, and ends it
when it has been idle for a while.

stdin, one a line:  {"channels": [{"name": ..., "url": ...}], "alerts": [Alert as JSON],
                     "timeout": s}
stdout, one a line: [{"sent": [names], "failed": [names]}, ...] one per alert, in order
"""

from __future__ import annotations

import json
import sys
from typing import Any

from shipyard.serve.alerts import Channel, alert_from_json, deliver


def answer(request: dict[str, Any]) -> list[dict[str, list[str]]]:
    """Deliver one request's alerts; which channels took each."""
    channels = [Channel(c["name"], c["url"]) for c in request["channels"]]
    answers = []
    for data in request["alerts"]:
        delivery = deliver(channels, alert_from_json(data), float(request["timeout"]))
        answers.append({"sent": delivery.sent, "failed": delivery.failed})
    return answers


def main() -> None:
    import apprise

    apprise.Apprise().add("json://127.0.0.1/")  # load the plugins now, before a request
    for line in sys.stdin:
        if line.strip():
            sys.stdout.write(json.dumps(answer(json.loads(line))) + "\n")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
