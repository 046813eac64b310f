"""Self-tests of the daemon-mode fixtures (journal.py, harness.py), independent of gpprobed:
the private journald really receives and returns entries, installs a catalog, and leaves the
host untouched; the notify socket records datagrams; the daemon factory starts, polls, stops and
kills (against fake_gpprobed.py)."""
import hashlib
import os
import pathlib
import signal
import socket
import subprocess
import time

import pytest

from journal import Journal

HERE = pathlib.Path(__file__).resolve().parent
# Only what the fixture would touch if it leaked: other sessions may use the rest of /run.
HOST_PATHS = ["/run/systemd/journal", "/run/log", "/var/log/journal", "/var/lib/systemd/catalog",
              "/etc/systemd/journald.conf"]


def host_snapshot():
    """What the fixture must never change on the host: these paths' trees and contents."""
    out = {}
    for p in HOST_PATHS:
        p = pathlib.Path(p)
        if not p.exists():
            out[str(p)] = None
            continue
        files = [p] if p.is_file() else sorted(p.rglob("*"))
        for f in files:
            try:
                out[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest() if f.is_file() and not \
                    f.is_socket() else "dir-or-special"
            except OSError:
                out[str(f)] = "unreadable"
    return out


def test_private_journald_receives_and_returns_entries_and_leaves_the_host_untouched():
    before = host_snapshot()
    j = Journal()
    try:
        assert not os.path.exists("/run/systemd/journal/socket"), "host must have no journal socket"
        r = j.call(["systemd-cat", "-t", "gp-selftest", "-p", "warning", "echo", "hello from cat"])
        assert r.returncode == 0, r.stderr
        r = j.call(["logger", "--journald"], input="MESSAGE_ID=0123456789abcdef0123456789abcdef\n"
                   "MESSAGE=hello from logger\nSYSLOG_IDENTIFIER=gp-selftest\nGPPROBE_X=42\n")
        assert r.returncode == 0, r.stderr
        es = j.wait_for(count=2, SYSLOG_IDENTIFIER="gp-selftest")
        assert [e["MESSAGE"] for e in es] == ["hello from cat", "hello from logger"]
        assert es[0]["PRIORITY"] == "4"
        assert es[1]["GPPROBE_X"] == "42" and es[1]["_TRANSPORT"] == "journal"
        # field matches AND across fields, OR within one
        assert len(j.entries(SYSLOG_IDENTIFIER="gp-selftest", GPPROBE_X="42")) == 1
        assert len(j.entries(MESSAGE=["hello from cat", "hello from logger"])) == 2
        # a process outside the namespace does not reach it
        subprocess.run(["logger", "--journald"], input="MESSAGE=outside\nSYSLOG_IDENTIFIER=gp-selftest\n",
                       text=True, capture_output=True)
        assert len(j.entries(SYSLOG_IDENTIFIER="gp-selftest")) == 2
        # journal.run: a long-lived process in the namespace, killed at teardown
        p = j.run(["sleep", "600"])
        deadline = time.monotonic() + 5  # nsenter joins, then execs sleep
        while (os.readlink(f"/proc/{p.pid}/exe") != "/usr/bin/sleep"
               and time.monotonic() < deadline):
            time.sleep(0.01)
        assert os.readlink(f"/proc/{p.pid}/ns/mnt") == os.readlink(f"/proc/{j.holder.pid}/ns/mnt")
        assert os.readlink(f"/proc/{p.pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt")
        pids = [j.holder.pid, j.journald_pid, p.pid]
    finally:
        j.stop()
    for pid in pids:
        assert not pathlib.Path(f"/proc/{pid}").exists() or \
            open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z", pid
    assert not j.dir.exists()
    assert host_snapshot() == before


def test_catalog_is_installed_in_the_namespace_only(tmp_path):
    cat = tmp_path / "t.catalog"
    cat.write_text("-- 0123456789abcdef0123456789abcdef\nSubject: self-test subject\n"
                   "Defined-By: gp-selftest\n\nThe value was @GPPROBE_X@.\n")
    host_db = pathlib.Path("/var/lib/systemd/catalog/database")
    host_hash = hashlib.sha256(host_db.read_bytes()).hexdigest() if host_db.exists() else None
    j = Journal(catalog=cat)
    try:
        j.call(["logger", "--journald"], input="MESSAGE_ID=0123456789abcdef0123456789abcdef\n"
               "MESSAGE=explained\nSYSLOG_IDENTIFIER=gp-selftest\nGPPROBE_X=42\n")
        j.wait_for(SYSLOG_IDENTIFIER="gp-selftest")
        text = j.catalog_text("0123456789abcdef0123456789abcdef")
        assert "Subject: self-test subject" in text, text
        assert "The value was 42." in text, text
        assert "0123456789abcdef0123456789abcdef" in j.catalog_ids()
        # systemd's own catalog is still there
        assert len(j.catalog_ids()) > 10
    finally:
        j.stop()
    assert (hashlib.sha256(host_db.read_bytes()).hexdigest() if host_db.exists() else None) == host_hash
    r = subprocess.run(["journalctl", "--list-catalog"], capture_output=True, text=True)
    assert "0123456789abcdef0123456789abcdef" not in r.stdout


def test_notify_socket_records_datagrams_in_order_with_times_and_sender(notify):
    env = {**os.environ, **notify.env}
    t0 = time.monotonic()
    subprocess.run(["systemd-notify", "--ready", "--status=hello there"], env=env, check=True)
    m = notify.wait_for(lambda m: m.get("READY") == "1", timeout=5)
    assert m.get("STATUS") == "hello there", notify.messages()
    assert m.at >= t0
    mark = notify.mark()
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.sendto(b"WATCHDOG=1", notify.path)
        s.sendto(b"STOPPING=1\nSTATUS=bye", notify.path)
    m = notify.wait_for(lambda m: m.get("STOPPING") == "1", since=mark)
    assert m["STATUS"] == "bye" and m.pid == os.getpid()
    assert len(notify.watchdog_pings(since=mark)) == 1
    with pytest.raises(AssertionError):
        notify.wait_for(lambda m: m.get("NOPE"), timeout=0.2)


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setenv("GPPROBED", str(HERE / "fake_gpprobed.py"))


def test_daemon_factory_against_a_fake_daemon_in_the_journal_namespace(fake, daemon, journal, notify, sim):
    from conftest import base_config
    d = daemon(base_config(sim, Probe={"Interval": "100ms"}), journal=journal, notify=notify,
               watchdog_usec=400000)
    doc = d.wait_runs(3, timeout=10)
    assert doc["schema"] == 1 and doc["pid"] == d.pid
    assert doc["watchdog_pid"] == str(d.pid)  # the sh wrapper's $$ is the daemon's pid
    notify.wait_for(lambda m: m.get("READY") == "1")
    notify.wait_for(lambda m: m.get("WATCHDOG") == "1")
    assert notify.messages()[0].pid == d.pid
    es = journal.wait_for(count=3, SYSLOG_IDENTIFIER="gpprobed")
    assert all(e["_PID"] == str(d.pid) for e in es)
    assert "pass" in d.stderr()
    d.signal(signal.SIGTERM)
    rc, took = d.stop()
    assert rc == 0 and took < 2
    notify.wait_for(lambda m: m.get("STOPPING") == "1")
    assert d.invalid_reads == [] and d.runs_seen >= 3


def test_daemon_factory_kills_leftovers_and_reports_early_exit(fake, daemon, sim, tmp_path):
    from conftest import base_config
    d = daemon(base_config(sim, Probe={"Interval": "100ms"}))
    d.wait_runs(1)
    d.proc.send_signal(signal.SIGSTOP)  # a hung daemon: stop() must notice, kill, and fail
    with pytest.raises(AssertionError, match="did not exit within"):
        d.stop(timeout=0.5)
    assert d.proc.poll() is not None
    e = daemon("[Probe]\nName=x\n")  # the fake dies: no [Output] StatusFile=
    with pytest.raises(AssertionError, match="exited with"):
        e.wait_runs(1, timeout=5)
