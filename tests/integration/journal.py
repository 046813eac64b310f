"""A private systemd-journald per test, so gpprobed's sd_journal_send() entries can be read back
with journalctl without touching the host's journal.

How it works (all as root, nothing on the host changes):

  1. The catalog database is built on the host into a temporary root:
       journalctl --root=TMP/root --update-catalog
     reading TMP/root/usr/lib/systemd/catalog/*.catalog (copies of the host's catalogs plus the
     repository's systemd/gpprobe.catalog) and writing TMP/root/var/lib/systemd/catalog/database.
  2. A holder process is started in a new mount namespace with private propagation:
       setsid unshare --mount --propagation private -- /bin/sh -c SETUP sh TMP
     SETUP mounts, all with `mount -n` (so libmount writes no /run/mount/utab on the host):
       tmpfs on /run/systemd        (then mkdir /run/systemd/journal: the socket directory)
       tmpfs on /run/log            (Storage=volatile writes /run/log/journal/MACHINE-ID/)
       tmpfs on /var/log/journal    (in case anything looks there)
       tmpfs on /var/lib/systemd/catalog, with the database of step 1 copied in
       TMP/journald.conf bind-mounted over /etc/systemd/journald.conf
         (Storage=volatile, no rate limit, no kmsg/syslog/console forwarding)
     then starts /lib/systemd/systemd-journald in the background (it binds
     /run/systemd/journal/{socket,stdout,dev-log} itself when not socket-activated) and
     execs `sleep infinity` to hold the namespace open.
  3. Processes join the namespace with `nsenter -t HOLDER -m -- ARGV` (nsenter execs ARGV: the
     Popen's pid is ARGV's pid, signals reach it directly). libsystemd's sd_journal_send() then
     reaches the private journald at /run/systemd/journal/socket.
  4. journalctl runs the same way (`nsenter ... journalctl -o json --all --no-pager FIELD=VALUE`).
  5. Teardown: SIGTERM to journald (by pid), then SIGKILL to the holder's process group (the
     setsid made the holder its leader); the mounts vanish with the namespace.
"""
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
JOURNAL_IDS_H = ROOT / "daemon" / "journal-ids.h"
CATALOG = ROOT / "systemd" / "gpprobe.catalog"
JOURNALD = next((p for p in ("/lib/systemd/systemd-journald", "/usr/lib/systemd/systemd-journald")
                 if os.access(p, os.X_OK)), "/lib/systemd/systemd-journald")
HOST_CATALOG_DIR = pathlib.Path("/usr/lib/systemd/catalog")

JOURNALD_CONF = """\
[Journal]
Storage=volatile
Compress=no
Seal=no
RateLimitIntervalSec=0
RateLimitBurst=0
RuntimeMaxUse=256M
ReadKMsg=no
Audit=no
ForwardToSyslog=no
ForwardToKMsg=no
ForwardToConsole=no
ForwardToWall=no
MaxLevelStore=debug
"""

SETUP = r"""
set -eu
d=$1
mount -n -t tmpfs -o mode=0755,size=64m gpjournal /run/systemd
mkdir -m 0755 /run/systemd/journal
mount -n -t tmpfs -o mode=0755,size=300m gpjournal /run/log
if [ -d /var/log/journal ]; then mount -n -t tmpfs -o mode=2755,size=16m gpjournal /var/log/journal; fi
if [ -d /var/lib/systemd/catalog ]; then
    mount -n -t tmpfs -o mode=0755,size=16m gpjournal /var/lib/systemd/catalog
    if [ -f "$d/root/var/lib/systemd/catalog/database" ]; then
        cp "$d/root/var/lib/systemd/catalog/database" /var/lib/systemd/catalog/database
    fi
fi
if [ -d /etc/systemd/journald.conf.d ]; then mount -n -t tmpfs gpjournal /etc/systemd/journald.conf.d; fi
mount -n --bind "$d/journald.conf" /etc/systemd/journald.conf
"$2" </dev/null >"$d/journald.log" 2>&1 &
echo $! >"$d/journald.pid.tmp"
mv "$d/journald.pid.tmp" "$d/journald.pid"
exec sleep infinity
"""


def message_ids():
    """{'RUN_PASSED': '5e75...', ...} from daemon/journal-ids.h (GP_MID_ prefix dropped)."""
    text = JOURNAL_IDS_H.read_text()
    ids = dict(re.findall(r'#define\s+GP_MID_(\w+)\s+"([0-9a-f]{32})"', text))
    if not ids:
        raise RuntimeError(f"no GP_MID_* message ids found in {JOURNAL_IDS_H}")
    return ids


def _decode(v):
    """journalctl -o json: binary fields are arrays of byte values; repeated fields are arrays."""
    if isinstance(v, list):
        if v and all(isinstance(x, int) for x in v):
            return bytes(v).decode("utf-8", "replace")
        return [_decode(x) for x in v]
    return v


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie counts as gone
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class Journal:
    def __init__(self, catalog=CATALOG):
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="gpjournal-"))
        self.catalog_log = ""
        self.holder = None
        self.journald_pid = None
        self._procs = []
        self._build_catalog(catalog)
        (self.dir / "journald.conf").write_text(JOURNALD_CONF)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    # ---- setup ------------------------------------------------------------------------------

    def _build_catalog(self, catalog):
        cdir = self.dir / "root" / "usr" / "lib" / "systemd" / "catalog"
        cdir.mkdir(parents=True)
        (self.dir / "root" / "var" / "lib" / "systemd" / "catalog").mkdir(parents=True)
        if HOST_CATALOG_DIR.is_dir():
            for f in HOST_CATALOG_DIR.glob("*.catalog"):
                shutil.copy(f, cdir / f.name)
        self.catalog_installed = bool(catalog) and pathlib.Path(catalog).is_file()
        if self.catalog_installed:
            shutil.copy(catalog, cdir / "gpprobe.catalog")
        r = subprocess.run(["journalctl", f"--root={self.dir / 'root'}", "--update-catalog"],
                           capture_output=True, text=True, timeout=30)
        self.catalog_log = r.stdout + r.stderr
        if r.returncode != 0:
            raise RuntimeError(f"journalctl --update-catalog failed: {self.catalog_log}")

    def _start(self):
        self.holder = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "--",
             "/bin/sh", "-c", SETUP, "sh", str(self.dir), JOURNALD],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(self.dir / "holder.log", "w"), start_new_session=True)
        sock = pathlib.Path(f"/proc/{self.holder.pid}/root/run/systemd/journal/socket")
        pidfile = self.dir / "journald.pid"
        deadline = time.monotonic() + 10
        while True:
            if pidfile.exists() and self.journald_pid is None:
                self.journald_pid = int(pidfile.read_text())
            if self.journald_pid and sock.exists():
                break
            if self.holder.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("private journald did not start: "
                                   + (self.dir / "holder.log").read_text()
                                   + self.journald_log())
            time.sleep(0.01)
        if not _alive(self.journald_pid):
            raise RuntimeError("journald died: " + self.journald_log())

    def journald_log(self):
        p = self.dir / "journald.log"
        return p.read_text(errors="replace") if p.exists() else ""

    # ---- processes in the namespace -------------------------------------------------------

    def nsenter(self, argv):
        return ["nsenter", "-t", str(self.holder.pid), "-m", "--", *[str(a) for a in argv]]

    def run(self, argv, **popen_kwargs):
        """Popen(argv) inside the namespace: its journal socket is the private journald's.
        Killed at teardown if still running."""
        p = subprocess.Popen(self.nsenter(argv), **popen_kwargs)
        self._procs.append(p)
        return p

    def call(self, argv, timeout=30, **kwargs):
        """subprocess.run(argv) inside the namespace, output captured as text."""
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        return subprocess.run(self.nsenter(argv), timeout=timeout, **kwargs)

    # ---- reading it back ---------------------------------------------------------------------

    def sync(self):
        """Ask journald to write out everything it received so far (journalctl --sync)."""
        self.call(["journalctl", "--sync"], timeout=10)

    @staticmethod
    def _matches(match):
        args = []
        for k, v in match.items():
            for item in (v if isinstance(v, (list, tuple, set)) else [v]):
                args.append(f"{k}={item}")  # the same field twice: OR (journalctl semantics)
        return args

    def entries(self, sync=True, **match):
        """Parsed `journalctl -o json --all` entries, oldest first, for FIELD=VALUE matches
        (e.g. SYSLOG_IDENTIFIER="gpprobed", MESSAGE_ID=[a, b]: different fields AND, a list ORs)."""
        if sync:
            self.sync()
        r = self.call(["journalctl", "--no-pager", "-o", "json", "--all", *self._matches(match)])
        if r.returncode != 0 and "No entries" not in r.stdout + r.stderr:
            raise RuntimeError(f"journalctl failed ({r.returncode}): {r.stderr}")
        out = []
        for line in r.stdout.splitlines():
            line = line.strip()
            if line.startswith("{"):
                out.append({k: _decode(v) for k, v in json.loads(line).items()})
        return out

    def wait_for(self, predicate=None, count=1, timeout=5.0, **match):
        """Poll entries(**match) until `count` of them satisfy predicate (default: any);
        returns all entries(**match). AssertionError with what was there on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            es = self.entries(**match)
            if len([e for e in es if predicate is None or predicate(e)]) >= count:
                return es
            if time.monotonic() > deadline:
                raise AssertionError(f"journal: fewer than {count} entries matching {match} "
                                     f"after {timeout}s; have: "
                                     + json.dumps([e.get("MESSAGE") for e in es])[-3000:])
            time.sleep(0.05)

    def text(self, *args, **match):
        """journalctl output in other formats, e.g. text("-x", "-o", "short", MESSAGE_ID=...)."""
        self.sync()
        r = self.call(["journalctl", "--no-pager", *args, *self._matches(match)])
        return r.stdout

    def catalog_text(self, message_id, **match):
        """The catalog explanation `journalctl -x` shows under the newest entry with this
        MESSAGE_ID (the ░░ lines, prefix removed), with the entry's fields substituted; ''
        when there is no entry or no catalog text for it."""
        out = self.text("-x", "-o", "short", "-n", "1", MESSAGE_ID=message_id, **match)
        lines = [ln.split("\u2591\u2591", 1)[1] for ln in out.splitlines() if "\u2591\u2591" in ln]
        return "\n".join(ln[1:] if ln.startswith(" ") else ln for ln in lines)

    def catalog_ids(self):
        """MESSAGE_IDs the namespace's catalog database knows (journalctl --list-catalog)."""
        r = self.call(["journalctl", "--no-pager", "--list-catalog"])
        return {ln.split()[0] for ln in r.stdout.splitlines() if ln.strip()}

    # ---- teardown ----------------------------------------------------------------------------

    def stop(self):
        for p in self._procs:
            if p.poll() is None:
                p.kill()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass
        self._procs = []
        if self.journald_pid and _alive(self.journald_pid):
            os.kill(self.journald_pid, signal.SIGTERM)
            deadline = time.monotonic() + 3
            while _alive(self.journald_pid) and time.monotonic() < deadline:
                time.sleep(0.01)
        if self.holder is not None:
            if self.holder.poll() is None:
                try:
                    os.killpg(self.holder.pid, signal.SIGKILL)  # holder + journald if still there
                except ProcessLookupError:
                    pass
            try:
                self.holder.wait(5)
            except subprocess.TimeoutExpired:
                pass
        if self.journald_pid and _alive(self.journald_pid):
            os.kill(self.journald_pid, signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def journal():
    """A private journald in its own mount namespace (see this module's docstring)."""
    j = Journal()
    yield j
    j.stop()
