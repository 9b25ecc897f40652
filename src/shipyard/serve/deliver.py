"""Alert delivery in a short-lived child process: `python -m shipyard.serve.deliver`.

apprise loads every one of its plugins when first used (some 40 MB); `serve` runs for
months and sends an alert rarely, so it hands each batch of alerts to a child that loads
apprise, delivers, answers and exits, and serve itself stays small. The channels' URLs
travel on the child's stdin, never in its argv.

The parent side is `alerts.DeliveryChild`, which starts one ahead of need (when a check
first fails) so the plugins are loaded by the time an incident opens.

stdin:  {"channels": [{"name": ..., "url": ...}], "alerts": [Alert as JSON], "timeout": s}
stdout: [{"sent": [names], "failed": [names]}, ...] one per alert, in order
"""

from __future__ import annotations

import json
import sys

from shipyard.serve.alerts import Channel, alert_from_json, deliver


def main() -> None:
    import apprise

    apprise.Apprise().add("json://127.0.0.1/")  # load the plugins now, before the request
    request = json.loads(sys.stdin.read())
    channels = [Channel(c["name"], c["url"]) for c in request["channels"]]
    answers = []
    for data in request["alerts"]:
        delivery = deliver(channels, alert_from_json(data), float(request["timeout"]))
        answers.append({"sent": delivery.sent, "failed": delivery.failed})
    sys.stdout.write(json.dumps(answers))


if __name__ == "__main__":
    main()
