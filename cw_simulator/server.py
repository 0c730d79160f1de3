"""HTTP front of the simulator: stdlib server, auth, faults, routing, control endpoints."""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cw_simulator import resources
from cw_simulator.errors import ApiError
from cw_simulator.injection import (
    ADDITIONS,
    LOST,
    after_patch,
    after_post,
    before_addition_commit,
    before_call,
)
from cw_simulator.records import VERSION
from cw_simulator.resources import Request, Response, Route
from cw_simulator.store import LoggedRequest, SimulatorState

_COMPANY_INFO = re.compile(r"/login/companyinfo/(?P<company>[^/]+)/?")
_CONTROL_PREFIX = "/__simulator/"


def _unauthorized(message: str) -> ApiError:
    error = {"code": "Unauthorized", "message": message, "resource": "auth", "field": "auth"}
    return ApiError(401, "Unauthorized", message, [error])


def check_auth(state: SimulatorState, headers: Any) -> None:
    """Basic `companyId+publicKey:privateKey` plus a matching `clientId` header, else 401."""
    client_id = headers.get("clientId")
    # Real ConnectWise also answers a missing or unknown clientId with 401, not 400.
    if not client_id or client_id.strip().lower() != state.client_id.lower():
        raise _unauthorized("A valid clientId header is required for this API.")
    scheme, _, encoded = (headers.get("Authorization") or "").partition(" ")
    try:
        decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        decoded = ""
    login, _, private_key = decoded.partition(":")
    company, _, public_key = login.partition("+")
    valid = (
        scheme.lower() == "basic"
        and company.lower() == state.company_id.lower()
        and public_key == state.public_key
        and private_key == state.private_key
    )
    if not valid:
        raise _unauthorized("Authentication failed: check the company id, public and private key.")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Never wait for idle keep-alive connections when stopping.
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state: SimulatorState) -> None:
        self.state = state
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ConnectWiseSimulator/" + VERSION
    timeout = 60  # idle keep-alive connections are dropped after a minute
    # Headers and body go out in two writes; without TCP_NODELAY, Nagle + delayed ACK add 40 ms.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Silence stderr access logs; `state.log` is the record."""

    def handle(self) -> None:
        """Serve the connection; a client that went away (e.g. gave up waiting) ends it quietly."""
        try:
            super().handle()
        except ConnectionError:  # broken pipe or reset while answering or reading the next one
            self.close_connection = True

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _handle(self) -> None:
        state = self.server.state
        split = urlsplit(self.path)
        query = parse_qs(split.query, keep_blank_values=True)
        raw = self._read_body()
        if raw is None:  # the client went away mid-request: a real server processes nothing
            self.close_connection = True
            return
        if split.path.startswith(_CONTROL_PREFIX):
            self._send(self._control(state, split.path, raw))
            return
        body = _parse_json(raw)
        self.fired: list[str] = []  # the faults injected into this answer, for the log
        template, response = self._dispatch(state, split.path, query, raw, body)
        entry = LoggedRequest(
            self.command, split.path, query, dict(self.headers.items()), body,
            response.status, template, tuple(self.fired),
        )  # fmt: skip
        state.record_request(entry)
        if response is LOST:
            self.close_connection = True  # drop the socket: the client reads no byte at all
            return
        self._send(response)

    def _read_body(self) -> bytes | None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        return raw if len(raw) == length else None

    def _dispatch(
        self, state: SimulatorState, path: str, query: dict, raw: bytes, body: Any
    ) -> tuple[str | None, Response]:
        info = _COMPANY_INFO.fullmatch(path)
        if info and self.command == "GET":
            return "/login/companyinfo/{companyId}", self._company_info(state, info["company"])
        prefix = f"/{state.codebase}apis/3.0"
        if not path.startswith(prefix + "/"):
            return None, _error(ApiError(404, "NotFound", f"No resource found at {path}."))
        found = resources.route(path[len(prefix) :])
        template = found[0] if found else None
        try:
            return template, self._api(state, found, path, query, raw, body)
        except ApiError as exc:
            return template, _error(exc)
        except Exception as exc:  # a simulator bug must still look like a CW 500, not a hang
            return template, _error(ApiError(500, "InternalServerError", repr(exc)))

    def _api(
        self, state: SimulatorState, found: Route | None, path: str, query: dict, raw: bytes,
        body: Any,
    ) -> Response:  # fmt: skip
        before_call(state, self.fired)
        check_auth(state, self.headers)
        if found is None:
            raise ApiError(404, "NotFound", f"No API resource matches {path}.")
        template, handlers, params = found
        operation = f"{self.command} {template}"
        if operation in state.forbidden or operation in state.faults.forbidden:
            message = "You do not have permission to perform this action."
            raise ApiError(403, "Forbidden", message)
        handler = handlers.get(self.command)
        if handler is None:
            message = f"The requested resource does not support http method '{self.command}'."
            raise ApiError(405, "MethodNotAllowed", message, headers={"Allow": ", ".join(handlers)})
        if raw and body is None:
            raise ApiError(400, "InvalidObject", "The request body is not valid JSON.")
        host, port = self.server.server_address[:2]
        url = f"http://{self.headers.get('Host', f'{host}:{port}')}{path}"
        creating = self.command == "POST" and template == ADDITIONS
        if creating:
            before_addition_commit(state, self.fired)
        response = handler(state, req=Request(self.command, params, query, body, url))
        if self.command == "PATCH" and response.status < 300:
            return after_patch(state, response, self.fired)
        if self.command != "POST" or response.status >= 300:
            return response
        return after_post(state, response, creating, self.fired)

    def _company_info(self, state: SimulatorState, company: str) -> Response:
        if company.lower() != state.company_id.lower():
            return Response(200, None)  # CW answers an unknown company with a `null` body
        return Response(
            200,
            {
                "CompanyName": state.company_name,
                "Codebase": state.codebase,
                "VersionCode": VERSION,
                "VersionNumber": "v4.6." + VERSION.removeprefix("v"),
                "CompanyID": state.company_id,
                "IsCloud": False,
                "SiteUrl": self.headers.get("Host", ""),
            },
        )

    def _control(self, state: SimulatorState, path: str, raw: bytes) -> Response:
        name = path[len(_CONTROL_PREFIX) :].strip("/")
        if self.command == "GET" and name == "stats":
            return Response(200, _stats(state))
        if self.command == "GET" and name == "seed":
            return Response(200, state.to_seed())
        if name == "faults" and self.command in ("GET", "POST"):
            if self.command == "POST":
                try:
                    with state.lock:
                        state.faults.update(json.loads(raw or b"{}"))
                except (ValueError, AttributeError, TypeError) as exc:
                    return _error(ApiError(400, "InvalidObject", f"Bad faults: {exc}"))
            with state.lock:
                return Response(200, state.faults.to_dict())
        if self.command == "POST" and name == "reset-log":
            state.clear_log()
            return Response(204)
        return _error(ApiError(404, "NotFound", f"No simulator control endpoint {path}."))

    def _send(self, response: Response) -> None:
        # A client that already gave up makes these writes fail: `handle` ends it quietly.
        self.send_response(response.status)
        for key, value in response.headers.items():
            self.send_header(key, value)
        if response.status == 204:
            self.end_headers()
            return
        payload = json.dumps(response.body).encode("utf-8")
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def _parse_json(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None


def _error(exc: ApiError) -> Response:
    return Response(exc.status, exc.body(), dict(exc.headers))


def _stats(state: SimulatorState) -> dict[str, Any]:
    log = state.log
    by_status: dict[str, int] = {}
    for entry in log:
        by_status[str(entry.status)] = by_status.get(str(entry.status), 0) + 1
    return {
        "total": len(log),
        "byMethod": state.request_counts(),
        "byPath": state.request_counts_by_path(),
        "byStatus": by_status,
        "byFault": state.fault_counts(),
    }


class Simulator:
    """A ConnectWise Manage simulator serving `state` on loopback from a daemon thread."""

    def __init__(self, state: SimulatorState | None = None) -> None:
        self.state = state or SimulatorState()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self, host: str = "127.0.0.1", port: int = 0) -> Simulator:
        """Bind (port 0 = any free port) and serve in the background; returns self."""
        if self._server is not None:
            raise RuntimeError("simulator already started")
        self._server = _Server((host, port), self.state)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True,
            name=f"cw-simulator-{self._server.server_address[1]}",
        )  # fmt: skip
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._server, self._thread = None, None

    @property
    def site(self) -> str:
        """`http://host:port`: the value a partner puts in "site" (scheme included)."""
        if self._server is None:
            raise RuntimeError("simulator is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def api_url(self) -> str:
        """The API base, `{site}/{codebase}apis/3.0`."""
        return f"{self.site}/{self.state.codebase}apis/3.0"

    def __enter__(self) -> Simulator:
        return self if self._server is not None else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
