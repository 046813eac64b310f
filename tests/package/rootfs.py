"""A throwaway root for installing the .deb: an overlay of the whole of / whose upper layer is a
tmpfs, made in a private mount namespace and entered with pivot_root, with a real systemd booted
in it as PID 1 of a new PID namespace, as tests/systemd/harness.py does (whose lifecycle, cgroup
teardown, masked units and host checks this reuses). dpkg writes its database, /etc, /usr and
/var into the tmpfs; nothing reaches the host's disk, and everything is gone when the
namespace's PID 1 dies. /run, /tmp, /var/tmp and /var/log/journal are fresh tmpfs on top, so the
systemd-tmpfiles run of the boot never sees the host's /tmp. The network is the host's: a
simulator on 127.0.0.1 is reachable.

    with PackageRoot() as root:
        root.copy_in(deb, "/tmp/gpprobe.deb")
        root.run("dpkg", "-i", "/tmp/gpprobe.deb")
"""
import importlib.util
import os
import pathlib
import secrets
import shutil
import subprocess
import tempfile


def _load_systemd_harness():
    # By path and under its own name, as tests/systemd/test_units.py does.
    path = pathlib.Path(__file__).resolve().parents[1] / "systemd" / "harness.py"
    spec = importlib.util.spec_from_file_location("gpprobe_systemd_harness", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


harness = _load_systemd_harness()

# PID 1 of the new PID namespace, in a new mount namespace with private propagation:
# $1 is the work directory on the host, $2 the marker file name.
INIT_SH = r"""#!/bin/sh
set -eu
W=$1
R=$W/root
# The overlay's writable layer lives in memory: nothing the package does reaches the disk.
mount -t tmpfs -o mode=0700 tmpfs "$W/layers"
mkdir "$W/layers/upper" "$W/layers/work"
mount -t overlay overlay -o "lowerdir=/,upperdir=$W/layers/upper,workdir=$W/layers/work" "$R"
# lowerdir=/ shows the root file system alone, not what is mounted on it: bring /dev, /sys
# and a /proc of this PID namespace; fresh tmpfs where the boot cleans or writes.
mount --rbind /dev "$R/dev"
mount -t proc proc "$R/proc"
mount --rbind /sys "$R/sys"
umount -R "$R/sys/fs/cgroup"
mount -t cgroup2 -o nsdelegate cgroup2 "$R/sys/fs/cgroup"
mount -t tmpfs -o mode=0755 tmpfs "$R/run"
mount -t tmpfs -o mode=1777 tmpfs "$R/tmp"
mount -t tmpfs -o mode=1777 tmpfs "$R/var/tmp"
mkdir -p "$R/var/log/journal"
mount -t tmpfs -o mode=2755 tmpfs "$R/var/log/journal"
# The overlay becomes / and the host's root is detached from this namespace entirely.
mkdir "$R/.pivot"
cd "$R"
pivot_root . .pivot
umount -l /.pivot
rmdir /.pivot
cd /
for u in %(masked)s; do ln -sf /dev/null "/etc/systemd/system/$u"; done
echo "$2" > "/etc/$2"
echo "$2" > "/$2"
# Without a shared root, the credentials systemd mounts for a service never reach it.
mount --make-rshared /
export container=other
exec setpriv --pdeathsig KILL %(systemd)s --system --unit=basic.target
"""


class PackageRoot(harness.SystemdNamespace):
    """SystemdNamespace on an overlay of the whole of /, with nothing installed: the tests
    install the package with dpkg."""

    def __init__(self, boot_timeout=60):  # no build directory: nothing comes from meson
        self.boot_timeout = boot_timeout
        self.pid = self.proc = self.work = self.cgroup = None

    def start(self):
        harness.cleanup_stale()
        self.kernel_before = harness.kernel_state()
        # The same prefix as tests/systemd, so that either suite's cleanup_stale() removes what
        # a killed run of the other left.
        self.work = pathlib.Path(tempfile.mkdtemp(prefix=harness.PREFIX))
        self.marker = ".gpprobe-test-" + secrets.token_hex(8)
        (self.work / "root").mkdir()
        (self.work / "layers").mkdir()
        init = self.work / "init.sh"
        init.write_text(INIT_SH % {"masked": " ".join(harness.MASKED), "systemd": harness.SYSTEMD})
        init.chmod(0o755)
        self.cgroup = harness._unified_cgroup_root() / self.work.name
        self.cgroup.mkdir()
        self.console = open(self.work / "console.log", "w")
        cg_procs = str(self.cgroup / "cgroup.procs")
        self.proc = subprocess.Popen(
            ["sh", "-c", 'echo $$ > "$0" && exec unshare --cgroup --pid --fork --mount '
             '--uts --ipc --propagation private "$@"', cg_procs, str(init), str(self.work), self.marker],
            stdin=subprocess.DEVNULL, stdout=self.console, stderr=subprocess.STDOUT,
            preexec_fn=harness.set_pdeathsig, start_new_session=True)
        self.pid = self._find_pid1()
        self._check_isolated()
        self._wait_booted()

    def _check_isolated(self):
        super()._check_isolated()
        if os.path.exists("/" + self.marker):
            raise RuntimeError("the host has the namespace's marker file in /")
        if not self.root_path("/" + self.marker).exists():
            raise RuntimeError("no marker file in the namespace's /")
        for d in ("/tmp", "/var/tmp", "/var/log/journal"):
            if os.stat(self.root_path(d)).st_dev == os.stat(d).st_dev:
                raise RuntimeError(f"the namespace shares the host's {d}")
        if os.stat(self.root_path("/usr")).st_dev == os.stat("/usr").st_dev:
            raise RuntimeError("the namespace's /usr is the host's, not an overlay")

    def install(self):
        pass

    def copy_in(self, src, dest):
        p = self.root_path(dest)
        p.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, p)
        return dest

    def exists(self, path):
        return os.path.lexists(self.root_path(path))
