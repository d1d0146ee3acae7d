"""Lattice's Python SDK: metrics, artifacts and checkpoints for training scripts.

Standard library only. Under Lattice the agent sets the LATTICE_* environment
variables read here; outside Lattice every function still works: log() records
nothing and the directories fall back to local ones, so a script runs unchanged
with plain ``python``.

    import lattice
    for step, batch in enumerate(loader):
        loss = train_step(batch)
        lattice.log({"loss": loss}, step=step)
    torch.save(model.state_dict(), lattice.checkpoint_dir() / "model.pt")

In a job of several processes (DDP) log() records only on global rank 0, and
should_stop() tells a script that Lattice asked it to stop (SIGTERM) so it
can save a checkpoint first.
"""

from __future__ import annotations

import atexit
import json
import numbers
import operator
import os
import signal
import sys
import threading
import time as _time
from collections.abc import Mapping
from pathlib import Path

__version__ = "0.1.0"

__all__ = [
    "log", "flush", "artifacts_dir", "checkpoint_dir", "latest_checkpoint",
    "run_name", "experiment", "attempt", "is_running_under_lattice",
    "should_stop", "handle_preemption", "rank", "world_size",
]

# Buffered lines are written at least this often (seconds), by a daemon thread.
_FLUSH_INTERVAL = 0.5
# A buffer this large (characters) is written at once by the logging call.
_FLUSH_SIZE = 64 * 1024
_MAX_KEY_BYTES = 256
_RESERVED = frozenset(("step", "time"))

_NOT_UNDER_LATTICE = ("lattice: LATTICE_METRICS_FILE is not set (not running under Lattice); "
                      "metrics are not recorded")

# _lock guards the buffer and the step counter; _io_lock serialises writes to
# the file, so a slow disk never blocks log() and lines keep their order.
_lock = threading.Lock()
_io_lock = threading.Lock()
_writer: "_Writer | None" = None
_initialized = False
_next_step = 0
_forked_child = False
_notices: set = set()
_valid_keys: set = set()


def _notice(key: str, message: str) -> None:
    """Prints message to stderr once per process for each key."""
    if key not in _notices:
        _notices.add(key)
        print(message, file=sys.stderr, flush=True)


class _Writer:
    """The metrics file, opened once in append mode, and its pending lines."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        self.buf: list = []
        self.size = 0
        self.pending = threading.Event()
        self.thread: threading.Thread | None = None
        # In a forked child (a DataLoader worker, say) every line is written at
        # once: such processes often end with os._exit(), which skips atexit.
        self.write_through = False

    def take(self) -> str:
        data = "".join(self.buf)
        self.buf.clear()
        self.size = 0
        return data

    def write(self, data: str) -> None:
        view = memoryview(data.encode("utf-8"))
        try:
            while view:
                n = os.write(self.fd, view)
                view = view[n:]
        except OSError as e:
            _notice("write-error", f"lattice: cannot write metrics to {self.path}: {e}; metrics are being dropped")


def _open_writer() -> _Writer | None:
    """Opens the metrics file on first use; None outside Lattice. Called under _lock."""
    global _writer, _initialized
    _initialized = True
    if rank() != 0:  # only global rank 0 records, silently; see log()
        return None
    path = os.environ.get("LATTICE_METRICS_FILE")
    if not path:
        _notice("metrics", _NOT_UNDER_LATTICE)
        return None
    try:
        _writer = _Writer(path)
        _writer.write_through = _forked_child
    except OSError as e:
        _notice("open-error", f"lattice: cannot open the metrics file {path}: {e}; metrics are not recorded")
        return None
    return _writer


def _flusher(w: _Writer) -> None:
    while True:
        w.pending.wait()
        _time.sleep(_FLUSH_INTERVAL)  # gather the lines of the next half second into one write
        w.pending.clear()
        _flush_writer(w)


def _flush_writer(w: _Writer) -> None:
    with _io_lock:
        with _lock:
            data = w.take() if w is _writer else ""
        if data:
            w.write(data)


def flush() -> None:
    """Writes every metric logged so far to LATTICE_METRICS_FILE now.

    Not needed in normal use: lines are written within about 0.5 s of log()
    and at exit.
    """
    w = _writer
    if w is not None:
        _flush_writer(w)


atexit.register(flush)


def _check_key(key: object) -> str:
    if key in _valid_keys:
        return key
    if not isinstance(key, str):
        raise TypeError(f"metric name {key!r} is not a string")
    if not key or not key.isprintable():
        raise ValueError(f"metric name {key!r} is empty or has characters that are not printable")
    if len(key.encode("utf-8", "surrogatepass")) > _MAX_KEY_BYTES:
        raise ValueError(f"metric name {key[:40]!r}... is longer than {_MAX_KEY_BYTES} bytes")
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"metric name {key!r} is not valid UTF-8") from None
    if len(_valid_keys) < 10000:
        _valid_keys.add(key)
    return key


def _scalar(key: str, v: object) -> object:
    """v as an int, float or bool, or TypeError naming key."""
    t = type(v)
    if t is float or t is int or t is bool:
        return v
    if isinstance(v, bool):
        return bool(v)
    if isinstance(v, int):
        return int(v)
    if isinstance(v, float):  # numpy.float64 is a float subclass
        return float(v)
    if not isinstance(v, (str, bytes, bytearray)):
        item = getattr(v, "item", None)
        if callable(item):  # numpy scalars and arrays of one element, 0-d torch tensors
            try:
                r = item()
            except Exception as e:  # a tensor of several elements, say
                raise TypeError(f"metric {key!r}: a {t.__name__} that is not one number ({e})") from None
            if type(r) in (int, float, bool):
                return r
            raise TypeError(f"metric {key!r}: {t.__name__}.item() gave a {type(r).__name__}, not a number")
        if isinstance(v, numbers.Real):  # fractions.Fraction and the like
            return float(v)
    raise TypeError(f"metric {key!r} has a value of type {t.__name__}; metrics are numbers or booleans")


def _flatten(metrics: Mapping, prefix: str, out: dict) -> None:
    for k, v in metrics.items():
        if prefix:
            if not isinstance(k, str):
                raise TypeError(f"metric name {k!r} under {prefix[:-1]!r} is not a string")
            key = _check_key(prefix + k)
        else:
            key = _check_key(k)
            if key in _RESERVED:
                raise ValueError(f"{key!r} is reserved; pass it as log(..., {key}=...)")
        if isinstance(v, Mapping):
            _flatten(v, key + "/", out)
            continue
        if key in out:
            raise ValueError(f"metric {key!r} appears twice after flattening nested dicts")
        out[key] = _scalar(key, v)


def log(metrics: Mapping[str, object], step: int | None = None, time: float | None = None) -> None:
    """Records one set of metrics, as one line of LATTICE_METRICS_FILE.

    metrics: names to numbers (int, float, bool, numpy scalars, 0-d tensors);
        NaN and infinities are kept; nested dicts become "outer/inner" names.
    step: an int >= 0; when None, one more than the previous step of this
        process (0 first).
    time: seconds since the epoch; when None, now.

    Raises TypeError or ValueError for a value or name that is not a metric,
    also outside Lattice, where nothing is recorded (a notice is printed once).
    Thread-safe; the line is written within about 0.5 s, or at exit.

    In a job of several processes only global rank 0 ($RANK unset or 0, read
    at the first call) records; on every other rank log() checks its
    arguments the same way and records nothing, without a notice, so every
    rank can run the same logging code.
    """
    global _next_step
    if not isinstance(metrics, Mapping):
        raise TypeError(f"metrics must be a dict of names to numbers, not {type(metrics).__name__}")
    if step is not None:
        if isinstance(step, bool):
            raise TypeError("step must be an int, not a bool")
        try:
            step = operator.index(step)
        except TypeError:
            raise TypeError(f"step must be an int, not {type(step).__name__}") from None
        if step < 0:
            raise ValueError(f"step must be >= 0, not {step}")
    if time is None:
        stamp = _time.time()
    else:
        stamp = float(time)
        if stamp != stamp or stamp in (float("inf"), float("-inf")):
            raise ValueError(f"time must be a finite number of seconds, not {time!r}")
    flat: dict = {}
    _flatten(metrics, "", flat)
    # Serialised outside the lock; NaN and infinities become NaN/Infinity/-Infinity.
    body = json.dumps(flat)[1:]
    body = ", " + body if len(body) > 1 else body
    flush_now = False
    with _lock:
        w = _writer if _initialized else _open_writer()
        if w is None:
            return
        if step is None:
            step = _next_step
        _next_step = step + 1
        line = '{"step": %d, "time": %r%s\n' % (step, stamp, body)
        was_empty = not w.buf
        w.buf.append(line)
        w.size += len(line)
        if w.write_through or w.size >= _FLUSH_SIZE:
            flush_now = True
        elif was_empty:
            if w.thread is None:
                w.thread = threading.Thread(target=_flusher, args=(w,), name="lattice-metrics-flush", daemon=True)
                w.thread.start()
            w.pending.set()
    if flush_now:
        _flush_writer(w)


def _before_fork() -> None:
    _io_lock.acquire()
    _lock.acquire()


def _after_fork_parent() -> None:
    _lock.release()
    _io_lock.release()


def _after_fork_child() -> None:
    # The parent's pending lines stay the parent's to write; the child keeps the
    # file (O_APPEND, so whole lines from both interleave) and writes its own at once.
    global _lock, _io_lock, _forked_child
    _lock = threading.Lock()
    _io_lock = threading.Lock()
    _forked_child = True
    _restore_sigterm_in_child()
    w = _writer
    if w is not None:
        w.buf.clear()
        w.size = 0
        w.pending = threading.Event()
        w.thread = None
        w.write_through = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_parent,
                        after_in_child=_after_fork_child)


def _env_dir(var: str, fallback: str) -> Path:
    value = os.environ.get(var)
    if value:
        path = Path(value)
    else:
        path = Path.cwd() / fallback
        _notice(var, f"lattice: {var} is not set (not running under Lattice); using {path}")
    path.mkdir(parents=True, exist_ok=True)
    return path


def artifacts_dir() -> Path:
    """The directory whose files Lattice keeps as the experiment's artifacts.

    $LATTICE_ARTIFACTS_DIR; outside Lattice ./lattice_artifacts (created).
    """
    return _env_dir("LATTICE_ARTIFACTS_DIR", "lattice_artifacts")


def checkpoint_dir() -> Path:
    """The directory for checkpoints, uploaded as files appear there.

    A new attempt of the experiment starts with the newest complete checkpoint
    restored into it. $LATTICE_CHECKPOINT_DIR; outside Lattice
    ./lattice_checkpoints (created). Write to a name starting with "." or
    ending with ".tmp" and os.replace() it, so no half-written file has the
    final name.
    """
    return _env_dir("LATTICE_CHECKPOINT_DIR", "lattice_checkpoints")


def latest_checkpoint(pattern: str = "*") -> Path | None:
    """The most recently modified file in checkpoint_dir() matching the glob pattern, or None.

    Files whose names start with "." or end with ".tmp" (writes in progress)
    are skipped. Use it to resume: ``ckpt = lattice.latest_checkpoint("*.pt")``.
    """
    best = None
    best_key = None
    for p in checkpoint_dir().glob(pattern):
        if p.name.startswith(".") or p.name.endswith(".tmp"):
            continue
        try:
            st = p.stat()
        except OSError:
            continue
        if not p.is_file():
            continue
        key = (st.st_mtime_ns, p.name)
        if best_key is None or key > best_key:
            best, best_key = p, key
    return best


def run_name() -> str | None:
    """The run's name ($LATTICE_RUN), or None outside Lattice."""
    return os.environ.get("LATTICE_RUN") or None


def experiment() -> str | None:
    """The experiment's id within its run ($LATTICE_EXPERIMENT, e.g. "3"), or None outside Lattice."""
    return os.environ.get("LATTICE_EXPERIMENT") or None


def attempt() -> int:
    """The attempt number of this experiment ($LATTICE_ATTEMPT): 1 first, more after a restart; 1 outside Lattice."""
    try:
        return int(os.environ.get("LATTICE_ATTEMPT", "1"))
    except ValueError:
        return 1


def is_running_under_lattice() -> bool:
    """Whether this process was started by Lattice's agent ($LATTICE_RUN is set)."""
    return bool(os.environ.get("LATTICE_RUN"))


# ---------------------------------------------------------------------------
# Stopping: Lattice sends SIGTERM to every rank on cancel, preemption or when
# another rank of the job failed, then SIGKILL after a grace period.

_stop_requested = False
_sigterm_installed = False
_sigterm_previous: object = None
_sigterm_lock = threading.Lock()


def _on_sigterm(signum: int, frame: object) -> None:
    global _stop_requested
    _stop_requested = True
    previous = _sigterm_previous
    if callable(previous):  # a handler the script (or a library) installed before ours
        previous(signum, frame)


def handle_preemption() -> bool:
    """Makes SIGTERM set the flag that should_stop() reads, instead of ending the process.

    should_stop() calls it on its first call, so most scripts never need it.
    Call it yourself from the main thread at start-up when should_stop() is
    first asked from another thread, or to be sure a SIGTERM that arrives
    before the first should_stop() is not fatal. A handler that was installed
    before (not SIG_DFL or SIG_IGN) is still called after the flag is set.

    Returns True when the handler is installed (now or before); False when it
    cannot be, because Python lets only the main thread install signal
    handlers: SIGTERM then keeps its previous effect (by default, the end of
    the process) and a notice is printed once.
    """
    global _sigterm_installed, _sigterm_previous
    with _sigterm_lock:
        if _sigterm_installed:
            return True
        try:
            previous = signal.getsignal(signal.SIGTERM)
            signal.signal(signal.SIGTERM, _on_sigterm)
        except ValueError:  # not the main thread
            _notice("sigterm-thread",
                    "lattice: should_stop() cannot install its SIGTERM handler outside the main thread; "
                    "call lattice.handle_preemption() from the main thread at start-up "
                    "(until then SIGTERM ends the process)")
            return False
        _sigterm_previous = previous if callable(previous) and previous is not _on_sigterm else None
        _sigterm_installed = True
        return True


def should_stop() -> bool:
    """True once this process has received SIGTERM: save a checkpoint and exit.

    Lattice sends SIGTERM to every rank when the experiment is cancelled, its
    machine is preempted (a spot instance taken back) or another rank of the
    job failed; SIGKILL follows after a grace period. The first call installs
    a SIGTERM handler (see handle_preemption()), so from then on SIGTERM no
    longer ends the process: check should_stop() regularly, e.g. once per
    step, and return. A script that never calls it keeps the default
    behaviour, where SIGTERM ends the process at once.

    In DDP the ranks receive SIGTERM at slightly different times; agree
    before acting (all_reduce a flag, as examples/ddp/train.py does, or
    lattice.lightning.CheckpointOnStop with Lightning), or ranks stop at
    different steps and the others wait in their next collective.
    Cheap enough to call every step.
    """
    if not _sigterm_installed:
        handle_preemption()
    return _stop_requested


def _restore_sigterm_in_child() -> None:
    """In a forked child (a DataLoader or multiprocessing worker) SIGTERM ends the process again.

    A pool's terminate() stops its workers with SIGTERM; they must not ignore it.
    """
    global _sigterm_installed, _sigterm_previous, _stop_requested, _sigterm_lock
    _sigterm_lock = threading.Lock()
    if not _sigterm_installed:
        return
    previous = _sigterm_previous if _sigterm_previous is not None else signal.SIG_DFL
    try:
        if signal.getsignal(signal.SIGTERM) is _on_sigterm:
            signal.signal(signal.SIGTERM, previous)
    except ValueError:
        pass
    _sigterm_installed = False
    _sigterm_previous = None
    _stop_requested = False


def _int_env(var: str, default: int) -> int:
    try:
        return int(os.environ.get(var) or default)
    except ValueError:
        return default


def rank() -> int:
    """This process's global rank in its job ($RANK): 0 when unset (one process, or outside a job)."""
    return _int_env("RANK", 0)


def world_size() -> int:
    """The number of processes in the job ($WORLD_SIZE): 1 when unset."""
    return _int_env("WORLD_SIZE", 1)
