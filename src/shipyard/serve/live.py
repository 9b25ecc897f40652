"""In-memory pub/sub of deploy phase events for the live view.

Owned by the dashboard engineer (serve-web), who replaces this placeholder with the
pollers and SSE fan-out; it exists so `ServeContext` has its type from the start.
"""

from __future__ import annotations


class LiveDeploys:
    """Per environment, the newest deploy phase events and their subscribers."""
