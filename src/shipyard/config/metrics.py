"""`metrics`: the team's delivery targets, the hands-on baseline, and host prices.

    metrics:
      hands_on_baseline_minutes: 45     # per deploy, before Shipyard (entered once)
      targets: {deploys_per_week: 3}    # any of the team's targets; the rest keep defaults
      host_prices: {deploy@web1.example.com: 12.0}   # per host and month, optional
      currency: USD
      resource_alerts: {disk_full_within_days: 7, memory_over: 0.9, memory_for: 600}

Every field is optional; docs/metrics.md defines what each target measures.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class DeliveryTargets(BaseModel):
    """The team's own targets (issue 10's defaults)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    no_rollback_share: float = Field(default=0.95, ge=0, le=1)
    staged_share: float = Field(default=1.0, ge=0, le=1)
    emergency_minutes: float = Field(default=15.0, gt=0)
    uptime: float = Field(default=0.999, ge=0, le=1)
    deploys_per_week: float = Field(default=2.0, ge=0)
    recovery_minutes: float = Field(default=30.0, gt=0)
    confidence: float = Field(default=8.0, ge=1, le=10)
    hands_on_reduction: float = Field(default=0.80, ge=0, le=1)


class ResourceAlerts(BaseModel):
    """When `shipyard serve` alerts on a host's resources (plan/forecast.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    disk_full_within_days: float = Field(default=7.0, gt=0, le=365)
    memory_over: float = Field(default=0.9, gt=0, le=1)  # share of the host's memory
    memory_for: float = Field(default=600.0, gt=0, le=7 * 86400)  # seconds
    sample_interval: float = Field(default=60.0, ge=5, le=3600)  # seconds between samples


class Metrics(BaseModel):
    """Delivery metrics settings (`shipyard metrics`, the dashboard)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    targets: DeliveryTargets = DeliveryTargets.model_construct()
    hands_on_baseline_minutes: float | None = Field(default=None, gt=0)
    host_prices: dict[str, float] = Field(default_factory=dict)  # host address -> per month
    currency: str = Field(default="USD", min_length=1, max_length=8)
    resource_alerts: ResourceAlerts = ResourceAlerts.model_construct()
