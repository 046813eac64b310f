"""A real systemd, booted as PID 1 in private PID, mount, UTS and IPC namespaces (the network
is the host's, so a simulator on 127.0.0.1 is reachable), with gpprobe installed into it by
`meson install --destdir /proc/PID/root`. Nothing is written to the host's /etc, /usr or /var:
inside the namespace those are overlays whose upper layers live in a temporary directory, and
/run, /tmp, /var/tmp and /var/log/journal are fresh tmpfs (booting runs systemd-tmpfiles, which
would otherwise empty the real /tmp). The namespace's cgroup is a child of ours, entered
through a cgroup namespace, so that teardown can kill everything with cgroup.kill.

    with SystemdNamespace(build_dir) as ns:
        ns.systemctl("start", "gpprobe@sim")
        ns.read("/run/gpprobe/sim.json")

Units that would change kernel-wide state shared with the host (sysctl, binfmt_misc, module
loading, remounting /, static /dev nodes, the random seed) are masked before the boot.
"""
import ctypes
import json
import os
import pathlib
import secrets
import shutil
import signal
import subprocess
import tempfile
import time

SYSTEMD = "/lib/systemd/systemd"
PREFIX = "gpprobe-systemd-"
# Checked before and after each boot: state shared with the host that a booting systemd
# could touch. The harness fails loudly if any of it changed.
KERNEL_STATE = ("/proc/sys/kernel/core_pattern", "/proc/sys/fs/protected_regular",
                "/proc/sys/fs/protected_fifos", "/proc/sys/fs/protected_symlinks",
                "/proc/sys/fs/protected_hardlinks", "/proc/sys/kernel/hostname")
MASKED = ("systemd-sysctl.service", "systemd-binfmt.service", "proc-sys-fs-binfmt_misc.automount",
          "proc-sys-fs-binfmt_misc.mount", "systemd-modules-load.service", "systemd-remount-fs.service",
          "systemd-tmpfiles-setup-dev.service", "systemd-random-seed.service", "systemd-udevd.service",
          "systemd-udev-trigger.service", "systemd-hwdb-update.service", "systemd-firstboot.service",
          "systemd-machine-id-commit.service", "systemd-pstore.service", "kmod-static-nodes.service",
          "modprobe@.service", "systemd-timesyncd.service", "sys-kernel-config.mount")

# Runs as PID 1 of the new PID namespace: $1 is the work directory, $2 the marker file name.
INIT_SH = r"""#!/bin/sh
set -eu
W=$1
for d in etc var usr; do
    mkdir -p "$W/ov/$d/upper" "$W/ov/$d/work"
    mount -t overlay overlay -o "lowerdir=/$d,upperdir=$W/ov/$d/upper,workdir=$W/ov/$d/work" "/$d"
done
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=1777 tmpfs /var/tmp
mount -t tmpfs -o mode=2755 tmpfs /var/log/journal
umount -R /sys/fs/cgroup
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
for u in %(masked)s; do ln -sf /dev/null "/etc/systemd/system/$u"; done
echo "$2" > "/etc/$2"
# Without a shared root, the credentials systemd mounts for a service never reach it.
mount --make-rshared /
export container=other
# Dies with its parent (unshare), which dies with the test process.
exec setpriv --pdeathsig KILL %(systemd)s --system --unit=basic.target
"""


def set_pdeathsig():
    """preexec_fn: the child is killed when the test process dies, even by SIGKILL."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _unified_cgroup_root():
    """The cgroup2 mount point and our own cgroup in it."""
    own = next(line.split(":", 2)[2].strip() for line in open("/proc/self/cgroup") if line.startswith("0::"))
    for mnt in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
        if os.path.exists(os.path.join(mnt, "cgroup.subtree_control")):
            return pathlib.Path(mnt + own.rstrip("/"))
    raise RuntimeError("no cgroup2 hierarchy mounted under /sys/fs/cgroup")


def _populated(cg):
    try:
        return "populated 1" in (cg / "cgroup.events").read_text()
    except FileNotFoundError:
        return False


def _remove_cgroup(cg, timeout=10.0):
    """Kills every process in the cgroup tree and removes it, deepest first."""
    if not cg.exists():
        return
    deadline = time.monotonic() + timeout
    while _populated(cg):
        try:
            (cg / "cgroup.kill").write_text("1")
        except OSError:  # kernels before 5.14: signal each process
            for procs in cg.rglob("cgroup.procs"):
                for pid in procs.read_text().split():
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"processes survive in {cg}")
        time.sleep(0.05)
    dirs = sorted((p for p in cg.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True)
    for d in dirs + [cg]:
        for _ in range(100):
            try:
                d.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:  # EBUSY while the last processes are reaped
                time.sleep(0.05)
        else:
            raise RuntimeError(f"cannot remove cgroup {d}")


def cleanup_stale():
    """Removes what a harness killed by SIGKILL left behind: empty cgroups and their work
    directories. A tree that still holds processes, or was made in the last minute (a
    harness starting), belongs to a live harness: kept."""
    base = _unified_cgroup_root()
    for cg in base.glob(PREFIX + "*"):
        if cg.is_dir() and not _populated(cg) and time.time() - cg.stat().st_mtime > 60:
            _remove_cgroup(cg)
            shutil.rmtree(pathlib.Path(tempfile.gettempdir()) / cg.name, ignore_errors=True)


def kernel_state():
    state = {}
    for p in KERNEL_STATE:
        try:
            state[p] = pathlib.Path(p).read_text()
        except OSError:
            pass
    return state


class SystemdNamespace:
    def __init__(self, build_dir, boot_timeout=60):
        self.build = pathlib.Path(build_dir).resolve()
        self.boot_timeout = boot_timeout
        self.pid = None
        self.proc = None
        self.work = None
        self.cgroup = None
        opts = {o["name"]: o["value"] for o in
                json.loads((self.build / "meson-info" / "intro-buildoptions.json").read_text())}
        prefix = pathlib.Path(opts["prefix"])
        self.sysconfdir = prefix / opts["sysconfdir"]   # an absolute sysconfdir wins
        self.confdir = self.sysconfdir / "gpprobe"
        self.sbindir = prefix / opts["sbindir"]
        self.bindir = prefix / opts["bindir"]
        self.docdir = prefix / opts["datadir"] / "doc" / "gpprobe"

    # ---- lifecycle --------------------------------------------------------------------------

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        cleanup_stale()
        self.kernel_before = kernel_state()
        self.work = pathlib.Path(tempfile.mkdtemp(prefix=PREFIX))
        self.marker = ".gpprobe-test-" + secrets.token_hex(8)
        init = self.work / "init.sh"
        init.write_text(INIT_SH % {"masked": " ".join(MASKED), "systemd": SYSTEMD})
        init.chmod(0o755)
        self.cgroup = _unified_cgroup_root() / self.work.name
        self.cgroup.mkdir()
        self.console = open(self.work / "console.log", "w")
        cg_procs = str(self.cgroup / "cgroup.procs")
        # sh moves itself into the new cgroup, then becomes unshare: the cgroup namespace is
        # rooted there, and everything systemd starts stays below it.
        self.proc = subprocess.Popen(
            ["sh", "-c", 'echo $$ > "$0" && exec unshare --cgroup --pid --fork --mount-proc --mount '
             '--uts --ipc --propagation private "$@"', cg_procs, str(init), str(self.work), self.marker],
            stdin=subprocess.DEVNULL, stdout=self.console, stderr=subprocess.STDOUT,
            preexec_fn=set_pdeathsig, start_new_session=True)
        self.pid = self._find_pid1()
        self._check_isolated()
        self._wait_booted()
        self.install()

    def _find_pid1(self):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("the namespace did not start:\n" + self.console_log())
            try:
                children = pathlib.Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
                if children and pathlib.Path(f"/proc/{children[0]}/exe").resolve() == pathlib.Path(SYSTEMD).resolve():
                    return int(children[0])
            except (FileNotFoundError, ProcessLookupError):
                pass
            time.sleep(0.02)
        raise RuntimeError("systemd did not start in the namespace:\n" + self.console_log())

    def _check_isolated(self):
        """Everything below writes through /proc/PID/root: make sure it is the namespace's
        root (its own /run, and the marker only it has), never the host's."""
        if os.path.exists("/etc/" + self.marker):
            raise RuntimeError("the host has the namespace's marker file")
        if not self.root_path("/etc/" + self.marker).exists():
            raise RuntimeError("no marker file in the namespace")
        if os.stat(self.root_path("/run")).st_dev == os.stat("/run").st_dev:
            raise RuntimeError("the namespace shares the host's /run")

    def _wait_booted(self):
        deadline = time.monotonic() + self.boot_timeout
        state = ""
        while time.monotonic() < deadline:
            r = self.run("systemctl", "is-system-running", check=False)
            state = r.stdout.strip()
            if state in ("running", "degraded"):
                return
            time.sleep(0.1)
        raise RuntimeError(f"systemd did not finish booting ({state!r}):\n" + self.console_log())

    def install(self):
        """`meson install` of the build into the namespace's root, as a package would."""
        r = subprocess.run(["meson", "install", "-C", str(self.build), "--no-rebuild", "--quiet",
                            "--destdir", str(self.root_path("/"))],
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError("meson install failed:\n" + r.stdout + r.stderr)
        # What a package's postinst does: create the user, load the units and the catalog.
        self.run("systemd-sysusers")
        self.run("systemctl", "daemon-reload")
        self.run("journalctl", "--update-catalog")

    def stop(self):
        """Kills everything in the namespace and removes what it left; every step is tried
        even when an earlier one failed, and the first failure is raised at the end."""
        errors = []
        if self.cgroup is not None:
            try:
                _remove_cgroup(self.cgroup)  # cgroup.kill: PID 1 and every process it started
                self.cgroup = None
            except (OSError, RuntimeError) as e:
                errors.append(e)
        if self.proc is not None:
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
            self.proc = None
            self.console.close()
        if self.work is not None:
            # The overlays and tmpfs lived in the namespace's mount table only: gone with it.
            leftover = [line for line in open("/proc/self/mountinfo") if str(self.work) in line]
            if leftover:
                errors.append(RuntimeError("mounts left behind: " + "".join(leftover)))
            else:
                shutil.rmtree(self.work, ignore_errors=True)
                self.work = None
            after = kernel_state()
            changed = {k: (v, after.get(k)) for k, v in self.kernel_before.items() if after.get(k) != v}
            if changed:
                errors.append(RuntimeError(f"host kernel state changed during the boot: {changed}"))
        if errors:
            raise errors[0]

    def console_log(self):
        try:
            return (self.work / "console.log").read_text()[-4000:]
        except (OSError, TypeError):
            return ""

    # ---- driving it -------------------------------------------------------------------------

    def run(self, *argv, check=True, timeout=60, input=None):
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "SYSTEMD_PAGER": "",
               "SYSTEMD_COLORS": "0", "SYSTEMD_LOG_COLOR": "0"}
        r = subprocess.run(["nsenter", "-t", str(self.pid), "-m", "-p", "-u", "-i", "--", *argv],
                           capture_output=True, text=True, errors="replace", timeout=timeout,
                           input=input, env=env)
        if check and r.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} exited {r.returncode}:\n{r.stdout}{r.stderr}")
        return r

    def systemctl(self, *args, check=True, timeout=60):
        return self.run("systemctl", "--no-pager", *args, check=check, timeout=timeout)

    def show(self, unit, *props):
        r = self.systemctl("show", unit, *(f"--property={p}" for p in props))
        return dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)

    def journal(self, *args):
        """Journal entries as dicts (journalctl -o json), after a sync."""
        self.run("journalctl", "--sync", check=False)
        r = self.run("journalctl", "--no-pager", "-o", "json", *args)
        return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]

    def root_path(self, path):
        return pathlib.Path(f"/proc/{self.pid}/root") / str(path).lstrip("/")

    def write(self, path, text, mode=0o644):
        p = self.root_path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        p.chmod(mode)
        return path

    def read(self, path):
        return self.root_path(path).read_text()

    def remove(self, path):
        p = self.root_path(path)
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()

    def dropin(self, unit, name, text):
        """A unit drop-in in /etc/systemd/system/UNIT.d/NAME.conf, then daemon-reload."""
        self.write(f"/etc/systemd/system/{unit}.d/{name}.conf", text)
        self.run("systemctl", "daemon-reload")

    def wait_for(self, what, predicate, timeout=30, interval=0.1):
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")
            time.sleep(interval)


_SIM = pathlib.Path(__file__).resolve().parents[2] / "tests" / "sim" / "gpsim.py"


class HostSim:
    """gpsim on 127.0.0.1, started on the host: the namespace shares the host's network. Shared by
    the systemd and package suites."""

    def __init__(self, certs, workdir):
        self.certs = certs
        self.password = "pw-" + secrets.token_hex(12)  # unique: a leak cannot hide among other text
        self.dir = workdir
        self.log = open(self.dir / "sim.log", "w")
        port_file = self.dir / "port"
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", str(_SIM), "--host", "127.0.0.1", "--port", "0", "--password", self.password,
             "--tls-cert", str(certs / "server.pem"), "--tls-key", str(certs / "server.key"),
             "--port-file", str(port_file)], stdout=self.log, stderr=subprocess.STDOUT,
            preexec_fn=set_pdeathsig)
        deadline = time.monotonic() + 20
        while not port_file.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("simulator did not start: " + (self.dir / "sim.log").read_text())
            time.sleep(0.05)
        self.port = int(port_file.read_text())

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
