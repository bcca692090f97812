"""The library's exceptions, and the one place OSError becomes them.

Every failure the library reports to a caller of the façade is an
:class:`IpcnsError` with a one-line message that names the problem.  The
subclasses also derive from the matching builtin, so ``except LookupError``
and ``except PermissionError`` keep working.  Task methods of the backend
contract are different: they raise plain ``OSError`` with the kernel's errno,
because that is what they model.
"""

from __future__ import annotations

import errno


class IpcnsError(Exception):
    """Base class of every error the library reports."""


class NamespaceNotFound(IpcnsError, LookupError):
    """No IPC namespace matches the name, path, pid or inode given."""


class InvalidSpec(IpcnsError, ValueError):
    """The input is malformed: a bad name, a path that is no IPC namespace,
    a bad key, size or limit value."""


class PrivilegeError(IpcnsError, PermissionError):
    """The caller lacks a privilege; the message says which."""


class AlreadyExists(IpcnsError, FileExistsError):
    """A named namespace (or object) of that name already exists."""


def translate(err: OSError, what: str, privilege: str = "CAP_SYS_ADMIN") -> IpcnsError:
    """The IpcnsError for an OSError met while doing ``what``.

    ``privilege`` names what EPERM/EACCES means was missing.
    """
    reason = err.strerror or str(err)
    if err.errno in (errno.EPERM, errno.EACCES):
        return PrivilegeError(f"{what}: {reason} (needs {privilege}; run as root)")
    if err.errno == errno.ENOENT:
        return NamespaceNotFound(f"{what}: {reason}")
    if err.errno == errno.EEXIST:
        return AlreadyExists(f"{what}: {reason}")
    if err.errno in (errno.EINVAL, errno.ENOTDIR, errno.ENAMETOOLONG):
        return InvalidSpec(f"{what}: {reason}")
    return IpcnsError(f"{what}: {reason}")
