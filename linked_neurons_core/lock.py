"""One trainer per run directory: a lock file that names its holder.

    with RunLock(run_dir):            # or RunLock(dir_a, dir_b, ...): all or none
        ...train...

The lock is the file `run_dir/.lock`, made with `os.open(O_CREAT | O_EXCL)`,
which is atomic on local file systems and on NFS (v3 and later): of two
trainers, on one machine or on two machines sharing the directory, exactly one
makes it. It holds the holder's host, PID and start time, and a second trainer
is refused at once with a RunLockedError that names them:

    results/quick/runs/depth/relu/1 is being trained by PID 1234 on host n01
    since 2026-01-02T03:04:05+00:00; wait for it to finish, or if that process
    is gone, delete results/quick/runs/depth/relu/1/.lock

(one line). The lock is removed when the `with` block ends, by an exception
too. A lock left behind by a process that died (SIGKILL, a crash, a reboot)
on this machine is stale: the next trainer on this machine takes it over; of
two trying at once only one wins. The machine is told by its host name, its
machine id (/etc/machine-id) and its boot id: a lock of another boot is stale
only when it names this machine id (a reboot), since cloned VMs and containers
on shared storage share host names. A lock held on another machine cannot be
checked from here and is refused, naming the file, whatever its holder's state.

Standard library only: no Keras, no import of the rest of the package (the
workflow may load this file by path).
"""

import contextlib
import datetime
import errno
import json
import logging
import os
import secrets
import socket
import threading
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: stale locks are never taken over
    fcntl = None

__all__ = ["LOCK_NAME", "RunLock", "RunLockedError", "holder"]

LOCK_NAME = ".lock"
log = logging.getLogger(__name__)

# Serializes the takeovers of this process's threads (flock excludes other
# processes; on NFS it is emulated with POSIX locks, which are per process).
_TAKEOVER = threading.Lock()
_EMPTY_GRACE_S = 0.5  # how long a just-made, still empty lock file is waited for
_TAKEOVER_WAIT_S = 10.0


class RunLockedError(RuntimeError):
    """A run directory is locked by another trainer; `str()` is one line."""


def _read_first_line(path):
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.readline().strip()
    except OSError:
        return None


def _boot_id():
    return _read_first_line("/proc/sys/kernel/random/boot_id")


MACHINE_ID_FILES = ("/etc/machine-id", "/var/lib/dbus/machine-id")


def _machine_id():
    """This machine's id (systemd's /etc/machine-id), or None where there is none."""
    for path in MACHINE_ID_FILES:
        value = _read_first_line(path)
        if value:
            return value
    return None


def _pid_namespace():
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def _proc_stat(pid):
    """(state, start time in clock ticks after boot) of `pid`, from /proc, or None."""
    line = _read_first_line(f"/proc/{pid}/stat")
    if not line or ")" not in line:
        return None
    fields = line.rsplit(")", 1)[1].split()  # the command name may hold spaces
    try:
        return fields[0], int(fields[19])
    except (IndexError, ValueError):
        return None


def _record():
    """What a lock file says of its holder: this process."""
    pid = os.getpid()
    stat = _proc_stat(pid)
    return {
        "host": socket.gethostname(),
        "pid": pid,
        "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "boot_id": _boot_id(),
        "machine_id": _machine_id(),
        "pid_namespace": _pid_namespace(),
        "process_start": stat[1] if stat else None,
        "token": secrets.token_hex(8),
    }


def _alive(pid, process_start):
    """Whether `pid` on this host is still the process that took the lock."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, as another user's
    except OSError:
        return True  # cannot tell: assume it lives
    stat = _proc_stat(pid)
    if stat is None:
        return True
    state, start = stat
    if state in ("Z", "X"):  # a zombie has finished
        return False
    if process_start is not None and start != process_start:
        return False  # the PID was reused by another process
    return True


def _stale(record):
    """Whether the holder of `record` is known to be gone: this same machine
    rebooted since, or its process is gone. False when that cannot be told
    from here: another host, another machine of the same host name (cloned
    VMs, containers on shared storage: another machine id), another PID
    namespace."""
    if record.get("host") != socket.gethostname():
        return False
    boot, machine = _boot_id(), _machine_id()
    if record.get("boot_id") != boot:
        # Another boot: of this machine (a reboot: its holder is gone) only if
        # both name the same machine id; else another machine, or unknown.
        return bool(machine and boot and record.get("boot_id")
                    and record.get("machine_id") == machine)
    # The same boot id: the same running kernel (a boot id is drawn at random
    # at each boot), so its PIDs are ours to check.
    namespace = _pid_namespace()
    if record.get("pid_namespace") and namespace and record["pid_namespace"] != namespace:
        return False  # another container's PIDs: not visible here
    return not _alive(record["pid"], record.get("process_start"))


def _parse(text):
    try:
        record = json.loads(text)
    except ValueError:
        return None
    if (not isinstance(record, dict) or not isinstance(record.get("pid"), int)
            or isinstance(record.get("pid"), bool) or record["pid"] <= 0
            or not isinstance(record.get("host"), str)):
        return None
    return record


def _read(lock):
    """(record or None if unreadable, os.stat_result) of the lock file, or
    None if there is none."""
    try:
        with open(lock, "rb") as f:
            stat = os.fstat(f.fileno())
            text = f.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return None
    except PermissionError:  # another user's, unreadable: a holder we cannot name
        try:
            return None, os.stat(lock)
        except FileNotFoundError:
            return None
    return _parse(text), stat


def holder(run_dir, name=LOCK_NAME):
    """The record of the trainer holding `run_dir`'s lock (a dict with host,
    pid, started), or None if it is not locked or its lock file is unreadable."""
    found = _read(Path(run_dir) / name)
    return found[0] if found else None


def _refusal(run_dir, lock, record):
    if record is None:
        return (f"{run_dir} is locked by {lock}, which names no holder (a trainer may be "
                f"starting); if no trainer is running, delete {lock}")
    machine = record.get("machine_id")
    other = (f" (another machine of that name, id {str(machine)[:12]})"
             if machine and record["host"] == socket.gethostname() and machine != _machine_id()
             else "")
    return (f"{run_dir} is being trained by PID {record['pid']} on host {record['host']}{other} "
            f"since {record.get('started', 'an unknown time')}; wait for it to finish, "
            f"or if that process is gone, delete {lock}")


def _same_file(a, b):
    return (a.st_ino, a.st_dev) == (b.st_ino, b.st_dev)


@contextlib.contextmanager
def _host_mutex(path):
    """An exclusive flock on `path`, created and removed around the block. It
    excludes the other processes of this host (the only ones that take over a
    lock of this host); raises OSError where flock is not available."""
    deadline = time.monotonic() + _TAKEOVER_WAIT_S
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.01)
            # Locked; but if the file was removed (by the previous taker)
            # between our open and our flock, the lock is on a dead inode.
            try:
                current = os.stat(path)
            except FileNotFoundError:
                current = None
            mine = os.fstat(fd)
            if current is not None and _same_file(current, mine):
                break
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    try:
        yield
    finally:
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        finally:
            os.close(fd)


class RunLock:
    """Exclusive use of one or more run directories (see the module doc).

    `RunLock(*run_dirs)`: a context manager, or `acquire()` / `release()`.
    With several directories it takes all of them or none: if one is held,
    those already taken are given back and RunLockedError is raised.
    """

    def __init__(self, *run_dirs, name=LOCK_NAME):
        if not run_dirs:
            raise TypeError("RunLock needs at least one run directory")
        unique = {}
        for run_dir in run_dirs:
            unique.setdefault(os.path.abspath(run_dir), Path(run_dir))
        # A fixed order: two groups that overlap meet at their first common directory.
        self.run_dirs = [unique[key] for key in sorted(unique)]
        self.name = name
        self._held = {}  # lock path -> record written

    @property
    def held(self):
        return bool(self._held)

    def acquire(self):
        if self._held:
            raise RuntimeError("this RunLock is already held")
        try:
            for run_dir in self.run_dirs:
                lock = run_dir / self.name
                self._held[lock] = self._acquire_one(run_dir, lock)
        except BaseException:
            self.release()
            raise
        return self

    def release(self):
        """Remove the lock files this object made (not a lock someone else
        made since, e.g. after deleting ours by hand)."""
        held, self._held = self._held, {}
        for lock, record in held.items():
            if record["pid"] != os.getpid():
                continue  # a forked child: the parent holds it
            found = _read(lock)
            if found is None or found[0] is None or found[0].get("token") != record["token"]:
                log.warning("%s is no longer this process's lock; left as it is", lock)
                continue
            try:
                os.unlink(lock)
            except FileNotFoundError:
                pass

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc_info):
        self.release()
        return False

    def _acquire_one(self, run_dir, lock):
        run_dir.mkdir(parents=True, exist_ok=True)
        empty_since = None
        for _ in range(1000):  # each pass makes progress unless others race us
            record = _record()
            try:
                fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL
                             | getattr(os, "O_CLOEXEC", 0), 0o666)
            except FileExistsError:
                pass
            else:
                self._write(fd, lock, record)
                return record
            found = _read(lock)
            if found is None:
                continue  # released meanwhile: try again
            current, stat = found
            if current is None:
                # Made but not yet written by its taker, or damaged: wait a little.
                empty_since = empty_since or time.monotonic()
                if time.monotonic() - empty_since < _EMPTY_GRACE_S:
                    time.sleep(0.02)
                    continue
                raise RunLockedError(_refusal(run_dir, lock, None))
            if not _stale(current):
                raise RunLockedError(_refusal(run_dir, lock, current))
            removed = self._take_over(lock, current, stat)
            if removed is None:
                raise RunLockedError(_refusal(run_dir, lock, current))
            if removed:
                log.warning("removed the stale lock %s of PID %s on host %s, which is gone",
                            lock, current["pid"], current["host"])
        raise RunLockedError(_refusal(run_dir, lock, holder(run_dir, self.name)))

    @staticmethod
    def _write(fd, lock, record):
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(json.dumps(record, sort_keys=True) + "\n")
                f.flush()
                os.fsync(f.fileno())
        except BaseException as error:
            with contextlib.suppress(OSError):
                os.unlink(lock)
            if isinstance(error, OSError) and error.filename is None:
                raise OSError(error.errno, error.strerror, str(lock)) from error
            raise

    @staticmethod
    def _take_over(lock, seen, seen_stat):
        """Remove the stale lock `seen` (the file of `seen_stat`) if it is still
        there, under a host-wide mutex: True if removed, False if it was gone
        or replaced meanwhile (look again), None if that is not possible here."""
        if fcntl is None:
            return None
        mutex = lock.with_name(lock.name + ".takeover")
        try:
            with _TAKEOVER, _host_mutex(mutex):
                found = _read(lock)
                if found is None:
                    return False  # gone already: try to take it
                current, stat = found
                if not _same_file(stat, seen_stat) or current != seen:
                    return False  # replaced meanwhile: look again
                os.unlink(lock)
                return True
        except OSError as error:
            if error.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EAGAIN, errno.EACCES,
                               errno.EPERM, errno.EROFS):
                return None
            raise
