"""One host operation's implementation, bound to its typed Op."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic

from shipyard.host.context import Context
from shipyard.protocol.op import Op, Rep, Req


@dataclass(frozen=True)
class Handler(Generic[Req, Rep]):
    op: Op[Req, Rep]
    run: Callable[[Context, Req], Rep]
