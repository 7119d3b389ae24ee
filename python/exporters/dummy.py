"""The original tool's example exporter, on short real work instead of
sleeps. Its output families, in order: execution_seconds
(DummyExporter.my_custom_task, DummyExporter.observed_function),
dummy_gauge, dummy_counter_total, generic_timer_seconds_total."""

import hashlib

from exporters import exporter
from lib import timing


def work(rounds):
    """Something measurable to time: repeated hashing."""
    digest = b"metricwrap"
    for _ in range(rounds):
        digest = hashlib.sha256(digest).digest()
    return digest


class DummyExporter(exporter.Exporter):
    job_name = 'DummyExporter'

    def gather_metrics(self):
        dummy_gauge = self.metrics.Gauge('dummy_gauge', 'A dummy metric, means nothing.')
        dummy_counter = self.metrics.Counter('dummy_counter', 'A dummy metric, means nothing.', ['dummy_label'])

        work(20000)
        dummy_gauge.set(0)
        dummy_counter.labels('dummy_label_value').inc(1)

        self.observed_function()

    # timing.observed times every call of the method it decorates into
    # execution_seconds{function="DummyExporter.observed_function"}.
    @timing.observed
    def observed_function(self):
        work(5000)

        # Any block can be timed into execution_seconds with Observe.
        with timing.Observe(self, 'my_custom_task'):
            work(10000)

        # Timer measures without creating a metric.
        with timing.Timer() as timer:
            work(5000)

        generic_timer = self.metrics.Counter('generic_timer_seconds', 'Value of generic timer')
        generic_timer.inc(timer.value)
