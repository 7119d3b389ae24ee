"""A seed-style exporter in exporters/NAME/NAME.py that takes --target
through parse_args, as the original tool's network exporters did."""

import argparse

from exporters.exporter import Exporter
from lib import timing


class CiscoExporter(Exporter):
    job_name = 'cisco'

    def parse_args(self, *args):
        parser = argparse.ArgumentParser(prog='cisco')
        parser.add_argument('--target', required=True)
        parser.add_argument('--port', type=int, default=22)
        return parser.parse_args(args)

    def gather_metrics(self):
        up = self.metrics.Gauge('cisco_up', 'Whether the switch answered.', ['target', 'port'])
        up.labels(self.args.target, str(self.args.port)).set(1)
        self.poll()

    @timing.observed
    def poll(self):
        interfaces = self.metrics.Gauge('cisco_interfaces', 'Interfaces seen.', ['target'])
        interfaces.labels(self.args.target).set(len(self.args.target))
