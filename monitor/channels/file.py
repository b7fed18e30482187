"""The file channel: each message as <outbox>/<UTC timestamp>-<kind>-<id>.{txt,html,json}.

The JSON is written last and every file atomically (temp + rename), so a script that watches for
*.json never reads a half-written message; writing the same message again overwrites it, so a send
repeated after a crash leaves one copy.
"""

from __future__ import annotations

import json
from pathlib import Path

from monitor.atomic import write_atomic
from monitor.errors import DeliveryError
from monitor.models import Delivery


def outbox_json(data: dict) -> str:
    """A message as the outbox writes it: the public contract that the webhook channel POSTs as well."""
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


def outbox_stem(delivery: Delivery) -> str:
    stamp = delivery.data.get("created", "").replace("-", "").replace(":", "")
    return f"{stamp}-{delivery.kind}-{delivery.message_id}"


class FileSender:
    def __init__(self, name: str, outbox: Path):
        self.name = name
        self.outbox = outbox

    def ref_for(self, delivery: Delivery) -> str:
        return outbox_stem(delivery)

    def send(self, delivery: Delivery, deadline: float | None = None) -> dict[str, DeliveryError | None]:
        stem = outbox_stem(delivery)
        try:
            self.outbox.mkdir(parents=True, exist_ok=True)
            write_atomic(self.outbox / f"{stem}.txt", delivery.text)
            write_atomic(self.outbox / f"{stem}.html", delivery.html)
            write_atomic(self.outbox / f"{stem}.json", outbox_json(delivery.data))
        except OSError as exc:  # a full or read-only disk: nothing else will be written this round either
            raise DeliveryError(str(exc.strerror or exc), channel="file", target=str(self.outbox),
                                channel_down=True) from None
        return {}

    def close(self) -> None:
        """Nothing stays open between messages."""
