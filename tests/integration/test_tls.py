"""The TLS matrix, on both sides of the golden path: the login (libcurl) and the WebSocket
(libwebsockets). Each bad certificate from tests/sim/mkcerts.sh is tls.verify; a server gpprobe
cannot agree with (TLS 1.0 only; a client certificate required but none configured) is
tls.handshake; a configured client certificate and Insecure=yes pass, the latter warned about on
every run (the result's `warnings` and stderr)."""
import socket
import ssl
import threading

import pytest

from conftest import Sim, base_config

STATIC_TOKEN = "tls-matrix-static-token-0123456789"
# The TLS 1.0 server is deliberately obsolete.
pytestmark = pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1 is deprecated:DeprecationWarning")


@pytest.fixture(scope="module")
def sims(certs):
    """sims(name, client_ca=False) -> a simulator serving certs/<name>.pem, started once per
    module; each accepts STATIC_TOKEN without a login."""
    started = {}

    def get(name, client_ca=False):
        key = (name, client_ca)
        if key not in started:
            extra = ["--tls-cert", str(certs / f"{name}.pem"), "--tls-key", str(certs / f"{name}.key"),
                     "--static-token", STATIC_TOKEN]
            if client_ca:
                extra += ["--tls-client-ca", str(certs / "client-ca.pem")]
            started[key] = Sim(certs, extra)
        return started[key]

    yield get
    for s in started.values():
        s.stop()


def login_side(sim, other, **tls):
    """Log in at `other` (the server under test), then the WebSocket there too (its tokens are
    its own): a run that passes went through both sides."""
    return base_config(sim, Login={"URL": f"https://localhost:{other.port}/auth/login"},
                       WebSocket={"URL": f"wss://localhost:{other.port}/ws"},
                       TLS={"CAFile": str(sim.certs / "ca.pem"), **tls})


def ws_side(sim, other, **tls):
    """No login (a fixed token); the WebSocket at `other`."""
    return base_config(sim, Login={"URL": None, "User": None, "PasswordFile": None,
                                   "Token": STATIC_TOKEN},
                       WebSocket={"URL": f"wss://localhost:{other.port}/ws"},
                       TLS={"CAFile": str(sim.certs / "ca.pem"), **tls})


SIDES = {"login": login_side, "ws_connect": ws_side}


def assert_fail(res, stage, code):
    assert res.json is not None, res
    assert res.rc == 1, res
    assert (res.json["result"], res.json["stage"], res.json["code"]) == ("fail", stage, code), res


def assert_pass(res):
    assert res.json is not None, res
    assert res.rc == 0 and res.json["result"] == "pass", res


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("cert", ["selfsigned", "expired", "notyet", "wronghost", "unknownca"])
def test_untrusted_certificate_is_tls_verify(sim, sims, probe, cert, side):
    res = probe(SIDES[side](sim, sims(cert)))
    assert_fail(res, side, "tls.verify")


@pytest.mark.parametrize("side", SIDES)
def test_good_certificate_passes_on_each_side(sim, sims, probe, side):
    # the control case: the same servers with the right certificate
    res = probe(SIDES[side](sim, sims("server")))
    assert_pass(res)


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("cert", ["selfsigned", "expired", "wronghost", "unknownca"])
def test_insecure_passes_and_warns_every_run(sim, sims, probe, cert, side):
    res = probe(SIDES[side](sim, sims(cert), CAFile=None, Insecure="yes"))
    assert_pass(res)
    assert any("Insecure=yes" in w for w in res.json.get("warnings", [])), res.json
    assert "warning" in res.stderr and "Insecure=yes" in res.stderr, res.stderr


# ---- a server limited to TLS 1.0 ----------------------------------------------------------------

@pytest.fixture(scope="module")
def tls10_server(certs):
    """A TLS server that speaks TLS 1.0 and nothing newer (OpenSSL's security level 0, so that
    it can at all); it answers any request with 400. Yields its port."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.maximum_version = ssl.TLSVersion.TLSv1
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    ctx.load_cert_chain(str(certs / "server.pem"), str(certs / "server.key"))
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    srv.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                c, _ = srv.accept()
            except (socket.timeout, OSError):
                continue
            try:
                c.settimeout(3)
                with ctx.wrap_socket(c, server_side=True) as t:
                    t.recv(4096)
                    t.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            except (OSError, ssl.SSLError):
                pass
            finally:
                c.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield srv.getsockname()[1]
    stop.set()
    t.join(2)
    srv.close()


def test_tls10_server_really_speaks_tls10(tls10_server, certs):
    # the fixture is what it claims: a client that allows TLS 1.0 gets TLS 1.0
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    ctx.load_verify_locations(str(certs / "ca.pem"))
    with socket.create_connection(("127.0.0.1", tls10_server), timeout=5) as s:
        with ctx.wrap_socket(s, server_hostname="localhost") as t:
            assert t.version() == "TLSv1"


def test_tls10_only_server_is_tls_handshake_at_login(sim, probe, tls10_server):
    res = probe(base_config(sim, Login={"URL": f"https://localhost:{tls10_server}/auth/login"}))
    assert_fail(res, "login", "tls.handshake")


def test_tls10_only_server_is_tls_handshake_at_websocket(sim, probe, tls10_server):
    res = probe(base_config(sim, Login={"URL": None, "User": None, "PasswordFile": None,
                                        "Token": STATIC_TOKEN},
                            WebSocket={"URL": f"wss://localhost:{tls10_server}/ws"}))
    assert_fail(res, "ws_connect", "tls.handshake")


# ---- a server that requires a client certificate ------------------------------------------------

@pytest.mark.parametrize("side", SIDES)
def test_client_certificate_required_but_not_configured_is_tls_handshake(sim, sims, probe, side):
    res = probe(SIDES[side](sim, sims("server", client_ca=True)))
    assert_fail(res, side, "tls.handshake")


@pytest.mark.parametrize("side", SIDES)
def test_client_certificate_configured_passes(sim, sims, probe, side):
    c = sim.certs
    res = probe(SIDES[side](sim, sims("server", client_ca=True),
                            ClientCertificate=str(c / "client.pem"), ClientKey=str(c / "client.key")))
    assert_pass(res)


@pytest.mark.parametrize("side", SIDES)
def test_client_certificate_from_an_unknown_ca_is_tls_handshake(sim, sims, probe, side, tmp_path):
    # a certificate the server does not trust (the server certificate, signed by the server CA)
    c = sim.certs
    res = probe(SIDES[side](sim, sims("server", client_ca=True),
                            ClientCertificate=str(c / "unknownca.pem"), ClientKey=str(c / "unknownca.key")))
    assert_fail(res, side, "tls.handshake")
