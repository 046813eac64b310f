"""Hostile servers (the simulator's hostile faults): each run must end with the right code within
its deadline, in bounded memory (peak RSS measured), and a daemon must go on with its next run
after every one of them. Limits under test: a WebSocket message of at most 16 MiB (ws.protocol),
a login reply of at most 1 MiB (login.token); gpprobe never follows a redirect (login.status)."""
import json
import os
import selectors
import signal
import subprocess
import time

import pytest

from conftest import SIM_PASSWORD, base_config, gpprobed_path, render

MiB = 1 << 20


def sanitized():
    """ASan keeps freed memory in quarantine and shadows the heap: RSS bounds do not apply."""
    with open(gpprobed_path(), "rb") as f:
        return b"__asan_init" in f.read()


def rss_bound(mib):
    return None if sanitized() else mib * MiB


def vm_hwm(pid):
    """The process's peak RSS so far in bytes; 0 once it is gone (or a zombie)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class Run:
    """What one `gpprobed --once --json` did: rc, output, wall time, peak RSS (bytes, sampled)."""

    def __init__(self, rc, stdout, stderr, wall, maxrss):
        self.rc, self.stdout, self.stderr, self.wall, self.maxrss = rc, stdout, stderr, wall, maxrss
        try:
            self.json = json.loads(stdout) if stdout.strip() else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return (f"<rc={self.rc} wall={self.wall:.2f}s maxrss={self.maxrss} json={self.json} "
                f"stderr={self.stderr[-2000:]}>")


@pytest.fixture
def once(tmp_path):
    """once(cfg, timeout=60) -> Run, with its wall time and sampled peak RSS."""
    def run(cfg, timeout=60):
        pw = tmp_path / "password"
        pw.write_text(SIM_PASSWORD + "\n")
        pw.chmod(0o600)
        path = tmp_path / "hostile.conf"
        path.write_text(render(cfg).replace("@password", str(pw)))
        path.chmod(0o600)
        env = {k: v for k, v in os.environ.items()
               if k not in ("RUNTIME_DIRECTORY", "STATE_DIRECTORY", "CREDENTIALS_DIRECTORY")}
        argv = [gpprobed_path(), "--config", str(path), "--once", "--json"]
        t0 = time.monotonic()
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        # Read both pipes to their end while sampling the peak RSS (VmHWM) from /proc: wait4's
        # ru_maxrss would count the test process itself, which the child shares until its exec.
        sel = selectors.DefaultSelector()
        chunks = {p.stdout: [], p.stderr: []}
        for f in chunks:
            sel.register(f, selectors.EVENT_READ)
        hwm = 0
        while sel.get_map():
            left = timeout - (time.monotonic() - t0)
            if left <= 0:
                p.kill()
                p.wait()
                raise AssertionError(f"gpprobed --once still running after {timeout}s")
            hwm = max(hwm, vm_hwm(p.pid))
            for key, _ in sel.select(min(left, 0.005)):
                data = os.read(key.fileobj.fileno(), 65536)
                if data:
                    chunks[key.fileobj].append(data)
                else:
                    sel.unregister(key.fileobj)
        p.wait()
        for f in chunks:
            f.close()
        r = Run(p.returncode, b"".join(chunks[p.stdout]).decode(errors="replace"),
                b"".join(chunks[p.stderr]).decode(errors="replace"), time.monotonic() - t0, hwm)
        print(f"  rc={r.rc} code={r.json and r.json.get('code')} "
              f"wall={r.wall:.2f}s peak_rss={r.maxrss / MiB:.1f} MiB")
        return r

    return run


def hostile_cfg(sim, **sections):
    sections.setdefault("Probe", {}).setdefault("Timeout", "10s")
    sections.setdefault("Events", {}).setdefault("EventTimeout", "3s")
    sections.setdefault("WebSocket", {}).setdefault("ConnectTimeout", "3s")
    return base_config(sim, **sections)


def assert_code(r, stage, code, *parts, max_wall, max_rss_mib):
    assert r.json is not None, r
    assert r.rc == 1, r
    assert (r.json["result"], r.json["stage"], r.json["code"]) == ("fail", stage, code), r
    for p in parts:
        assert p in r.json["reason"], r
    assert r.wall < max_wall, r
    bound = rss_bound(max_rss_mib)
    if bound is not None:
        assert r.maxrss < bound, r


# ---- one run each --------------------------------------------------------------------------------

def test_100_mib_frame_is_ws_protocol_in_bounded_memory(sim, once):
    sim.configure(fault="huge_frame", params={"bytes": 100 * MiB})
    r = once(hostile_cfg(sim))
    # the 16 MiB message limit: the buffer never holds more than that (plus its doubling slack)
    assert_code(r, "events", "ws.protocol", "16777216 byte limit", max_wall=8, max_rss_mib=48)


def test_frame_just_under_the_limit_still_passes(sim, once):
    sim.configure(options={"big_thinking": 15 * MiB})
    r = once(hostile_cfg(sim))
    assert r.rc == 0 and r.json["result"] == "pass", r


def test_1_gib_login_reply_is_login_token_in_bounded_memory(sim, once):
    sim.configure(fault="huge_login", params={"bytes": 1 << 30})
    r = once(hostile_cfg(sim))
    assert_code(r, "login", "login.token", "too large", "1048576", max_wall=8, max_rss_mib=32)


def test_login_redirect_loop_is_not_followed_and_is_login_status(sim, once):
    sim.configure(fault="login_redirect_loop")
    r = once(hostile_cfg(sim))
    assert_code(r, "login", "login.status", "307", max_wall=5, max_rss_mib=32)
    assert sim.get("/_sim/stats")["logins"] == 1  # one request, no hop followed


@pytest.mark.parametrize("timeouts", [
    {"Events": {"EventTimeout": "2s"}, "Probe": {"Timeout": "30s"}},
    {"Events": {"EventTimeout": "30s"}, "Probe": {"Timeout": "2s"}},
], ids=["EventTimeout", "Timeout"])
def test_endless_ignored_frames_do_not_hold_off_the_deadline(sim, once, timeouts):
    # after agent_started: heartbeats (ignored events), pings and nothing else, as fast as the sim
    # can write them, forever
    sim.configure(fault="stall", params={"before": "agent_thinking"},
                  options={"heartbeat_interval": 0.0001, "ping_interval": 0.001})
    r = once(hostile_cfg(sim, **timeouts))
    assert_code(r, "events", "events.timeout", "agent_thinking", "2s", max_wall=4.5, max_rss_mib=32)
    assert 1.9 <= r.json["duration_ms"] / 1000 < 3.5, r
    stats = sim.get("/_sim/stats")
    assert stats["heartbeats_sent"] > 200, stats  # it really was a stream


def test_handshake_trickling_one_byte_per_second_is_net_timeout_at_connect_timeout(sim, once):
    # the 101 response is about 170 bytes: 1 byte a second takes minutes
    sim.configure(fault="trickle_handshake", params={"ms": 200000, "chunk": 1})
    r = once(hostile_cfg(sim, WebSocket={"ConnectTimeout": "2s"}))
    assert_code(r, "ws_connect", "net.timeout", "no WebSocket handshake within 2s",
                max_wall=4, max_rss_mib=32)


def test_invalid_utf8_in_a_text_frame_is_ws_protocol(sim, once):
    sim.configure(fault="invalid_utf8")
    r = once(hostile_cfg(sim))
    assert_code(r, "events", "ws.protocol", "utf8", max_wall=5, max_rss_mib=32)


def test_valid_utf8_split_across_fragments_still_passes(sim, once):
    # a multi-byte character cut between frames is not an error: the check spans the message
    sim.configure(options={"fragment": 7, "response": "r\u00e9ady \u2603 \U0001f600"})
    r = once(hostile_cfg(sim, Events={"ResponseMatch": "^r"}))
    assert r.rc == 0 and r.json["result"] == "pass", r


def test_close_without_a_close_frame_is_ws_closed_1006(sim, once):
    sim.configure(fault="ws_eof")  # TLS close_notify and FIN, no close frame
    r = once(hostile_cfg(sim))
    assert_code(r, "events", "ws.closed", "1006", max_wall=5, max_rss_mib=32)


def test_abrupt_tls_shutdown_is_ws_closed_1006(sim, once):
    sim.configure(fault="ws_drop")  # TCP RST: no close frame, no close_notify
    r = once(hostile_cfg(sim))
    assert_code(r, "events", "ws.closed", "1006", max_wall=5, max_rss_mib=32)


def test_frame_before_the_upgrade_completes_is_ws_upgrade(sim, once):
    sim.configure(fault="send_before_upgrade", params={"mode": "early"})
    r = once(hostile_cfg(sim))
    assert_code(r, "ws_connect", "ws.upgrade", max_wall=5, max_rss_mib=32)


def test_first_frame_in_the_same_write_as_the_101_is_valid(sim, once):
    sim.configure(fault="send_before_upgrade", params={"mode": "coalesced"})
    r = once(hostile_cfg(sim))
    assert r.rc == 0 and r.json["result"] == "pass", r


@pytest.mark.parametrize("kind", ["opcode", "rsv", pytest.param("masked", marks=pytest.mark.xfail(
    strict=True, reason="libwebsockets 4.1 unmasks a masked server frame instead of failing the "
    "connection (RFC 6455 5.1) and offers no way to see the mask bit; the frame here is an ignored "
    "heartbeat, so the run ends at EventTimeout= (events.timeout), still within its deadline")),
    "control_long", "control_fragmented", "continuation"])
def test_every_kind_of_invalid_framing_is_ws_protocol(sim, once, kind):
    sim.configure(fault="ws_garbage", params={"kind": kind})
    r = once(hostile_cfg(sim))
    assert_code(r, "events", "ws.protocol", max_wall=5, max_rss_mib=32)


# ---- a daemon through all of them ------------------------------------------------------------------

CYCLE = [
    # fault, params, options, expected code
    ("huge_frame", {"bytes": 100 * MiB}, {}, "ws.protocol"),
    ("huge_login", {"bytes": 1 << 30}, {}, "login.token"),
    ("stall", {"before": "agent_thinking"}, {"heartbeat_interval": 0.0001}, "events.timeout"),
    ("trickle_handshake", {"ms": 200000, "chunk": 1}, {}, "net.timeout"),
    ("invalid_utf8", {}, {}, "ws.protocol"),
    ("login_redirect_loop", {}, {}, "login.status"),
    ("ws_eof", {}, {}, "ws.closed"),
    ("ws_drop", {}, {}, "ws.closed"),
    ("send_before_upgrade", {"mode": "early"}, {}, "ws.upgrade"),
    ("ws_garbage", {"kind": "rsv"}, {}, "ws.protocol"),
]


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "Threads"):
                out[k] = int(v.split()[0]) * (1024 if k != "Threads" else 1)
    out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    return out


def test_daemon_goes_on_after_every_hostile_server_with_flat_memory_and_fds(sim, daemon):
    d = daemon(hostile_cfg(sim, Probe={"Interval": "1h", "Jitter": "0", "Timeout": "6s"},
                           Events={"EventTimeout": "2s"}, WebSocket={"ConnectTimeout": "2s"}))
    doc = d.wait_runs(1, timeout=15)
    assert doc["last"]["result"] == "pass", doc["last"]
    time.sleep(0.3)
    base = proc_status(d.pid)
    print(f"  after a pass: rss={base['VmRSS'] / MiB:.1f} MiB fds={base['fds']} threads={base['Threads']}")
    seen = 1
    rows = []
    for rounds in range(2):
        for fault, params, options, code in CYCLE + [(None, {}, {}, None)]:
            sim.configure(fault=fault, params=params, options=options)
            t0 = time.monotonic()
            d.signal(signal.SIGUSR1)
            seen += 1
            doc = d.wait_runs(seen, timeout=12)
            took = time.monotonic() - t0
            last = doc["last"]
            assert last["code"] == code, (fault, last)
            assert took < 9, (fault, took)
            st = proc_status(d.pid)
            rows.append((fault or "pass", last["code"], took, st))
            print(f"  {fault or 'pass':22s} {str(last['code']):14s} {took:5.2f}s "
                  f"rss={st['VmRSS'] / MiB:6.1f} MiB hwm={st['VmHWM'] / MiB:6.1f} MiB fds={st['fds']}")
    end = proc_status(d.pid)
    for _ in range(20):  # a socket closed by the last run may take a moment to go
        if end["fds"] <= base["fds"]:
            break
        time.sleep(0.05)
        end = proc_status(d.pid)
    assert end["fds"] <= base["fds"], (base, end)  # no descriptor left behind by any fault
    assert end["Threads"] == base["Threads"], (base, end)
    if not sanitized():
        assert end["VmHWM"] < 96 * MiB, end  # the 16 MiB message limit bounds the peak
        # the second round costs no more than the first: nothing accumulates
        first = max(r[3]["VmRSS"] for r in rows[:len(rows) // 2])
        second = max(r[3]["VmRSS"] for r in rows[len(rows) // 2:])
        assert second <= first + 4 * MiB, (first, second)
    d.stop()
