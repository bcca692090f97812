"""container_of: real-world /proc/PID/cgroup texts of every layout it knows."""

from __future__ import annotations

from pathlib import Path

import pytest

from ipcns._types import Container
from ipcns.linux.containers import container_of, container_of_path


def hexid(tag: str) -> str:
    """A 64-hex container id that starts with a readable hex ``tag``."""
    return (tag + "0123456789abcdef" * 4)[:64]


DOCKER = hexid("d0c4e2")  # "docker"
INNER = hexid("d0c4e2111")  # a docker-in-docker container
NODE = hexid("c1a55")  # a kind node (itself a docker container)
CTRD = hexid("c0d7a1ae4d")  # "containerd"
NERD = hexid("4e4dc71")  # "nerdctl"
CRIO = hexid("c410")  # "crio"
PODMAN = hexid("90d")  # "pod(man)"
KUBE = hexid("cafe")  # a container under a cgroupfs pod: runtime unknown

POD = "6f3a2c1e-8b4d-4f0a-9c7e-1d2b3a4c5e6f"
POD_ = POD.replace("-", "_")  # as the systemd driver writes it
STATIC_POD = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"  # a static pod's uid (a hash)


def v1(path: str, systemd: str | None = None) -> str:
    """A cgroup v1 file with every controller at ``path`` (name=systemd may differ)."""
    controllers = [
        "cpuset",
        "cpu,cpuacct",
        "blkio",
        "memory",
        "devices",
        "freezer",
        "net_cls,net_prio",
        "perf_event",
        "hugetlb",
        "pids",
        "rdma",
    ]
    lines = [f"{n}:{c}:{path}" for n, c in zip(range(12, 1, -1), controllers, strict=True)]
    lines.append(f"1:name=systemd:{systemd if systemd is not None else path}")
    return "\n".join(lines) + "\n"


def v2(path: str) -> str:
    return f"0::{path}\n"


CASES = [
    # ---------------------------------------------------------------- docker
    pytest.param(v1(f"/docker/{DOCKER}"), Container("docker", DOCKER), id="docker-cgroupfs-v1"),
    pytest.param(v2(f"/docker/{DOCKER}"), Container("docker", DOCKER), id="docker-cgroupfs-v2"),
    pytest.param(
        v2(f"/system.slice/docker-{DOCKER}.scope"),
        Container("docker", DOCKER),
        id="docker-systemd-v2",
    ),
    pytest.param(
        v1(f"/system.slice/docker-{DOCKER}.scope"),
        Container("docker", DOCKER),
        id="docker-systemd-v1",
    ),
    pytest.param(
        v2(f"/system.slice/docker-{DOCKER}.scope/init.scope"),
        Container("docker", DOCKER),
        id="docker-systemd-container-running-systemd",
    ),
    pytest.param(
        v1(f"/docker/{DOCKER}/system.slice/ssh.service"),
        Container("docker", DOCKER),
        id="docker-nested-unit",
    ),
    pytest.param(
        v1(f"/docker/{DOCKER}/docker/{INNER}"),
        Container("docker", INNER),
        id="docker-in-docker",
    ),
    pytest.param(
        v2(f"/user.slice/user-1000.slice/user@1000.service/user.slice/docker-{DOCKER}.scope"),
        Container("docker", DOCKER),
        id="docker-rootless-systemd",
    ),
    pytest.param(
        v2(f"/docker/{DOCKER} (deleted)"),
        Container("docker", DOCKER),
        id="docker-deleted-cgroup",
    ),
    pytest.param(
        # hybrid host: the unified line still shows the shim's unit
        f"12:pids:/docker/{DOCKER}\n11:memory:/docker/{DOCKER}\n1:name=systemd:/docker/{DOCKER}\n"
        "0::/system.slice/containerd.service\n",
        Container("docker", DOCKER),
        id="docker-hybrid-host",
    ),
    pytest.param(
        v2(f"/kubepods.slice/kubepods-pod{POD_}.slice/docker-{DOCKER}.scope"),
        Container("docker", DOCKER, POD),
        id="docker-kubernetes-cri-dockerd-guaranteed",
    ),
    # ------------------------------------------------------------ containerd
    pytest.param(
        v2(
            "/kubepods.slice/kubepods-burstable.slice/"
            f"kubepods-burstable-pod{POD_}.slice/cri-containerd-{CTRD}.scope"
        ),
        Container("containerd", CTRD, POD),
        id="containerd-kubernetes-systemd-burstable",
    ),
    pytest.param(
        v1(
            "/kubepods.slice/kubepods-besteffort.slice/"
            f"kubepods-besteffort-pod{POD_}.slice/cri-containerd-{CTRD}.scope"
        ),
        Container("containerd", CTRD, POD),
        id="containerd-kubernetes-systemd-besteffort-v1",
    ),
    pytest.param(
        v2(f"/kubepods.slice/kubepods-pod{POD_}.slice/cri-containerd-{CTRD}.scope"),
        Container("containerd", CTRD, POD),
        id="containerd-kubernetes-systemd-guaranteed",
    ),
    pytest.param(
        v2(
            "/kubepods.slice/kubepods-burstable.slice/"
            f"kubepods-burstable-pod{STATIC_POD}.slice/cri-containerd-{CTRD}.scope"
        ),
        Container("containerd", CTRD, STATIC_POD),
        id="containerd-kubernetes-static-pod",
    ),
    pytest.param(
        # runc given "slice:prefix:name" but driving cgroupfs (SystemdCgroup = false)
        "11:devices:/system.slice/containerd.service/"
        f"kubepods-burstable-pod{POD_}.slice:cri-containerd:{CTRD}\n"
        "1:name=systemd:/system.slice/containerd.service/"
        f"kubepods-burstable-pod{POD_}.slice:cri-containerd:{CTRD}\n",
        Container("containerd", CTRD, POD),
        id="containerd-colon-notation",
    ),
    pytest.param(
        v2(f"/system.slice/nerdctl-{NERD}.scope"),
        Container("containerd", NERD),
        id="containerd-nerdctl-systemd",
    ),
    pytest.param(
        v2(f"/user.slice/user-1000.slice/user@1000.service/user.slice/nerdctl-{NERD}.scope"),
        Container("containerd", NERD),
        id="containerd-nerdctl-rootless",
    ),
    pytest.param(v1(f"/default/{NERD}"), Container("containerd", NERD), id="containerd-default-ns"),
    pytest.param(v2("/default/redis"), Container("containerd", "redis"), id="containerd-ctr-name"),
    # ------------------------------------------- kubernetes, cgroupfs driver
    pytest.param(
        v1(f"/kubepods/burstable/pod{POD}/{KUBE}"),
        Container("kubernetes", KUBE, POD),
        id="kubernetes-cgroupfs-burstable",
    ),
    pytest.param(
        v2(f"/kubepods/besteffort/pod{POD}/{KUBE}"),
        Container("kubernetes", KUBE, POD),
        id="kubernetes-cgroupfs-besteffort",
    ),
    pytest.param(
        v1(f"/kubepods/pod{POD}/{KUBE}"),
        Container("kubernetes", KUBE, POD),
        id="kubernetes-cgroupfs-guaranteed",
    ),
    pytest.param(
        v2(f"/kubepods/burstable/pod{POD}"),
        Container("kubernetes", POD, POD),
        id="kubernetes-pod-cgroup-only",
    ),
    # ----------------------------------------------------------------- cri-o
    pytest.param(
        v2(
            "/kubepods.slice/kubepods-besteffort.slice/"
            f"kubepods-besteffort-pod{POD_}.slice/crio-{CRIO}.scope"
        ),
        Container("cri-o", CRIO, POD),
        id="crio-systemd",
    ),
    pytest.param(
        v2(
            "/kubepods.slice/kubepods-burstable.slice/"
            f"kubepods-burstable-pod{POD_}.slice/crio-{CRIO}.scope/container"
        ),
        Container("cri-o", CRIO, POD),
        id="crio-systemd-crun-subgroup",
    ),
    pytest.param(
        v1(f"/kubepods.slice/kubepods-pod{POD_}.slice/crio-{CRIO}.scope"),
        Container("cri-o", CRIO, POD),
        id="crio-systemd-guaranteed-v1",
    ),
    pytest.param(
        v1(f"/kubepods/burstable/pod{POD}/crio-{CRIO}"),
        Container("cri-o", CRIO, POD),
        id="crio-cgroupfs",
    ),
    pytest.param(
        # conmon is the monitor, not the container: its scope is a plain unit
        v2(
            "/kubepods.slice/kubepods-besteffort.slice/"
            f"kubepods-besteffort-pod{POD_}.slice/crio-conmon-{CRIO}.scope"
        ),
        Container("systemd", f"crio-conmon-{CRIO}.scope", POD),
        id="crio-conmon-systemd",
    ),
    pytest.param(
        v1(f"/kubepods/burstable/pod{POD}/crio-conmon-{CRIO}"),
        Container("kubernetes", POD, POD),
        id="crio-conmon-cgroupfs",
    ),
    # ---------------------------------------------------------------- podman
    pytest.param(
        v2(f"/machine.slice/libpod-{PODMAN}.scope"),
        Container("podman", PODMAN),
        id="podman-rootful-systemd",
    ),
    pytest.param(
        v2(f"/machine.slice/libpod-{PODMAN}.scope/container"),
        Container("podman", PODMAN),
        id="podman-rootful-systemd-container-subgroup",
    ),
    pytest.param(
        v2(
            "/user.slice/user-1000.slice/user@1000.service/user.slice/"
            f"libpod-{PODMAN}.scope/container"
        ),
        Container("podman", PODMAN),
        id="podman-rootless",
    ),
    pytest.param(
        v2(f"/machine.slice/machine-libpod_pod_{hexid('90d')}.slice/libpod-{PODMAN}.scope"),
        Container("podman", PODMAN),
        id="podman-pod",
    ),
    pytest.param(
        v1(f"/libpod_parent/libpod-{PODMAN}"),
        Container("podman", PODMAN),
        id="podman-cgroupfs",
    ),
    pytest.param(
        v2(f"/system.slice/web.service/libpod-payload-{PODMAN}"),
        Container("podman", PODMAN),
        id="podman-quadlet-split-payload",
    ),
    pytest.param(
        v2("/user.slice/user-1000.slice/user@1000.service/app.slice/web.service/runtime"),
        Container("systemd", "web.service"),
        id="podman-quadlet-split-runtime",
    ),
    pytest.param(
        v2(f"/machine.slice/libpod-conmon-{PODMAN}.scope"),
        Container("systemd", f"libpod-conmon-{PODMAN}.scope"),
        id="podman-conmon-systemd",
    ),
    pytest.param(
        v2(
            f"/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-conmon-{PODMAN}.scope"
        ),
        Container("systemd", f"libpod-conmon-{PODMAN}.scope"),
        id="podman-conmon-rootless",
    ),
    # ------------------------------------------------------------------- lxc
    pytest.param(v1("/lxc/web"), Container("lxc", "web"), id="lxc-legacy"),
    pytest.param(v1("/lxc.payload/web"), Container("lxc", "web"), id="lxc-3"),
    pytest.param(v2("/lxc.payload.web"), Container("lxc", "web"), id="lxc-4"),
    pytest.param(
        v2("/lxc.payload.web/system.slice/nginx.service"),
        Container("lxc", "web"),
        id="lxd-container-running-systemd",
    ),
    pytest.param(
        v2("/lxc.payload.my-project_web/init.scope"),
        Container("lxc", "my-project_web"),
        id="lxd-project-init",
    ),
    # -------------------------------------------------------- systemd-nspawn
    pytest.param(
        v2("/machine.slice/systemd-nspawn@debian.service"),
        Container("systemd-nspawn", "debian"),
        id="nspawn-service",
    ),
    pytest.param(
        v2("/machine.slice/systemd-nspawn@my\\x2dbox.service/payload/system.slice/cron.service"),
        Container("systemd-nspawn", "my-box"),
        id="nspawn-service-payload-escaped",
    ),
    pytest.param(
        v2("/machine.slice/systemd-nspawn@debian.service/supervisor"),
        Container("systemd", "systemd-nspawn@debian.service"),
        id="nspawn-supervisor",
    ),
    pytest.param(
        v2("/machine.slice/machine-fedora.scope/payload/init.scope"),
        Container("systemd-nspawn", "fedora"),
        id="nspawn-scope",
    ),
    pytest.param(
        v2("/machine.slice/machine-qemu\\x2d1\\x2dwin11.scope/libvirt/emulator"),
        Container("systemd", "machine-qemu\\x2d1\\x2dwin11.scope"),
        id="libvirt-vm-is-a-unit",
    ),
    # --------------------------------------------------------------- systemd
    pytest.param(v2("/system.slice/cron.service"), Container("systemd", "cron.service"), id="unit"),
    pytest.param(
        v1("/system.slice/cron.service"), Container("systemd", "cron.service"), id="unit-v1"
    ),
    pytest.param(
        v2("/system.slice/system-getty.slice/getty@tty1.service"),
        Container("systemd", "getty@tty1.service"),
        id="unit-template-instance",
    ),
    pytest.param(
        v2("/user.slice/user-1000.slice/session-3.scope"),
        Container("systemd", "session-3.scope"),
        id="user-session",
    ),
    pytest.param(
        v2(
            "/user.slice/user-1000.slice/user@1000.service/app.slice/"
            "app-org.gnome.Terminal.slice/vte-spawn-4f1c.scope"
        ),
        Container("systemd", "vte-spawn-4f1c.scope"),
        id="user-app-scope",
    ),
    pytest.param(v2("/init.scope"), Container("systemd", "init.scope"), id="pid1"),
    pytest.param(
        v2("/user.slice/user-1000.slice/user@1000.service/init.scope"),
        Container("systemd", "init.scope"),
        id="user-manager",
    ),
    pytest.param(
        v2("/system.slice/docker.service"),
        Container("systemd", "docker.service"),
        id="dockerd-itself",
    ),
    pytest.param(
        # v1 with memory cgroups set by hand and only name=systemd placed
        "4:memory:/\n1:name=systemd:/system.slice/sshd.service\n",
        Container("systemd", "sshd.service"),
        id="unit-from-name-systemd",
    ),
    # ------------------------------------------------------------ kind (nested)
    pytest.param(
        v2(
            f"/system.slice/docker-{NODE}.scope/kubelet.slice/kubelet-kubepods.slice/"
            "kubelet-kubepods-besteffort.slice/"
            f"kubelet-kubepods-besteffort-pod{POD_}.slice/cri-containerd-{CTRD}.scope"
        ),
        Container("containerd", CTRD, POD),
        id="kind-pod-container",
    ),
    pytest.param(
        v1(f"/docker/{NODE}/kubepods/besteffort/pod{POD}/{KUBE}"),
        Container("kubernetes", KUBE, POD),
        id="kind-cgroupfs-pod-container",
    ),
    pytest.param(
        v2(f"/system.slice/docker-{NODE}.scope/system.slice/containerd.service"),
        Container("docker", NODE),
        id="kind-node-service",
    ),
    pytest.param(
        v1(f"/docker/{NODE}/default/redis"),
        Container("containerd", "redis"),
        id="ctr-inside-docker",
    ),
    # ----------------------------------------------------------- path oddities
    pytest.param(
        v2(f"/../../system.slice/docker-{DOCKER}.scope"),
        Container("docker", DOCKER),
        id="outside-own-cgroupns",
    ),
]

NEGATIVES = [
    pytest.param("", id="empty"),
    pytest.param("not a cgroup file\n", id="garbage"),
    pytest.param(v2("/"), id="v2-root"),
    pytest.param(v1("/"), id="v1-root"),
    pytest.param(v2("/user.slice"), id="a-slice"),
    pytest.param(v2("/kubepods.slice/kubepods-burstable.slice"), id="qos-slice"),
    pytest.param(v1("/kubepods/burstable"), id="qos-cgroupfs"),
    pytest.param(v2(f"/{KUBE}"), id="bare-id-outside-docker-or-pod"),
    pytest.param(v2(f"/mygroup/{KUBE}"), id="bare-id-custom-parent"),
    pytest.param(v2(f"/pod{POD}/{KUBE}"), id="pod-without-kubepods"),
    pytest.param(v2("/docker/abc123"), id="docker-short-id"),
    pytest.param(v2("/docker"), id="docker-parent-only"),
    pytest.param(v1("/libpod_parent/conmon"), id="podman-cgroupfs-conmon"),
    pytest.param(v2("/lxc.monitor.web"), id="lxc-monitor"),
    pytest.param(v1("/lxc.monitor/web"), id="lxc-3-monitor"),
    pytest.param(v2("/lxc.payload."), id="lxc-payload-no-name"),
    pytest.param(v2("/k8s.io/redis"), id="containerd-other-namespace"),
    pytest.param(v2("/system.slice/default/redis"), id="default-not-at-top"),
    pytest.param(
        "0::/\n4:memory:/process_api/7886cea69b0a6dbbb87361b564c38367\n", id="sandbox-job"
    ),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_container_of(text: str, expected: Container) -> None:
    assert container_of(text) == expected


@pytest.mark.parametrize("text", NEGATIVES)
def test_nothing_recognisable(text: str) -> None:
    assert container_of(text) is None


def test_v2_line_preferred_over_v1() -> None:
    text = f"1:name=systemd:/docker/{DOCKER}\n0::/lxc.payload.web\n"
    assert container_of(text) == Container("lxc", "web")


def test_unit_on_v2_gives_way_to_container_on_v1() -> None:
    text = f"0::/system.slice/cron.service\n5:pids:/docker/{DOCKER}\n"
    assert container_of(text) == Container("docker", DOCKER)


def test_v1_controllers_in_order() -> None:
    text = "9:cpu,cpuacct:/system.slice/a.service\n4:memory:/system.slice/b.service\n"
    assert container_of(text) == Container("systemd", "b.service")


def test_other_v1_controllers_ignored() -> None:
    assert container_of(f"7:perf_event:/docker/{DOCKER}\n") is None


def test_container_of_path() -> None:
    assert container_of_path(f"/docker/{DOCKER}") == Container("docker", DOCKER)
    assert container_of_path("/") is None
    assert container_of_path("") is None


def test_ids_in_full_and_shortened_by_str() -> None:
    found = container_of(v2(f"/system.slice/docker-{DOCKER}.scope"))
    assert found is not None
    assert found.id == DOCKER
    assert str(found) == f"docker:{DOCKER[:12]}"


def test_long_hostile_component_is_fast() -> None:
    # no regex may backtrack badly on a long component
    hostile = "a." * 5000 + "x"
    assert container_of(v2(f"/{hostile}/{'-pod' * 3000}kubepods.slice")) is None


def test_own_process() -> None:
    path = Path("/proc/self/cgroup")
    if not path.exists():
        pytest.skip("no /proc/self/cgroup")
    found = container_of(path.read_text())
    assert found is None or isinstance(found, Container)
