#!/usr/bin/python3
"""A stand-in for gpprobed in daemon mode, for test_harness.py: proves the fixtures (journal
namespace, sd_notify socket, status polling, stop/kill) without the real daemon. Writes the
status file atomically every Interval, a native journal entry per run when the journal socket
exists, READY=1 / STATUS= / WATCHDOG=1 / STOPPING=1, and exits 0 on SIGTERM."""
import configparser
import json
import os
import signal
import socket
import sys
import time
import uuid


def notify(text):
    path = os.environ.get("NOTIFY_SOCKET")
    if path:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.sendto(text.encode(), path)


def journal(fields):
    path = "/run/systemd/journal/socket"
    if os.path.exists(path):
        data = "".join(f"{k}={v}\n" for k, v in fields.items()).encode()
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.sendto(data, path)


def main():
    cfg_path = sys.argv[sys.argv.index("--config") + 1]
    cp = configparser.ConfigParser(interpolation=None, strict=False)
    cp.optionxform = str
    cp.read(cfg_path)
    status = cp.get("Output", "StatusFile")
    interval = float(cp.get("Probe", "Interval", fallback="100ms").rstrip("ms")) / 1000
    stopping = []
    signal.signal(signal.SIGTERM, lambda *a: stopping.append(1))
    notify("READY=1\nSTATUS=started")
    history = []
    next_ping = 0.0
    wd = int(os.environ.get("WATCHDOG_USEC", "0")) / 1e6
    while not stopping:
        rid = str(uuid.uuid4())
        history.append({"run_id": rid, "result": "pass"})
        doc = {"schema": 1, "pid": os.getpid(), "watchdog_pid": os.environ.get("WATCHDOG_PID"),
               "last": {"run_id": rid, "result": "pass"}, "history": history,
               "window": {"runs": len(history)}}
        tmp = f"{status}.tmp"
        with open(tmp, "w") as f:
            json.dump(doc, f)
        os.replace(tmp, status)
        journal({"SYSLOG_IDENTIFIER": "gpprobed", "MESSAGE": f"pass {rid}", "GPPROBE_RUN_ID": rid,
                 "PRIORITY": 6})
        print(f"pass {rid}", file=sys.stderr, flush=True)
        notify(f"STATUS=pass; {len(history)} in a row")
        end = time.monotonic() + interval
        while time.monotonic() < end and not stopping:
            if wd and time.monotonic() >= next_ping:
                notify("WATCHDOG=1")
                next_ping = time.monotonic() + wd / 2
            time.sleep(0.01)
    notify("STOPPING=1")
    return 0


if __name__ == "__main__":
    sys.exit(main())
