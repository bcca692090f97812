"""Messages between the caller and its helper processes.

A message is a pickled Python object on an AF_UNIX stream socket, preceded
by a 12-byte header (body length, descriptor count).  Descriptors travel as
SCM_RIGHTS on the header's first byte, which the receiver reads with
recvmsg; the kernel never merges bytes that carry descriptors with bytes
before them, so the header read gets them.
"""

from __future__ import annotations

import array
import pickle
import socket
import struct
from collections.abc import Sequence

_HEADER = struct.Struct("=QI")
#: At most this many descriptors go with one message.
MAX_FDS = 16


def send(sock: socket.socket, obj: object, fds: Sequence[int] = ()) -> None:
    """Send ``obj`` and ``fds`` as one message.  Raises OSError."""
    body = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    header = _HEADER.pack(len(body), len(fds))
    if fds:
        anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())]
        sent = sock.sendmsg([header + body], anc)
        if sent < len(header) + len(body):
            sock.sendall((header + body)[sent:])
    else:
        sock.sendall(header + body)


def _recv_exact(sock: socket.socket, view: memoryview) -> None:
    while view:
        n = sock.recv_into(view)
        if n == 0:
            raise EOFError("peer closed the connection")
        view = view[n:]


def recv(sock: socket.socket) -> tuple[object, list[int]]:
    """Receive one message: (object, descriptors).  Raises EOFError when the
    peer has gone, OSError on a socket error."""
    header = bytearray(_HEADER.size)
    cmsg_space = socket.CMSG_SPACE(MAX_FDS * 4)
    n, anc, _flags, _addr = sock.recvmsg_into([header], cmsg_space)
    if n == 0:
        raise EOFError("peer closed the connection")
    fds: list[int] = []
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            got = array.array("i")
            got.frombytes(data[: len(data) - len(data) % got.itemsize])
            fds.extend(got)
    _recv_exact(sock, memoryview(header)[n:])
    size, _nfds = _HEADER.unpack(header)
    body = bytearray(size)
    _recv_exact(sock, memoryview(body))
    return pickle.loads(body), fds
