"""A seed-style exporter whose gather_metrics is a coroutine."""

import asyncio

from exporters import exporter


class AsyncProbeExporter(exporter.Exporter):
    job_name = 'async_probe'

    async def gather_metrics(self):
        results = await asyncio.gather(self.probe('a', 1), self.probe('b', 2))
        up = self.metrics.Gauge('async_probe_up', 'Probe result by target.', ['target'])
        for target, value in results:
            up.labels(target).set(value)

    async def probe(self, target, value):
        await asyncio.sleep(0)
        return target, value
