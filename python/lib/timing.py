"""Timing helpers for exporters, as in the original metrics tool.

    @timing.observed                      # on a method (plain or async)
    def fetch(self): ...

    with timing.Observe(self, 'my_task'):  # around any block
        ...

both observe the elapsed seconds, rounded to 3 decimals, into the summary
execution_seconds{function="ClassName.fetch"} (or "ClassName.my_task") of
the default registry. timing.Timer() only measures:

    with timing.Timer() as timer:
        ...
    timer.value                            # seconds, rounded to 3 decimals
"""

import functools
import inspect
import time

import prometheus_client

METRIC_NAME = "execution_seconds"
METRIC_HELP = "Summary of time spent executing something"


def _summary():
    """Returns the execution_seconds summary, creating it on first use so
    every helper (and every copy of this module) shares one."""
    existing = getattr(prometheus_client.REGISTRY, "_names_to_collectors", {}).get(METRIC_NAME)
    if existing is not None:
        return existing
    return prometheus_client.Summary(METRIC_NAME, METRIC_HELP, ["function"])


def _elapsed(start):
    return round(time.perf_counter() - start, 3)


def observed(method):
    """Decorates a method so each call is observed into execution_seconds
    with function="ClassName.method". The summary is created when the
    decorator runs (at import), so it comes first in the output, as in the
    original tool."""
    summary = _summary()

    if inspect.iscoroutinefunction(method):
        @functools.wraps(method)
        async def async_wrapper(self, *args, **kwargs):
            start = time.perf_counter()
            try:
                return await method(self, *args, **kwargs)
            finally:
                summary.labels(f"{type(self).__name__}.{method.__name__}").observe(_elapsed(start))
        return async_wrapper

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return method(self, *args, **kwargs)
        finally:
            summary.labels(f"{type(self).__name__}.{method.__name__}").observe(_elapsed(start))
    return wrapper


class Observe:
    """Context manager (plain or async) observing its block into
    execution_seconds with function="ClassName.name", where ClassName is
    the class of class_ref (usually self)."""

    def __init__(self, class_ref, name):
        self.name = f"{type(class_ref).__name__}.{name}"
        self.summary = _summary()
        self.start = None

    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.summary.labels(self.name).observe(_elapsed(self.start))
        return False

    async def __aenter__(self):
        return self.__enter__()

    async def __aexit__(self, *exc):
        return self.__exit__(*exc)


class Timer:
    """Context manager that measures its block and creates no metric; the
    seconds, rounded to 3 decimals, are in .value after the block."""

    def __init__(self):
        self.start = None
        self.end = None
        self.value = None

    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.end = time.perf_counter()
        self.value = round(self.end - self.start, 3)
        return False

    async def __aenter__(self):
        return self.__enter__()

    async def __aexit__(self, *exc):
        return self.__exit__(*exc)

    def __repr__(self):
        return f"Timer(value={self.value!r})"
