"""Small helpers for exporters, as in the original metrics tool."""

import prometheus_client


def get_metric(metric_name, registry=None):
    """Returns the collector registered under metric_name in registry (the
    default one unless given), or None; lets helpers reuse a metric that
    another part of the exporter already created."""
    registry = registry or prometheus_client.REGISTRY
    # The registry has no public lookup by name; this mapping is what its
    # own duplicate check uses.
    names = getattr(registry, "_names_to_collectors", {})
    return names.get(metric_name)
