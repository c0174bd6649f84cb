"""Standard streams and output files: closed streams, full disks, broken pipes, atomic writes.

A file bp writes appears whole or not at all: the bytes go to a temporary file beside it,
which replaces the target only once complete, so a full disk, Ctrl-C or a kill never leaves
a partial or empty file where an old one was. Devices and FIFOs (/dev/null, /dev/stdout)
are written in place: there is nothing to replace, and a temporary file in /dev would be one.
"""

from __future__ import annotations

import errno
import os
import stat
import sys

from bpcli.errors import OutputError, UsageError

# Errors of a stream that cannot take the output (no file name: the stream is not a file bp opened).
STREAM_ERRNOS = {errno.ENOSPC, errno.EIO, errno.EBADF, errno.EFBIG, errno.EDQUOT, errno.EINVAL,
                 errno.EPIPE, errno.ECONNRESET}


class ClosedStream:
    """Stands in for a standard stream that was closed when bp started (`>&-`, `<&-`)."""

    def __init__(self, name: str, role: str, error: type):
        self.name, self.role, self.error = name, role, error

    def _fail(self, *args, **kwargs):
        raise self.error(f"{self.name} is closed: bp has nowhere to {self.role}",
                         hint="run bp with the stream open (remove >&- or <&-)")

    read = readline = readlines = write = writelines = _fail
    encoding = "utf-8"
    errors = "strict"

    @property
    def buffer(self):
        self._fail()

    def __iter__(self):
        self._fail()

    def flush(self) -> None:  # nothing was written, so nothing is lost
        pass

    def isatty(self) -> bool:
        return False

    def fileno(self):
        raise OSError(errno.EBADF, "closed")


def guard_standard_streams() -> None:
    """Give closed standard descriptors a harmless /dev/null, so that no file bp opens lands on
    fd 0-2 (stray writes would go into it), and make a closed stdin or stdout an error that says
    so; a closed stderr simply drops the messages (the exit code still tells)."""
    for fd, name, role in ((0, "standard input", "read its input from"),
                           (1, "standard output", "write its output"), (2, "standard error", "")):
        try:
            os.fstat(fd)
            continue
        except OSError:
            pass
        opened = os.open(os.devnull, os.O_RDONLY if fd == 0 else os.O_WRONLY)
        if opened != fd:  # a lower descriptor was free too: it is handled in its own turn
            os.dup2(opened, fd)
            os.close(opened)
        if fd == 2:
            sys.stderr = open(fd, "w", encoding="utf-8", errors="replace", closefd=False)
        else:
            stream = ClosedStream(name, role, UsageError if fd == 0 else OutputError)
            setattr(sys, ("stdin", "stdout")[fd], stream)


def is_stream_error(e: OSError) -> bool:
    """Whether an OSError is a standard stream refusing output (not a file bp opened by name)."""
    return e.filename is None and e.errno in STREAM_ERRNOS


def _target(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise OutputError(f"cannot write {path}: {e.strerror}") from None


def check_writable(path: str) -> None:
    """Refuse up front an output path that cannot be written (before any long work)."""
    if path == "-":
        return
    target = _target(path)
    if target is not None and stat.S_ISDIR(target.st_mode):
        raise OutputError(f"cannot write {path}: it is a directory")
    if target is not None and not stat.S_ISREG(target.st_mode):
        if not os.access(path, os.W_OK):
            raise OutputError(f"cannot write {path}: permission denied")
        return
    folder = os.path.dirname(path) or "."
    if not os.path.isdir(folder):
        raise OutputError(f"cannot write {path}: there is no directory {folder}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {path}: the directory {folder} is not writable")


def write_output(path: str, data: bytes) -> None:
    """Write `data` to the file `path` whole or not at all; `-` is standard output."""
    if path == "-":
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    check_writable(path)
    target = _target(path)
    if target is not None and not stat.S_ISREG(target.st_mode):
        _write_in_place(path, data)
        return
    folder = os.path.dirname(path) or "."
    try:
        import tempfile  # only when writing a file: not at start-up

        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    except OSError as e:
        raise OutputError(f"cannot write {path}: cannot create a file in {folder}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(tmp, stat.S_IMODE(target.st_mode) if target is not None else _default_mode())
        os.replace(tmp, path)
    except OSError as e:
        _remove(tmp)
        raise OutputError(f"cannot write {path}: {e.strerror}") from None
    except BaseException:  # Ctrl-C, a kill turned into SystemExit: the old file stays as it was
        _remove(tmp)
        raise


def _write_in_place(path: str, data: bytes) -> None:
    try:
        with open(path, "wb") as out:
            out.write(data)
    except OSError as e:
        raise OutputError(f"cannot write {path}: {e.strerror}") from None


def _default_mode() -> int:
    """What open() would give a new file: 0o666 less the umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
