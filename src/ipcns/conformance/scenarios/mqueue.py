"""N18-N27: POSIX message queues and IPC namespaces."""

from __future__ import annotations

import contextlib
import errno

from ... import abi
from ..._types import MqAttr
from ...contract import Task
from .._core import Lab, expect, expect_errno, expect_ok, expect_true, scenario

#: Small queues everywhere: 4 messages of at most 64 bytes.
SMALL = MqAttr(maxmsg=4, msgsize=64)

#: This module's own uids (per-user accounting: nobody else charges them).
UID_LIMITS = 42601  # N26
UID_CHARGE = 42602  # N27
UID_OTHER = 42603  # N27: a second user beside UID_CHARGE
UID_STICKY = 42604  # N25

_MQ = "/proc/sys/fs/mqueue/"


def _make(t: Task, name: str, attr: MqAttr = SMALL) -> None:
    """Create queue ``name`` (O_EXCL) in ``t``'s namespace and close it."""
    t.close(expect_ok(t.mq_open, name, abi.O_RDWR | abi.O_CREAT | abi.O_EXCL, 0o600, attr,
                      what=f"mq_open({name!r}, O_CREAT|O_EXCL)"))


def _small_defaults(t: Task) -> None:
    """Make the queues creat() gives in ``t``'s namespace small: msg_default
    1, msgsize_default 128 (the sysctls' minimums)."""
    t.write_file(_MQ + "msg_default", b"1")
    t.write_file(_MQ + "msgsize_default", b"128")


def _queue_file(qsize: int, notify: int, signo: int, pid: int) -> bytes:
    """What reading a queue's file in an mqueue mount gives."""
    return (f"QSIZE:{qsize:<10d} NOTIFY:{notify:<5d} SIGNO:{signo:<5d} "
            f"NOTIFY_PID:{pid:<6d}\n").encode()


# -- N18-N20: names -------------------------------------------------------------------


@scenario("N18")
def queue_names_are_per_namespace(lab: Lab) -> None:
    """A queue made in A is ENOENT by name in B and opens in a plain fork of A."""
    a = lab.task()
    b = lab.task()
    _make(a, "/n18")
    expect_errno(errno.ENOENT, b.mq_open, "/n18", abi.O_RDONLY, what="mq_open in B")
    child_b = a.fork(abi.CLONE_NEWIPC)
    expect_errno(errno.ENOENT, child_b.mq_open, "/n18", abi.O_RDONLY,
                 what="mq_open in a fork with CLONE_NEWIPC")
    same = a.fork(0)
    fd = expect_ok(same.mq_open, "/n18", abi.O_RDONLY, what="mq_open in a plain fork")
    expect(same.mq_getattr(fd).maxmsg, SMALL.maxmsg, "the fork opened A's queue (maxmsg)")


@scenario("N19")
def same_name_is_a_new_queue_in_another_namespace(lab: Lab) -> None:
    """O_CREAT|O_EXCL in B for a name of A succeeds (a separate queue); in a plain fork, EEXIST."""
    a = lab.task()
    b = lab.task()
    qa = expect_ok(a.mq_open, "/n19", abi.O_RDWR | abi.O_CREAT | abi.O_EXCL, 0o600, SMALL)
    a.mq_send(qa, b"only in A")
    qb = expect_ok(b.mq_open, "/n19", abi.O_RDWR | abi.O_CREAT | abi.O_EXCL, 0o600,
                   MqAttr(maxmsg=2, msgsize=32), what="mq_open(O_CREAT|O_EXCL) in B")
    expect(b.mq_getattr(qb), MqAttr(flags=0, maxmsg=2, msgsize=32, curmsgs=0),
           "B's queue: B's attributes, no message of A")
    expect(a.mq_getattr(qa).curmsgs, 1, "A's queue keeps its message")
    same = a.fork(0)
    expect_errno(errno.EEXIST, same.mq_open, "/n19",
                 abi.O_RDWR | abi.O_CREAT | abi.O_EXCL, 0o600, SMALL,
                 what="mq_open(O_CREAT|O_EXCL) in a plain fork")


@scenario("N20")
def descriptor_survives_unshare_but_name_does_not(lab: Lab) -> None:
    """A queue fd opened before unshare keeps working; mq_unlink of its name there is ENOENT."""
    t = lab.task()
    keeper = t.fork(0)  # stays in the old namespace
    fd = expect_ok(t.mq_open, "/n20", abi.O_RDWR | abi.O_CREAT | abi.O_EXCL, 0o600, SMALL)
    t.mq_send(fd, b"before", 1)
    expect_ok(t.unshare, abi.CLONE_NEWIPC)
    expect_ok(t.mq_send, fd, b"after", 2, what="mq_send on the old fd after unshare")
    expect(t.mq_getattr(fd).curmsgs, 2, "curmsgs through the old fd")
    expect(expect_ok(t.mq_receive, fd, 64), (b"after", 2), "mq_receive on the old fd")
    expect_errno(errno.ENOENT, t.mq_unlink, "/n20", what="mq_unlink in the new namespace")
    expect_errno(errno.ENOENT, t.mq_open, "/n20", abi.O_RDONLY, what="mq_open in the new namespace")
    old = expect_ok(keeper.mq_open, "/n20", abi.O_RDONLY, what="mq_open in the old namespace")
    expect(keeper.mq_getattr(old).curmsgs, 1, "the old namespace's queue is the fd's")
    expect(keeper.mq_receive(old, 64), (b"before", 1), "its message")
    expect_ok(keeper.mq_unlink, "/n20", what="mq_unlink in the old namespace")


# -- N21-N25: the mqueue filesystem ----------------------------------------------------


@scenario("N21")
def mqueue_mount_shows_the_mounting_tasks_namespace(lab: Lab) -> None:
    """mqueue mounts bind to the mounter's namespace, agree with each other,
    survive umount/remount, and creat() there makes a real queue."""
    a = lab.task()
    ws = lab.workspace(a)
    _small_defaults(a)
    b = a.fork(abi.CLONE_NEWIPC)  # same mount namespace, IPC namespace B
    for d in ("a1", "a2", "b"):
        a.mkdir(f"{ws}/{d}")
    _make(a, "/qa")
    _make(b, "/qb")
    expect_ok(a.mount_mqueue, f"{ws}/a1", what="mount mqueue in A")
    expect_ok(a.mount_mqueue, f"{ws}/a2", what="second mount in A")
    expect_ok(b.mount_mqueue, f"{ws}/b", what="mount mqueue in B")
    for viewer in (a, b):
        expect(viewer.listdir(f"{ws}/a1"), ["qa"], "A's mount lists A's queues")
        expect(viewer.listdir(f"{ws}/a2"), ["qa"], "A's second mount lists the same")
        expect(viewer.listdir(f"{ws}/b"), ["qb"], "B's mount lists B's queues")
    _make(a, "/qa2")
    expect(a.listdir(f"{ws}/a1"), ["qa", "qa2"], "a new queue shows in the first mount")
    expect(a.listdir(f"{ws}/a2"), ["qa", "qa2"], "and in the second")
    # creat() in a mount makes a real queue, with the namespace's defaults.
    expect_ok(a.creat, f"{ws}/a2/made", 0o600, what="creat in A's mount")
    expect(a.listdir(f"{ws}/a1"), ["made", "qa", "qa2"], "the creat()ed queue in the other mount")
    fd = expect_ok(a.mq_open, "/made", abi.O_RDWR, what="mq_open of the creat()ed queue")
    expect(a.mq_getattr(fd), MqAttr(flags=0, maxmsg=1, msgsize=128, curmsgs=0),
           "its attributes are A's msg_default and msgsize_default")
    a.mq_send(fd, b"via creat", 3)
    expect(a.mq_receive(fd, 128), (b"via creat", 3), "a message through it")
    a.close(fd)
    expect_errno(errno.ENOENT, b.mq_open, "/made", abi.O_RDONLY, what="B does not have it")
    # Queues outlive every mount of their namespace.
    expect_ok(a.umount, f"{ws}/a1")
    expect_ok(a.umount, f"{ws}/a2")
    expect(a.listdir(f"{ws}/a1"), [], "the mount point after umount")
    expect_ok(a.mq_open, "/qa", abi.O_RDONLY, what="mq_open with no mount at all")
    expect_ok(a.mount_mqueue, f"{ws}/a1", what="remount in A")
    expect(a.listdir(f"{ws}/a1"), ["made", "qa", "qa2"], "the remount lists the same queues")
    # mq_unlink shows through the mount, and unlink through it removes a queue.
    expect_ok(a.mq_unlink, "/qa2")
    expect_ok(a.unlink, f"{ws}/a1/made", what="unlink in the mount")
    expect_errno(errno.ENOENT, a.mq_open, "/made", abi.O_RDONLY, what="mq_open after the unlink")
    expect(a.listdir(f"{ws}/a1"), ["qa"], "after mq_unlink and unlink")


@scenario("N22")
def a_mount_of_a_seen_from_b_is_still_a(lab: Lab) -> None:
    """From B, A's mount lists A's queues and creat() through it makes a queue in A."""
    a = lab.task()
    ws = lab.workspace(a)
    _small_defaults(a)
    a.mkdir(f"{ws}/a")
    expect_ok(a.mount_mqueue, f"{ws}/a")
    _make(a, "/qa")
    b = a.fork(abi.CLONE_NEWIPC)  # B, sharing A's mount namespace
    _make(b, "/qb")
    expect(b.listdir(f"{ws}/a"), ["qa"], "B looking through A's mount")
    expect_errno(errno.ENOENT, b.mq_open, "/qa", abi.O_RDONLY, what="A's queue by name in B")
    expect_ok(b.creat, f"{ws}/a/fromb", 0o600, what="creat in A's mount from B")
    expect(b.listdir(f"{ws}/a"), ["fromb", "qa"], "the new entry in A's mount")
    expect_errno(errno.ENOENT, b.mq_open, "/fromb", abi.O_RDONLY, what="it is not in B")
    fd = expect_ok(a.mq_open, "/fromb", abi.O_RDONLY, what="it is in A")
    expect(a.mq_getattr(fd), MqAttr(flags=0, maxmsg=1, msgsize=128, curmsgs=0),
           "made with A's defaults")
    # The same holds for a task that moved to B with setns.
    mover = a.fork(0)
    expect_ok(mover.setns, b, abi.CLONE_NEWIPC)
    expect(mover.listdir(f"{ws}/a"), ["fromb", "qa"], "after setns to B, A's mount is A's")
    expect_ok(mover.creat, f"{ws}/a/mover", 0o600, what="creat in A's mount after setns")
    expect_ok(a.mq_open, "/mover", abi.O_RDONLY, what="that queue is in A")
    expect_errno(errno.ENOENT, mover.mq_open, "/mover", abi.O_RDONLY, what="not in B")
    expect_ok(b.mq_open, "/qb", abi.O_RDONLY, what="B's own queue is untouched")


@scenario("N23")
def a_mount_of_a_dead_namespace_is_inert(lab: Lab) -> None:
    """When the namespace behind a mount dies, its entries still list and creat() is EACCES."""
    t = lab.task()
    ws = lab.workspace(t)
    t.mkdir(f"{ws}/m")
    expect_ok(t.mount_mqueue, f"{ws}/m")
    _make(t, "/q1")
    _make(t, "/q2")
    _small_defaults(t)
    expect_ok(t.creat, f"{ws}/m/before", 0o600, what="creat while the namespace lives")
    expect(t.listdir(f"{ws}/m"), ["before", "q1", "q2"], "the mount while the namespace lives")
    # t was the namespace's only member: leaving it ends the namespace, the
    # mount does not keep it alive.
    expect_ok(t.unshare, abi.CLONE_NEWIPC)
    expect(t.listdir(f"{ws}/m"), ["before", "q1", "q2"], "entries still list after it died")
    expect_errno(errno.EACCES, t.creat, f"{ws}/m/late", 0o600,
                 what="creat in the mount of a dead namespace")
    expect(t.listdir(f"{ws}/m"), ["before", "q1", "q2"], "nothing was added")
    expect_errno(errno.ENOENT, t.mq_open, "/q1", abi.O_RDONLY,
                 what="the new namespace does not have the queues")


@scenario("N24")
def mounting_needs_cap_sys_admin_over_the_namespaces_owner(lab: Lab) -> None:
    """mount -t mqueue: EPERM for user-namespace root in a host-owned IPC namespace
    and for an unprivileged task; works after unshare(CLONE_NEWIPC) in the user namespace."""
    t = lab.task()
    ws_t = lab.workspace(t)
    t.mkdir(f"{ws_t}/m")
    nobody = lab.unprivileged(t)  # t's mount and IPC namespaces, no capability
    expect_errno(errno.EPERM, nobody.mount_mqueue, f"{ws_t}/m",
                 what="mount as an unprivileged user")
    u = lab.user_ns(t)  # root of a new user namespace, still in t's IPC namespace
    ws = lab.workspace(u)
    u.mkdir(f"{ws}/m")
    expect_errno(errno.EPERM, u.mount_mqueue, f"{ws}/m",
                 what="mount by user-namespace root in an IPC namespace of the initial userns")
    _make(u, "/outer")  # made in t's namespace (root there may create queues)
    expect_ok(u.unshare, abi.CLONE_NEWIPC)
    expect_ok(u.mount_mqueue, f"{ws}/m",
              what="mount after unshare(CLONE_NEWIPC) in the user namespace")
    expect(u.listdir(f"{ws}/m"), [], "the new namespace's (empty) queues")
    _make(u, "/inner")
    expect(u.listdir(f"{ws}/m"), ["inner"], "its queue shows in the mount")


@scenario("N25")
def mqueue_root_mode_and_queue_file_format(lab: Lab) -> None:
    """The mqueue root is rwxrwxrwt (1777) and a queue file reads
    "QSIZE:%-10lu NOTIFY:%-5d SIGNO:%-5d NOTIFY_PID:%-6d"."""
    t = lab.task()
    ws = lab.workspace(t)
    t.mkdir(f"{ws}/m")
    expect_ok(t.mount_mqueue, f"{ws}/m")
    fd = expect_ok(t.mq_open, "/fmt", abi.O_RDWR | abi.O_CREAT | abi.O_EXCL, 0o600, SMALL)
    expect(t.read_file(f"{ws}/m/fmt"), _queue_file(0, 0, 0, 0), "an empty queue's file")
    t.mq_send(fd, b"hello", 1)
    t.mq_send(fd, b"ab", 0)
    expect(t.read_file(f"{ws}/m/fmt"), _queue_file(7, 0, 0, 0), "QSIZE counts message bytes")
    expect_ok(t.mq_notify, fd, abi.SIGUSR1)
    expect(t.read_file(f"{ws}/m/fmt"), _queue_file(7, 0, abi.SIGUSR1, t.pid),
           "with a SIGEV_SIGNAL registration (SIGEV_SIGNAL is 0)")
    t.mq_notify(fd, None)
    t.mq_receive(fd, 64)
    expect(t.read_file(f"{ws}/m/fmt"), _queue_file(2, 0, 0, 0), "after unregistering and a receive")
    t.close(fd)
    root = expect_ok(t.stat, f"{ws}/m", what="stat of the mqueue root")
    expect(oct(root.mode), oct(0o41777), "the mqueue root: a directory, mode 1777")
    expect(oct(t.stat(f"{ws}/m/fmt").mode), oct(0o100600), "a queue: a regular file, its mode")
    # And what the mode means: anyone may list and create (o+rwx), only the
    # owner may remove (sticky).
    other = lab.unprivileged(t, UID_STICKY, UID_STICKY)
    expect(expect_ok(other.listdir, f"{ws}/m", what="listdir as another user"), ["fmt"],
           "the root is world readable")
    expect_ok(other.creat, f"{ws}/m/theirs", 0o600, what="creat as another user (world writable)")
    _make(other, "/theirs2")
    expect_errno(errno.EPERM, other.unlink, f"{ws}/m/fmt", what="unlink of root's queue (sticky)")
    # The system call fails with EPERM too; mq_unlink(3) reports it as EACCES
    # (glibc and musl both map it, as POSIX names only EACCES).
    expect_errno(errno.EACCES, other.mq_unlink, "/fmt",
                 what="mq_unlink(3) of root's queue (sticky)")
    expect_ok(other.unlink, f"{ws}/m/theirs", what="unlink of one's own queue")
    expect_ok(other.mq_unlink, "/theirs2", what="mq_unlink of one's own queue")
    expect(t.listdir(f"{ws}/m"), ["fmt"], "what is left")


# -- N26-N27: limits ----------------------------------------------------------------------


@scenario("N26")
def queue_limits_are_per_namespace(lab: Lab) -> None:
    """queues_max counts per namespace (ENOSPC past it); attributes above
    msg_max/msgsize_max are EINVAL; CAP_SYS_RESOURCE of a user namespace does not bypass them."""
    a = lab.task()
    b = lab.task()
    for ns in (a, b):
        ns.write_file(_MQ + "queues_max", b"2")
    a.write_file(_MQ + "msg_max", b"2")
    a.write_file(_MQ + "msgsize_max", b"128")
    ua = lab.unprivileged(a, UID_LIMITS, UID_LIMITS)
    ub = lab.unprivileged(b, UID_LIMITS, UID_LIMITS)
    # queues_max
    _make(ua, "/q1", MqAttr(maxmsg=1, msgsize=16))
    _make(ua, "/q2", MqAttr(maxmsg=1, msgsize=16))
    expect_errno(errno.ENOSPC, ua.mq_open, "/q3", abi.O_RDWR | abi.O_CREAT, 0o600,
                 MqAttr(maxmsg=1, msgsize=16), what="the third queue in A (queues_max 2)")
    _make(ub, "/q1", MqAttr(maxmsg=1, msgsize=16))
    _make(ub, "/q2", MqAttr(maxmsg=1, msgsize=16))  # A's queues do not count in B
    expect_errno(errno.ENOSPC, ub.mq_open, "/q3", abi.O_RDWR | abi.O_CREAT, 0o600,
                 MqAttr(maxmsg=1, msgsize=16), what="the third queue in B")
    expect_ok(ua.mq_unlink, "/q2")
    _make(ua, "/q3", MqAttr(maxmsg=1, msgsize=16))  # a freed slot is usable again
    expect_ok(ua.mq_unlink, "/q1")
    expect_ok(ua.mq_unlink, "/q3")
    # msg_max (2 in A, 10 in B) and msgsize_max (128 in A, 8192 in B)
    flags = abi.O_RDWR | abi.O_CREAT | abi.O_EXCL
    expect_errno(errno.EINVAL, ua.mq_open, "/big", flags, 0o600, MqAttr(maxmsg=3, msgsize=16),
                 what="maxmsg 3 > msg_max 2")
    expect_errno(errno.EINVAL, ua.mq_open, "/big", flags, 0o600, MqAttr(maxmsg=1, msgsize=129),
                 what="msgsize 129 > msgsize_max 128")
    _make(ua, "/ok", MqAttr(maxmsg=2, msgsize=64))
    expect_ok(ub.mq_unlink, "/q2")
    _make(ub, "/ok", MqAttr(maxmsg=3, msgsize=64))  # B's msg_max is its own (10)
    # Root of a user namespace owning the IPC namespace has CAP_SYS_RESOURCE
    # there, not in the initial user namespace: the limits hold for it too.
    u = lab.user_ns(a, abi.CLONE_NEWIPC)
    u.write_file(_MQ + "queues_max", b"1")
    u.write_file(_MQ + "msg_max", b"2")
    _make(u, "/u1", MqAttr(maxmsg=1, msgsize=16))
    expect_errno(errno.ENOSPC, u.mq_open, "/u2", flags, 0o600, MqAttr(maxmsg=1, msgsize=16),
                 what="queues_max for user-namespace root")
    expect_ok(u.mq_unlink, "/u1")
    expect_errno(errno.EINVAL, u.mq_open, "/u2", flags, 0o600, MqAttr(maxmsg=3, msgsize=16),
                 what="msg_max for user-namespace root")


@scenario("N27")
def rlimit_msgqueue_is_charged_per_user_across_namespaces(lab: Lab) -> None:
    """A user's queue memory in all namespaces counts against RLIMIT_MSGQUEUE: EMFILE past it."""
    a = lab.task()
    b = lab.task()
    pa = lab.unprivileged(a, UID_CHARGE, UID_CHARGE)
    pb = lab.unprivileged(b, UID_CHARGE, UID_CHARGE)
    other = lab.unprivileged(b, UID_OTHER, UID_OTHER)
    limit = 2000  # bytes: a few queues of SMALL, whatever the per-message overhead
    for p in (pa, pb, other):
        p.setrlimit(abi.RLIMIT_MSGQUEUE, limit, p.getrlimit(abi.RLIMIT_MSGQUEUE)[1])
    flags = abi.O_RDWR | abi.O_CREAT | abi.O_EXCL
    made: list[tuple[Task, str]] = []
    try:
        # Fill the user's allowance in A alone.
        full = False
        for i in range(16):
            name = f"/a{i}"
            try:
                pa.close(pa.mq_open(name, flags, 0o600, SMALL))
            except OSError as err:
                expect(err.errno, errno.EMFILE, f"errno of mq_open {name} in A")
                full = True
                break
            made.append((pa, name))
        expect_true(full, "RLIMIT_MSGQUEUE 2000 stops queues of 4 x 64 bytes within 16")
        expect_true(len(made) >= 1, "one queue of 4 x 64 bytes fits in 2000 bytes")
        # The same user in B is charged for A's queues.
        expect_errno(errno.EMFILE, pb.mq_open, "/b0", flags, 0o600, SMALL,
                     what="the same user in B, with A's queues charged")
        # Another user in B has its own allowance.
        _make(other, "/other")
        made.append((other, "/other"))
        # Freeing one queue in A makes room for exactly one in B.
        task, name = made.pop(0)
        expect_ok(task.mq_unlink, name)
        _make(pb, "/b0")
        made.append((pb, "/b0"))
        expect_errno(errno.EMFILE, pb.mq_open, "/b1", flags, 0o600, SMALL,
                     what="B after taking the freed room")
    finally:
        # Uncharge now rather than when the namespaces are freed (later,
        # from a work queue), so the next run starts from zero.
        for task, name in made:
            with contextlib.suppress(OSError):
                task.mq_unlink(name)
