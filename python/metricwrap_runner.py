#!/usr/bin/env python3
"""metricwrap's runner for Python exporters in the original tool's layout.

Usage:

    python3 metricwrap_runner.py [--exporters-dir DIR] --exporter NAME
                                 [--debug] [--output-filename FILE]
                                 [--] [ARGS...]

Runner options are read only at the front of the command line; the first
argument that is not one of them (or everything after a `--`) goes to the
exporter's constructor unchanged. Callers should always end the runner
options with `--` so exporter arguments can never be taken for them.

  --exporters-dir DIR   the user's exporters directory (default: ./exporters).
                        It becomes the package `exporters` whatever its
                        name; its parent is put first on sys.path, and a
                        `lib` directory beside it becomes the package `lib`.
  --exporter NAME       the exporter to run: module `exporters.NAME.NAME`
                        (DIR/NAME/NAME.py), else `exporters.NAME`
                        (DIR/NAME.py).
  --debug               passed to the exporter's constructor as `debug`.
  --output-filename F   where to write the metrics; default $METRICS_FILE,
                        else standard output.

The user's own `exporters/exporter.py`, `exporters/__init__.py` and the
modules of their `lib/` win over the bundled ones beside this file, module
by module; the bundled `exporters/exporter.py`, `lib/timing.py` and
`lib/util.py` fill in what the user does not have. So both
`from exporters.exporter import Exporter` and `from exporters import
exporter`, and both `from lib import timing` and `import lib.timing`, work
with or without the user's copies.

The first class, in alphabetical order of the module's names, that
subclasses `Exporter` (and is not `Exporter` itself) is constructed as
`cls(prometheus_client, debug, *ARGS)`; its `gather_metrics()` is run,
with asyncio when it is a coroutine; the default registry is then written
in the Prometheus text format to a temporary file in the destination's
directory and renamed into place, so a reader never sees half a file.

Exit status: 0 on success; 255 with `Exporter not found.` on stdout when
no module NAME exists (as the original tool); 1 with a traceback on
stderr when importing or running the exporter raises; whatever the
exporter passes to sys.exit (argparse exits 2 on bad arguments).

Only the standard library and prometheus_client are needed.
"""

import os
import sys

# Before prometheus_client is imported: no `_created` series, and never the
# multiprocess mode, whatever the environment says (as the original did).
os.environ["PROMETHEUS_DISABLE_CREATED_SERIES"] = "True"
os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
os.environ.pop("prometheus_multiproc_dir", None)

# Leave no __pycache__ in the user's (perhaps read-only) directories.
sys.dont_write_bytecode = True

import importlib  # noqa: E402
import importlib.machinery  # noqa: E402
import importlib.util  # noqa: E402
import inspect  # noqa: E402
import re  # noqa: E402
import tempfile  # noqa: E402
import traceback  # noqa: E402

NOT_FOUND_EXIT = 255

# Exporter names that can be modules: the product's names without the dot,
# which Python would read as a sub-module.
NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")

# Module names in the exporters package that are support code, not exporters.
RESERVED_NAMES = {"exporter", "__init__", "__main__"}

BUNDLED_DIR = os.path.dirname(os.path.abspath(__file__))


class NotFound(Exception):
    """The named exporter does not exist."""


class Options:
    """The runner's own options; everything else belongs to the exporter."""

    def __init__(self):
        self.exporters_dir = "exporters"
        self.exporter = None
        self.debug = False
        self.output_filename = None
        self.args = []


def usage(problem):
    print(f"metricwrap_runner: {problem}", file=sys.stderr)
    print("usage: metricwrap_runner.py [--exporters-dir DIR] --exporter NAME [--debug] "
          "[--output-filename FILE] [--] [ARGS...]", file=sys.stderr)
    sys.exit(2)


def parse_options(argv):
    opts = Options()
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            i += 1
            break
        key, eq, value = arg.partition("=")
        if key in ("--exporters-dir", "--exporter", "--output-filename"):
            if not eq:
                if i + 1 >= len(argv):
                    usage(f"{key} needs a value")
                i += 1
                value = argv[i]
            setattr(opts, key[2:].replace("-", "_"), value)
        elif arg == "--debug":
            opts.debug = True
        else:
            break
        i += 1
    opts.args = list(argv[i:])
    if not opts.exporter:
        usage("--exporter NAME is required")
    return opts


def unique_dirs(*dirs):
    out = []
    for d in dirs:
        if d and os.path.isdir(d) and os.path.realpath(d) not in [os.path.realpath(o) for o in out]:
            out.append(d)
    return out


def install_package(name, dirs):
    """Creates package `name` spanning dirs (earlier ones win, module by
    module) and runs the first of their __init__.py files, if any."""
    init = next((os.path.join(d, "__init__.py") for d in dirs
                 if os.path.isfile(os.path.join(d, "__init__.py"))), None)
    if init is not None:
        spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=dirs)
    else:
        spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
        spec.submodule_search_locations = dirs
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        if spec.loader is not None:
            spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def prepare_imports(exporters_dir):
    """Makes `exporters` and `lib` importable the way the original tool's
    checkout made them, with the bundled copies as fallbacks."""
    user_dir = os.path.abspath(exporters_dir)
    root = os.path.dirname(user_dir)
    # The script's own directory holds the bundled packages: keep it off
    # sys.path so it never shadows the user's top-level modules.
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != BUNDLED_DIR]
    sys.path.insert(0, root)
    install_package("lib", unique_dirs(os.path.join(root, "lib"), os.path.join(BUNDLED_DIR, "lib")))
    install_package("exporters", unique_dirs(user_dir, os.path.join(BUNDLED_DIR, "exporters")))


def import_quiet(name):
    """Imports module name; None when that very module (or its package)
    does not exist. A missing dependency of the exporter is an error, not a
    missing exporter, so it is raised."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name is not None and (name == e.name or name.startswith(e.name + ".")):
            return None
        raise


def load_module(name):
    if not NAME_RE.match(name) or name in RESERVED_NAMES:
        raise NotFound(name)
    for module_name in (f"exporters.{name}.{name}", f"exporters.{name}"):
        module = import_quiet(module_name)
        # A directory without NAME.py imports as an empty namespace package.
        if module is not None and getattr(module, "__file__", None) is not None:
            return module
    raise NotFound(name)


def find_class(module, base):
    for attr in sorted(dir(module)):
        ref = getattr(module, attr)
        if inspect.isclass(ref) and issubclass(ref, base) and ref is not base:
            return ref
    raise TypeError(f"no class inheriting Exporter found in module {module.__name__}")


def gather(exporter):
    """Runs gather_metrics; a coroutine (async def, or one returned by a
    plain method) runs to completion in a fresh event loop."""
    result = exporter.gather_metrics()
    if not inspect.iscoroutine(result):
        return
    # Imported only when needed: asyncio costs more to import than
    # prometheus_client.
    import asyncio
    asyncio.run(result)


def write_atomically(path, data):
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def run(opts):
    import prometheus_client

    # The client's own process, platform and GC metrics describe this short
    # runner, not what the exporter measures.
    for collector in (prometheus_client.GC_COLLECTOR, prometheus_client.PLATFORM_COLLECTOR,
                      prometheus_client.PROCESS_COLLECTOR):
        try:
            prometheus_client.REGISTRY.unregister(collector)
        except KeyError:
            pass

    prepare_imports(opts.exporters_dir)
    base = importlib.import_module("exporters.exporter").Exporter
    module = load_module(opts.exporter)
    cls = find_class(module, base)
    exporter = cls(prometheus_client, opts.debug, *opts.args)
    gather(exporter)

    data = prometheus_client.generate_latest(prometheus_client.REGISTRY)
    output = opts.output_filename or os.environ.get("METRICS_FILE")
    if output:
        write_atomically(output, data)
    else:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.flush()


def main(argv):
    opts = parse_options(argv)
    try:
        run(opts)
    except NotFound:
        print("Exporter not found.")
        sys.stdout.flush()
        return NOT_FOUND_EXIT
    except Exception:
        traceback.print_exc()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
