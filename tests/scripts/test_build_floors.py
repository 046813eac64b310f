"""meson.build states, for every dependency(), the version the code really needs (issue 11: it
accepted libcurl 7.74, but CURLOPT_PROTOCOLS_STR is 7.85.0).

Each library's floor-setting APIs are listed below with the release that introduced them (from
the library's own record, as meson.build's comment says). A listed API the code uses raises the
floor to its release; the floor must be exactly the highest such release (or the behaviour the
code relies on), neither lower (the build would accept a library it cannot use) nor higher
without a reason written here. Newer APIs the code does not use yet are listed too, so that
starting to use one fails here until the floor follows."""
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SOURCE_DIRS = ("common", "config", "probes", "daemon")

# library (pkg-config name): (floor set by behaviour or by meson.build itself, {API: release})
FLOORS = {
    "libcurl": ("0", {
        "CURLINFO_TOTAL_TIME_T": "7.61.0", "CURLOPT_UPLOAD_BUFFERSIZE": "7.62.0",
        "curl_multi_poll": "7.66.0", "curl_multi_wakeup": "7.68.0",
        "CURLE_SSL_CLIENTCERT": "7.77.0", "curl_easy_header": "7.83.0",
        "CURLOPT_PROTOCOLS_STR": "7.85.0", "CURLOPT_CA_CACHE_TIMEOUT": "7.87.0",
        "CURLOPT_QUICK_EXIT": "7.87.0", "CURLINFO_CONN_ID": "8.2.0",
    }),
    "libwebsockets": ("0", {
        "lws_sul_schedule": "3.2.0", "lws_sul_cancel": "4.1.0",
        "lws_sul_schedule_wakesuspend": "4.1.0",
    }),
    # json_object_getn (2.14) is not listed: probes/jsonpath.c falls back below 2.14.
    "jansson": ("0", {
        "json_dumpb": "2.10", "json_auto_t": "2.10", "json_error_code": "2.11",
        "json_object_setn": "2.14", "json_object_iter_key_len": "2.14",
    }),
    "libsystemd": ("0", {
        "sd_event_source_disable_unref": "243", "sd_event_add_time_relative": "247",
        "sd_event_source_set_time_relative": "247", "sd_event_source_set_ratelimit": "248",
        "sd_event_set_signal_exit": "252",
    }),
    # TLS 1.3, whose late client-certificate refusal probes/http.c and probes/ws.c detect.
    "openssl": ("1.1.1", {"SSL_get_ex_new_index": "1.1.0"}),
    # CMOCKA_XML_FILE with %g (one report per group), set in meson.build.
    "cmocka": ("1.1.0", {}),
}


def version(v):
    t = [int(x) for x in v.split(".")]
    while t and t[-1] == 0:  # 4.1 == 4.1.0
        t.pop()
    return tuple(t)


def used_symbols():
    words = set()
    for d in SOURCE_DIRS:
        for p in (ROOT / d).rglob("*.[ch]"):
            words.update(re.findall(r"\b\w+\b", p.read_text(errors="replace")))
    return words


def meson_floors():
    text = (ROOT / "meson.build").read_text()
    floors = {}
    for m in re.finditer(r"dependency\('([\w-]+)'([^)]*)\)", text):
        v = re.search(r"version:\s*'>=\s*([\d.]+)'", m.group(2))
        floors[m.group(1)] = v.group(1) if v else None
    return floors


@pytest.mark.parametrize("lib", sorted(FLOORS))
def test_dependency_floor_is_the_newest_api_the_code_uses(lib):
    behaviour, apis = FLOORS[lib]
    used = used_symbols()
    needed = max([behaviour] + [v for api, v in apis.items() if api in used], key=version)
    why = [f"{api} ({v})" for api, v in apis.items() if api in used and v == needed] or ["behaviour"]
    floor = meson_floors().get(lib)
    assert floor is not None, f"meson.build: dependency('{lib}') states no version"
    assert version(floor) == version(needed), \
        f"meson.build: {lib} >= {floor}, but the code needs {needed}: {', '.join(why)}"


def test_every_dependency_states_a_floor():
    missing = [lib for lib, v in meson_floors().items() if v is None and lib not in ("threads", "systemd")]
    assert not missing, f"dependency() without a version floor: {missing}"
