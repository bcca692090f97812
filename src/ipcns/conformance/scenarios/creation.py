"""N01-N11: making, joining and inspecting IPC namespaces."""

from __future__ import annotations

import errno

from ... import abi
from ...contract import Task
from .._core import Lab, expect, expect_errno, expect_ok, expect_true, scenario

#: Unprivileged uids of this module (not shared with other scenario modules).
UID = 40410
UID_OWNER = 40411

#: SysV keys of this module.
KEY = 0x4E0A0001

#: Every capability bit.
ALL_CAPS = (1 << (abi.CAP_LAST_CAP + 1)) - 1


def _drop_cap(task: Task, cap: int) -> None:
    """Remove ``cap`` from the task's effective and permitted sets."""
    eff, perm, inh = task.capabilities()
    mask = ALL_CAPS & ~(1 << cap)
    task.set_capabilities(eff & mask, perm & mask, inh & mask)


@scenario("N01")
def unshare_and_clone_make_a_new_namespace(lab: Lab) -> None:
    """unshare(CLONE_NEWIPC), and fork with it, give a new /proc/PID/ns/ipc."""
    t = lab.task(new_ipc=False)
    before = t.ns_inode()
    expect_ok(t.unshare, abi.CLONE_NEWIPC)
    after = t.ns_inode()
    expect_true(after != before, "unshare(CLONE_NEWIPC) gives a new inode")
    child = expect_ok(t.fork, abi.CLONE_NEWIPC)
    expect_true(child.ns_inode() not in (before, after), "clone(CLONE_NEWIPC) gives a new inode")


@scenario("N04")
def clone_newipc_with_sysvsem_is_einval(lab: Lab) -> None:
    """clone(CLONE_NEWIPC|CLONE_SYSVSEM) fails with EINVAL."""
    t = lab.task()
    expect_errno(errno.EINVAL, t.fork, abi.CLONE_NEWIPC | abi.CLONE_SYSVSEM)


@scenario("N05")
def unshare_newipc_with_sysvsem_works(lab: Lab) -> None:
    """unshare(CLONE_NEWIPC|CLONE_SYSVSEM) succeeds (NEWIPC implies SYSVSEM)."""
    t = lab.task()
    before = t.ns_inode()
    expect_ok(t.unshare, abi.CLONE_NEWIPC | abi.CLONE_SYSVSEM)
    expect_true(t.ns_inode() != before, "a new namespace")
    expect(t.msgget(abi.IPC_PRIVATE, abi.IPC_CREAT | 0o600), 0, "first msqid there")


@scenario("N02")
def newipc_without_cap_sys_admin_is_eperm(lab: Lab) -> None:
    """Without CAP_SYS_ADMIN, unshare and clone with CLONE_NEWIPC fail with EPERM."""
    t = lab.task()
    home = t.ns_inode()
    u = lab.unprivileged(t, UID, UID)
    expect(u.capabilities()[0], 0, "effective capabilities of the unprivileged task")
    expect_errno(errno.EPERM, u.unshare, abi.CLONE_NEWIPC,
                 what="unshare(CLONE_NEWIPC), unprivileged")
    expect_errno(errno.EPERM, u.unshare, abi.CLONE_NEWIPC | abi.CLONE_SYSVSEM,
                 what="unshare(CLONE_NEWIPC|CLONE_SYSVSEM), unprivileged")
    expect_errno(errno.EPERM, u.fork, abi.CLONE_NEWIPC, what="clone(CLONE_NEWIPC), unprivileged")
    expect(u.ns_inode(), home, "namespace of the unprivileged task after the failures")
    # Root that lacks only CAP_SYS_ADMIN: the capability, not the uid, decides.
    r = t.fork(0)
    _drop_cap(r, abi.CAP_SYS_ADMIN)
    expect_errno(errno.EPERM, r.unshare, abi.CLONE_NEWIPC,
                 what="unshare(CLONE_NEWIPC), root without CAP_SYS_ADMIN")
    expect_errno(errno.EPERM, r.fork, abi.CLONE_NEWIPC,
                 what="clone(CLONE_NEWIPC), root without CAP_SYS_ADMIN")
    expect(r.ns_inode(), home, "namespace of root without CAP_SYS_ADMIN")


@scenario("N03")
def unprivileged_newuser_newipc(lab: Lab) -> None:
    """Unprivileged unshare(CLONE_NEWUSER|CLONE_NEWIPC) works; the new userns owns the new ipcns."""
    t = lab.task()
    u = lab.unprivileged(t, UID_OWNER, UID_OWNER)
    old_fd = u.open("/proc/self/ns/ipc")
    old_ipc, old_user = u.ns_inode(), u.ns_inode("user")
    expect_ok(u.unshare, abi.CLONE_NEWUSER | abi.CLONE_NEWIPC,
              what="unprivileged unshare(CLONE_NEWUSER|CLONE_NEWIPC)")
    new_ipc, new_user = u.ns_inode(), u.ns_inode("user")
    expect_true(new_ipc != old_ipc, "a new IPC namespace")
    expect_true(new_user != old_user, "a new user namespace")
    expect(u.msgget(KEY, abi.IPC_CREAT | abi.IPC_EXCL | 0o600), 0, "first msqid in it")
    new_fd = u.open("/proc/self/ns/ipc")
    # NS_GET_USERNS reaches only owners in the caller's user namespace or below.
    owner = expect_ok(u.ns_ioctl, new_fd, abi.NS_GET_USERNS, what="NS_GET_USERNS of the new one")
    expect(u.ns_ioctl(owner, abi.NS_GET_NSTYPE), abi.CLONE_NEWUSER, "type of its owner")
    expect_errno(errno.EPERM, u.ns_ioctl, old_fd, abi.NS_GET_USERNS,
                 what="NS_GET_USERNS of the old one (owned by the parent user namespace)")
    # Root of the new user namespace is privileged over the new IPC namespace
    # only.
    expect_ok(u.setns, new_fd, abi.CLONE_NEWIPC, what="setns into the new one")
    expect_errno(errno.EPERM, u.setns, old_fd, abi.CLONE_NEWIPC, what="setns into the old one")
    expect(u.ns_inode(), new_ipc, "still in the new IPC namespace")
    # Seen from outside: the owner was made by UID_OWNER, and is u's.
    r = t.fork(0)
    expect_ok(r.setns, u, abi.CLONE_NEWIPC, what="host root joins the new IPC namespace")
    fd = r.open("/proc/self/ns/ipc")
    owner = r.ns_ioctl(fd, abi.NS_GET_USERNS)
    expect(r.ns_ioctl(owner, abi.NS_GET_OWNER_UID), UID_OWNER, "owner uid of its user namespace")
    expect_ok(r.setns, owner, abi.CLONE_NEWUSER, what="setns to that user namespace")
    expect(r.ns_inode("user"), new_user, "the owner is the user namespace u made")


@scenario("N06")
def max_ipc_namespaces_gives_enospc(lab: Lab) -> None:
    """Past its user namespace's max_ipc_namespaces, CLONE_NEWIPC fails with ENOSPC."""
    path = "/proc/sys/user/max_ipc_namespaces"
    host = lab.task()
    host_limit = host.read_file(path)
    r = lab.user_ns(host)  # root of a user namespace of its own: its own limit
    c = r.fork(0)  # same user namespace and uid: the same count
    expect_ok(r.write_file, path, b"1\n", what="root of the user namespace sets its limit")
    expect(r.read_file(path), b"1\n", "its max_ipc_namespaces")
    expect(host.read_file(path), host_limit, "the host's max_ipc_namespaces")
    expect_ok(r.unshare, abi.CLONE_NEWIPC, what="unshare, 1 of 1")
    expect_errno(errno.ENOSPC, r.unshare, abi.CLONE_NEWIPC, what="unshare, 2 of 1")
    expect_errno(errno.ENOSPC, r.fork, abi.CLONE_NEWIPC, what="clone, 2 of 1")
    expect_errno(errno.ENOSPC, c.unshare, abi.CLONE_NEWIPC, what="unshare by another task, 2 of 1")
    expect_errno(errno.ENOSPC, c.unshare, abi.CLONE_NEWIPC | abi.CLONE_SYSVSEM,
                 what="unshare(CLONE_NEWIPC|CLONE_SYSVSEM), 2 of 1")
    expect_ok(r.fork, 0, what="clone without CLONE_NEWIPC")
    expect_ok(host.fork, abi.CLONE_NEWIPC, what="clone(CLONE_NEWIPC) outside that user namespace")
    # Raised by one: one more, then ENOSPC again.
    r.write_file(path, b"2\n")
    expect_ok(c.fork, abi.CLONE_NEWIPC, what="clone, 2 of 2")
    expect_errno(errno.ENOSPC, c.unshare, abi.CLONE_NEWIPC, what="unshare, 3 of 2")
    # A nested user namespace counts against its ancestors' limits too.
    nested = lab.user_ns(c)
    expect_errno(errno.ENOSPC, nested.unshare, abi.CLONE_NEWIPC,
                 what="unshare in a nested user namespace, parent's 3 of 2")


@scenario("N07")
def namespace_is_per_thread(lab: Lab) -> None:
    """unshare(CLONE_NEWIPC) in one thread leaves its sibling threads in their namespace."""
    t = lab.task()
    home = t.ns_inode()
    home_fd = t.open("/proc/self/ns/ipc")  # threads share descriptors
    msqid = t.msgget(KEY, abi.IPC_CREAT | abi.IPC_EXCL | 0o600)
    th1 = t.thread()
    th2 = t.thread()
    expect(th1.ns_inode(), home, "a new thread starts in its creator's namespace")
    expect_ok(th1.unshare, abi.CLONE_NEWIPC, what="unshare(CLONE_NEWIPC) in a thread")
    moved = th1.ns_inode()
    expect_true(moved != home, "the unsharing thread is in a new namespace")
    expect(t.ns_inode(), home, "main thread's namespace")
    expect(th2.ns_inode(), home, "sibling thread's namespace")
    expect_errno(errno.ENOENT, th1.msgget, KEY, 0, what="the key from the unsharing thread")
    expect(th2.msgget(KEY, 0), msqid, "the key from the sibling thread")
    mine = expect_ok(th1.msgget, KEY, abi.IPC_CREAT | abi.IPC_EXCL | 0o600,
                     what="the same key, exclusively, in the unsharing thread")
    th1.msgsnd(mine, 1, b"thread")
    expect(t.msgctl_stat(msqid, abi.IPC_STAT).qnum, 0, "messages on the main thread's queue")
    expect(th2.msgget(KEY, 0), msqid, "the key from the sibling thread, again")
    # setns is per thread too.
    expect_ok(th1.setns, home_fd, abi.CLONE_NEWIPC, what="setns back in the thread")
    expect(th1.ns_inode(), home, "the thread is home again")
    expect(th1.msgget(KEY, 0), msqid, "the key after setns back")
    expect_ok(th2.unshare, abi.CLONE_NEWIPC, what="unshare(CLONE_NEWIPC) in the other thread")
    expect_true(th2.ns_inode() not in (home, moved), "the other thread in a namespace of its own")
    expect(t.ns_inode(), home, "main thread's namespace at the end")
    expect(th1.ns_inode(), home, "first thread's namespace at the end")


@scenario("N08")
def setns_through_nsfs_and_pidfd(lab: Lab) -> None:
    """setns(nsfs fd, CLONE_NEWIPC or 0) and setns(pidfd, CLONE_NEWIPC) join that namespace."""
    a = lab.task()
    msqid = a.msgget(KEY, abi.IPC_CREAT | abi.IPC_EXCL | 0o600)
    a.msgsnd(msqid, 7, b"from A")
    b = lab.task()
    expect_errno(errno.ENOENT, b.msgget, KEY, 0, what="A's key before joining")
    pidfd = b.pidfd_open(a.pid)
    expect_ok(b.setns, pidfd, abi.CLONE_NEWIPC, what="setns(pidfd, CLONE_NEWIPC)")
    b.close(pidfd)
    expect(b.ns_inode(), a.ns_inode(), "namespace after setns(pidfd)")
    expect(b.msgget(KEY, 0), msqid, "A's key after setns(pidfd)")
    fd = b.open("/proc/self/ns/ipc")  # A's
    for nstype in (abi.CLONE_NEWIPC, 0):
        b.unshare(abi.CLONE_NEWIPC)
        expect_errno(errno.ENOENT, b.msgget, KEY, 0, what="A's key after unshare")
        expect_ok(b.setns, fd, nstype, what=f"setns(nsfs fd, {nstype:#x})")
        expect(b.ns_inode(), a.ns_inode(), f"namespace after setns(nsfs fd, {nstype:#x})")
        expect(b.msgget(KEY, 0), msqid, f"A's key after setns(nsfs fd, {nstype:#x})")
    expect(b.msgrcv(msqid, 64), (7, b"from A"), "A's message, received by the joiner")
    # A task target (through a pidfd of it).
    c = lab.task()
    expect_ok(c.setns, a, abi.CLONE_NEWIPC, what="setns to a task's namespace")
    expect(c.ns_inode(), a.ns_inode(), "namespace after setns to the task")


@scenario("N09")
def setns_errors(lab: Lab) -> None:
    """setns: wrong nstype for the fd or a non-namespace file give EINVAL; a bad fd EBADF."""
    a = lab.task()
    b = lab.task()
    home = b.ns_inode()
    fd = b.open("/proc/self/ns/ipc")
    for wrong in (abi.CLONE_NEWUTS, abi.CLONE_NEWNET, abi.CLONE_NEWNS, abi.CLONE_NEWUSER,
                  abi.CLONE_NEWIPC | abi.CLONE_NEWUTS, abi.CLONE_SYSVSEM):
        expect_errno(errno.EINVAL, b.setns, fd, wrong, what=f"setns(ipc fd, {wrong:#x})")
    uts = b.open("/proc/self/ns/uts")
    expect_errno(errno.EINVAL, b.setns, uts, abi.CLONE_NEWIPC, what="setns(uts fd, CLONE_NEWIPC)")
    pidfd = b.pidfd_open(a.pid)
    expect_errno(errno.EINVAL, b.setns, pidfd, 0, what="setns(pidfd, 0)")
    expect_errno(errno.EINVAL, b.setns, pidfd, abi.CLONE_NEWIPC | abi.CLONE_SYSVSEM,
                 what="setns(pidfd, CLONE_NEWIPC|CLONE_SYSVSEM)")
    plain = b.open("/proc/sys/kernel/msgmni")
    expect_errno(errno.EINVAL, b.setns, plain, abi.CLONE_NEWIPC,
                 what="setns(sysctl file fd, CLONE_NEWIPC)")
    expect_errno(errno.EINVAL, b.setns, plain, 0, what="setns(sysctl file fd, 0)")
    b.close(plain)
    expect_errno(errno.EBADF, b.setns, plain, abi.CLONE_NEWIPC,
                 what="setns(closed fd, CLONE_NEWIPC)")
    expect_errno(errno.EBADF, b.setns, plain, 0, what="setns(closed fd, 0)")
    expect_errno(errno.EBADF, b.setns, -1, abi.CLONE_NEWIPC, what="setns(-1, CLONE_NEWIPC)")
    expect(b.ns_inode(), home, "namespace after the failed calls")


@scenario("N10")
def setns_needs_cap_sys_admin(lab: Lab) -> None:
    """setns needs CAP_SYS_ADMIN in the target's owning userns and in the caller's, else EPERM."""
    a = lab.task()
    b = lab.task()
    # Unprivileged: neither, even for its own namespace.
    u = lab.unprivileged(b, UID, UID)
    own = u.open("/proc/self/ns/ipc")
    expect_errno(errno.EPERM, u.setns, own, abi.CLONE_NEWIPC, what="unprivileged setns(own ns fd)")
    expect_errno(errno.EPERM, u.setns, own, 0, what="unprivileged setns(own ns fd, 0)")
    pidfd = u.pidfd_open(a.pid)
    expect_errno(errno.EPERM, u.setns, pidfd, abi.CLONE_NEWIPC, what="unprivileged setns(pidfd)")
    expect(u.ns_inode(), b.ns_inode(), "the unprivileged task did not move")
    # Root without CAP_SYS_ADMIN: the capability decides, not the uid.
    r = b.fork(0)
    _drop_cap(r, abi.CAP_SYS_ADMIN)
    pidfd = r.pidfd_open(a.pid)
    expect_errno(errno.EPERM, r.setns, pidfd, abi.CLONE_NEWIPC,
                 what="setns(pidfd) by root without CAP_SYS_ADMIN")
    # Its own child user namespace gives it CAP_SYS_ADMIN over an IPC
    # namespace owned there, but not in its own user namespace: still EPERM.
    c = r.fork(abi.CLONE_NEWUSER | abi.CLONE_NEWIPC)
    pidfd = r.pidfd_open(c.pid)
    expect_errno(errno.EPERM, r.setns, pidfd, abi.CLONE_NEWIPC,
                 what="setns to a namespace of its child user namespace, without "
                      "CAP_SYS_ADMIN in its own")
    expect(r.ns_inode(), b.ns_inode(), "root without CAP_SYS_ADMIN did not move")
    expect_ok(a.fork(0).setns, c, abi.CLONE_NEWIPC, what="full root joins the same namespace")
    # User-namespace root: privileged in its user namespace only.
    ur = lab.user_ns(b)
    host_owned = ur.open("/proc/self/ns/ipc")  # b's, owned by the host's user namespace
    expect_errno(errno.EPERM, ur.setns, host_owned, abi.CLONE_NEWIPC,
                 what="user-namespace root: setns(fd of a host-owned namespace)")
    pidfd = ur.pidfd_open(a.pid)
    expect_errno(errno.EPERM, ur.setns, pidfd, abi.CLONE_NEWIPC,
                 what="user-namespace root: setns(pidfd of a task in a host-owned namespace)")
    expect_ok(ur.unshare, abi.CLONE_NEWIPC, what="user-namespace root: unshare(CLONE_NEWIPC)")
    mine = ur.open("/proc/self/ns/ipc")
    ur.unshare(abi.CLONE_NEWIPC)
    expect_ok(ur.setns, mine, abi.CLONE_NEWIPC,
              what="user-namespace root: setns to a namespace its user namespace owns")
    expect_ok(a.fork(0).setns, ur, abi.CLONE_NEWIPC, what="host root joins that namespace")


@scenario("N11")
def nsfs_ioctls(lab: Lab) -> None:
    """ipc nsfs fd: NS_GET_NSTYPE is CLONE_NEWIPC, NS_GET_PARENT EINVAL, NS_GET_USERNS the owner."""
    t = lab.task()
    fd = t.open("/proc/self/ns/ipc")
    expect(t.ns_ioctl(fd, abi.NS_GET_NSTYPE), abi.CLONE_NEWIPC, "NS_GET_NSTYPE")
    expect_errno(errno.EINVAL, t.ns_ioctl, fd, abi.NS_GET_PARENT, what="NS_GET_PARENT")
    owner = expect_ok(t.ns_ioctl, fd, abi.NS_GET_USERNS, what="NS_GET_USERNS")
    expect(t.ns_ioctl(owner, abi.NS_GET_NSTYPE), abi.CLONE_NEWUSER, "type of NS_GET_USERNS's fd")
    # t's own user namespace: nothing above it is within reach.
    expect_errno(errno.EPERM, t.ns_ioctl, owner, abi.NS_GET_USERNS,
                 what="NS_GET_USERNS of the owner of a namespace t made")
    # A namespace made in a child user namespace by UID is owned by that
    # user namespace.
    u = lab.unprivileged(t, UID, UID)
    c = u.fork(abi.CLONE_NEWUSER | abi.CLONE_NEWIPC)
    expect_ok(t.setns, c, abi.CLONE_NEWIPC, what="join the child-owned namespace")
    cfd = t.open("/proc/self/ns/ipc")
    expect(t.ns_ioctl(cfd, abi.NS_GET_NSTYPE), abi.CLONE_NEWIPC, "NS_GET_NSTYPE")
    expect_errno(errno.EINVAL, t.ns_ioctl, cfd, abi.NS_GET_PARENT, what="NS_GET_PARENT")
    cowner = expect_ok(t.ns_ioctl, cfd, abi.NS_GET_USERNS, what="NS_GET_USERNS")
    expect(t.ns_ioctl(cowner, abi.NS_GET_NSTYPE), abi.CLONE_NEWUSER, "type of NS_GET_USERNS's fd")
    expect(t.ns_ioctl(cowner, abi.NS_GET_OWNER_UID), UID, "creator of the owning user namespace")
    parent = expect_ok(t.ns_ioctl, cowner, abi.NS_GET_USERNS, what="its parent, t's own")
    expect(t.ns_ioctl(parent, abi.NS_GET_NSTYPE), abi.CLONE_NEWUSER, "type of the parent")
    expect_ok(t.setns, cowner, abi.CLONE_NEWUSER, what="setns to the owning user namespace")
    expect(t.ns_inode("user"), c.ns_inode("user"), "the owner is the child's user namespace")
