"""Who may ask the explorer's server, checked on every request before anything else is read (the checks Jupyter
Server and TensorBoard make): the Host header when bound to loopback (DNS rebinding), the Origin and
Sec-Fetch-Site headers (another web site the user visits), and a token, given in the URL and then kept in a
cookie, when bound beyond loopback (anyone on the network)."""
import hmac
import ipaddress
import re
import secrets
from dataclasses import dataclass
from http import HTTPStatus

from ..errors import ConfigError
from .api import RequestError

PAGE_PATHS = ("/", "/index.html")  # a link on another site may open the page itself, nothing else
TOKEN_FORM = re.compile(r"[A-Za-z0-9_-]{16,128}")  # URL-safe, long enough not to be guessed


def is_loopback(host: str) -> bool:
    """Whether `host` (an --host value) reaches this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_host(host: str) -> str:
    """`host` as it is written in a URL: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host else host


def split_host(value: str, default_port: int) -> tuple[str, int] | None:
    """A Host header or an Origin's authority ('name', 'name:port', '[v6]:port') as (lowercase name, port);
    a browser leaves out the scheme's default port (80). None when it is malformed."""
    value = value.strip().lower()
    if value.startswith("["):
        name, closed, rest = value[1:].partition("]")
        if not closed or (rest and not rest.startswith(":")):
            return None
        port = rest[1:]
    else:
        name, _, port = value.partition(":")
    if not name or not re.fullmatch(r"[a-z0-9._:-]+", name):
        return None
    if port == "":
        return name, default_port
    return (name, int(port)) if re.fullmatch(r"[0-9]{1,5}", port) else None


def new_token() -> str:
    return secrets.token_hex(24)  # 192 random bits, as Jupyter's


def check_token(token: str) -> str:
    """A token the user chose (--token), refused when it is short or not URL-safe."""
    if not TOKEN_FORM.fullmatch(token):
        raise ConfigError("--token must be 16-128 letters, digits, '-' or '_' (a long random string)")
    return token


@dataclass
class Access:
    """The rules for one server: the address and port it is bound to and, when bound beyond loopback (or asked
    for with --token), the token every request must carry."""

    host: str
    port: int
    token: str | None = None

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    @property
    def cookie(self) -> str:
        return f"cnnlab-explore-{self.port}"  # cookies are shared by every port of a host: one name per server

    def _hosts(self) -> set[tuple[str, int]]:
        return {(name, self.port) for name in (self.host.lower(), "localhost", "127.0.0.1", "::1")}

    def check(self, method: str, path: str, headers, query: dict) -> None:
        """Raise RequestError (403) for a request this server must not answer."""
        host = headers.get("Host")
        own = split_host(host, 80) if host else None
        if self.loopback and own not in self._hosts():
            # a page on another site that re-points its own name at 127.0.0.1 (DNS rebinding) sends its own name
            raise RequestError(f"refused Host '{(host or '')[:100]}': this server answers to "
                               f"127.0.0.1:{self.port} and localhost:{self.port} only", HTTPStatus.FORBIDDEN)
        origin = headers.get("Origin")
        if origin is not None and (own is None or _origin(origin) != own):
            raise RequestError(f"refused a request from another web site (Origin '{origin[:100]}')",
                               HTTPStatus.FORBIDDEN)
        site = headers.get("Sec-Fetch-Site")
        if site in ("cross-site", "same-site") and not (
                method == "GET" and path in PAGE_PATHS and headers.get("Sec-Fetch-Mode") == "navigate"
                and headers.get("Sec-Fetch-Dest") == "document"):
            raise RequestError(f"refused a request made by another web site (Sec-Fetch-Site: {site})",
                               HTTPStatus.FORBIDDEN)
        if self.token is not None and not self._carries_token(headers, query):
            raise RequestError("this server needs its token: open the address with ?token=... that "
                               "`cnnlab explore` printed in its terminal", HTTPStatus.FORBIDDEN)

    def _carries_token(self, headers, query: dict) -> bool:
        given = [query.get("token"), _cookie(headers.get("Cookie", ""), self.cookie)]
        scheme, _, value = (headers.get("Authorization") or "").partition(" ")
        if scheme.lower() in ("token", "bearer"):
            given.append(value.strip())
        return any(isinstance(g, str) and hmac.compare_digest(g.encode(), self.token.encode()) for g in given)

    def set_cookie(self, query: dict) -> str | None:
        """The Set-Cookie value that keeps the token once a request brought it in the URL (the page's own
        requests then carry it; SameSite=Strict: never sent by another site's requests)."""
        given = query.get("token")
        if self.token is None or not isinstance(given, str) or not hmac.compare_digest(given.encode(),
                                                                                        self.token.encode()):
            return None
        return f"{self.cookie}={self.token}; Path=/; HttpOnly; SameSite=Strict"


def _origin(origin: str) -> tuple[str, int] | None:
    """(name, port) of an Origin header 'http://name[:port]'; None for 'null', https or anything else."""
    scheme, sep, rest = origin.partition("://")
    if scheme.lower() != "http" or not sep or "/" in rest:
        return None
    return split_host(rest, 80)


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None
