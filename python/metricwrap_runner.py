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

The module is imported and the first class, in alphabetical order of the
module's names, that subclasses `Exporter` (and is not `Exporter` itself;
through a base class of the user's `lib/` is fine) is constructed as
`cls(prometheus_client, debug, *ARGS)`; its `gather_metrics()` is run,
with asyncio when it is a coroutine; the default registry is then written
in the Prometheus text format to a temporary file in the destination's
directory and renamed into place, so a reader never sees half a file.
Written to $METRICS_FILE, the file ends with the comment line
`# metricwrap-job: "JOB"`, the instance's `job_name` after `parse_args`,
which metricwrap pushes under and strips.

A file with no `class` statement at its top level is a plain script: it is
not imported but run as `python3 FILE ARGS...` would run it (this process
is replaced by that one, in the environment it was given).

Exit status: 0 on success; 255 with `Exporter not found.` on stdout when
no module NAME exists (as the original tool); 1 with a traceback on
stderr when importing or running the exporter raises; whatever the
exporter passes to sys.exit (argparse exits 2 on bad arguments).

Only the standard library and prometheus_client are needed.
"""

import os
import sys

# The environment metricwrap gave this process, before the changes below:
# what a plain script is run with.
SCRIPT_ENV = dict(os.environ)

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
import json  # noqa: E402
import re  # noqa: E402
import tempfile  # noqa: E402
import traceback  # noqa: E402

NOT_FOUND_EXIT = 255

# The last line of METRICS_FILE names the instance's job_name as a JSON
# string; a comment, so the file stays valid exposition.
JOB_LINE_PREFIX = b"# metricwrap-job: "

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


class Script:
    """A plain script (a .py file defining no class): run as `python3 FILE`
    would run it, not imported."""

    def __init__(self, path):
        self.path = path


# Exporters the warm worker has looked up already: name -> module or Script.
LOADED = {}


def find_spec_quiet(name):
    """The import spec of module name; None when that very module (or its
    package) does not exist."""
    try:
        return importlib.util.find_spec(name)
    except ModuleNotFoundError as e:
        if e.name is not None and (name == e.name or name.startswith(e.name + ".")):
            return None
        raise


def defines_no_class(path):
    """Whether the Python file at path has no class statement at its top
    level: then it cannot define an Exporter, and importing it would run
    the script under the wrong __name__. A file that does not parse is left
    to the import, which reports the error."""
    import ast
    try:
        with open(path, "rb") as f:
            tree = ast.parse(f.read(), path)
    except (OSError, SyntaxError, ValueError):
        return False
    return not any(isinstance(node, ast.ClassDef) for node in tree.body)


def load_module(name):
    """Returns the module of exporter name, or a Script for a plain script;
    raises NotFound when there is neither."""
    if name in LOADED:
        return LOADED[name]
    if not NAME_RE.match(name) or name in RESERVED_NAMES:
        raise NotFound(name)
    # exporters.NAME.NAME only when exporters.NAME is a directory: looking
    # inside exporters/NAME.py would import (run) it.
    outer = find_spec_quiet(f"exporters.{name}")
    if outer is None:
        raise NotFound(name)
    candidates = [f"exporters.{name}"]
    if outer.submodule_search_locations is not None:
        candidates.insert(0, f"exporters.{name}.{name}")
    for module_name in candidates:
        spec = outer if module_name == f"exporters.{name}" else find_spec_quiet(module_name)
        # A directory without NAME.py is an empty namespace package.
        if spec is None or spec.origin is None or spec.origin == "namespace":
            continue
        if spec.origin.endswith(".py") and defines_no_class(spec.origin):
            return Script(spec.origin)
        module = import_quiet(module_name)
        if module is not None and getattr(module, "__file__", None) is not None:
            return module
    raise NotFound(name)


def run_script(script, args):
    """Replaces this process with `python3 FILE ARGS...` in the environment
    metricwrap gave, so a plain script runs exactly as it would alone."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os.execve(sys.executable, [sys.executable, script.path] + list(args), SCRIPT_ENV)


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
    """Writes data to a temporary file beside path and renames it into
    place, so a reader never sees half a file (as prometheus_client's
    write_to_textfile does). No fsync: the file is read at once by
    metricwrap, or is the user's --output-filename, and surviving a power
    cut is not its job; an fsync costs milliseconds on every run.

    The temporary file is named for this process's pid, unique among the
    running processes, rather than by tempfile, whose random names cost a
    fresh (or freshly forked) process about a quarter of a millisecond.
    O_EXCL keeps it safe: a file left by a process that died under a pid now
    reused, or a writer in another pid namespace sharing the directory,
    makes the open fail, and a random name is used instead."""
    directory, base = os.path.split(os.path.abspath(path))
    tmp = os.path.join(directory, f".{base}.{os.getpid()}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(tmp, flags, 0o600)
    except FileExistsError:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{base}.")
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fchmod(fd, 0o644)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


# The prometheus_client objects a spare's warm-up uses, as the library
# defines them: taken before any user code runs, so a warm-up never runs
# what an exporter put in their place.
_LIBRARY = None


def _library_objects(prometheus_client):
    return (prometheus_client.CollectorRegistry, prometheus_client.Gauge, prometheus_client.Counter,
            prometheus_client.generate_latest, prometheus_client.Gauge.labels,
            prometheus_client.Gauge.set, prometheus_client.Counter.inc)


def setup(exporters_dir):
    """Imports prometheus_client and makes the exporters importable: what
    every run does first, and what a warm worker does once."""
    global _LIBRARY
    import prometheus_client
    _LIBRARY = _library_objects(prometheus_client)

    # The client's own process, platform and GC metrics describe this short
    # runner, not what the exporter measures.
    for collector in (prometheus_client.GC_COLLECTOR, prometheus_client.PLATFORM_COLLECTOR,
                      prometheus_client.PROCESS_COLLECTOR):
        try:
            prometheus_client.REGISTRY.unregister(collector)
        except KeyError:
            pass

    prepare_imports(exporters_dir)


def run(opts, prepared=False):
    import prometheus_client

    if not prepared:
        setup(opts.exporters_dir)
    module = load_module(opts.exporter)
    if isinstance(module, Script):
        run_script(module, opts.args)
    base = importlib.import_module("exporters.exporter").Exporter
    cls = find_class(module, base)
    exporter = cls(prometheus_client, opts.debug, *opts.args)
    gather(exporter)

    data = prometheus_client.generate_latest(prometheus_client.REGISTRY)
    if opts.output_filename:
        write_atomically(opts.output_filename, data)
    elif os.environ.get("METRICS_FILE"):
        # The job the instance pushes under, known only now (parse_args may
        # set it), for metricwrap, which strips this last line again.
        job = getattr(exporter, "job_name", None)
        if job is not None:
            data += JOB_LINE_PREFIX + json.dumps(str(job)).encode() + b"\n"
        write_atomically(os.environ["METRICS_FILE"], data)
    else:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.flush()


def main(argv, prepared=False):
    opts = parse_options(argv)
    try:
        run(opts, prepared)
    except NotFound:
        print("Exporter not found.")
        sys.stdout.flush()
        return NOT_FOUND_EXIT
    except Exception:
        traceback.print_exc()
        return 1
    return 0


# ---------------------------------------------------------------------------
# Warm worker mode, started by `metricwrap serve` only:
#
#     python3 metricwrap_runner.py --worker --exporters-dir DIR [--] [NAME...]
#
# The worker does once what every cold run does first (import
# prometheus_client, make `exporters` and `lib` importable) and imports each
# NAME, then serves run requests from metricwrap on the Unix socket it got as
# fd 3. It never runs exporter code itself. It keeps one spare child, forked
# ahead of time (at start, and right after the previous spare was handed its
# run), that waits on a socketpair with the worker; the worker hands each
# request to the spare (the request's JSON and the stdout and stderr pipes
# metricwrap passed along, SCM_RIGHTS), and the spare becomes exactly a cold
# run of it: its own process group (made at fork), the request's
# environment, working directory and argv, those pipes as fds 1 and 2, then
# main() and the interpreter's normal exit. A spare forked earlier is
# identical to one forked at the request, as the worker's state does not
# change between requests, so every run starts from the state right after
# the imports and leaves nothing behind in the worker. While it waits, the
# spare runs code every run runs and that leaves no trace (the environment
# swap, prometheus_client on a registry of its own; _Child.warm_up), so the
# pages that writes to are copied before its run, not during it.
#
# A run that ends normally closes fds 1 and 2 and reports its pid and exit
# code on its socketpair just before os._exit, so neither metricwrap nor the
# worker waits for the kernel to tear down the child's address space (about
# a millisecond): the worker then sends SIGKILL to the child's group (the
# child included; it is not reaped yet, so the group id cannot be reused)
# and answers at once, and reaps the child later without a second answer. A
# child that dies otherwise (a signal, exec of a plain script, a crash)
# reports nothing and is answered when it has been reaped, as before.
#
# Frames in both directions are a 4-byte big-endian length and a JSON object.
#   metricwrap -> worker: {"op": "run", "id", "args", "env", "dir"} with two
#                         fds (stdout, stderr); {"op": "signal", "id", "sig"}
#                         (delivered only while the run's child is unreaped)
#   worker -> metricwrap: {"ready": true, "files": [...], "failed": {...}} or
#                         {"fatal": TRACEBACK} once; {"id", "pid"} or
#                         {"id", "error"} per run when handed to a child;
#                         then exactly one {"id", "code"} or {"id", "signal"}
#                         once the child has ended (reported its exit code
#                         after closing its stdout and stderr, or exited and
#                         been reaped) and its group has been sent SIGKILL.
# End of input (metricwrap closed the socket or died) kills every child's
# group, the spare's included, reaps them and ends the worker; a spare whose
# worker is gone (end of input on its socketpair) exits quietly.
# ---------------------------------------------------------------------------

WORKER_FLAG = "--worker"
WORKER_FD = 3
MAX_FRAME = 64 << 20
MAX_FDS = 16


def _frame(msg):
    import json
    import struct
    data = json.dumps(msg).encode()
    return struct.pack(">I", len(data)) + data


def _unfreeze_env(env):
    """Replaces os.environ with env, as a fresh interpreter would see it."""
    import time
    # Not os.environ.clear(): its popitem loop lists every key again for
    # each key it removes.
    for k in list(os.environ):
        del os.environ[k]
    for kv in env:
        k, _, v = kv.partition("=")
        os.environ[k] = v
    SCRIPT_ENV.clear()
    SCRIPT_ENV.update(os.environ)
    os.environ["PROMETHEUS_DISABLE_CREATED_SERIES"] = "True"
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    os.environ.pop("prometheus_multiproc_dir", None)
    if hasattr(time, "tzset"):
        time.tzset()


def _preload(name):
    """Imports exporter name; on failure undoes what the import left
    behind (modules, registered collectors), so a run imports it afresh and
    fails exactly as a cold run does. Returns the error text or None."""
    import prometheus_client
    registry = prometheus_client.REGISTRY
    modules = set(sys.modules)
    collectors = set(getattr(registry, "_collector_to_names", {}))
    try:
        LOADED[name] = load_module(name)
        return None
    except NotFound:
        return "not found"
    except BaseException as e:  # noqa: B902 (SystemExit at import too)
        for m in set(sys.modules) - modules:
            del sys.modules[m]
        for c in set(getattr(registry, "_collector_to_names", {})) - collectors:
            try:
                registry.unregister(c)
            except KeyError:
                pass
        return f"{type(e).__name__}: {e}"


def _is_async(name):
    try:
        base = importlib.import_module("exporters.exporter").Exporter
        cls = find_class(load_module(name), base)
        return inspect.iscoroutinefunction(getattr(cls, "gather_metrics", None))
    except Exception:
        return False


def _user_files(root):
    """The user's module files the worker imported, with what identifies
    their content, so metricwrap restarts the worker when one changes."""
    files = []
    root = os.path.realpath(root) + os.sep
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if not path:
            continue
        real = os.path.realpath(path)
        if not real.startswith(root):
            continue
        try:
            st = os.stat(path)
        except OSError:
            continue
        files.append({"path": os.path.abspath(path), "mtime_ns": st.st_mtime_ns, "size": st.st_size})
    return files


# What a child writes on its socketpair as its run ends normally: its pid
# (so a process the run forked cannot speak for it) and its exit code.
_REPORT = ">ii"


def _recv_fds(sock, buf, fds):
    """Reads once from sock into buf, adding any fds that came along to
    fds; returns how many bytes came (0 at end of input)."""
    import array
    import socket
    data, anc, _, _ = sock.recvmsg(1 << 16, socket.CMSG_SPACE(MAX_FDS * array.array("i").itemsize))
    for level, kind, cdata in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            got = array.array("i")
            got.frombytes(cdata[:len(cdata) - len(cdata) % got.itemsize])
            fds.extend(got)
    buf += data
    return len(data)


def _warm_up():
    """The body of _Child.warm_up; returns whether prometheus_client's part
    ran."""
    _unfreeze_env([f"{k}={v}" for k, v in SCRIPT_ENV.items()])
    import prometheus_client
    if _LIBRARY is None or _library_objects(prometheus_client) != _LIBRARY:
        return False
    registry = prometheus_client.CollectorRegistry()
    gauge = prometheus_client.Gauge("metricwrap_warm_up", "Never exported.", ["label"], registry=registry)
    gauge.labels("value").set(1)
    prometheus_client.Counter("metricwrap_warm_up_runs", "Never exported.", registry=registry).inc()
    prometheus_client.generate_latest(registry)
    return True


class _Child:
    """A forked child: a spare waiting on its socketpair with the worker
    until its run comes, then exactly a cold run of it. Forked with none of
    the worker's own fds open (its socket, wakeup pipe and selector, other
    runs' sockets and queued pipes), so it holds no pipe of another run."""

    def __init__(self, sock):
        self.sock = sock
        st = os.fstat(sock.fileno())
        self.ident = (st.st_dev, st.st_ino)

    def warm_up(self):
        """Runs, while the spare waits, code every run runs and that leaves
        no trace: the environment swap (with the worker's own environment;
        the run's replaces it whole) and prometheus_client's metric and
        exposition code on a registry of its own. A forked child copies
        each page the first time it writes to it (a reference count is a
        write); done here, about 150 of those copies are made before the
        run rather than during it (1.7 -> 0.9 ms for a small exporter's
        run). Nothing of the user's runs: no warm-up when an exporter has
        replaced one of the library's objects it uses. None either when the
        run is already there: it would only wait for the copies."""
        import select
        try:
            if select.select([self.sock], [], [], 0)[0]:
                return
            _warm_up()
        except Exception:  # noqa: B902 (only ever an optimisation)
            pass

    def receive(self):
        """Waits for the run: its request, stdout fd and stderr fd. Ends
        the process quietly when the worker goes away first."""
        import json
        import struct
        buf, fds = bytearray(), []
        try:
            while len(buf) < 4 or len(buf) < 4 + struct.unpack(">I", buf[:4])[0]:
                if _recv_fds(self.sock, buf, fds) == 0:
                    os._exit(1 if buf else 0)
        except OSError:
            os._exit(1)
        if len(fds) != 2:
            os._exit(1)
        (n,) = struct.unpack(">I", buf[:4])
        return json.loads(bytes(buf[4:4 + n])), fds[0], fds[1]

    def enter(self):
        """Becomes the run: its pipes as stdout and stderr, its directory,
        environment and argv. Returns the runner's arguments."""
        msg, out_fd, err_fd = self.receive()
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        for fd in (out_fd, err_fd):
            if fd > 2:
                os.close(fd)
        if msg.get("dir"):
            os.chdir(msg["dir"])
        _unfreeze_env(msg.get("env") or [])
        sys.argv = sys.argv[:1] + list(msg["args"])
        return list(msg["args"])

    def report(self, code):
        """Closes stdout and stderr, so metricwrap's pipes reach end of file
        now rather than after the kernel has torn this process down, and
        tells the worker the run ended with code. Skipped when the run
        replaced the socket's fd with another file."""
        import struct
        for fd in (1, 2):
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            st = os.fstat(self.sock.fileno())
            if (st.st_dev, st.st_ino) == self.ident:
                self.sock.send(struct.pack(_REPORT, os.getpid(), code))
        except OSError:
            pass


class _Run:
    """A run handed to a child, from then until the child is reaped."""

    def __init__(self, rid, pid, sock):
        self.rid, self.pid = rid, pid
        self.sock = sock  # the worker's end of the child's socketpair; None once closed
        self.buf = bytearray()
        self.answered = False


class _Worker:
    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.fds = []        # received, not yet used, in arrival order
        self.children = {}   # pid -> _Run, until reaped
        self.pids = {}       # run id -> pid, until reaped
        self.spare = None    # (pid, socket) of the child waiting for a run
        self.lost = set()    # pids of spares that died or were dropped, not yet reaped
        self.sel = None
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        os.set_blocking(self.wake_r, False)

    def send(self, msg):
        self.sock.sendall(_frame(msg))

    def serve(self):
        """Runs until metricwrap goes away (returns None) or, in a forked
        child, returns the child's _Child."""
        import json
        import selectors
        import signal
        import struct

        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.sock, selectors.EVENT_READ, "sock")
        self.sel.register(self.wake_r, selectors.EVENT_READ, "wake")
        try:
            child = self.fork_spare()
            if child is not None:
                return child
            while True:
                for key, _ in self.sel.select():
                    if key.data == "wake":
                        try:
                            while os.read(self.wake_r, 512):
                                pass
                        except BlockingIOError:
                            pass
                        self.reap()
                        continue
                    if isinstance(key.data, _Run):
                        self.read_report(key.data)
                        continue
                    if _recv_fds(self.sock, self.buf, self.fds) == 0:
                        self.shutdown()
                        return None
                    while len(self.buf) >= 4:
                        (n,) = struct.unpack(">I", self.buf[:4])
                        if n > MAX_FRAME:
                            raise ValueError(f"frame of {n} bytes")
                        if len(self.buf) < 4 + n:
                            break
                        raw = bytes(self.buf[4:4 + n])
                        del self.buf[:4 + n]
                        msg = json.loads(raw)
                        if msg.get("op") == "run":
                            child = self.start(msg, raw)
                            if child is not None:
                                return child
                        elif msg.get("op") == "signal":
                            self.signal(msg)
        except BaseException:
            if self.children is not None:
                self.shutdown()
            raise

    def fork_spare(self, extra=()):
        """Forks the spare. Returns its _Child in the child and None in the
        worker; raises OSError when it cannot fork. extra are fds the worker
        holds outside its own state (the run being handed), closed in the
        child too."""
        import signal
        import socket
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        ours, theirs = socket.socketpair()
        try:
            pid = os.fork()
        except OSError:
            ours.close()
            theirs.close()
            raise
        if pid == 0:
            runs = list(self.children.values())
            self.children = None  # never shut down the worker's children here
            # Its group exists before metricwrap can learn its pid.
            try:
                os.setpgid(0, 0)
            except OSError:
                pass
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            ours.close()
            # Closing a copy of a registered fd leaves the worker's epoll
            # registrations alone; unregistering here would not.
            socks = [self.sock] + [r.sock for r in runs if r.sock is not None]
            if self.spare is not None:
                socks.append(self.spare[1])
            for s in socks:
                s.close()
            self.sel.close()
            for fd in [self.wake_r, self.wake_w] + self.fds + list(extra):
                try:
                    os.close(fd)
                except OSError:
                    pass
            self.fds, self.spare, self.lost = [], None, set()
            return _Child(theirs)
        theirs.close()
        try:
            os.setpgid(pid, pid)
        except OSError:
            pass
        self.spare = (pid, ours)
        return None

    def start(self, msg, raw):
        """Hands run msg (raw: its JSON) to the spare, forking one first
        when there is none, then forks the next spare. Returns a _Child in
        a forked child, else None."""
        import array
        import selectors
        import socket
        import struct
        rid = msg["id"]
        if len(self.fds) < 2:
            self.send({"id": rid, "error": "run request without its stdout and stderr"})
            return None
        out_fd, err_fd = self.fds.pop(0), self.fds.pop(0)
        problem = None
        if msg.get("dir") and not os.path.isdir(msg["dir"]):
            problem = f"working directory {msg['dir']}: not a directory"
        frame = struct.pack(">I", len(raw)) + raw
        # A second try when the spare turns out dead: a fresh one is forked.
        for _ in range(2 if problem is None else 0):
            if self.spare is None:
                try:
                    child = self.fork_spare((out_fd, err_fd))
                except OSError as e:
                    problem = f"fork: {e}"
                    break
                if child is not None:
                    return child
            pid, sock = self.spare
            self.spare = None
            try:
                n = sock.sendmsg([frame], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [out_fd, err_fd]))])
                if n < len(frame):
                    sock.sendall(frame[n:])
            except OSError as e:
                self.drop_spare(pid, sock)
                problem = f"handing the run to a child: {e}"
                continue
            problem = None
            break
        os.close(out_fd)
        os.close(err_fd)
        if problem is not None:
            self.send({"id": rid, "error": problem})
            return None
        run = _Run(rid, pid, sock)
        self.children[pid] = run
        self.pids[rid] = pid
        self.sel.register(sock, selectors.EVENT_READ, run)
        self.send({"id": rid, "pid": pid})
        try:
            return self.fork_spare()
        except OSError:
            return None  # forked at the next request instead

    def drop_spare(self, pid, sock):
        """Gives up a spare that cannot take its run; reaped on SIGCHLD."""
        import signal
        sock.close()
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
        self.lost.add(pid)

    def read_report(self, run):
        """Reads what run's child wrote on its socketpair. On its report
        (pid and exit code; the pid is not reaped, so its group id is still
        its own) the group gets SIGKILL and the run is answered; the child
        is reaped later without a second answer."""
        import signal
        import struct
        if run.sock is None:
            return
        try:
            data = run.sock.recv(256)
        except OSError:
            data = b""
        run.buf += data
        size = struct.calcsize(_REPORT)
        while not run.answered and len(run.buf) >= size:
            pid, code = struct.unpack(_REPORT, run.buf[:size])
            del run.buf[:size]
            if pid != run.pid:
                continue
            try:
                os.killpg(run.pid, signal.SIGKILL)
            except OSError:
                pass
            run.answered = True
            self.send({"id": run.rid, "code": code})
        if run.answered or not data:
            self.drop_report(run)

    def drop_report(self, run):
        if run.sock is not None:
            self.sel.unregister(run.sock)
            run.sock.close()
            run.sock = None

    def signal(self, msg):
        pid = self.pids.get(msg.get("id"))
        if pid is None:
            return
        try:
            os.killpg(pid, int(msg["sig"]))
        except OSError:
            pass

    def finish(self, pid, block):
        """Reaps pid once it has exited, after killing what is left of its
        group (while the unreaped leader keeps the group id reserved).
        Returns its wait status, or None while it runs."""
        import signal
        if hasattr(os, "waitid"):
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT | (0 if block else os.WNOHANG)) is None:
                return None
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
            return os.waitpid(pid, 0)[1]
        got, status = os.waitpid(pid, 0 if block else os.WNOHANG)
        if got == 0:
            return None
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
        return status

    def reaped(self, pid):
        """Reaps pid if it has exited; whether it is gone."""
        try:
            return self.finish(pid, False) is not None
        except ChildProcessError:
            return True

    def reap(self):
        for pid, run in list(self.children.items()):
            try:
                status = self.finish(pid, False)
            except ChildProcessError:
                status = -1
            if status is None:
                continue
            del self.children[pid]
            del self.pids[run.rid]
            self.drop_report(run)
            if run.answered:
                continue
            run.answered = True
            if status == -1:
                self.send({"id": run.rid, "signal": 9})
            elif os.WIFSIGNALED(status):
                self.send({"id": run.rid, "signal": os.WTERMSIG(status)})
            else:
                self.send({"id": run.rid, "code": os.WEXITSTATUS(status)})
        # A spare that died waiting is replaced at the next request.
        if self.spare is not None and self.reaped(self.spare[0]):
            self.spare[1].close()
            self.spare = None
        for pid in list(self.lost):
            if self.reaped(pid):
                self.lost.discard(pid)

    def shutdown(self):
        import signal
        pids = list(self.children) + list(self.lost)
        if self.spare is not None:
            pids.append(self.spare[0])
        for pid in pids:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
        for pid in pids:
            try:
                self.finish(pid, True)
            except ChildProcessError:
                pass
        self.children.clear()
        self.lost.clear()
        self.spare = None


def worker_main(argv):
    import gc
    import socket
    import traceback as tb

    exporters_dir = "exporters"
    names = []
    i = 0
    while i < len(argv):
        if argv[i] == "--exporters-dir" and i + 1 < len(argv):
            exporters_dir = argv[i + 1]
            i += 2
            continue
        if argv[i] == "--":
            i += 1
        names = argv[i:]
        break
    sock = socket.socket(fileno=WORKER_FD)
    try:
        setup(exporters_dir)
    except BaseException:  # noqa: B902
        sock.sendall(_frame({"fatal": tb.format_exc()}))
        return 1
    failed = {}
    for name in names:
        problem = _preload(name)
        if problem is not None:
            failed[name] = problem
    # gather() imports asyncio only for async exporters: import it here once
    # when one is, not for every run of it; not otherwise, as every page
    # the worker holds makes each fork slower.
    if any(_is_async(name) for name in names if name not in failed):
        import asyncio  # noqa: F401
    # Objects that exist now are shared by every child; keep the collector
    # from touching (and so copying) their pages in each of them.
    gc.collect()
    if hasattr(gc, "freeze"):
        gc.freeze()
    worker = _Worker(sock)
    worker.send({"ready": True, "files": _user_files(os.path.dirname(os.path.abspath(exporters_dir))),
                 "failed": failed})
    child = worker.serve()
    if child is None:
        return 0
    # In a forked child: it waits for its run, then is exactly a cold run.
    child.warm_up()
    _exit_like_interpreter(lambda: main(child.enter(), prepared=True), child.report)


def _exit_like_interpreter(run, report=None):
    """Calls run() and ends the process as the interpreter ends a script
    (SystemExit's code or message, a traceback for any other exception,
    non-daemon threads joined, atexit handlers, standard streams flushed),
    but without tearing down every object: in a forked child that would
    write to, and so copy, nearly every page it shares with the worker,
    which costs far more than the run itself. report(code), when given, is
    called just before the exit of a run that was not interrupted."""
    import atexit
    import signal
    import threading
    import traceback as tb

    code, interrupted = 0, False
    try:
        code = run()
    except SystemExit as e:
        code = e.code
    except KeyboardInterrupt:
        tb.print_exc()
        interrupted = True
    except BaseException:  # noqa: B902
        sys.excepthook(*sys.exc_info())
        code = 1
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    if hasattr(threading, "_shutdown"):
        threading._shutdown()
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        code = 120
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    if interrupted:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    code &= 0xFF
    if report is not None:
        report(code)
    os._exit(code)


if __name__ == "__main__":
    if sys.argv[1:2] == [WORKER_FLAG]:
        sys.exit(worker_main(sys.argv[2:]))
    sys.exit(main(sys.argv[1:]))
