"""What every part of `shipyard serve` shares: the configuration, the store, where the
dashboard is reached, the live deploy events, the hosts kept open for every read."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from shipyard.config.shipyard_config import ShipyardConfig
from shipyard.serve.host_sessions import HostSessions
from shipyard.serve.live import LiveDeploys
from shipyard.serve.store import Store


@dataclass
class ServeContext:
    config: ShipyardConfig  # the loaded shipyard.yml
    config_path: Path
    store: Store
    base_url: str  # for links in alerts, e.g. http://127.0.0.1:8400
    live: LiveDeploys
    hosts: HostSessions = field(default_factory=HostSessions)  # closed when serve stops
