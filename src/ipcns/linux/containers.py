"""Which container, Kubernetes pod or systemd unit a process is in, from its cgroup.

:func:`container_of` reads the text of ``/proc/PID/cgroup`` and names the
container (or pod, or plain systemd unit) that holds the process, from the
cgroup *path alone*: no runtime socket is asked, nothing is read from disk.
:func:`container_of_path` does the same for one cgroup path.

Which line is read
------------------

``/proc/PID/cgroup`` has one line per hierarchy, ``ID:CONTROLLERS:PATH``.  The
cgroup v2 line (``0::PATH``) is read first, then the v1 lines of
``name=systemd``, ``pids``, ``memory`` and ``cpu`` (``cpu,cpuacct``), in that
order.  The first line whose path names a *container* wins; when none does, the
first line that names anything (a unit or a pod) wins.  So on a pure v2 host
the v2 line decides, and on a "hybrid" host, where the unified line may still
say ``/system.slice/containerd.service`` while ``name=systemd`` says
``/docker/<id>``, the container is still found.  A ``" (deleted)"`` suffix
(a removed cgroup) is ignored.

Paths are relative to the cgroup namespace of whoever read the file: a process
inside a container with its own cgroup namespace sees ``0::/`` for itself, and
that says nothing (None).  ``..`` components (a cgroup outside the reader's
namespace) are skipped.

Runtimes
--------

The path is split into components and every component is classified; the
*innermost* component that names a container wins, whatever lies below it
(``init.scope``, ``container``, a whole ``system.slice`` of a container that
runs systemd), and whatever lies above it (a Kubernetes node that is itself a
docker container, as with kind).

Every result is ``Container(runtime, id, pod)``; ``<id>`` is a full 64-hex
container id, ``<uid>`` a pod uid (returned with dashes; ``<uid_>`` is the
same uid as the systemd driver writes it, with underscores), ``...`` stands
for the QoS slices (``kubepods.slice/kubepods-burstable.slice`` and the like),
and ``pod`` is ``<uid>`` whenever the path runs through a pod cgroup.

==============  ==========  ==============================================================
runtime         id          example cgroup path
==============  ==========  ==============================================================
docker          ``<id>``    ``/docker/<id>`` (cgroupfs driver), nested ``/docker/<id>/...``
docker          ``<id>``    ``/system.slice/docker-<id>.scope`` (systemd driver)
docker          ``<id>``    ``.../kubepods-pod<uid_>.slice/docker-<id>.scope`` (cri-dockerd)
containerd      ``<id>``    ``.../kubepods-burstable-pod<uid_>.slice/cri-containerd-<id>.scope``
containerd      ``<id>``    ``/system.slice/containerd.service/``
                            ``kubepods-besteffort-pod<uid_>.slice:cri-containerd:<id>`` (runc
                            given systemd's ``slice:prefix:name`` but driving cgroupfs)
containerd      ``<id>``    ``/system.slice/nerdctl-<id>.scope`` (nerdctl, systemd driver)
containerd      ``<name>``  ``/default/<name>`` (ctr or nerdctl, cgroupfs driver)
cri-o           ``<id>``    ``.../kubepods-besteffort-pod<uid_>.slice/crio-<id>.scope``,
                            also with ``/container`` below (crun)
cri-o           ``<id>``    ``/kubepods/burstable/pod<uid>/crio-<id>`` (cgroupfs driver)
kubernetes      ``<id>``    ``/kubepods/burstable/pod<uid>/<id>``, ``/kubepods/pod<uid>/<id>``,
                            ``/kubepods/besteffort/...`` (cgroupfs driver: containerd or
                            cri-dockerd, the path cannot tell which)
kubernetes      ``<uid>``   ``/kubepods/burstable/pod<uid>`` (the pod's own cgroup, no container)
podman          ``<id>``    ``/machine.slice/libpod-<id>.scope``, also with ``/container`` below it
                            and inside ``machine-libpod_pod_<pod>.slice``
podman          ``<id>``    ``/user.slice/user-1000.slice/user@1000.service/user.slice/``
                            ``libpod-<id>.scope`` (rootless)
podman          ``<id>``    ``/libpod_parent/libpod-<id>`` (cgroupfs driver)
podman          ``<id>``    ``/system.slice/web.service/libpod-payload-<id>`` (``--cgroups=split``,
                            as Quadlet runs containers)
lxc             ``<name>``  ``/lxc/<name>`` (LXC 1, 2), ``/lxc.payload/<name>`` (LXC 3),
                            ``/lxc.payload.<name>`` (LXC 4+, LXD, Incus)
systemd-nspawn  ``<name>``  ``/machine.slice/systemd-nspawn@<name>.service``, also
                            ``.../systemd-nspawn@<name>.service/payload/...``
systemd-nspawn  ``<name>``  ``/machine.slice/machine-<name>.scope`` (nspawn run by hand)
systemd         unit        ``/system.slice/cron.service``, ``/init.scope``,
                            ``/user.slice/user-1000.slice/session-3.scope``
==============  ==========  ==============================================================

Pod uids are UUIDs, or 32 hex digits for static pods.

Rules where the layout is ambiguous
-----------------------------------

* **Monitors are not the container.**  ``crio-conmon-<id>.scope``,
  ``libpod-conmon-<id>.scope``, podman's ``runtime`` and cgroupfs ``conmon``
  cgroups, ``lxc.monitor.<name>`` / ``lxc.monitor/<name>`` and nspawn's
  ``supervisor`` cgroup hold the runtime's monitor process, which lives in the
  host's namespaces.  They are never reported as the container; the answer is
  whatever encloses them: a systemd scope is a plain unit
  (``Container("systemd", "crio-conmon-<id>.scope", <uid>)``, for nspawn the
  ``systemd-nspawn@<name>.service`` unit), a cgroupfs conmon under a pod is the
  pod (``Container("kubernetes", <uid>, <uid>)``), and ``/libpod_parent/conmon``
  or ``/lxc.monitor.<name>`` alone is None.
* **"kubernetes" only when the runtime cannot be told.**  A bare ``<id>`` under
  a cgroupfs ``pod<uid>`` cgroup is written so by containerd and by
  cri-dockerd alike; rather than guess, the runtime is "kubernetes".  Every
  prefixed layout (``cri-containerd-``, ``crio-``, ``docker-``) names its
  runtime.  A bare 64-hex component anywhere else (not under ``/docker`` nor a
  pod) is not trusted as a container.
* **A pod's own cgroup** (processes directly in ``pod<uid>``, or a pod cgroup
  holding a monitor) is ``Container("kubernetes", <uid>, <uid>)``: the pod uid
  doubles as the id.  ``pod`` is set on any result found inside a pod cgroup,
  units included.  Podman pods are not Kubernetes pods and leave ``pod`` None.
* **Nesting.**  The innermost container wins (docker-in-docker:
  ``/docker/<outer>/docker/<inner>`` is ``<inner>``; kind:
  ``/docker/<node>/kubepods/...`` is the pod's container, while kind's own
  ``/docker/<node>/system.slice/containerd.service`` is the node container).
  A container always beats a unit, inside or outside it.
* **Units.**  Without a container, the innermost ``.service``, ``.scope``,
  ``.socket``, ``.mount`` or ``.swap`` component is the answer, with its name as
  systemd spells it (escapes kept).  ``init.scope`` is systemd itself (PID 1, or
  a user manager under ``user@UID.service``) and is reported as
  ``Container("systemd", "init.scope")``.  Slices hold no processes and are not
  units here.  ``containerd-<id>.scope`` is not a layout any containerd client
  is known to write, so it is just a unit.
* **machine-<name>.scope** is systemd-nspawn, except libvirt's
  ``machine-qemu\\x2d...`` (a VM) and ``machine-lxc\\x2d...`` (libvirt-lxc),
  which are plain units.  nspawn machine names are unescaped
  (``my\\x2dbox`` is ``my-box``).
* **containerd's own default** ``/<namespace>/<name>`` is recognised only for
  the ``default`` namespace, at the top of the path or directly inside another
  container, since any other namespace is indistinguishable from an arbitrary
  cgroup.
* ``/`` and paths with no recognisable component are None.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from ipcns._types import Container

__all__ = ["container_of", "container_of_path"]

# --------------------------------------------------------------------------
# Patterns (all matched with fullmatch against one path component)

#: Runtime prefixes of the scoped / slice:prefix:name layouts.
_PREFIX_RUNTIME: dict[str, str] = {
    "docker": "docker",
    "cri-containerd": "containerd",
    "nerdctl": "containerd",
    "crio": "cri-o",
    "libpod": "podman",
}

_HEX64 = re.compile(r"[0-9a-f]{64}")
#: ``docker-<id>.scope``, ``cri-containerd-<id>.scope``, ``crio-<id>.scope``, ...
_SCOPED = re.compile(r"(docker|cri-containerd|nerdctl|crio|libpod)-([0-9a-f]{64})\.scope")
#: ``kubepods-...-pod<uid>.slice:cri-containerd:<id>``: runc's systemd
#: ``slice:prefix:name`` notation taken literally by a cgroupfs driver.
_COLON = re.compile(r"([^:]*):(docker|cri-containerd|nerdctl|crio|libpod):([0-9a-f]{64})")
#: cgroupfs drivers of CRI-O and podman: ``crio-<id>``, ``libpod-<id>``.
_CGROUPFS_PREFIXED = re.compile(r"(crio|libpod)-([0-9a-f]{64})")
#: podman ``--cgroups=split`` (Quadlet): the payload below the service.
_PODMAN_PAYLOAD = re.compile(r"libpod-payload-([0-9a-f]{64})")
#: A Kubernetes pod uid: a UUID, or 32 hex digits for a static pod; dashes or
#: (systemd driver) underscores.
_POD_UID = re.compile(r"[0-9a-fA-F][0-9a-fA-F_-]{7,63}")
_NSPAWN_SERVICE = re.compile(r"systemd-nspawn@([^/]+)\.service")
_MACHINE_SCOPE = re.compile(r"machine-([^/]+)\.scope")
#: Machines libvirt registers: a VM's qemu, or a libvirt-lxc domain.
_LIBVIRT_MACHINES = ("qemu\\x2d", "lxc\\x2d")
#: A systemd unit that can hold processes.
_UNIT = re.compile(r"[A-Za-z0-9:_.\\@-]+\.(?:service|scope|socket|mount|swap)")
#: containerd's identifier rule (``identifiers.Validate``), at most 76 bytes.
_CONTAINERD_ID = re.compile(r"[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*")
_CONTAINERD_ID_MAX = 76
_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})")

_LXC_PAYLOAD = "lxc.payload."
_DELETED = " (deleted)"
#: The v1 hierarchies read, in order, when the v2 line says nothing.
_V1_CONTROLLERS = ("name=systemd", "pids", "memory", "cpu")


class _Found(NamedTuple):
    """What one path says, and whether it is a container (not a unit/pod)."""

    container: Container
    is_container: bool


# --------------------------------------------------------------------------
# Helpers


def _unescape(name: str) -> str:
    """Undo systemd's ``\\xNN`` escaping of a unit-name part (UTF-8 aware)."""
    if "\\x" not in name:
        return name
    raw = _ESCAPE.sub(lambda m: chr(int(m[1], 16)), name)
    try:
        return raw.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return raw


def _pod_uid(part: str, under_kubepods: bool) -> str | None:
    """The pod uid (with dashes) if ``part`` is a Kubernetes pod cgroup."""
    uid: str | None = None
    if part.endswith(".slice") and "kubepods" in part:
        # systemd driver: [<root>-]kubepods[-<qos>]-pod<uid_>.slice
        at = part.rfind("-pod")
        if at >= 0:
            uid = part[at + 4 : -len(".slice")]
    elif under_kubepods and part.startswith("pod"):
        # cgroupfs driver: /kubepods[/<qos>]/pod<uid>
        uid = part[3:]
    if uid is None or not _POD_UID.fullmatch(uid):
        return None
    return uid.replace("_", "-")


def _slice_pod(slice_name: str) -> str | None:
    """The pod uid named by the slice of a ``slice:prefix:name`` component."""
    return _pod_uid(slice_name, under_kubepods=False) if slice_name else None


def _is_libvirt(machine: str) -> bool:
    return machine.startswith(_LIBVIRT_MACHINES)


def _container_component(
    parts: list[str], i: int, parent_is_pod: bool, grandparent_is_container: bool
) -> tuple[str, str, str | None] | None:
    """(runtime, id, pod-override) if ``parts[i]`` names a container.

    ``parent_is_pod``: ``parts[i - 1]`` is a pod cgroup;
    ``grandparent_is_container``: ``parts[i - 2]`` names a container.
    """
    part = parts[i]
    parent = parts[i - 1] if i else None
    below = parts[i + 1] if i + 1 < len(parts) else None

    if m := _SCOPED.fullmatch(part):
        return _PREFIX_RUNTIME[m[1]], m[2], None
    if ":" in part and (m := _COLON.fullmatch(part)):
        return _PREFIX_RUNTIME[m[2]], m[3], _slice_pod(m[1])
    if m := _PODMAN_PAYLOAD.fullmatch(part):
        return "podman", m[1], None
    if m := _CGROUPFS_PREFIXED.fullmatch(part):
        return _PREFIX_RUNTIME[m[1]], m[2], None
    if (parent == "docker" or parent_is_pod) and _HEX64.fullmatch(part):
        return ("docker" if parent == "docker" else "kubernetes"), part, None
    if m := _NSPAWN_SERVICE.fullmatch(part):
        return None if below == "supervisor" else ("systemd-nspawn", _unescape(m[1]), None)
    if m := _MACHINE_SCOPE.fullmatch(part):
        if below == "supervisor" or _is_libvirt(m[1]):
            return None
        return "systemd-nspawn", _unescape(m[1]), None
    if part.startswith(_LXC_PAYLOAD) and len(part) > len(_LXC_PAYLOAD):
        return "lxc", part[len(_LXC_PAYLOAD) :], None
    if parent in ("lxc", "lxc.payload"):
        return "lxc", part, None
    if (
        parent == "default"
        and (i == 1 or grandparent_is_container)
        and len(part) <= _CONTAINERD_ID_MAX
        and _CONTAINERD_ID.fullmatch(part)
    ):
        return "containerd", part, None
    return None


def _classify(path: str) -> _Found | None:
    """What one cgroup path says (see the module docstring for the rules)."""
    path = path.removesuffix(_DELETED)
    parts = [p for p in path.split("/") if p not in ("", ".", "..")]

    container: Container | None = None
    unit: Container | None = None
    pod: str | None = None
    under_kubepods = False
    pod_at = container_at = -3  # index of the last pod / container component

    for i, part in enumerate(parts):
        uid = _pod_uid(part, under_kubepods)
        if "kubepods" in part:
            under_kubepods = True
        if uid is not None:
            pod, pod_at = uid, i
            unit = None  # a unit outside the pod says less than the pod
            continue
        found = _container_component(
            parts, i, parent_is_pod=pod_at == i - 1, grandparent_is_container=container_at == i - 2
        )
        if found is not None:
            runtime, ident, pod_override = found
            container = Container(runtime, ident, pod_override or pod)
            container_at = i
        elif _UNIT.fullmatch(part):
            unit = Container("systemd", part, pod)

    if container is not None:
        return _Found(container, True)
    if unit is not None:
        return _Found(unit, False)
    if pod is not None:
        return _Found(Container("kubernetes", pod, pod), False)
    return None


def _candidate_paths(cgroup_text: str) -> list[str]:
    """The paths worth reading, most trusted first: v2, then some v1 lines."""
    unified: list[str] = []
    by_controller: dict[str, str] = {}
    for line in cgroup_text.splitlines():
        fields = line.split(":", 2)
        if len(fields) != 3:
            continue
        hierarchy, controllers, path = fields
        if hierarchy == "0" and not controllers:
            unified.append(path)
            continue
        for controller in controllers.split(","):
            by_controller.setdefault(controller, path)
    return unified + [by_controller[c] for c in _V1_CONTROLLERS if c in by_controller]


# --------------------------------------------------------------------------
# API


def container_of_path(path: str) -> Container | None:
    """The container, pod or systemd unit one cgroup path names, or None.

    ``path`` is the third field of a ``/proc/PID/cgroup`` line, e.g.
    ``/system.slice/docker-<id>.scope``.
    """
    found = _classify(path)
    return None if found is None else found.container


def container_of(cgroup_text: str) -> Container | None:
    """Which container, Kubernetes pod or systemd unit holds a process.

    ``cgroup_text`` is the whole text of ``/proc/PID/cgroup``.  The cgroup v2
    line is read first, then the v1 ``name=systemd``, ``pids``, ``memory`` and
    ``cpu`` lines; the first that names a container wins, else the first that
    names a unit or pod.  None when no line names anything (e.g. ``0::/``).
    """
    fallback: Container | None = None
    for path in _candidate_paths(cgroup_text):
        found = _classify(path)
        if found is None:
            continue
        if found.is_container:
            return found.container
        if fallback is None:
            fallback = found.container
    return fallback
