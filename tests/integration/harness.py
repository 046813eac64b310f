"""Fixtures for gpprobed as a daemon: `notify` (an sd_notify socket that records every datagram)
and `daemon` (a factory that writes a config, starts `gpprobed --config FILE`, optionally inside
the `journal` fixture's namespace, and always kills what it started)."""
import json
import os
import pathlib
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

import pytest

# Inherited variables that would make gpprobed think systemd runs it.
SYSTEMD_ENV = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM", "LISTEN_FDS",
               "LISTEN_PID", "LISTEN_FDNAMES", "INVOCATION_ID", "RUNTIME_DIRECTORY",
               "STATE_DIRECTORY", "CREDENTIALS_DIRECTORY", "MAINPID", "SYSTEMD_EXEC_PID")


# ---- sd_notify ------------------------------------------------------------------------------

class NotifyMessage(dict):
    """One datagram parsed into {KEY: VALUE}; .at is time.monotonic() at receipt, .pid the
    sender (SCM_CREDENTIALS), .raw the text."""

    def __init__(self, raw, at, pid):
        super().__init__()
        self.raw, self.at, self.pid = raw, at, pid
        for line in raw.split("\n"):
            if line:
                k, _, v = line.partition("=")
                self[k] = v

    def __repr__(self):
        return f"<{self.at:.3f} pid={self.pid} {self.raw!r}>"


class Notify:
    def __init__(self):
        # sun_path holds 108 bytes: a short directory, never pytest's long tmp_path.
        self.dir = tempfile.mkdtemp(prefix="gpn-")
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o666)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.settimeout(0.05)
        self._msgs = []
        self._cv = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="notify", daemon=True)
        self._thread.start()

    @property
    def env(self):
        return {"NOTIFY_SOCKET": self.path}

    def _loop(self):
        ucred = struct.calcsize("3i")
        while not self._stopping:
            try:
                data, anc, _, _ = self.sock.recvmsg(65536, socket.CMSG_SPACE(ucred))
            except socket.timeout:
                continue
            except OSError:
                break
            at = time.monotonic()
            pid = None
            for level, typ, cdata in anc:
                if level == socket.SOL_SOCKET and typ == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("3i", cdata[:ucred])[0]
            with self._cv:
                self._msgs.append(NotifyMessage(data.decode("utf-8", "replace"), at, pid))
                self._cv.notify_all()

    def mark(self):
        """An index: messages(since=mark) and wait_for(since=mark) see only later datagrams."""
        with self._cv:
            return len(self._msgs)

    def messages(self, since=0):
        with self._cv:
            return list(self._msgs[since:])

    def wait_for(self, predicate, timeout=5.0, since=0):
        """The first message (index >= since) for which predicate(msg) is true; AssertionError
        listing what arrived on timeout."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                for m in self._msgs[since:]:
                    if predicate(m):
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"sd_notify: nothing matching after {timeout}s; got "
                                         f"{self._msgs[since:][-40:]}")
                self._cv.wait(min(left, 0.1))

    def watchdog_pings(self, since=0):
        return [m.at for m in self.messages(since) if m.get("WATCHDOG") == "1"]

    def close(self):
        self._stopping = True
        self._thread.join(2)
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def notify():
    n = Notify()
    yield n
    n.close()


# ---- the daemon -----------------------------------------------------------------------------

def _read_json(path):
    """(doc, None), (None, None) when absent, or (None, text) when not valid JSON."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        return None, None
    try:
        return json.loads(raw), None
    except ValueError:
        return None, raw.decode("utf-8", "replace")


class Daemon:
    def __init__(self, factory, cfg, *, journal=None, notify=None, watchdog_usec=None, env=None,
                 status_file=None, state_file=None, args=(), watch=True, dirname=None,
                 journal_stream=False):
        from conftest import gpprobed_path
        self.dir = factory.tmp / (dirname or f"d{len(factory.started)}")
        self.dir.mkdir(parents=True, exist_ok=True)
        self.cfg_path = self.dir / "gpprobe.conf"
        self.status_path = pathlib.Path(status_file or self.dir / "run" / "sim.json")
        self.state_path = None if state_file is False else pathlib.Path(
            state_file or self.dir / "state" / "sim.state")
        self.status_path.parent.mkdir(parents=True, exist_ok=True)
        if self.state_path:
            self.state_path.parent.mkdir(parents=True, exist_ok=True)
        self.journal = journal
        self.notify = notify
        self.write_config(cfg)

        argv = [gpprobed_path(), "--config", str(self.cfg_path), *args]
        e = {k: v for k, v in os.environ.items() if k not in SYSTEMD_ENV}
        if notify is not None:
            e.update(notify.env)
        if watchdog_usec is not None:
            e["WATCHDOG_USEC"] = str(int(watchdog_usec))
            # WATCHDOG_PID must be the daemon's own pid: the shell's $$ survives its exec.
            argv = ["/bin/sh", "-c", 'WATCHDOG_PID=$$; export WATCHDOG_PID; exec "$@"', "sh", *argv]
        e.update(env or {})
        self.stdout_path = self.dir / "stdout.log"
        self.stderr_path = self.dir / "stderr.log"
        kw = dict(stdin=subprocess.DEVNULL, stdout=open(self.stdout_path, "ab"),
                  stderr=open(self.stderr_path, "ab"), env=e, start_new_session=True,
                  pass_fds=factory.pass_fds)
        if journal_stream:
            # Pretend stderr is a journal stream, as systemd does for StandardError=journal.
            st = os.fstat(kw["stderr"].fileno())
            e["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
        self._files = (kw["stdout"], kw["stderr"])
        self.started_at = time.monotonic()
        self.proc = journal.run(argv, **kw) if journal is not None else subprocess.Popen(argv, **kw)
        self.pid = self.proc.pid
        self.snapshots = []       # the first status document seen for each last.run_id
        self.invalid_reads = []   # status file contents that did not parse
        self._seen = set()
        self._stop_watch = threading.Event()
        self._watcher = None
        if watch:
            self._watcher = threading.Thread(target=self._watch, name="status-watch", daemon=True)
            self._watcher.start()

    # ---- config ---------------------------------------------------------------------------

    def write_config(self, cfg):
        """Write cfg (a base_config() dict or INI text) to self.cfg_path, mode 0600. A dict gets
        StatusFile=/StateFile= pointing at this daemon's files unless it sets them."""
        from conftest import SIM_PASSWORD, render
        if isinstance(cfg, dict):
            cfg = json.loads(json.dumps(cfg))
            out = cfg.setdefault("Output", {})
            out.setdefault("StatusFile", str(self.status_path))
            if self.state_path:
                out.setdefault("StateFile", str(self.state_path))
            text = render(cfg)
        else:
            text = cfg
        pw = self.dir / "password"
        pw.write_text(SIM_PASSWORD + "\n")
        pw.chmod(0o600)
        tmp = self.cfg_path.with_suffix(".tmp")
        tmp.write_text(text.replace("@password", str(pw)))
        tmp.chmod(0o600)
        os.replace(tmp, self.cfg_path)
        self.cfg_text = text

    # ---- status -----------------------------------------------------------------------------

    def _watch(self):
        last_raw_key = None
        while not self._stop_watch.is_set():
            try:
                st = os.stat(self.status_path)
                key = (st.st_ino, st.st_mtime_ns, st.st_size)
            except FileNotFoundError:
                key = None
            if key is not None and key != last_raw_key:
                doc, bad = _read_json(self.status_path)
                last_raw_key = key
                if bad is not None:
                    if len(self.invalid_reads) < 100:
                        self.invalid_reads.append(bad)
                elif doc is not None:
                    self._note(doc)
            self._stop_watch.wait(0.005)

    def _note(self, doc):
        last = doc.get("last") if isinstance(doc, dict) else None
        rid = last.get("run_id") if isinstance(last, dict) else None
        if rid is not None and rid not in self._seen:
            self._seen.add(rid)
            self.snapshots.append(doc)

    def status(self):
        """The status file parsed, None if absent; AssertionError if it is not valid JSON."""
        doc, bad = _read_json(self.status_path)
        if bad is not None:
            raise AssertionError(f"status file {self.status_path} is not valid JSON: {bad[:2000]!r}")
        if doc is not None:
            self._note(doc)
        return doc

    @staticmethod
    def runs_in(doc):
        if not doc:
            return 0
        return max(len(doc.get("history") or []), (doc.get("window") or {}).get("runs") or 0)

    @property
    def runs_seen(self):
        """Distinct runs observed (last.run_id), by the watcher and status() calls."""
        return len(self._seen)

    def _check_alive(self, what):
        if self.proc.poll() is not None:
            raise AssertionError(f"gpprobed exited with {self.proc.returncode} while waiting for "
                                 f"{what}; stderr:\n{self.stderr()[-4000:]}")

    def wait_status(self, predicate, timeout=10.0, what="a status"):
        """Poll the status file until predicate(doc) is true; returns doc."""
        deadline = time.monotonic() + timeout
        while True:
            doc = self.status()
            if doc is not None and predicate(doc):
                return doc
            self._check_alive(what)
            if time.monotonic() > deadline:
                raise AssertionError(f"timeout ({timeout}s) waiting for {what}; status: "
                                     f"{json.dumps(doc)[:3000]}\nstderr:\n{self.stderr()[-3000:]}")
            time.sleep(0.01)

    def wait_runs(self, n, timeout=10.0):
        """Until n runs are recorded: len(history), window.runs or distinct last.run_ids seen.
        Returns the status document."""
        return self.wait_status(lambda d: max(self.runs_in(d), self.runs_seen) >= n,
                                timeout, f"{n} runs")

    # ---- process ---------------------------------------------------------------------------

    def stderr(self):
        for f in self._files:
            f.flush()
        return self.stderr_path.read_text(errors="replace")

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=None, timeout=2.0, check=True):
        """Send sig (SIGTERM); assert it exits within timeout (and with 0 when check).
        Returns (exit code, seconds it took)."""
        sig = signal.SIGTERM if sig is None else sig
        t0 = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"gpprobed did not exit within {timeout}s of {sig!r}; stderr:\n"
                                 f"{self.stderr()[-3000:]}")
        took = time.monotonic() - t0
        self._stop_watcher()
        if check:
            assert rc == 0, f"gpprobed exited {rc} on {sig!r}; stderr:\n{self.stderr()[-3000:]}"
        return rc, took

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        self._stop_watcher()

    def _stop_watcher(self):
        self._stop_watch.set()
        if self._watcher is not None:
            self._watcher.join(2)

    def cleanup(self):
        self.kill()
        for f in self._files:
            f.close()


class DaemonFactory:
    def __init__(self, tmp):
        self.tmp = tmp
        self.started = []
        self.pass_fds = ()

    def __call__(self, cfg, **kw):
        """daemon(cfg, journal=None, notify=None, watchdog_usec=None, env=None, status_file=None,
        state_file=None (False: no StateFile=), args=(), watch=True, journal_stream=False)
        -> Daemon (started)."""
        d = Daemon(self, cfg, **kw)
        self.started.append(d)
        return d

    def cleanup(self):
        for d in self.started:
            d.cleanup()


@pytest.fixture
def daemon(tmp_path):
    f = DaemonFactory(tmp_path)
    yield f
    f.cleanup()


# ---- counting writes ----------------------------------------------------------------------------

class FileWrites:
    """Counts how often a file is replaced (renamed onto: IN_MOVED_TO) or written in place
    (IN_CLOSE_WRITE), with inotify on its directory: the exact number of rewrites, however fast
    they come (as long as drain() runs before 16384 events queue up)."""
    IN_CLOSE_WRITE, IN_MOVED_TO = 0x8, 0x80

    def __init__(self, path):
        import ctypes
        self.name = os.fsencode(pathlib.Path(path).name)
        self._libc = ctypes.CDLL("libc.so.6", use_errno=True)
        self.fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        if self._libc.inotify_add_watch(self.fd, os.fsencode(str(pathlib.Path(path).parent)),
                                        self.IN_CLOSE_WRITE | self.IN_MOVED_TO) < 0:
            raise OSError(ctypes.get_errno(), "inotify_add_watch")
        self.renames = 0
        self.in_place = 0

    def drain(self):
        while True:
            try:
                buf = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return self.renames + self.in_place
            i = 0
            while i < len(buf):
                _, mask, _, n = struct.unpack_from("iIII", buf, i)
                name = buf[i + 16:i + 16 + n].rstrip(b"\0")
                i += 16 + n
                if name == self.name:
                    if mask & self.IN_MOVED_TO:
                        self.renames += 1
                    elif mask & self.IN_CLOSE_WRITE:
                        self.in_place += 1

    def close(self):
        os.close(self.fd)
