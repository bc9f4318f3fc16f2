"""Small file helpers: every output of a run appears atomically.

- A file is written to a temporary file in its own directory, flushed to
  disk, then renamed over the old one: readers see the old file or the new
  one, never a part. The directory is flushed too, so the new name survives
  a crash of the machine.
- Outputs get the mode the umask asks for (0644 under umask 022), as any
  file the user makes, not the 0600 of `tempfile.mkstemp`: the rest of a
  group can read a shared project's results.
- An error while writing (a full disk, a read-only file system) is an
  `OutputError` whose one-line message names the file; the temporary file is
  removed and the old file is left as it was.
- A damaged JSON file is a `DamagedFileError` whose one-line message names
  the file.

Standard library only, and no import of Keras.
"""

import errno
import json
import os
import secrets
from pathlib import Path

__all__ = [
    "DamagedFileError",
    "OutputError",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "atomic_write_with",
    "read_json",
]

# Errors of fsync on a directory that only mean "not supported here" (some
# network and FUSE file systems, Windows).
_NO_DIRECTORY_SYNC = {errno.EINVAL, errno.ENOTSUP, errno.EBADF, errno.EACCES,
                      errno.EPERM, errno.EISDIR}


class OutputError(OSError):
    """An output could not be written; `str()` is one line naming the file.

    Built like an OSError, `OutputError(errno, strerror, filename)`, so its
    `errno` (e.g. `errno.ENOSPC`) still tells what happened; a caller that
    knows the run adds it with `error.within(context)`.
    """

    context = None  # e.g. "run depth/relu seed 1": leads the message when set

    def within(self, context):
        """The same error, its message led by `context` (e.g. the run's name)."""
        error = OutputError(self.errno, self.strerror, self.filename)
        error.context = context
        return error

    def __str__(self):
        lead = f"{self.context}: " if self.context else ""
        return f"{lead}cannot write {self.filename}: {self.strerror}"


class DamagedFileError(ValueError):
    """A file holds no valid JSON; `str()` is one line naming the file.

    `context`, if given, comes first (e.g. the run the file belongs to); a
    caller that knows more can add it with `error.within(context)`.
    """

    def __init__(self, path, reason, context=None):
        super().__init__(str(path), reason, context)
        self.path = Path(path)
        self.reason = " ".join(str(reason).split())  # one line
        self.context = context

    def within(self, context):
        """The same error, its message led by `context` (e.g. "run depth/relu/1")."""
        return DamagedFileError(self.path, self.reason, context)

    def __str__(self):
        lead = f"{self.context}: " if self.context else ""
        return (f"{lead}{self.path} is damaged ({self.reason}); "
                "delete it (or restore it from a copy) and run again")


def _output_error(path, error):
    message = error.strerror or str(error) or type(error).__name__
    return OutputError(error.errno, message, str(path))


def _create(path, suffix=""):
    """A new, empty temporary file beside `path`: (fd, its path).

    Made with mode 0o666, so the kernel applies the umask (or the
    directory's default ACL) exactly as for any new file, and with O_EXCL, so
    no two writers share one.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    flags |= getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp{suffix}"
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary file name", str(path))


def _sync_directory(directory):
    """Flush `directory`'s entries (the rename) to disk, where that exists."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as error:
        if error.errno not in _NO_DIRECTORY_SYNC:
            raise
    finally:
        os.close(fd)


def _remove(tmp):
    try:
        os.unlink(tmp)
    except OSError:
        pass


def _ours(error, *paths):
    """Whether an OSError raised by a caller's writer is about our file (a full
    disk, a failed write) rather than about another file it opened."""
    return error.filename is None or str(error.filename) in {str(p) for p in paths}


def atomic_write_with(path, write, *, by_name=False):
    """Write `path` atomically with `write`, a function of one argument.

    `write(f)` is given the temporary file opened for binary writing (e.g.
    `lambda f: np.savez(f, *arrays)`); with `by_name=True`, `write(name)` is
    given its path instead, which ends with `path`'s suffix (e.g. for
    `model.save(name)`, which wants a `.keras` name) and already exists with
    the right mode. Then the file is flushed to disk and renamed to `path`.

    Raises OutputError (naming `path`) for any OSError about the file; a
    writer's OSError about another file, and its other errors, pass through.
    Either way the temporary file is removed and `path` keeps its old content.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _create(path, path.suffix if by_name else "")
        try:
            if by_name:
                os.close(fd)
                fd = None
                _run_writer(write, os.fspath(tmp), path, tmp)
                fd = os.open(tmp, os.O_RDONLY)
                os.fsync(fd)
            else:
                with os.fdopen(fd, "wb") as f:
                    fd = None  # the file object owns it now
                    _run_writer(write, f, path, tmp)
                    f.flush()
                    os.fsync(f.fileno())
        finally:
            if fd is not None:
                os.close(fd)
        os.replace(tmp, path)
        tmp = None
        _sync_directory(path.parent)
    except _WriterError as error:
        raise error.cause from None
    except OSError as error:
        if isinstance(error, OutputError):
            raise
        raise _output_error(path, error) from error
    finally:
        if tmp is not None:
            _remove(tmp)


class _WriterError(Exception):
    """Carries a writer's error that is not ours to rename."""

    def __init__(self, cause):
        super().__init__(cause)
        self.cause = cause


def _run_writer(write, target, path, tmp):
    try:
        write(target)
    except OSError as error:
        if _ours(error, path, tmp):
            raise _output_error(path, error) from error
        raise _WriterError(error) from None


def atomic_write_bytes(path, data):
    """Write `data` (bytes) to `path` so that readers see the old file or the new one."""
    atomic_write_with(path, lambda f: f.write(data))


def atomic_write_text(path, text):
    """Write `text` (UTF-8) to `path` so that readers see the old file or the new one."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path, data):
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def read_json(path, context=None):
    """The JSON content of `path`.

    A file that is not valid JSON (truncated, empty, overwritten) raises
    DamagedFileError naming it, led by `context` if given (e.g. the run's
    name). A missing or unreadable file raises the OSError of `open`, which
    names it.
    """
    path = Path(path)
    data = path.read_bytes()
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise DamagedFileError(path, f"not UTF-8 text: {error.reason} at byte {error.start}",
                               context) from error
    except json.JSONDecodeError as error:
        reason = ("empty file" if not data.strip()
                  else f"invalid JSON: {error.msg} at line {error.lineno} column {error.colno}")
        raise DamagedFileError(path, reason, context) from error
