"""Exporters in the original metrics tool's layout: DIR/NAME.py or
DIR/NAME/NAME.py, each with a class derived from exporter.Exporter.

metricwrap's runner makes this package span the user's exporters directory
and the bundled one, the user's files first."""
