"""Prometheus metrics: the one registry of everything the service counts and measures."""

from users_service.adapters.metrics.prometheus import PoolStats, PrometheusMetrics

__all__ = ["PoolStats", "PrometheusMetrics"]
