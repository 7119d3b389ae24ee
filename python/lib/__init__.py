"""Helpers for exporters, as in the original metrics tool.

metricwrap's runner makes this package span the user's own lib/ (beside
their exporters directory) and the bundled one, the user's modules first."""
