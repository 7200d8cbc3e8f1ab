"""The explorer's server as a security boundary (issue 25): requests from other web sites refused, bodies and
connections bounded, nothing a request carries printed raw to the terminal, a token when bound beyond loopback,
every field of a request validated (fuzzed: never a 500, never a traceback) and no absolute path in a response."""
import argparse
import http.client
import json
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnlab.errors import ConfigError
from cnnlab.explore import engine, find_sources, make_server
from cnnlab.explore.access import Access
from cnnlab.explore.api import RequestError


class Served:
    """A running server, the lines it logged, and requests made the way a client chooses."""

    def __init__(self, sources, host="127.0.0.1", **options):
        self.lines = []
        self.server = make_server(sources, host=host, port=0, log=self.lines.append, **options)
        self.host, self.port = host, self.server.server_address[1]
        self.family = self.server.address_family
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self):
        self.server.explorer.stop.set()
        self.server.shutdown()
        self.server.server_close()

    def request(self, method, path, body=None, headers=None, host=None):
        """(status, headers, JSON or text) of one request; Host is the server's own unless given."""
        connection = http.client.HTTPConnection(self.host, self.port, timeout=20)
        try:
            connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            connection.putheader("Host", host or f"{'[::1]' if ':' in self.host else self.host}:{self.port}")
            if isinstance(body, dict | list):
                body = json.dumps(body).encode()
            for key, value in (headers or {}).items():
                connection.putheader(key, value)
            if body is not None:
                connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
            response = connection.getresponse()
            data = response.read()
            try:
                data = json.loads(data)
            except ValueError:
                data = data.decode("latin-1")
            return response.status, response.headers, data
        finally:
            connection.close()

    def raw(self, data: bytes, wait=10.0) -> bytes:
        """Send `data` as it is and read the answer until the server closes the connection."""
        with socket.create_connection((self.host, self.port), timeout=wait) as sock:
            sock.sendall(data)
            return _read_all(sock)


def _read_all(sock) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


JSON = {"Content-Type": "application/json"}
TEST0 = {"kind": "test", "index": 0}


@pytest.fixture(scope="module")
def served(good_run, tmp_path_factory):
    bad = tmp_path_factory.mktemp("bad") / "bad.pt"
    bad.write_bytes(b"not a checkpoint at all")
    served = Served(find_sources([str(good_run), "lenet", str(bad)]))
    yield served
    served.close()


@pytest.fixture
def lines(served):
    served.lines.clear()
    return served.lines


# ---------------------------------------------------------------- 1. other web sites
def test_a_request_from_another_site_is_refused_and_the_pages_own_are_answered(served):
    own = f"http://127.0.0.1:{served.port}"
    forward = {"source": "0", "input": TEST0}
    for method, path, body, kind in (("POST", "/api/forward", forward, "application/json"),
                                     ("POST", "/api/forward", forward, "text/plain"),  # a no-cors POST
                                     ("POST", "/api/upload", b"\x89PNG", "application/octet-stream"),
                                     ("GET", "/api/sources", None, None)):
        headers = {"Origin": "http://evil.example"} | ({"Content-Type": kind} if kind else {})
        status, _, payload = served.request(method, path, body, headers)
        assert status == 403 and "another web site" in payload["error"], (path, kind, payload)
    for site in ("cross-site", "same-site"):  # an <img> or a script on another site sends no Origin on GET
        status, _, _ = served.request("GET", "/api/sources", headers={"Sec-Fetch-Site": site})
        assert status == 403
    status, _, _ = served.request("GET", "/api/info?source=1", headers={"Origin": "null"})
    assert status == 403
    status, _, _ = served.request("POST", "/api/forward", forward, JSON | {"Origin": own,
                                                                          "Sec-Fetch-Site": "same-origin"})
    assert status == 200
    # a link on another site may open the page itself (a navigation), not framed and nothing else
    status, headers, page = served.request("GET", "/", headers={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode":
                                                                "navigate", "Sec-Fetch-Dest": "document"})
    assert status == 200 and "cnnlab explore" in page and headers["X-Frame-Options"] == "DENY"


def test_json_apis_need_application_json_and_an_upload_a_picture_type(served):
    for kind in (None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        status, _, payload = served.request("POST", "/api/forward", {"source": "0", "input": TEST0},
                                            {"Content-Type": kind} if kind else {})
        assert status == 415 and "application/json" in payload["error"], kind
        status, _, _ = served.request("POST", "/api/upload", b"\x89PNG", {"Content-Type": kind} if kind else {})
        assert status == 415, kind
    for kind in ("image/png", "application/octet-stream", "application/pdf"):  # the file's own type, as browsers send
        status, _, payload = served.request("POST", "/api/upload", b"\x89PNG", {"Content-Type": kind})
        assert status == 400 and "not an image" in payload["error"]


# ---------------------------------------------------------------- 2. bodies and connections
@pytest.mark.parametrize("length, status", [(None, 411), ("-1", 400), ("abc", 400), ("+5", 400), ("1e3", 400),
                                            ("99999999999", 413)])
def test_a_missing_or_bad_content_length_is_answered_without_reading_the_body(served, length, status):
    head = (f"POST /api/forward HTTP/1.1\r\nHost: 127.0.0.1:{served.port}\r\nContent-Type: application/json\r\n"
            + (f"Content-Length: {length}\r\n" if length else "") + "\r\n").encode()
    with socket.create_connection(("127.0.0.1", served.port), timeout=5) as sock:
        sock.sendall(head + b'{"source": "0", ')  # the body goes on: an answer must not wait for its end
        answer = sock.recv(65536)
    assert answer.startswith(f"HTTP/1.0 {status} ".encode()), answer[:80]


@pytest.fixture
def impatient(good_run):
    """A server that waits 0.5 s for one read and 1.5 s for a whole request, and serves 3 connections at once."""
    served = Served(find_sources([str(good_run)]))
    served.server.socket_timeout_s, served.server.request_deadline_s = 0.5, 1.5
    served.server.slots = threading.BoundedSemaphore(3)
    served.server.max_connections = 3
    yield served
    served.close()


def test_a_body_shorter_than_its_content_length_or_a_trickle_holds_no_thread(impatient):
    head = (f"POST /api/forward HTTP/1.1\r\nHost: 127.0.0.1:{impatient.port}\r\nContent-Type: application/json"
            "\r\nContent-Length: 100\r\n\r\n{}").encode()
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", impatient.port), timeout=10) as sock:
        sock.sendall(head)
        answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.0 408 ") and time.monotonic() - started < 5
    started = time.monotonic()
    closed = False
    with socket.create_connection(("127.0.0.1", impatient.port), timeout=1) as sock:
        try:
            for byte in b"GET /api/sources HTTP/1.1\r\nX-Slow: " + b"x" * 100:  # a byte every 0.2 s
                sock.sendall(bytes([byte]))
                time.sleep(0.2)
                if time.monotonic() - started > 5:
                    break
            closed = sock.recv(1) == b""
        except OSError:
            closed = True
    assert closed and time.monotonic() - started < 5, "a trickling client kept its connection"


def test_connections_beyond_the_limit_get_503_at_once_and_service_resumes(impatient):
    idle = [socket.create_connection(("127.0.0.1", impatient.port)) for _ in range(3)]
    try:
        time.sleep(0.2)  # the server has taken them
        answer = impatient.raw(f"GET /api/sources HTTP/1.1\r\nHost: 127.0.0.1:{impatient.port}\r\n\r\n".encode())
        assert answer.startswith(b"HTTP/1.0 503 ")
    finally:
        for sock in idle:
            sock.close()
    time.sleep(0.3)
    assert impatient.request("GET", "/api/sources")[0] == 200
    assert sum("connections are open" in line for line in impatient.lines) == 1


# ---------------------------------------------------------------- 3. the listen backlog
def test_sixty_connections_queue_before_the_server_accepts_any(good_run):
    server = make_server(find_sources([str(good_run)]), port=0)  # not serving yet: every connection waits
    sockets = []
    try:
        for _ in range(60):
            sock = socket.socket()
            sockets.append(sock)
            sock.settimeout(0.5)
            sock.connect(server.server_address)  # a full backlog drops the connection (times out here)
    finally:
        for sock in sockets:
            sock.close()
        server.server_close()


# ---------------------------------------------------------------- 4. the terminal
def test_what_a_request_carries_reaches_the_terminal_escaped(served, lines):
    status, _, payload = served.request("GET", "/api/info?source=%1b%5d2%3bPWNED%07%1b%5b2J%0d%e2%80%ae")
    assert status == 404 and "\x1b" in payload["error"]  # the page shows it as text: JSON escapes it there
    served.raw(f"GET /x\x1b[2J\x07 HTTP/1.0\r\nHost: 127.0.0.1:{served.port}\r\n\r\n".encode("latin-1"))
    assert len(lines) == 2 and all(line.isprintable() for line in lines), lines
    assert "\\x1b]2;PWNED\\x07\\x1b[2J\\r\\u202e" in lines[0] and "/x\\x1b[2J\\x07" in lines[1]


# ---------------------------------------------------------------- 5. beyond loopback: the token
def test_bound_beyond_loopback_every_request_needs_the_token_then_its_cookie(good_run):
    served = Served(find_sources([str(good_run)]), host="0.0.0.0")
    try:
        served.host = "127.0.0.1"
        token = served.server.access.token
        assert token and len(token) >= 32
        assert all(f"?token={token}" in url for url in served.server.urls())
        name = f"{socket.gethostname()}:{served.port}"  # any name the machine is reached by: the Host check is off
        for path in ("/", "/api/sources", f"/api/sources?token={token[:-1]}x"):
            status, _, payload = served.request("GET", path, host=name)
            assert status == 403 and "token" in payload["error"], path
        status, headers, _ = served.request("GET", f"/?token={token}", host=name)
        cookie = headers["Set-Cookie"]
        assert status == 200 and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        for extra in ({"Cookie": cookie.split(";")[0]}, {"Authorization": f"token {token}"}):
            assert served.request("GET", "/api/sources", headers=extra, host=name)[0] == 200
        status, _, _ = served.request("GET", f"/api/sources?token={token}", host=name,
                                      headers={"Origin": "http://evil.example"})
        assert status == 403
    finally:
        served.close()


def test_cli_bound_to_every_interface_warns_and_prints_the_real_addresses_with_the_token():
    process = subprocess.Popen([sys.executable, "-m", "cnnlab", "explore", "lenet", "--host", "0.0.0.0", "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = [process.stdout.readline() for _ in range(3)]  # the source, the URL, the loopback URL
        port = int(re.search(r":(\d+)/", lines[1]).group(1))
        token = re.search(r"\?token=([0-9a-f]{48}) ", lines[1]).group(1)
        assert f"http://{socket.gethostname()}:{port}/?token={token}" in lines[1]
        assert lines[2].strip() == f"or http://127.0.0.1:{port}/?token={token}"
        status, _, _ = Served.request(argparse.Namespace(host="127.0.0.1", port=port), "GET", "/api/sources")
        assert status == 403
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
        assert f"warning: listening on 0.0.0.0:{port} (every network interface)" in err and "token" in err
        assert "Traceback" not in err
    finally:
        if process.poll() is None:
            process.kill()


def test_ipv6_loopback_is_served_and_bind_errors_give_the_right_advice(good_run):
    served = Served(find_sources([str(good_run)]), host="::1")
    try:
        assert served.family == socket.AF_INET6 and served.server.access.token is None
        assert served.request("GET", "/api/sources")[0] == 200
        assert served.server.urls() == [f"http://[::1]:{served.port}/"]
        with pytest.raises(ConfigError, match="port is in use; try another --port"):
            make_server(find_sources([str(good_run)]), host="::1", port=served.port)
    finally:
        served.close()
    with pytest.raises(ConfigError, match="no such address; use --host 127.0.0.1") as error:
        make_server(find_sources([str(good_run)]), host="192.0.2.7", port=0)  # TEST-NET-1: never this machine's
    assert "--port" not in str(error.value)


def test_host_and_origin_without_the_default_port_are_accepted_on_port_80():
    access = Access("127.0.0.1", 80)
    for host in ("localhost", "127.0.0.1", "localhost:80", "[::1]"):
        access.check("POST", "/api/forward", {"Host": host, "Origin": f"http://{host.removesuffix(':80')}"}, {})
    for host in ("localhost:8080", "evil.example", "localhost:80x", "[::1", ""):
        with pytest.raises(RequestError, match="refused Host"):
            access.check("GET", "/", {"Host": host}, {})
    with pytest.raises(RequestError, match="another web site"):
        access.check("GET", "/", {"Host": "localhost", "Origin": "http://localhost:8080"}, {})


# ---------------------------------------------------------------- 6. streams, closed connections, paths, routes
def test_an_error_inside_the_live_stream_ends_it_without_a_status_line(served, lines, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("maps went wrong")

    monkeypatch.setattr(engine, "live_maps", broken)
    answer = served.raw(f"GET /api/live?source=1 HTTP/1.1\r\nHost: 127.0.0.1:{served.port}\r\n\r\n".encode())
    head, _, stream = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200 ") and b"text/event-stream" in head
    assert stream.startswith(b"event: waiting\n") and b"event: problem\n" in stream and b"maps went wrong" in stream
    assert b"HTTP/" not in stream
    assert any("live stream stopped" in line for line in lines)


def test_a_client_that_resets_its_connection_leaves_no_traceback(served, capfd):
    linger = struct.pack("ii", 1, 0)  # close with a reset (RST), as a killed browser tab does
    for request in (b"GET /api/sou", f"GET /static/app.js HTTP/1.1\r\nHost: 127.0.0.1:{served.port}\r\n\r\n".encode(),
                    b"POST /api/forward HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 90\r\n\r\n{"):
        sock = socket.create_connection(("127.0.0.1", served.port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        sock.sendall(request)
        time.sleep(0.1)
        sock.close()
    time.sleep(0.3)
    assert served.request("GET", "/api/sources")[0] == 200
    assert "Traceback" not in capfd.readouterr().err


def test_error_responses_name_files_as_the_user_did_never_by_absolute_path(served, good_run):
    from cnnlab.explore.redact import public

    status, _, payload = served.request("GET", "/api/info?source=3")
    assert status == 400 and "bad.pt: not a cnnlab checkpoint" in payload["error"]
    assert "/tmp/" not in payload["error"] and str(good_run.parent.parent) not in payload["error"]
    sources = served.server.explorer.sources.values()
    assert public(f"{good_run.resolve()}/config.json: broken", sources) == f"{good_run.name}/config.json: broken"
    assert public("cannot read /usr/lib/x/y.so: no", sources) == "cannot read …/y.so: no"
    assert public("no such page: /api/nothing", sources) == "no such page: /api/nothing"


def test_every_path_is_one_route_and_the_wrong_method_gets_405(served):
    routes = served.server.routes
    assert {"/", "/api/sources", "/api/forward", "/api/upload", "/api/live", "/static/app.js"} <= set(routes)
    assert served.request("POST", "/api/sources", {}, JSON)[0] == 405
    assert served.request("GET", "/api/forward")[0] == 405
    assert served.request("GET", "/api/nothing")[0] == 404


NASTY = [b"[" * 100_000, b'{"source": "0", "input": {"kind": "test", "index": Infinity}}',
         b'{"source": "0", "input": {"kind": "test", "index": 1e400}}', b'{"input": {"kind": "pixels", "raw": 5}}',
         b'{"input": {"kind": "pixels", "raw": "' + b"A" * 1044 + b'", "steps": [[[]]]}}',
         b'{"input": {"kind": "drawing", "png": 7}}', b'{"input": {"kind": ["test"]}}', b'{"input": "test"}',
         b'{"source": {"a": 1}}', b'{"source": true}', b'{"source": "0", "input": {"kind": "test"}, "channels": 1e9}',
         b'{"source": "0", "input": {"kind": "test"}, "only": 5}', b'{"input": {"kind": "test"}, "layer": null}',
         b'{"input": {"kind": "test"}, "layer": "net.0", "channel": -1, "y": "0", "x": 0.5}',
         b'{"input": {"kind": "test"}, "target": "cat", "layer": []}', b"\xff\xfe{}", b'"just text"', b"null", b""]


@pytest.mark.parametrize("path", ["/api/forward", "/api/unit", "/api/explain"])
def test_malformed_json_bodies_get_a_message_never_a_500(served, path, capfd):
    for body in NASTY:
        status, _, payload = served.request("POST", path, body, JSON)
        assert status == 200 or (status in (400, 404) and payload["error"]), (body[:60], payload)
    assert "Traceback" not in capfd.readouterr().err


# ---------------------------------------------------------------- a fuzz over every endpoint
values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
                      lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                   max_size=3), max_leaves=8)
numbers = st.sampled_from(["0", "1", "3", "-1", "27", "1e3", "", "99999999999999", "nan", "0x1f", " 2"])
texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)  # control characters, bidi overrides...
inputs = st.fixed_dictionaries({}, optional={
    "kind": st.sampled_from(["test", "pixels", "drawing"]) | values, "index": values | numbers,
    "raw": st.sampled_from(["A" * 1044, "AAAA", ""]) | values, "png": st.just("data:image/png;base64,AAAA") | values,
    "fit": st.sampled_from(["mnist", "frame"]) | values, "steps": values})
bodies = st.fixed_dictionaries({}, optional={
    "source": st.sampled_from(["0", "1", "2", "3", "9"]) | values, "input": inputs | values,
    "channels": values | numbers, "only": st.sampled_from(["net.0", "conv"]) | values,
    "layer": st.sampled_from(["net.0", "features.0"]) | values, "channel": values | numbers,
    "y": values | numbers, "x": values | numbers, "target": values | numbers})
queries = st.dictionaries(st.sampled_from(["source", "index", "class", "nth", "n", "k", "p", "s", "name", "invert",
                                           "token"]), numbers | texts, max_size=5)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(["/", "/api/sources", "/api/info", "/api/test", "/api/outsize", "/api/forward",
                             "/api/unit", "/api/explain", "/api/upload", "/static/app.js", "/favicon.ico"]),
       query=queries, body=bodies)
def test_fuzzed_requests_to_every_endpoint_never_give_a_500_a_traceback_or_raw_terminal_output(
        served, capfd, path, query, body):
    from urllib.parse import urlencode

    served.lines.clear()
    url = f"{path}?{urlencode(query)}" if query else path
    if path in ("/api/forward", "/api/unit", "/api/explain"):
        status, _, payload = served.request("POST", url, json.dumps(body).encode(), JSON)
    elif path == "/api/upload":
        status, _, payload = served.request("POST", url, json.dumps(body).encode(), {"Content-Type": "image/png"})
    else:
        status, _, payload = served.request("GET", url)
    assert status < 500, (url, body, payload)
    assert all(line.isprintable() for line in served.lines), served.lines
    assert "Traceback" not in capfd.readouterr().err


# ---------------------------------------------------------------- in a real browser
def test_in_a_browser_the_token_opens_the_page_and_another_sites_requests_are_refused(good_run, tmp_path,
                                                                                         monkeypatch):
    """Chromium: the address with ?token= opens a working page (its own requests carry the cookie), and a page
    served from another origin that posts to the explorer (no-cors, text/plain) and loads an <img> is refused."""
    import functools
    import os
    import shutil
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    playwright = pytest.importorskip("playwright.sync_api")
    chromium = os.environ.get("CNNLAB_CHROMIUM", "/usr/bin/chromium")
    if not shutil.which(chromium):
        pytest.skip(f"no chromium at {chromium}")
    forwards = []
    real_forward = engine.forward_json
    monkeypatch.setattr(engine, "forward_json", lambda *a, **k: forwards.append(1) or real_forward(*a, **k))
    served = Served(find_sources([str(good_run)]), host="0.0.0.0")
    explorer = f"http://127.0.0.1:{served.port}"
    (tmp_path / "evil.html").write_text(f"""<script>
      fetch("{explorer}/api/forward", {{method: "POST", mode: "no-cors", headers: {{"Content-Type": "text/plain"}},
            body: JSON.stringify({{source: "0", input: {{kind: "test", index: 0}}}})}});
      </script><img src="{explorer}/api/info?source=0&token={served.server.access.token[:8]}">""")
    other = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(SimpleHTTPRequestHandler, directory=tmp_path))
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--headless",
                                                                        "--disable-gpu", "--disable-dev-shm-usage"])
            context = browser.new_context()  # one cookie jar: the evil page's requests could carry the token cookie
            page = context.new_page()
            assert page.goto(explorer + "/").status == 403  # no token, no page
            page.goto(f"{explorer}/?token={served.server.access.token}")
            page.wait_for_selector("#prob-list .prob", timeout=60_000)  # sources, info and a forward pass: cookie
            assert len(forwards) >= 1
            served.lines.clear()
            forwards.clear()
            evil = context.new_page()
            evil.goto(f"http://127.0.0.1:{other.server_address[1]}/evil.html")
            deadline = time.monotonic() + 20
            while len(served.lines) < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
            browser.close()
        assert forwards == []
        assert any("POST /api/forward: refused a request from another web site" in line for line in served.lines)
        assert any("GET /api/info: refused a request made by another web site" in line for line in served.lines)
    finally:
        other.shutdown()
        other.server_close()
        served.close()
