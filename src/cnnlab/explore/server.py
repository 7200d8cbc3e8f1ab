"""The explorer's web server: Python's ThreadingHTTPServer serving one page (static/, shipped in the package) and
the JSON API of api.py, with live training as server-sent events. Every path it answers is in one table
(`routes`); who may ask is access.py's to say; bodies, connections and the time a request may take are bounded,
and what it prints to the terminal carries no control characters."""
import errno
import io
import json
import re
import socket
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs

from ..errors import CnnlabError, ConfigError
from ..signals import Interrupt
from . import engine
from .access import Access, check_token, is_loopback, new_token, url_host
from .api import Explorer, RequestError
from .loader import Source
from .redact import printable, public

MAX_JSON_BYTES = engine.MAX_UPLOAD_BYTES * 4 // 3 + 65536  # a drawing as a data URL plus the request's fields
SOCKET_TIMEOUT_S = 30.0  # the longest one read or write on a connection may wait
REQUEST_DEADLINE_S = 60.0  # the whole request (line, headers, body) must have arrived by then, however it trickles
BACKLOG = 128  # connections the kernel queues before accept (socketserver's 5 reset half of 50 parallel requests)
MAX_CONNECTIONS = 100  # connections served at once (one thread each); more get 503 at once instead of a thread
MAX_QUERY_FIELDS = 32
# The types a page on another site may post without asking first (a CORS "simple" request): never accepted here,
# so such a post is refused even by a browser that sends no Origin.
SIMPLE_TYPES = ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data")
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".png": "image/png", ".svg": "image/svg+xml"}


def static_files() -> dict[str, tuple[bytes, str]]:
    """Every file of the package's static folder by name, read once: the only files the server hands out."""
    folder = resources.files("cnnlab.explore") / "static"
    return {f.name: (f.read_bytes(), TYPES.get(Path(f.name).suffix, "application/octet-stream"))
            for f in folder.iterdir() if f.is_file() and Path(f.name).suffix in TYPES}


# ---------------------------------------------------------------- the routes
@dataclass(frozen=True)
class Reply:
    """A response that is not JSON: a static file (or the favicon's empty answer)."""

    body: bytes
    kind: str
    status: HTTPStatus = HTTPStatus.OK


@dataclass(frozen=True)
class Route:
    method: str
    run: Callable  # (query, body) -> a dict (JSON), a Reply, or a generator of (event, data) for server-sent events
    body: str | None = None  # what a POST carries: "json" (an object, application/json) or "image" (file bytes)


def routes(ex: Explorer, static: dict) -> dict[str, Route]:
    """Every path the server answers, matched exactly (as TensorBoard's exact_routes): nothing else is reachable,
    and the page names networks by id, never by path."""
    page = Route("GET", lambda q, b: Reply(*static["index.html"]))
    table = {"/": page, "/index.html": page,
             "/favicon.ico": Route("GET", lambda q, b: Reply(b"", "image/x-icon", HTTPStatus.NO_CONTENT)),
             "/api/sources": Route("GET", lambda q, b: ex.sources_json()),
             "/api/info": Route("GET", lambda q, b: ex.info(q)),
             "/api/test": Route("GET", lambda q, b: ex.test(q)),
             "/api/outsize": Route("GET", lambda q, b: ex.outsize(q)),
             "/api/live": Route("GET", lambda q, b: ex.live(q)),
             "/api/forward": Route("POST", lambda q, b: ex.forward(b), "json"),
             "/api/unit": Route("POST", lambda q, b: ex.unit(b), "json"),
             "/api/explain": Route("POST", lambda q, b: ex.explain(b), "json"),
             "/api/upload": Route("POST", lambda q, b: ex.upload(q, b), "image")}
    for name, file in static.items():
        table[f"/static/{name}"] = Route("GET", lambda q, b, file=file: Reply(*file))
    return table


class _Deadline(io.RawIOBase):
    """A connection's reading side that gives up at a deadline however slowly the bytes trickle in: the socket's
    timeout bounds one wait, this bounds the whole request (a client sending a byte every 29 s holds no thread)."""

    def __init__(self, sock: socket.socket, deadline: float, timeout: float):
        super().__init__()
        self.sock, self.deadline, self.timeout = sock, deadline, timeout

    def readable(self):
        return True

    def readinto(self, buffer):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request did not arrive in time")
        self.sock.settimeout(min(left, self.timeout))
        try:
            return self.sock.recv_into(buffer)
        finally:
            self.sock.settimeout(self.timeout)


def _no_constant(name):  # json.loads accepts NaN and Infinity, which are not JSON
    raise RequestError(f"the request is not valid JSON ({name} is not a JSON number)")


# ---------------------------------------------------------------- one connection
class Handler(BaseHTTPRequestHandler):
    server_version = "cnnlab-explore"
    server: "Server"

    def setup(self):
        self.timeout = self.server.socket_timeout_s  # every read and write on this socket waits at most this long
        super().setup()
        self.rfile.close()  # socketserver's reader, replaced by one with a deadline (the socket stays open)
        deadline = time.monotonic() + self.server.request_deadline_s
        self.rfile = io.BufferedReader(_Deadline(self.connection, deadline, self.timeout))

    def log_message(self, format, *args):  # one line per problem (see _error), not per request
        pass

    def do_GET(self):
        self._handle()

    def do_POST(self):
        self._handle()

    def _log(self, message: str):
        self.server.explorer.log(printable(f"cnnlab explore: {self.command} {self.path.partition('?')[0][:200]}: "
                                           f"{message}"))

    def _handle(self):
        self.started = False  # response headers are out: an error can only end the response, not replace it
        path, _, query = self.path.partition("?")
        try:
            try:
                query = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True,
                                                        max_num_fields=MAX_QUERY_FIELDS).items()}
            except ValueError:
                raise RequestError(f"more than {MAX_QUERY_FIELDS} query parameters") from None
            self.server.access.check(self.command, path, self.headers, query)
            route = self.server.routes.get(path)
            if route is None:
                raise RequestError(f"no such page: {path[:200]}", HTTPStatus.NOT_FOUND)
            if route.method != self.command:
                raise RequestError(f"{path} answers {route.method} requests only", HTTPStatus.METHOD_NOT_ALLOWED)
            result = route.run(query, self._body(route.body) if route.body else None)
            cookie = self.server.access.set_cookie(query)
            extra = {"Set-Cookie": cookie} if cookie else {}
            if isinstance(result, Reply):
                self._send(result.status, result.body, result.kind, extra)
            elif isinstance(result, dict):
                self._json(result, extra=extra)
            else:
                self._stream(result)
        except RequestError as error:
            self._error(error.status, str(error))
        except CnnlabError as error:
            self._error(HTTPStatus.BAD_REQUEST, str(error))
        except TimeoutError:
            self._error(HTTPStatus.REQUEST_TIMEOUT, "the request did not arrive in time")
        except ConnectionError:
            self.close_connection = True  # the client went away: nothing to say, nobody to tell
        except OSError as error:  # a file of a source that cannot be read now (permissions, removed)
            self._error(HTTPStatus.BAD_REQUEST, f"cannot read {error.filename or 'a file'}: {error.strerror or error}")
        except Exception as error:  # noqa: BLE001  (a bug: say so on the page and in the terminal, keep serving)
            self._bug(error)

    def _bug(self, error: Exception):
        traceback.print_exc()
        self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"internal error ({type(error).__name__}: {error})")

    def _error(self, status, message):
        self._log(message)
        self.close_connection = True
        if self.started:
            return
        try:
            self._json({"error": public(message, self.server.explorer.sources.values())}, status)
        except OSError:
            pass  # the client is gone or does not read

    def _send(self, status, body: bytes, kind: str, extra=None):
        self.send_response(status)
        for key, value in {"Content-Type": kind, "Content-Length": str(len(body)), "Cache-Control": "no-store",
                           "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", **(extra or {})}.items():
            self.send_header(key, value)
        self.end_headers()
        self.started = True
        self.wfile.write(body)

    def _json(self, payload, status=HTTPStatus.OK, extra=None):
        self._send(status, json.dumps(payload, separators=(",", ":")).encode(), "application/json", extra)

    def _body(self, kind: str):
        """The request's body, refused before a byte of it is read unless its type and length are right, then
        read to exactly its Content-Length: JSON as a dict, an image as bytes."""
        given = self.headers.get("Content-Type")
        ctype = self.headers.get_content_type()
        if kind == "json" and ctype != "application/json":
            raise RequestError(f"send the request as Content-Type: application/json, not {given or 'none'}",
                               HTTPStatus.UNSUPPORTED_MEDIA_TYPE)
        if kind == "image" and (given is None or ctype in SIMPLE_TYPES):
            raise RequestError(f"send the picture as Content-Type: image/... or application/octet-stream, not "
                               f"{given or 'none'}", HTTPStatus.UNSUPPORTED_MEDIA_TYPE)
        lengths = self.headers.get_all("Content-Length") or []
        if "Transfer-Encoding" in self.headers or not lengths:
            raise RequestError("the request needs a Content-Length (chunked bodies are not read)",
                               HTTPStatus.LENGTH_REQUIRED)
        if len(set(lengths)) > 1 or not re.fullmatch(r"[0-9]{1,12}", lengths[0]):
            raise RequestError(f"bad Content-Length '{lengths[0][:20]}'")
        length = int(lengths[0])
        limit = engine.MAX_UPLOAD_BYTES if kind == "image" else MAX_JSON_BYTES
        if length > limit:
            raise RequestError(f"request of {length / 2**20:.1f} MiB is larger than the {limit / 2**20:.0f} MiB "
                               "limit", HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        data = self.rfile.read(length)
        if len(data) != length:
            raise RequestError(f"the request ended after {len(data)} of its {length} bytes")
        if kind == "image":
            return data
        try:
            body = json.loads(data, parse_constant=_no_constant)
        except RecursionError:
            raise RequestError("the request is nested too deeply to be read") from None
        except ValueError:
            raise RequestError("the request is not valid JSON") from None
        if not isinstance(body, dict):
            raise RequestError("the request must be a JSON object")
        return body

    def _stream(self, events):
        """Server-sent events until the page goes away or the server stops. Once the headers are out, an error
        becomes a last 'problem' event and the end of the stream: a status line cannot follow them."""
        first = next(events)  # a problem before the first event still answers as JSON
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.started = True
        sources = self.server.explorer.sources.values()
        try:
            for name, data in _chain(first, events):
                if name is None:
                    self.wfile.write(b": ping\n\n")
                    continue
                if name == "problem":
                    data = {"error": public(data["error"], sources)}
                self.wfile.write(f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode())
                self.wfile.flush()
        except (ConnectionError, TimeoutError):
            pass  # the page went away, or stopped reading
        except Exception as error:  # noqa: BLE001  (a bug: the stream ends with what went wrong)
            if not isinstance(error, CnnlabError):
                traceback.print_exc()
            self._log(f"the live stream stopped: {error}")
            problem = {"error": public(f"the live stream stopped: {type(error).__name__}: {error}", sources)}
            try:
                self.wfile.write(f"event: problem\ndata: {json.dumps(problem)}\n\n".encode())
            except OSError:
                pass
        finally:
            events.close()
            self.close_connection = True


def _chain(first, rest):
    yield first
    yield from rest


# ---------------------------------------------------------------- the server
class Server(ThreadingHTTPServer):
    daemon_threads = True  # Ctrl-C does not wait for open pages or live streams (see process_request)
    allow_reuse_address = True
    request_queue_size = BACKLOG
    socket_timeout_s = SOCKET_TIMEOUT_S
    request_deadline_s = REQUEST_DEADLINE_S
    explorer: Explorer
    access: Access
    routes: dict

    def __init__(self, address, family, max_connections=MAX_CONNECTIONS):
        self.address_family = family  # socketserver makes its socket of this family (IPv6 for --host ::1)
        self.slots, self.max_connections = threading.BoundedSemaphore(max_connections), max_connections
        self.busy = False  # said once in the terminal each time every slot is taken
        super().__init__(address, Handler)

    def server_bind(self):
        if self.address_family == socket.AF_INET6 and self.server_address[0] == "::":
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)  # '::' takes IPv4 clients too
        super().server_bind()

    def process_request(self, request, client_address):
        """One daemon thread per connection while a slot is free; the thread gives its slot back when done (and
        only it: a Ctrl-C arriving here once the thread runs must not give the slot back twice)."""
        if not self.slots.acquire(blocking=False):
            self._refuse_busy(request)
            return
        self.busy = False
        thread = threading.Thread(target=self.process_request_thread, args=(request, client_address), daemon=True)
        try:
            thread.start()
        except RuntimeError:  # no thread to be had: refused like a connection over the limit
            self.slots.release()
            self._refuse_busy(request)

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def _refuse_busy(self, request):
        if not self.busy:
            self.busy = True
            self.explorer.log(f"cnnlab explore: {self.max_connections} connections are open: refusing more until one "
                              "closes")
        body = b'{"error":"the server is busy: too many connections are open"}'
        try:
            request.settimeout(1.0)
            request.sendall(b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                            b"Retry-After: 1\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        except OSError:
            pass
        self.shutdown_request(request)

    def handle_error(self, request, client_address):
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):
            return  # a client that went away or was too slow: nothing to fix here
        self.explorer.log(printable(f"cnnlab explore: internal error serving a request: {error!r}"))
        traceback.print_exc()

    def urls(self) -> list[str]:
        """The addresses to open, the token in each when the server needs one."""
        host, port = self.access.host, self.server_address[1]
        names = [socket.gethostname(), "127.0.0.1"] if host in ("0.0.0.0", "::", "") else [host]
        token = f"?token={self.access.token}" if self.access.token else ""
        return [f"http://{url_host(name)}:{port}/{token}" for name in names]


def _bind_advice(host: str, port: int, error: OSError) -> str:
    where = f"{url_host(host)}:{port}"
    if error.errno == errno.EADDRINUSE:
        return f"cannot listen on {where}: the port is in use; try another --port (0 picks a free one)"
    if error.errno in (errno.EACCES, errno.EPERM):
        return f"cannot listen on {where}: ports below 1024 need administrator rights; try --port 8000"
    return (f"cannot listen on {where} ({error.strerror or error}): this machine has no such address; use --host "
            "127.0.0.1 (this machine), ::1 (this machine, IPv6) or 0.0.0.0 (every network interface)")


def make_server(sources: list[Source], host: str = "127.0.0.1", port: int = 8000, log=None,
                token: str | None = None) -> Server:
    """A server for `sources` bound to host:port (port 0: a free one; see server.server_address). Bound beyond
    loopback it needs a token (`token`, or a random one: server.access.token, in server.urls())."""
    token = check_token(token) if token else (None if is_loopback(host) else new_token())
    explorer = Explorer(sources, log)
    try:
        server = Server((host, port), socket.AF_INET6 if ":" in host else socket.AF_INET)
    except OSError as error:
        raise ConfigError(_bind_advice(host, port, error)) from None
    server.explorer = explorer
    server.access = Access(host, server.server_address[1], token)
    server.routes = routes(explorer, static_files())
    return server


def serve(sources: list[Source], host: str = "127.0.0.1", port: int = 8000, token: str | None = None) -> None:
    """Serve until Ctrl-C (SIGINT) or SIGTERM, printing the URL (cnnlab.signals.Interrupt: also when started in
    the background with SIGINT ignored)."""
    server = make_server(sources, host, port, token=token)
    bound = server.server_address[1]
    with Interrupt():  # before the URL is out: a signal sent once it is seen must stop the server
        if not server.access.loopback:
            everywhere = " (every network interface)" if host in ("0.0.0.0", "::", "") else ""
            print(f"cnnlab explore: warning: listening on {url_host(host)}:{bound}{everywhere}: anyone who can "
                  "reach this machine can connect, and every request must carry the token in the address below; "
                  "keep it private", file=sys.stderr, flush=True)
        urls = server.urls()
        print(f"cnnlab explore: serving {len(sources)} network(s) at {urls[0]} (Ctrl-C stops)", flush=True)
        for url in urls[1:]:
            print(f"  or {url}", flush=True)
        try:
            server.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            print("\ncnnlab explore: stopped", flush=True)
        finally:
            server.explorer.stop.set()
            server.server_close()
