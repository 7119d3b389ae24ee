"""The base class of every exporter, as in the original metrics tool.

An exporter module defines one subclass of Exporter; metricwrap's runner
constructs it as cls(prometheus_client, debug, *args) and calls
gather_metrics(). See dummy.py for an example.
"""


class Exporter:
    """Base exporter class; all exporters must inherit it.

    Class attributes:
        job_name -- the job the metrics are pushed under (Pushgateway).
        debug    -- True when run with --debug.

    Instance attributes set by the constructor:
        metrics  -- the prometheus_client module; metrics created with it go
                    to the default registry, which the runner writes out.
        args     -- whatever parse_args returned.
    """

    job_name = 'exporter'
    debug = False

    def __init__(self, prometheus_client, debug, *args):
        self.metrics = prometheus_client
        self.debug = debug
        self.args = self.parse_args(*args)

    def parse_args(self, *args):
        """Parses the exporter's own arguments (every argument the runner
        did not use), e.g. with argparse: parser.parse_args(args). The
        result becomes self.args."""
        return None

    def gather_metrics(self):
        """The entry point: collect, and set metrics through self.metrics.

        May be a coroutine (async def gather_metrics(self)); it then runs
        in asyncio. prometheus_client is not thread-safe: do parallel work
        as you like, but update metrics from the main thread.
        """
