"""Open files: what a descriptor of a model task refers to."""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._state import oserror

if TYPE_CHECKING:
    from .mqueue import MqFile
    from .task import ModelTask


class OpenFile:
    """A struct file: shared by the descriptors that dup or inherit it."""

    def __init__(self) -> None:
        self.refs = 1
        self.pos = 0

    def read(self, t: ModelTask, size: int) -> bytes:
        raise oserror(errno.EINVAL)

    def write(self, t: ModelTask, data: bytes) -> int:
        raise oserror(errno.EBADF)

    def flush(self, t: ModelTask) -> None:
        """Called at every close of a descriptor of it."""

    def release(self, t: ModelTask) -> None:
        """Called when the last descriptor went."""


class NsFile(OpenFile):
    """An nsfs file (/proc/PID/ns/*): it holds its namespace."""

    def __init__(self, ns: Any) -> None:
        super().__init__()
        self.ns = ns.get()

    def release(self, t: ModelTask) -> None:
        self.ns.put()


class PidFd(OpenFile):
    """pidfd_open: a process."""

    def __init__(self, task: ModelTask) -> None:
        super().__init__()
        self.task = task


class TextFile(OpenFile):
    """A file whose text is computed at each read (seq files, sysctls, queue
    files): ``render()`` gives the whole text; ``pin``, if any, is a
    namespace held while the file is open."""

    def __init__(self, render: Callable[[], bytes], pin: Any = None,
                 write: Callable[[bytes], None] | None = None) -> None:
        super().__init__()
        self.render = render
        self.pin = pin.get() if pin is not None else None
        self._write = write

    def read(self, t: ModelTask, size: int) -> bytes:
        if size < 0:
            raise oserror(errno.EINVAL)
        text = self.render()
        out = text[self.pos:self.pos + size]
        self.pos += len(out)
        return out

    def write(self, t: ModelTask, data: bytes) -> int:
        if self._write is None:
            raise oserror(errno.EBADF)
        self._write(data)
        return len(data)

    def release(self, t: ModelTask) -> None:
        if self.pin is not None:
            self.pin.put()


class RegFile(OpenFile):
    """A regular file of an in-memory filesystem."""

    def __init__(self, node: Any, flags: int) -> None:
        super().__init__()
        self.node = node
        self.flags = flags

    def read(self, t: ModelTask, size: int) -> bytes:
        if self.flags & 3 == 1:
            raise oserror(errno.EBADF)
        out = bytes(self.node.data[self.pos:self.pos + size])
        self.pos += len(out)
        return out

    def write(self, t: ModelTask, data: bytes) -> int:
        if self.flags & 3 == 0:
            raise oserror(errno.EBADF)
        end = self.pos + len(data)
        if len(self.node.data) < end:
            self.node.data.extend(bytes(end - len(self.node.data)))
        self.node.data[self.pos:end] = data
        self.pos = end
        return len(data)


class DirFile(OpenFile):
    """An open directory."""

    def read(self, t: ModelTask, size: int) -> bytes:
        raise oserror(errno.EISDIR)


class MqOpen(OpenFile):
    """A POSIX message queue descriptor."""

    def __init__(self, mq: MqFile) -> None:
        super().__init__()
        self.mq = mq

    def read(self, t: ModelTask, size: int) -> bytes:
        from .mqueue import queue_file

        out = queue_file(t, self.mq.queue)[self.pos:self.pos + size]
        self.pos += len(out)
        return out

    def flush(self, t: ModelTask) -> None:
        from .mqueue import flush

        flush(t, self.mq)

    def release(self, t: ModelTask) -> None:
        from .mqueue import close

        close(t, self.mq)
