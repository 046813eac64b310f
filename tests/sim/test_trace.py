"""The simulator's record of W3C trace context (sim_trace.py): GET /_sim/traces, and
--require-traceparent refusing requests without one well-formed traceparent."""

from test_sim import sim, sim_proc, own_sim, certs, workdir  # noqa: F401 (fixtures)

GOOD = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def traces(p):
    return p.json("GET", "/_sim/traces")["requests"]


def test_every_product_request_is_recorded_and_reset_clears(sim):  # noqa: F811
    sim.request("POST", "/auth/login", {"email": "probe@example.com", "password": "s3cret-pass"},
                headers={"traceparent": GOOD, "tracestate": "a=b"})
    sim.request("GET", "/health")
    sim.request("GET", "/_sim/stats", headers={"traceparent": GOOD})  # the control plane: not
    got = traces(sim)
    assert [(t["method"], t["path"], t["traceparent"], t["count"], t["valid"], t["tracestate"])
            for t in got] == [("POST", "/auth/login", GOOD, 1, True, "a=b"),
                              ("GET", "/health", None, 0, False, None)]
    sim.json("POST", "/_sim/reset")
    assert traces(sim) == []


def test_malformed_traceparents_are_marked_invalid(sim):  # noqa: F811
    for bad in ("00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", "garbage"):
        sim.request("GET", "/health", headers={"traceparent": bad})
    assert [t["valid"] for t in traces(sim)] == [False] * 4


def test_require_traceparent_refuses_requests_without_a_valid_one(own_sim):  # noqa: F811
    p = own_sim("--require-traceparent")
    assert p.request("GET", "/health")[0] == 400
    assert p.request("GET", "/health", headers={"traceparent": "00-x"})[0] == 400
    assert p.request("GET", "/health", headers={"traceparent": GOOD})[0] == 200
    assert p.request("GET", "/_sim/stats")[0] == 200  # the control plane needs none
    assert p.stats()["traceparent_rejected"] == 2
