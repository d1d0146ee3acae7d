"""api/openapi.yaml against the real server.

Starts a real server and agent (build/lattice), then checks that
  (a) every operation in the spec is served, and nothing else is: the
      server's routing literals match the spec's
      paths (src/server/api_service.cpp and the src/server/*_api.cpp it
      dispatches to), and methods or paths outside the spec are refused;
  (b) every answer to valid requests validates against the spec: status
      documented, content type, JSON body against its schema (a small
      JSON-schema subset validator below), response headers;
  (c) error answers (malformed JSON, unknown field, wrong type, unknown run,
      oversized bodies, missing token, ...) follow the error schema and map
      their code to the documented status.
A last test checks that every operation was exercised with every status the
spec documents for it. Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import hashlib
import http.client
import itertools
import json
import re
import socket
import struct
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path

import pytest
import yaml

from conftest import REPO, lattice_env

SPEC_PATH = REPO / "api" / "openapi.yaml"
SERVER_DIR = REPO / "src" / "server"
API_SOURCE = SERVER_DIR / "api_service.cpp"
# api_service.cpp dispatches to these; their routing literals count too.
ROUTE_SOURCES = sorted(SERVER_DIR.glob("*_api.cpp"))
UTIL_SOURCE = SERVER_DIR / "api_util.cpp"
RESULT_SOURCE = REPO / "src" / "common" / "result.cpp"
SPEC = yaml.safe_load(SPEC_PATH.read_text())
PREFIX = "/api/v1/"
HTTP_METHODS = ("get", "head", "post", "put", "delete", "patch", "options", "trace")
STATUS_FOR_CODE = {
    "invalid_argument": 400, "unauthenticated": 401, "not_found": 404, "already_exists": 409,
    "failed_precondition": 409, "resource_exhausted": 413, "unavailable": 503,
    "deadline_exceeded": 504, "io": 500, "internal": 500,
}
# Every (method, status) answered during this module, by path template.
OBSERVED: set[tuple[str, str, int]] = set()


# --------------------------------------------------------------------------
# The spec

def operations():
    """(METHOD, path template, operation) for every operation in the spec."""
    for path, item in SPEC["paths"].items():
        for m in HTTP_METHODS:
            if m in item:
                yield m.upper(), path, item[m]


def resolve(node):
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), f"only local $refs are supported: {ref}"
        target = SPEC
        for part in ref[2:].split("/"):
            target = target[part]
        node = target
    return node


# --------------------------------------------------------------------------
# A small JSON-schema (OpenAPI 3.0 flavour) validator

SCHEMA_KEYWORDS = {"$ref", "type", "properties", "required", "additionalProperties", "items", "enum",
                   "nullable", "oneOf", "pattern", "minimum", "maximum", "exclusiveMinimum",
                   "minLength", "maxLength"}
ANNOTATIONS = {"description", "default", "format", "title", "example"}
TYPE_CHECKS = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
}


def validate(value, schema, where="$") -> list[str]:
    errors: list[str] = []
    _check(value, schema, where, errors)
    return errors


def _check(v, s, where, errors):
    s = resolve(s)
    if v is None:
        if not s.get("nullable"):
            errors.append(f"{where}: null is not allowed")
        return
    if "oneOf" in s:
        matching = [i for i, sub in enumerate(s["oneOf"]) if not validate(v, sub, where)]
        if len(matching) != 1:
            errors.append(f"{where}: matches {len(matching)} of the oneOf schemas, not exactly one")
    t = s.get("type")
    if t is not None and not TYPE_CHECKS[t](v):
        errors.append(f"{where}: expected {t}, got {type(v).__name__} {v!r:.80}")
        return
    if "enum" in s and v not in s["enum"]:
        errors.append(f"{where}: {v!r} is not one of {s['enum']}")
    if isinstance(v, str):
        if "pattern" in s and not re.search(s["pattern"], v):
            errors.append(f"{where}: {v!r:.80} does not match /{s['pattern']}/")
        if "minLength" in s and len(v) < s["minLength"]:
            errors.append(f"{where}: shorter than {s['minLength']}")
        if "maxLength" in s and len(v) > s["maxLength"]:
            errors.append(f"{where}: longer than {s['maxLength']}")
    if TYPE_CHECKS["number"](v):
        if "minimum" in s:
            if s.get("exclusiveMinimum") and not v > s["minimum"]:
                errors.append(f"{where}: {v} is not above {s['minimum']}")
            elif v < s["minimum"]:
                errors.append(f"{where}: {v} is below {s['minimum']}")
        if "maximum" in s and v > s["maximum"]:
            errors.append(f"{where}: {v} is above {s['maximum']}")
    if isinstance(v, list) and "items" in s:
        for i, item in enumerate(v):
            _check(item, s["items"], f"{where}[{i}]", errors)
    if isinstance(v, dict):
        props = s.get("properties", {})
        for key in s.get("required", []):
            if key not in v:
                errors.append(f"{where}: required field '{key}' is missing")
        extra = s.get("additionalProperties", True)
        for key, item in v.items():
            if key in props:
                _check(item, props[key], f"{where}.{key}", errors)
            elif extra is False:
                errors.append(f"{where}: field '{key}' is not in the schema")
            elif isinstance(extra, dict):
                _check(item, extra, f"{where}.{key}", errors)


def iter_schemas(node, where="$"):
    """Every schema object in the document (inline or in components), with its location."""
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{where}.{key}"
            if key == "schema" and isinstance(value, dict):
                yield from _iter_schema(value, here)
            elif key == "schemas" and where == "$.components":
                for name, schema in value.items():
                    yield from _iter_schema(schema, f"{here}.{name}")
            elif key == "x-events":  # server-sent event name -> schema of its data
                for name, schema in value.items():
                    yield from _iter_schema(schema, f"{here}.{name}")
            else:
                yield from iter_schemas(value, here)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from iter_schemas(value, f"{where}[{i}]")


def _iter_schema(s, where):
    yield where, s
    for name, sub in s.get("properties", {}).items():
        yield from _iter_schema(sub, f"{where}.properties.{name}")
    if isinstance(s.get("items"), dict):
        yield from _iter_schema(s["items"], f"{where}.items")
    if isinstance(s.get("additionalProperties"), dict):
        yield from _iter_schema(s["additionalProperties"], f"{where}.additionalProperties")
    for i, sub in enumerate(s.get("oneOf", [])):
        yield from _iter_schema(sub, f"{where}.oneOf[{i}]")


def test_validator_itself():
    schema = {"type": "object", "additionalProperties": False, "required": ["a"],
              "properties": {"a": {"type": "integer", "minimum": 0, "exclusiveMinimum": True},
                             "b": {"type": "string", "nullable": True, "enum": ["x"]},
                             "c": {"type": "array", "items": {"type": "number"}},
                             "d": {"oneOf": [{"type": "string"}, {"type": "integer"}]}}}
    assert validate({"a": 1, "b": None, "c": [1, 2.5], "d": 3}, schema) == []
    assert validate({"a": 0}, schema)                       # exclusive minimum
    assert validate({"a": True}, schema)                    # a bool is no integer
    assert validate({"a": 1.5}, schema)
    assert validate({}, schema)                             # required
    assert validate({"a": 1, "z": 1}, schema)               # additionalProperties
    assert validate({"a": 1, "b": "y"}, schema)             # enum
    assert validate({"a": 1, "c": ["1"]}, schema)           # items
    assert validate({"a": 1, "d": 1.5}, schema)             # oneOf
    assert validate(None, {"type": "string"})               # not nullable
    assert validate("", resolve({"$ref": "#/components/schemas/Timestamp"})) == []
    assert validate("2026-01-02T03:04:05.678Z", {"$ref": "#/components/schemas/Timestamp"}) == []
    assert validate("yesterday", {"$ref": "#/components/schemas/Timestamp"})


# --------------------------------------------------------------------------
# HTTP

class Resp:
    def __init__(self, method, path, status, headers, body):
        self.method, self.path, self.status, self.headers, self.body = method, path, status, headers, body

    @property
    def json(self):
        return json.loads(self.body)

    def header(self, name):
        return self.headers.get(name.lower())

    def __repr__(self):
        return f"<{self.method} {self.path} -> {self.status} {self.headers} {self.body[:400]!r}>"


def check_response(method: str, template: str, r: Resp) -> None:
    """Validates an answer against the spec's operation; records it as observed."""
    op = SPEC["paths"][template][method.lower()]
    responses = op["responses"]
    documented = responses.get(str(r.status))
    spec_resp = resolve(documented or responses.get("default"))
    assert spec_resp is not None, f"{method} {template} answered {r.status}, which the spec does not document: {r}"
    if r.status >= 300:
        assert documented or r.status >= 500, \
            f"{method} {template} answered {r.status}, not listed for the operation (only under default): {r}"
    OBSERVED.add((method, template, r.status))
    ctype = (r.header("content-type") or "").split(";")[0].strip()
    if method == "HEAD":
        assert r.body == b"", r
    else:
        content = spec_resp.get("content")
        assert content, f"{method} {template} {r.status}: the spec documents no body, the server sent {r}"
        assert ctype in content, f"{method} {template} {r.status}: content type {ctype!r} not in {list(content)}"
        if ctype == "text/event-stream":
            assert r.status == 200 and content[ctype].get("x-events"), r
        elif ctype == "application/json":
            doc = json.loads(r.body)
            errors = validate(doc, content[ctype]["schema"])
            assert not errors, f"{method} {template} {r.status} does not match the spec:\n  " + \
                "\n  ".join(errors) + f"\n{json.dumps(doc, indent=1)[:3000]}"
            if r.status >= 400:
                code = doc["error"]["code"]
                want = STATUS_FOR_CODE[code]
                if (r.status, code) in ((431, "resource_exhausted"), (416, "invalid_argument")):
                    want = r.status  # an oversized header; a blob Range that cannot be served
                assert r.status == want, f"error code {code} came with status {r.status}, not {want}: {r}"
    declared = {name.lower(): resolve(h) for name, h in spec_resp.get("headers", {}).items()}
    for name, h in declared.items():
        value = r.header(name)
        if value is None:
            assert not h.get("required"), f"{method} {template} {r.status}: header {name} is missing: {r}"
            continue
        schema = resolve(h["schema"])
        if schema.get("type") == "integer":
            assert re.fullmatch(r"-?[0-9]+", value), f"header {name}: {value!r} is not an integer"
            value = int(value)
        errors = validate(value, schema, name)
        assert not errors, f"{method} {template}: " + "; ".join(errors)
    for name in r.headers:
        if name.startswith("x-lattice-"):
            assert name in declared, f"{method} {template} {r.status}: header {name} is not in the spec"


class Api:
    def __init__(self, server, token: str | None = None):
        self.server = server
        self.token = token

    def raw(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
            timeout: float = 60.0) -> Resp:
        conn = http.client.HTTPConnection(self.server.host, self.server.port, timeout=timeout)
        try:
            h = dict(headers or {})
            if self.token:
                h.setdefault("Authorization", f"Bearer {self.token}")
            conn.request(method, path, body=body, headers=h)
            resp = conn.getresponse()
            data = resp.read()
            return Resp(method, path, resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
        finally:
            conn.close()

    @staticmethod
    def path(template: str, params: dict | None = None, query: dict | None = None) -> str:
        quoted = {k: urllib.parse.quote(str(v), safe="") for k, v in (params or {}).items()}
        path = template.format(**quoted)
        if query:
            path += "?" + urllib.parse.urlencode(query)
        return path

    def call(self, method: str, template: str, params: dict | None = None, query: dict | None = None,
             body: bytes | None = None, json_body=None, headers: dict | None = None,
             expect: int | None = None, timeout: float = 60.0) -> Resp:
        """Sends a request to a spec operation and validates the answer against the spec."""
        assert method.lower() in SPEC["paths"][template], f"{method} {template} is not in the spec"
        h = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body).encode()
            h.setdefault("Content-Type", "application/json")
        r = self.raw(method, self.path(template, params, query), body, h, timeout)
        check_response(method, template, r)
        if expect is not None:
            assert r.status == expect, f"expected {expect}: {r}\nserver log:\n{self.server.log_tail()}"
        return r

    def sse(self, template: str, params: dict | None = None, query: dict | None = None, until=None,
            timeout: float = 30.0) -> tuple[Resp, list[tuple[str, dict]]]:
        """GETs a text/event-stream operation and reads its events until the
        stream ends or until(events) is true. Every event must be declared
        under the spec's x-events and its data must match the schema."""
        path = self.path(template, params, query)
        conn = http.client.HTTPConnection(self.server.host, self.server.port, timeout=timeout)
        events: list[tuple[str, dict]] = []
        try:
            conn.request("GET", path, headers={"Authorization": f"Bearer {self.token}"} if self.token else {})
            resp = conn.getresponse()
            r = Resp("GET", path, resp.status, {k.lower(): v for k, v in resp.getheaders()}, b"")
            if resp.status != 200:
                r.body = resp.read()
                check_response("GET", template, r)
                return r, events
            check_response("GET", template, r)
            declared = SPEC["paths"][template]["get"]["responses"]["200"]["content"]["text/event-stream"]["x-events"]
            fields: dict[str, str] = {}
            while True:
                line = resp.readline()
                if not line:
                    break  # the server ended the stream
                line = line.decode().rstrip("\r\n")
                if line == "":
                    if "data" in fields:
                        name = fields.get("event", "message")
                        assert name in declared, f"{template}: event {name!r} is not in the spec's x-events"
                        data = json.loads(fields["data"])
                        errors = validate(data, declared[name], f"{name}.data")
                        assert not errors, f"{template}: {errors}: {data}"
                        events.append((name, data))
                        if until and until(events):
                            break
                    fields = {}
                    continue
                if line.startswith(":"):
                    continue
                field, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                assert field in ("event", "data", "retry", "id"), f"{template}: unexpected SSE line {line!r}"
                fields[field] = fields[field] + "\n" + value if field == "data" and "data" in fields else value
            return r, events
        finally:
            conn.close()

    def error(self, method, template, status, field=None, params=None, **kw) -> dict:
        """Calls, expects an error with this status (and field, when given); returns error{}."""
        r = self.call(method, template, params, expect=status, **kw)
        if method == "HEAD":
            return {}
        err = r.json["error"]
        if field is not None:
            assert err.get("field") == field, f"expected field {field!r}: {r}"
        return err

    def oversized(self, method: str, template: str, params: dict | None = None, query: dict | None = None) -> Resp:
        """Announces a body over the server's 512 MiB limit; sends only the header."""
        path = self.path(template, params, query)
        head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
                f"Content-Length: {600 * 1024 * 1024}\r\n")
        if self.token:
            head += f"Authorization: Bearer {self.token}\r\n"
        with socket.create_connection((self.server.host, self.server.port), timeout=30) as s:
            s.sendall((head + "\r\n").encode())
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = s.recv(65536)
                assert chunk, f"connection closed before an answer: {data!r}"
                data += chunk
            head_text, rest = data.split(b"\r\n\r\n", 1)
            lines = head_text.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            headers = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
            length = int(headers.get("content-length", "0"))
            while len(rest) < length:
                chunk = s.recv(65536)
                if not chunk:
                    break
                rest += chunk
        r = Resp(method, path, status, headers, rest[:length])
        check_response(method, template, r)
        return r


# --------------------------------------------------------------------------
# Fixtures

_names = itertools.count(1)


def uniq(prefix: str) -> str:
    return f"{prefix}-{next(_names)}-{int(time.time() * 1000) % 100000}"


@pytest.fixture(scope="module")
def server(lattice_servers):
    # A long node timeout: the fake nodes below must not be declared lost
    # while a slow machine runs the test.
    return lattice_servers("--node-timeout", "60s")


@pytest.fixture(scope="module")
def agent(server, lattice_agents):
    return lattice_agents(server, "--simulate-gpus", "2")


@pytest.fixture(scope="module")
def api(server):
    return Api(server)


@pytest.fixture(scope="module")
def cli(server, lattice_bin):
    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run([str(lattice_bin), "--home", str(server.home), "--server", server.url, *map(str, args)],
                              capture_output=True, text=True, timeout=120, env=lattice_env(server.home))
        if check:
            assert proc.returncode == 0, f"lattice {' '.join(map(str, args))}: {proc.returncode}\n{proc.stderr}"
        return proc
    return run


@pytest.fixture(scope="module")
def code_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("code")
    (d / "hello.sh").write_text('echo "hello $*"\necho "to stderr" >&2\n')
    (d / "fail.sh").write_text('echo bad\nexit 3\n')
    (d / "wait.sh").write_text("trap 'echo got-term; exit 143' TERM\necho started\nsleep 30 &\nwait $!\n")
    return d


def wait_run(api: Api, name: str, states, timeout: float = 60.0) -> dict:
    """Polls the run (validating every answer) until experiment 0 is in one of states."""
    states = {states} if isinstance(states, str) else set(states)
    deadline = time.monotonic() + timeout
    while True:
        doc = api.call("GET", "/api/v1/runs/{run}", {"run": name}, expect=200).json
        if doc["experiments"][0]["state"] in states:
            return doc
        assert time.monotonic() < deadline, f"run {name} did not reach {states}: {doc}"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def finished_run(agent, cli, api, code_dir) -> dict:
    """A run of hello.sh submitted with the CLI and finished; its run document."""
    name = uniq("hello")
    out = cli("run", "--json", "--name", name, "--description", "from the CLI",
              "--env", "SECRET_THING=s3cr3t", code_dir / "hello.sh", "world", "two words")
    submitted = json.loads(out.stdout)
    errors = validate(submitted, {"$ref": "#/components/schemas/Run"})
    assert not errors, errors
    assert submitted["name"] == name
    doc = wait_run(api, name, "succeeded")
    return doc


# --------------------------------------------------------------------------
# The document itself, and the server's routing source

def test_spec_document_is_well_formed():
    assert SPEC["openapi"] == "3.0.3"
    op_ids = [op["operationId"] for _, _, op in operations()]
    assert len(op_ids) == len(set(op_ids)), "operationIds must be unique"
    for where, s in iter_schemas(SPEC):
        if "$ref" in s:
            assert set(s) == {"$ref"}, f"{where}: siblings of $ref are ignored in OpenAPI 3.0: {sorted(s)}"
            resolve(s)  # resolves
            continue
        unknown = set(s) - SCHEMA_KEYWORDS - ANNOTATIONS
        assert not unknown, f"{where}: keywords this test's validator does not know: {unknown}"
        assert "type" in s or "oneOf" in s, f"{where}: no type"
        if s.get("type") == "object":
            assert "additionalProperties" in s, f"{where}: say whether other fields may appear"
            assert set(s.get("required", [])) <= set(s.get("properties", {})), f"{where}: required unknown field"
        if s.get("type") == "array":
            assert "items" in s, f"{where}: array without items"
    for method, path, op in operations():
        assert path.startswith(PREFIX), path
        assert op.get("responses"), f"{method} {path}: no responses"
        declared = {resolve(p)["name"] for p in SPEC["paths"][path].get("parameters", []) + op.get("parameters", [])
                    if resolve(p)["in"] == "path"}
        assert declared == set(re.findall(r"\{(\w+)\}", path)), f"{method} {path}: path parameters {declared}"
        for status, resp in op["responses"].items():
            assert status == "default" or re.fullmatch(r"[1-5][0-9][0-9]", status), status
            resolve(resp)
    # Every component schema is used somewhere.
    text = SPEC_PATH.read_text()
    for name in SPEC["components"]["schemas"]:
        assert f"#/components/schemas/{name}\"" in text, f"schema {name} is never referenced"


def test_error_codes_match_the_source():
    source = RESULT_SOURCE.read_text()
    body = source[source.index("ErrorCodeName"):source.index("ErrnoError")]
    codes = set(re.findall(r'return "([a-z_]+)";', body))
    assert codes, "could not find the error code names in src/common/result.cpp"
    assert codes == set(resolve({"$ref": "#/components/schemas/ErrorCode"})["enum"])
    assert codes == set(STATUS_FOR_CODE)
    api_source = next(t for t in (f.read_text() for f in (UTIL_SOURCE, API_SOURCE)) if "int HttpStatusFor" in t)
    mapping = api_source[api_source.index("int HttpStatusFor"):]
    mapping = mapping[:mapping.index("\n}\n")]
    for code, status in STATUS_FOR_CODE.items():
        enum_name = "k" + "".join(w.capitalize() for w in code.split("_"))
        m = re.search(rf"{enum_name}:(?:\s*case ErrorCode::\w+:)*\s*return (\d+);", mapping)
        assert m and int(m.group(1)) == status, f"HttpStatusFor({enum_name}) is not {status}"


def _spec_segments() -> tuple[set, set]:
    literals, methods = set(), set()
    for method, path, _ in operations():
        methods.add(method)
        for i, seg in enumerate(path[len(PREFIX):].split("/")):
            if not seg.startswith("{"):
                literals.add((i, seg))
    return literals, methods


def test_routes_in_the_server_source_are_in_the_spec():
    """The routing literals (p[i] == "..." or p[i] != "...") and methods of
    api_service.cpp's Route and of the src/server/*_api.cpp handlers it
    dispatches to are exactly those of the spec's paths: a new route fails
    here until it is described."""
    source = API_SOURCE.read_text()
    routing = [source[source.index("void ApiService::Route"):source.index("net::HttpResponse ApiService::GetRun")]]
    assert len(ROUTE_SOURCES) >= 3, f"expected the blob, metrics and artifact handlers: {ROUTE_SOURCES}"
    routing += [f.read_text() for f in ROUTE_SOURCES]
    literals, methods = set(), set()
    for text in routing:
        literals |= {(int(i), lit) for i, lit in re.findall(r'\bp\[(\d+)\]\s*[!=]=\s*"([^"]+)"', text)}
        methods |= set(re.findall(r'\b(?:m|req\.method)\s*[!=]=\s*"([A-Z]+)"', text))
    assert len(literals) >= 10 and methods, "could not find the routing literals; update this test"
    assert '"/api/v1/health"' in source and 'kPrefix = "/api/v1/"' in source
    spec_literals, spec_methods = _spec_segments()
    assert literals == spec_literals, (f"only in the server: {literals - spec_literals}; "
                                       f"only in the spec: {spec_literals - literals}")
    assert methods == spec_methods


# --------------------------------------------------------------------------
# (a) served: the spec's operations, and nothing else

DUMMY = {"run": "no-such-run", "experiment": "0", "sha256": "0" * 64, "node": "no-such-node",
         "attempt": "999999", "cluster": "no-such-cluster"}
# Endpoints that would stream forever without a query that makes them fail.
DUMMY_QUERY = {"/api/v1/events": {"run": "no-such-run"}}


def _not_routed(r: Resp) -> bool:
    if r.status == 404 and r.body:
        return r.json["error"]["message"].startswith("no such endpoint")
    if r.status == 400 and r.body:
        return " is not allowed on " in r.json["error"]["message"]
    return r.status in (400, 404) and r.method == "HEAD"


def test_every_spec_operation_is_served(api):
    content = b"served probe\n"
    sha = hashlib.sha256(content).hexdigest()
    api.call("PUT", "/api/v1/blobs/{sha256}", {"sha256": sha}, body=content, expect=201)
    for method, template, _ in operations():
        params = dict(DUMMY, sha256=sha)
        body = content if method == "PUT" else (b"{}" if method == "POST" else None)
        r = api.call(method, template, params, query=DUMMY_QUERY.get(template), body=body)
        assert not _not_routed(r), f"{method} {template} is in the spec but not served: {r}"
        if method == "HEAD":
            assert r.status == 200, r


def test_nothing_beyond_the_spec_is_served(api):
    for path, item in SPEC["paths"].items():
        concrete = Api.path(path, DUMMY)
        for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
            if m.lower() in item:
                continue
            r = api.raw(m, concrete, body=b"{}" if m in ("POST", "PUT", "PATCH") else None)
            assert _not_routed(r), f"{m} {concrete} is served but not in the spec: {r}"
    # Outside /api/ a GET or HEAD is the web UI (test_web_server.py); other methods are not served.
    for path in ("/", "/health", "/runs/x"):
        for m in ("POST", "PUT", "DELETE"):
            r = api.raw(m, path, body=b"{}" if m != "DELETE" else None)
            assert r.status == 404 and r.json["error"]["message"].startswith("no such endpoint"), r
            check_error_shape(r)
    near_misses = ["/api/v2/health", "/api/v1", "/api/v1/", "/api/v1/health/x",
                   "/api/v1/runs/x/experiments", "/api/v1/runs/x/experiments/0",
                   "/api/v1/runs/x/experiments/0/logs/x", "/api/v1/runs/x/experiments/0/logs/stream/x",
                   "/api/v1/runs/x/experiments/0/stop", "/api/v1/events/x", "/api/v1/runs/x/events",
                   "/api/v1/runs/x/stop", "/api/v1/runs/x/cancel/x", "/api/v1/nodes/x", "/api/v1/blobs",
                   "/api/v1/blobs/" + "0" * 64 + "/x", "/api/v1/agents", "/api/v1/agents/n",
                   "/api/v1/agents/n/attempts", "/api/v1/agents/n/attempts/1", "/api/v1/agents/n/logs",
                   "/api/v1/agents/n/attempts/1/log/x", "/api/v1/experiments", "/api/v1/attempts",
                   "/api/v1/runs/x/metrics/x", "/api/v1/runs/x/metrics/series/x", "/api/v1/runs/x/metrics/stream/x",
                   "/api/v1/runs/x/artifacts/x", "/api/v1/runs/x/checkpoints", "/api/v1/blobs/" + "0" * 64 + "/upload/x",
                   "/api/v1/agents/n/attempts/1/points/x", "/api/v1/agents/n/attempts/1/artifacts/x",
                   "/api/v1/agents/n/attempts/1/metrics", "/api/v1/agents/n/points", "/api/v1/runs/x/rerun/x",
                   "/api/v1/runs/x/experiments/0/attempts/1", "/api/v1/runs/x/attempts", "/api/v1/nodes/x/running"]
    for path in near_misses:
        for m in ("GET", "POST", "PUT"):
            r = api.raw(m, path, body=b"{}" if m != "GET" else None)
            assert r.status == 404 and r.json["error"]["message"].startswith("no such endpoint"), r
            check_error_shape(r)


def check_error_shape(r: Resp) -> None:
    errors = validate(r.json, {"$ref": "#/components/schemas/Error"})
    assert not errors, f"{errors}: {r}"


# --------------------------------------------------------------------------
# (b) valid requests

def test_health(api):
    r = api.call("GET", "/api/v1/health", expect=200)
    assert r.json == {"status": "ok"}


def test_blobs_put_head_get(api):
    content = bytes(range(256)) * 10 + b"blob test\n"
    sha = hashlib.sha256(content).hexdigest()
    api.call("HEAD", "/api/v1/blobs/{sha256}", {"sha256": sha}, expect=404)
    api.error("GET", "/api/v1/blobs/{sha256}", 404, params={"sha256": sha})
    r = api.call("PUT", "/api/v1/blobs/{sha256}", {"sha256": sha}, body=content,
                 headers={"Content-Type": "application/octet-stream"}, expect=201)
    assert r.json == {"sha256": sha, "bytes": len(content)}
    # Idempotent.
    api.call("PUT", "/api/v1/blobs/{sha256}", {"sha256": sha}, body=content, expect=201)
    api.call("HEAD", "/api/v1/blobs/{sha256}", {"sha256": sha}, expect=200)
    r = api.call("GET", "/api/v1/blobs/{sha256}", {"sha256": sha}, expect=200)
    assert r.body == content
    empty = hashlib.sha256(b"").hexdigest()
    r = api.call("PUT", "/api/v1/blobs/{sha256}", {"sha256": empty}, body=b"", expect=201)
    assert r.json["bytes"] == 0


def test_cli_submission_and_run_documents(api, cli, finished_run):
    doc = finished_run
    name = doc["name"]
    exp = doc["experiments"][0]
    assert doc["state"] == "succeeded" and doc["description"] == "from the CLI"
    assert doc["script"] == "hello.sh" and doc["args"] == ["world", "two words"]
    assert doc["env_names"] == ["SECRET_THING"] and "s3cr3t" not in json.dumps(doc)
    assert doc["resources"] == {"cpus": 1, "memory_bytes": 0, "gpus": 0}
    assert exp["id"] == "0" and exp["exit_code"] == 0 and exp["attempts"] == 1 and exp["restarts"] == 0
    assert exp["node"] and exp["started_at"] and exp["ended_at"] and exp["gpus"] == []
    # The snapshot the CLI uploaded is a manifest stored under its hash, and
    # the server has every chunk it lists (tests/test_snapshot_e2e.py has more).
    r = api.call("GET", "/api/v1/blobs/{sha256}", {"sha256": doc["snapshot"]}, expect=200)
    assert hashlib.sha256(r.body).hexdigest() == doc["snapshot"]
    assert r.body.startswith(b"lattice-snapshot-v2\n")
    chunks = [line.split()[0] for line in r.body.decode().splitlines()[4:]]
    absent = "f" * 64
    r = api.call("POST", "/api/v1/blobs/missing", json_body={"sha256": chunks + [absent]}, expect=200)
    assert r.json == {"missing": [absent]}
    api.error("POST", "/api/v1/blobs/missing", 413, "sha256", json_body={"sha256": [absent] * 100_001})
    content = b"one blob of a batch\n"
    batch = hashlib.sha256(content).hexdigest().encode() + b" %d\n" % len(content) + content
    r = api.call("POST", "/api/v1/blobs/batch", body=batch, expect=201)
    assert r.json == {"blobs": 1, "bytes": len(content), "new": 1}
    assert api.oversized("POST", "/api/v1/blobs/batch").status == 413
    api.call("HEAD", "/api/v1/blobs/{sha256}", {"sha256": doc["snapshot"]}, expect=200)
    runs = api.call("GET", "/api/v1/runs", expect=200).json["runs"]
    row = next(r for r in runs if r["name"] == name)
    assert row["state"] == "succeeded" and row["experiments"] == 1
    assert row["experiment_states"] == {"succeeded": 1} and row["script"] == "hello.sh"
    # The CLI's --json documents are the API's.
    for args, ref in ((("status", "--json"), "RunList"), (("status", name, "--json"), "Run"),
                      (("nodes", "--json"), "NodeList")):
        out = json.loads(cli(*args).stdout)
        assert not validate(out, {"$ref": f"#/components/schemas/{ref}"}), (args, out)


def test_logs_protocol(api, finished_run):
    name = finished_run["name"]
    logs = "/api/v1/runs/{run}/experiments/{experiment}/logs"
    p = {"run": name, "experiment": 0}
    want = b"hello world two words\nto stderr\n"
    r = api.call("GET", logs, p, expect=200)
    assert r.body == want
    assert r.header("content-type") == "application/octet-stream"
    assert r.header("x-lattice-attempt") == "1" and r.header("x-lattice-attempts") == "1"
    assert r.header("x-lattice-attempt-state") == "succeeded"
    assert r.header("x-lattice-experiment-state") == "succeeded" and r.header("x-lattice-exit-code") == "0"
    assert r.header("x-lattice-next-offset") == str(len(want)) and r.header("x-lattice-complete") == "1"
    # Pieces by offset and max_bytes.
    r = api.call("GET", logs, p, query={"offset": 0, "max_bytes": 5}, expect=200)
    assert r.body == want[:5] and r.header("x-lattice-next-offset") == "5" and r.header("x-lattice-complete") == "0"
    r = api.call("GET", logs, p, query={"offset": 5, "attempt": 1}, expect=200)
    assert r.body == want[5:] and r.header("x-lattice-complete") == "1"
    # At the end of a complete log a long poll answers at once.
    started = time.monotonic()
    r = api.call("GET", logs, p, query={"offset": len(want), "wait_ms": 10000}, expect=200)
    assert r.body == b"" and r.header("x-lattice-complete") == "1" and time.monotonic() - started < 5
    # An attempt beyond the last of a finished experiment: none, and complete.
    r = api.call("GET", logs, p, query={"attempt": 2}, expect=200)
    assert r.body == b"" and r.header("x-lattice-attempt") == "0" and r.header("x-lattice-complete") == "1"
    assert r.header("x-lattice-attempt-state") is None


def test_log_stream_of_a_finished_run(api, finished_run):
    stream = "/api/v1/runs/{run}/experiments/{experiment}/logs/stream"
    p = {"run": finished_run["name"], "experiment": 0}
    want = "hello world two words\nto stderr\n"
    r, events = api.sse(stream, p)
    assert r.header("content-type") == "text/event-stream"
    assert [e for e, _ in events][-1] == "end" and [e for e, _ in events[:-1]] == ["log"] * (len(events) - 1)
    assert "".join(d["text"] for _, d in events[:-1]) == want
    assert events[0][1]["offset"] == 0 and all(d["attempt"] == 1 for _, d in events[:-1])
    assert events[-1][1] == {"state": "succeeded", "exit_code": 0}
    _, events = api.sse(stream, p, query={"offset": 6, "attempt": 1})
    assert events[0] == ("log", {"attempt": 1, "offset": 6, "text": want[6:]}) and events[-1][0] == "end"
    # No such attempt in an experiment that has ended: only the end.
    _, events = api.sse(stream, p, query={"attempt": 2})
    assert events == [("end", {"state": "succeeded", "exit_code": 0})]


def test_streams_follow_a_live_run(api, cli, agent, code_dir):
    name = uniq("stream")
    cli("run", "--name", name, "--grace", "2s", code_dir / "wait.sh")
    results = {}

    def follow_logs():
        results["logs"] = api.sse("/api/v1/runs/{run}/experiments/{experiment}/logs/stream",
                                  {"run": name, "experiment": 0}, timeout=60)

    def follow_run():
        results["events"] = api.sse("/api/v1/events", query={"run": name}, timeout=60,
                                    until=lambda ev: ev[-1][1]["state"] == "cancelled")

    threads = [threading.Thread(target=follow_logs), threading.Thread(target=follow_run)]
    for t in threads:
        t.start()
    doc = wait_run(api, name, "running")
    deadline = time.monotonic() + 30
    while api.call("GET", "/api/v1/runs/{run}/experiments/{experiment}/logs", {"run": name, "experiment": 0},
                   query={"wait_ms": 5000}).body == b"":
        assert time.monotonic() < deadline
    api.call("POST", "/api/v1/runs/{run}/cancel", {"run": name}, expect=200)
    for t in threads:
        t.join(60)
        assert not t.is_alive()
    _, log_events = results["logs"]
    assert "".join(d["text"] for e, d in log_events if e == "log") == "started\ngot-term\n"
    assert log_events[-1] == ("end", {"state": "cancelled", "exit_code": 143})
    _, run_events = results["events"]
    assert all(d["name"] == name for _, d in run_events)
    states = [d["state"] for _, d in run_events]
    assert states[0] in ("queued", "running") and states[-1] == "cancelled", states
    # The unfiltered stream starts with every run, oldest first.
    _, events = api.sse("/api/v1/events", until=lambda ev: ev[-1][1]["name"] == name)
    names = [d["name"] for _, d in events]
    listed = [r["name"] for r in api.call("GET", "/api/v1/runs", expect=200).json["runs"]]
    assert names == listed[:len(names)] and doc["name"] in names


def test_submit_through_the_api(api, finished_run):
    snapshot = finished_run["snapshot"]
    name = uniq("api")
    body = {"name": name, "description": "via the API", "script": "hello.sh", "args": ["a b", "c"],
            "snapshot": snapshot, "resources": {"cpus": 1, "memory_bytes": 1024, "gpus": 1},
            "env": {"ZED": "1", "ALPHA": "2"}, "python": "", "max_restarts": 2, "grace_ms": 1500}
    r = api.call("POST", "/api/v1/runs", json_body=body, expect=201)
    doc = r.json
    assert doc["name"] == name and doc["args"] == ["a b", "c"] and doc["max_restarts"] == 2
    assert doc["resources"] == {"cpus": 1, "memory_bytes": 1024, "gpus": 1}
    assert doc["env_names"] == ["ALPHA", "ZED"] and doc["description"] == "via the API"
    doc = wait_run(api, name, "succeeded")
    assert len(doc["experiments"][0]["gpus"]) == 1
    # Minimal body: a generated name, default resources; nulls count as absent.
    r = api.call("POST", "/api/v1/runs", json_body={"script": "hello.sh", "snapshot": snapshot, "python": None},
                 expect=201)
    doc = r.json
    assert re.fullmatch(r"[a-z]+-[a-z]+-[0-9]{4}", doc["name"]), doc["name"]
    assert doc["resources"] == {"cpus": 1, "memory_bytes": 0, "gpus": 0} and doc["args"] == []
    wait_run(api, doc["name"], "succeeded")


def test_failed_run_reports_its_exit_code(api, cli, agent, code_dir):
    name = uniq("fail")
    cli("run", "--name", name, code_dir / "fail.sh")
    doc = wait_run(api, name, ("succeeded", "failed"))
    assert doc["state"] == "failed" and doc["experiments"][0]["exit_code"] == 3
    r = api.call("GET", "/api/v1/runs/{run}/experiments/{experiment}/logs", {"run": name, "experiment": 0},
                 expect=200)
    assert r.body == b"bad\n" and r.header("x-lattice-exit-code") == "3"
    assert r.header("x-lattice-attempt-state") == "failed"


def test_cancel_and_long_poll(api, cli, agent, code_dir):
    name = uniq("cancel")
    cli("run", "--name", name, "--grace", "2s", code_dir / "wait.sh")
    logs = "/api/v1/runs/{run}/experiments/{experiment}/logs"
    p = {"run": name, "experiment": 0}
    r = api.call("GET", logs, p, query={"wait_ms": 20000}, expect=200)
    deadline = time.monotonic() + 30
    while r.body == b"" and time.monotonic() < deadline:
        r = api.call("GET", logs, p, query={"wait_ms": 20000}, expect=200)
    assert r.body == b"started\n", r
    # Output may arrive before the agent's "running" report.
    assert r.header("x-lattice-complete") == "0" and r.header("x-lattice-attempt-state") in ("starting", "running")
    offset = int(r.header("x-lattice-next-offset"))
    # Nothing new: the long poll holds for wait_ms, then answers empty.
    started = time.monotonic()
    r = api.call("GET", logs, p, query={"offset": offset, "wait_ms": 500}, expect=200)
    assert r.body == b"" and r.header("x-lattice-complete") == "0" and time.monotonic() - started >= 0.4
    assert r.header("x-lattice-next-offset") == str(offset)
    doc = api.call("POST", "/api/v1/runs/{run}/experiments/{experiment}/cancel", p, expect=200).json
    assert doc["name"] == name
    text = b""
    while True:
        r = api.call("GET", logs, p, query={"offset": offset, "wait_ms": 20000}, expect=200)
        text += r.body
        offset = int(r.header("x-lattice-next-offset"))
        if r.header("x-lattice-complete") == "1":
            break
        assert time.monotonic() - started < 60, r
    assert text == b"got-term\n"
    assert r.header("x-lattice-experiment-state") == "cancelled"
    assert r.header("x-lattice-attempt-state") == "cancelled"
    doc = wait_run(api, name, "cancelled")
    assert doc["state"] == "cancelled" and doc["experiments"][0]["exit_code"] == 143
    # Cancelling what has ended is no error; the CLI's cancel --json is the run document.
    api.call("POST", "/api/v1/runs/{run}/cancel", {"run": name}, expect=200)
    out = json.loads(cli("cancel", name, "--json").stdout)
    assert not validate(out, {"$ref": "#/components/schemas/Run"}) and out["state"] == "cancelled"


def test_nodes(api, agent):
    nodes = api.call("GET", "/api/v1/nodes", expect=200).json["nodes"]
    me = next(n for n in nodes if n["id"] == agent.node_id)
    assert me["state"] == "ready" and me["cpus"] > 0 and me["memory_bytes"] > 0
    assert [g["index"] for g in me["gpus"]] == [0, 1]
    assert me["registered_at"] and me["last_seen"]


def test_agent_protocol(api, finished_run):
    """A fake agent speaks the protocol: register, long-poll sync, log PUT
    with offset idempotency, report, forget."""
    node = uniq("probe-node")
    other = uniq("probe-other")
    gpus = [{"index": i, "name": "Probe GPU", "memory_bytes": 1 << 30} for i in range(8)]
    # 0.25 CPUs: nothing else in this module (1 CPU per experiment) fits here;
    # 8 GPUs: the runs below fit nowhere else.
    reg = api.call("POST", "/api/v1/agents/register",
                   json_body={"id": node, "hostname": "probe", "cpus": 0.25, "memory_bytes": 1 << 30, "gpus": gpus},
                   expect=200).json
    assert reg["id"] == node and reg["state"] == "ready" and len(reg["gpus"]) == 8
    api.call("POST", "/api/v1/agents/register", json_body={"id": other, "cpus": 0.25}, expect=200)
    # A blob that is not a code archive is stored, but no run may use it.
    bogus = b"not really an archive\n"
    bogus_sha = hashlib.sha256(bogus).hexdigest()
    api.call("PUT", "/api/v1/blobs/{sha256}", {"sha256": bogus_sha}, body=bogus, expect=201)
    api.error("POST", "/api/v1/runs", 400, "snapshot", json_body={"script": "x.sh", "snapshot": bogus_sha})
    snapshot = finished_run["snapshot"]
    sync = "/api/v1/agents/{node}/sync"

    # Nothing to do: the long poll holds for wait_ms and answers empty.
    started = time.monotonic()
    work = api.call("POST", sync, {"node": node}, query={"wait_ms": 400}, json_body={"attempts": []},
                    expect=200).json
    assert work == {"assign": [], "cancel": [], "forget": [], "abort": [], "master_ports": []} and time.monotonic() - started >= 0.3

    # A run placed on this node wakes a waiting sync.
    answer = {}
    waiter = threading.Thread(target=lambda: answer.update(
        r=api.call("POST", sync, {"node": node}, query={"wait_ms": 20000}, body=b"")))
    waiter.start()
    time.sleep(0.3)
    run_a = uniq("probe-a")
    submit = {"name": run_a, "script": "train.sh", "args": ["--x", "1"], "snapshot": snapshot,
              "resources": {"cpus": 0.25, "gpus": 8}, "env": {"K": "V"}, "grace_ms": 100}
    api.call("POST", "/api/v1/runs", json_body=submit, expect=201)
    waiter.join(30)
    assert not waiter.is_alive()
    assert time.monotonic() - started < 15
    work = answer["r"].json
    assert answer["r"].status == 200 and len(work["assign"]) == 1, work
    a = work["assign"][0]
    assert a["run"] == run_a and a["experiment"] == 0 and a["number"] == 1 and a["script"] == "train.sh"
    assert a["args"] == ["--x", "1"] and a["env"] == {"K": "V"} and a["grace_ms"] == 100
    assert a["snapshot"] == snapshot and sorted(a["gpus"]) == list(range(8))
    attempt = a["attempt"]
    running = {"attempts": [{"id": attempt, "state": "running", "log_bytes": 0}]}
    work = api.call("POST", sync, {"node": node}, json_body=running, expect=200).json
    assert work == {"assign": [], "cancel": [], "forget": [], "abort": [], "master_ports": []}
    doc = api.call("GET", "/api/v1/runs/{run}", {"run": run_a}, expect=200).json
    assert doc["experiments"][0]["state"] == "running" and doc["experiments"][0]["node"] == node

    # A second run waits for the GPUs: its log has no attempt yet.
    run_b = uniq("probe-b")
    api.call("POST", "/api/v1/runs", json_body=dict(submit, name=run_b), expect=201)
    logs = "/api/v1/runs/{run}/experiments/{experiment}/logs"
    r = api.call("GET", logs, {"run": run_b, "experiment": 0}, query={"wait_ms": 300}, expect=200)
    assert r.body == b"" and r.header("x-lattice-attempt") == "0" and r.header("x-lattice-complete") == "0"
    assert r.header("x-lattice-experiment-state") == "queued" and r.header("x-lattice-attempts") == "0"
    doc = api.call("POST", "/api/v1/runs/{run}/cancel", {"run": run_b}, expect=200).json
    assert doc["experiments"][0]["state"] == "cancelled"
    r = api.call("GET", logs, {"run": run_b, "experiment": 0}, expect=200)
    assert r.header("x-lattice-attempt") == "0" and r.header("x-lattice-complete") == "1"

    # Log upload: idempotent by offset.
    log = "/api/v1/agents/{node}/attempts/{attempt}/log"
    p = {"node": node, "attempt": attempt}
    assert api.call("PUT", log, p, query={"offset": 0}, body=b"hello\n", expect=200).json == {"length": 6}
    assert api.call("PUT", log, p, query={"offset": 0}, body=b"hello\n", expect=200).json == {"length": 6}
    assert api.call("PUT", log, p, query={"offset": 3}, body=b"lo\nworld\n", expect=200).json == {"length": 12}
    r = api.call("PUT", log, p, query={"offset": 100}, body=b"gap", expect=409)
    assert r.json["length"] == 12 and r.json["error"]["code"] == "failed_precondition"
    # Another node's attempt: not found there, so its agent drops the output.
    r = api.call("PUT", log, {"node": other, "attempt": attempt}, query={"offset": 12}, body=b"x", expect=404)
    assert "length" not in r.json and "not assigned to node" in r.json["error"]["message"]
    r = api.call("PUT", log, {"node": node, "attempt": 987654}, body=b"x", expect=404)
    assert "length" not in r.json
    r = api.call("GET", logs, {"run": run_a, "experiment": 0}, expect=200)
    assert r.body == b"hello\nworld\n" and r.header("x-lattice-complete") == "0"

    # The exit, reported at once; then a sync is told to forget the attempt.
    exited = {"attempts": [{"id": attempt, "state": "exited", "exit_code": 0, "log_bytes": 12}]}
    assert api.call("POST", "/api/v1/agents/{node}/report", {"node": node}, json_body=exited,
                    expect=200).json == {}
    doc = api.call("GET", "/api/v1/runs/{run}", {"run": run_a}, expect=200).json
    assert doc["state"] == "succeeded" and doc["experiments"][0]["exit_code"] == 0
    r = api.call("GET", logs, {"run": run_a, "experiment": 0}, expect=200)
    assert r.header("x-lattice-complete") == "1" and r.header("x-lattice-attempt-state") == "succeeded"
    work = api.call("POST", sync, {"node": node}, json_body=exited, expect=200).json
    assert work == {"assign": [], "cancel": [], "forget": [attempt], "abort": [], "master_ports": []}
    # An attempt the server does not know: stop it and forget it.
    unknown = {"attempts": [{"id": 424242, "state": "running", "message": "?"}]}
    work = api.call("POST", sync, {"node": node}, json_body=unknown, expect=200).json
    assert work == {"assign": [], "cancel": [424242], "forget": [424242], "abort": [], "master_ports": []}


# --------------------------------------------------------------------------
# Blobs: ranged downloads and resumable uploads

def test_blob_ranges(api):
    blob = "/api/v1/blobs/{sha256}"
    content = bytes(i % 251 for i in range(1000))
    sha = hashlib.sha256(content).hexdigest()
    p = {"sha256": sha}
    api.call("PUT", blob, p, body=content, expect=201)
    r = api.call("GET", blob, p, expect=200)
    assert r.body == content and r.header("accept-ranges") == "bytes" and r.header("etag") == f'"{sha}"'
    r = api.call("HEAD", blob, p, expect=200)
    assert r.header("content-length") == "1000" and r.header("etag") == f'"{sha}"'
    for spec, first, last in (("bytes=10-", 10, 999), ("bytes=10-19", 10, 19), ("bytes=990-5000", 990, 999),
                              ("bytes=0-0", 0, 0), ("bytes=999-", 999, 999)):
        r = api.call("GET", blob, p, headers={"Range": spec}, expect=206)
        assert r.body == content[first:last + 1], spec
        assert r.header("content-range") == f"bytes {first}-{last}/1000", r
        assert r.header("accept-ranges") == "bytes" and r.header("etag") == f'"{sha}"'
    r = api.call("HEAD", blob, p, headers={"Range": "bytes=100-199"}, expect=206)
    assert r.header("content-range") == "bytes 100-199/1000"
    for spec in ("bytes=1000-", "bytes=5000-6000", "bytes=5-3", "bytes=0-1,5-6", "bytes=-10", "items=0-1",
                 "bytes=x-"):
        r = api.call("GET", blob, p, headers={"Range": spec}, expect=416)
        assert r.header("content-range") == "bytes */1000", r
        assert r.json["error"]["code"] == "invalid_argument" and r.json["error"]["field"] == "range"
    r = api.call("HEAD", blob, p, headers={"Range": "bytes=2000-"}, expect=416)
    assert r.header("content-range") == "bytes */1000"
    # Nothing of an empty blob can be served as a range.
    empty = hashlib.sha256(b"").hexdigest()
    api.call("PUT", blob, {"sha256": empty}, body=b"", expect=201)
    r = api.call("GET", blob, {"sha256": empty}, headers={"Range": "bytes=0-"}, expect=416)
    assert r.header("content-range") == "bytes */0"
    # A missing blob is 404 whatever the range.
    missing = hashlib.sha256(b"never uploaded for ranges").hexdigest()
    api.call("GET", blob, {"sha256": missing}, headers={"Range": "bytes=0-"}, expect=404)


def test_blob_resumable_upload(api):
    blob, upload = "/api/v1/blobs/{sha256}", "/api/v1/blobs/{sha256}/upload"
    content = hashlib.sha256(b"seed").digest() * 100  # 3200 bytes
    sha = hashlib.sha256(content).hexdigest()
    p, total = {"sha256": sha}, len(content)
    assert api.call("GET", upload, p, expect=200).json == {"sha256": sha, "received": 0, "complete": False}
    api.call("HEAD", blob, p, expect=404)
    r = api.call("PUT", blob, p, query={"offset": 0, "total": total}, body=content[:1000], expect=200)
    assert r.json == {"sha256": sha, "received": 1000, "complete": False}
    assert api.call("GET", upload, p, expect=200).json == {"sha256": sha, "received": 1000, "complete": False}
    # Out of order (a replay, or a gap): refused with what the server has.
    for offset in (0, 500, 2000):
        r = api.call("PUT", blob, p, query={"offset": offset, "total": total}, body=content[offset:offset + 10],
                     expect=409)
        assert r.json["received"] == 1000 and r.json["error"]["code"] == "failed_precondition"
        assert r.json["error"]["field"] == "offset"
    err = api.error("PUT", blob, 400, "total", params=p, query={"offset": 1000, "total": total},
                    body=content[1000:] + b"extra")
    assert "past the declared total" in err["message"]
    api.error("PUT", blob, 400, "total", params=p, query={"offset": 1000, "total": "x"}, body=b"")
    api.error("PUT", blob, 400, "offset", params=p, query={"offset": "-1", "total": total}, body=b"")
    # An empty chunk changes nothing.
    r = api.call("PUT", blob, p, query={"offset": 1000, "total": total}, body=b"", expect=200)
    assert r.json["received"] == 1000
    r = api.call("PUT", blob, p, query={"offset": 1000, "total": total}, body=content[1000:2000], expect=200)
    assert r.json == {"sha256": sha, "received": 2000, "complete": False}
    r = api.call("PUT", blob, p, query={"offset": 2000, "total": total}, body=content[2000:], expect=201)
    assert r.json == {"sha256": sha, "received": total, "complete": True}
    assert api.call("GET", upload, p, expect=200).json == {"sha256": sha, "received": total, "complete": True}
    assert api.call("GET", blob, p, expect=200).body == content
    # Once stored, any chunk is deduplicated.
    r = api.call("PUT", blob, p, query={"offset": 0, "total": total}, body=content[:10], expect=201)
    assert r.json["complete"] is True
    # Content that does not hash to the name: discarded at the last chunk.
    other = hashlib.sha256(b"the real content").hexdigest()
    q = {"sha256": other}
    api.call("PUT", blob, q, query={"offset": 0, "total": 8}, body=b"fake", expect=200)
    err = api.error("PUT", blob, 400, "body", params=q, query={"offset": 4, "total": 8}, body=b"data")
    assert "discarded" in err["message"]
    assert api.call("GET", upload, q, expect=200).json == {"sha256": other, "received": 0, "complete": False}
    api.call("HEAD", blob, q, expect=404)
    # The empty blob in one (empty) chunk.
    empty = hashlib.sha256(b"").hexdigest()
    r = api.call("PUT", blob, {"sha256": empty}, query={"offset": 0, "total": 0}, body=b"", expect=201)
    assert r.json == {"sha256": empty, "received": 0, "complete": True}
    api.error("GET", upload, 400, "sha256", params={"sha256": "NOT-A-HASH"})
    api.error("PUT", blob, 400, "sha256", params={"sha256": "abc"}, query={"offset": 0, "total": 1}, body=b"x")
    r = api.oversized("PUT", blob, {"sha256": other}, query={"offset": 0, "total": 600 * 1024 * 1024})
    assert r.status == 413 and r.json["error"]["code"] == "resource_exhausted"


# --------------------------------------------------------------------------
# Metrics and artifacts, through a fake agent

def points_frame(series: dict[str, list[tuple[int, float, float]]]) -> bytes:
    """One LTP1 frame (src/metrics/points_codec.h) holding these series."""
    payload = struct.pack("<I", len(series))
    for key, points in series.items():
        k = key.encode()
        payload += struct.pack("<H", len(k)) + k + struct.pack("<I", len(points))
        payload += b"".join(struct.pack("<qdd", step, t, v) for step, t, v in points)
    return b"LTP1" + struct.pack("<I", len(payload)) + payload


def probe_attempt(api: Api, snapshot: str, gpus: int, **submit) -> tuple[str, str, dict]:
    """Registers a fake node with `gpus` GPUs (more than any other node in
    this module has free), submits a run that only fits there and syncs until its first
    attempt is assigned; reports it running. Returns (node, run, assignment)."""
    node = uniq(f"probe-g{gpus}")
    api.call("POST", "/api/v1/agents/register",
             json_body={"id": node, "cpus": 0.25, "gpus": [{"index": i} for i in range(gpus)]}, expect=200)
    run = uniq("probe-run")
    body = {"name": run, "script": "train.sh", "snapshot": snapshot, "resources": {"cpus": 0.25, "gpus": gpus}}
    api.call("POST", "/api/v1/runs", json_body=dict(body, **submit), expect=201)
    work = api.call("POST", "/api/v1/agents/{node}/sync", {"node": node}, query={"wait_ms": 10000},
                    json_body={"attempts": []}, expect=200).json
    assert len(work["assign"]) == 1 and work["assign"][0]["run"] == run, work
    a = work["assign"][0]
    api.call("POST", "/api/v1/agents/{node}/report", {"node": node},
             json_body={"attempts": [{"id": a["attempt"], "state": "running"}]}, expect=200)
    return node, run, a


def test_metrics_protocol(api, finished_run):
    sweep = {"strategy": "grid_search", "seed": 0, "trials": 0, "parameters": ["lr"]}
    experiments = [{"args": ["--lr", "0.1"], "params": ["0.1"]}, {"args": ["--lr", "0.2"], "params": ["0.2"]}]
    node, run, a = probe_attempt(api, finished_run["snapshot"], 13, sweep=sweep, experiments=experiments)
    assert a["experiment"] == 0
    points = "/api/v1/agents/{node}/attempts/{attempt}/points"
    p = {"node": node, "attempt": a["attempt"]}
    summary, series, stream = ("/api/v1/runs/{run}/metrics", "/api/v1/runs/{run}/metrics/series",
                               "/api/v1/runs/{run}/metrics/stream")

    # Followers of the stream: every key, and only `loss` of experiment 0.
    results = {}
    threads = [threading.Thread(target=lambda: results.update(
                   all=api.sse(stream, {"run": run}, until=lambda ev: len(ev) >= 3))),
               threading.Thread(target=lambda: results.update(
                   loss=api.sse(stream, {"run": run}, query={"experiment": 0, "key": "loss"},
                                until=lambda ev: len(ev) >= 2)))]
    for t in threads:
        t.start()
    time.sleep(0.5)

    nan, inf = float("nan"), float("inf")
    t0 = 1_780_000_000.0
    loss = [(0, t0, 1.0), (1, t0 + 1, nan), (2, t0 + 2, 0.5), (3, t0 + 3, inf), (4, t0 + 4, 0.25), (5, t0 + 5, 0.125)]
    first = points_frame({"loss": loss[:3], "eval/acc": [(0, t0, 0.5)], "broken": [(0, t0, nan)]})
    second = points_frame({"loss": loss[3:]})
    assert api.call("PUT", points, p, query={"offset": 0}, body=first, expect=200).json == {"length": len(first)}
    # Not at the accepted length: a replay or a gap is refused, with the length.
    for offset in (0, 3, len(first) + 5):
        r = api.call("PUT", points, p, query={"offset": offset}, body=second, expect=409)
        assert r.json["length"] == len(first) and r.json["error"]["code"] == "failed_precondition"
    assert api.call("PUT", points, p, query={"offset": len(first)}, body=second,
                    expect=200).json == {"length": len(first) + len(second)}
    end = len(first) + len(second)
    # Malformed frames store nothing.
    for bad in (b"LTP2" + second[4:], second[:-1], second + b"\0", b"LTP1" + struct.pack("<I", 4) + b"\1\0\0\0",
                points_frame({"": [(0, t0, 1.0)]})):
        api.error("PUT", points, 400, params=p, query={"offset": end}, body=bad)
    assert api.call("PUT", points, p, query={"offset": end}, body=b"", expect=200).json == {"length": end}
    api.error("PUT", points, 400, "offset", params=p, query={"offset": "x"}, body=second)
    api.error("PUT", points, 400, "attempt", params={"node": node, "attempt": "x"}, body=second)
    api.error("PUT", points, 400, "attempt", params={"node": node, "attempt": 0}, body=second)
    api.error("PUT", points, 404, params={"node": node, "attempt": 987654}, body=second)
    r = api.call("PUT", points, {"node": "another-node", "attempt": a["attempt"]}, query={"offset": end},
                 body=second, expect=409)
    assert "length" not in r.json and r.json["error"]["code"] == "failed_precondition"
    r = api.oversized("PUT", points, p)
    assert r.status == 413

    for t in threads:
        t.join(30)
        assert not t.is_alive()
    _, events = results["all"]
    assert [(e, d["key"]) for e, d in events] == [("points", "loss"), ("points", "eval/acc"), ("points", "broken")]
    assert events[0][1] == {"experiment": 0, "key": "loss", "steps": [0, 1, 2], "times": [t0, t0 + 1, t0 + 2],
                            "values": [1.0, "NaN", 0.5]}
    _, events = results["loss"]
    assert [d["steps"] for _, d in events] == [[0, 1, 2], [3, 4, 5]]
    assert events[1][1]["values"] == ["Infinity", 0.25, 0.125]

    # The summary.
    doc = api.call("GET", summary, {"run": run}, expect=200).json
    assert doc["run"] == run and [e["experiment"] for e in doc["experiments"]] == [0, 1]
    e0, e1 = doc["experiments"]
    assert e0["params"] == {"lr": "0.1"} and e1["params"] == {"lr": "0.2"} and e1["metrics"] == {}
    assert e0["state"] == "running" and e1["state"] == "queued"
    assert e0["metrics"]["loss"] == {"count": 6, "last": 0.125, "last_step": 5, "min": 0.125, "max": "Infinity",
                                     "nan_count": 1}
    assert e0["metrics"]["broken"] == {"count": 1, "last": "NaN", "last_step": 0, "min": None, "max": None,
                                       "nan_count": 1}
    assert sorted(e0["metrics"]) == ["broken", "eval/acc", "loss"]
    doc = api.call("GET", summary, {"run": run}, query={"experiment": 1}, expect=200).json
    assert [e["experiment"] for e in doc["experiments"]] == [1]
    api.error("GET", summary, 400, "experiment", params={"run": run}, query={"experiment": "x"})
    api.error("GET", summary, 404, "experiment", params={"run": run}, query={"experiment": 7})
    api.error("GET", summary, 404, params={"run": "no-such-run"})

    # Series: an experiment without the key is left out.
    doc = api.call("GET", series, {"run": run}, query={"key": "loss"}, expect=200).json
    assert doc["run"] == run and doc["key"] == "loss" and doc["method"] == "minmax"
    assert doc["series"] == [{"experiment": 0, "total": 6, "steps": [0, 1, 2, 3, 4, 5],
                              "times": [t0 + i for i in range(6)],
                              "values": [1.0, "NaN", 0.5, "Infinity", 0.25, 0.125]}]
    doc = api.call("GET", series, {"run": run}, query={"key": "loss", "min_step": 2, "max_step": 4,
                                                       "experiments": "1,0"}, expect=200).json
    assert [(s["experiment"], s["steps"], s["total"]) for s in doc["series"]] == [(0, [2, 3, 4], 3)]
    doc = api.call("GET", series, {"run": run}, query={"key": "loss", "max_points": 3, "method": "lttb"},
                   expect=200).json
    s = doc["series"][0]
    assert doc["method"] == "lttb" and s["total"] == 6 and 2 <= len(s["steps"]) <= 3
    assert len(s["steps"]) == len(s["times"]) == len(s["values"]) and s["steps"][0] == 0 and s["steps"][-1] == 5
    doc = api.call("GET", series, {"run": run}, query={"key": "eval/acc", "experiments": "1"}, expect=200).json
    assert doc["series"] == []
    doc = api.call("GET", series, {"run": run}, query={"key": "no-such-key"}, expect=200).json
    assert doc["series"] == []
    q = {"run": run}
    api.error("GET", series, 400, "key", params=q)
    api.error("GET", series, 400, "key", params=q, query={"key": ""})
    api.error("GET", series, 400, "max_points", params=q, query={"key": "loss", "max_points": 1})
    api.error("GET", series, 400, "max_points", params=q, query={"key": "loss", "max_points": 1000001})
    api.error("GET", series, 400, "method", params=q, query={"key": "loss", "method": "mean"})
    api.error("GET", series, 400, "min_step", params=q, query={"key": "loss", "min_step": "x"})
    api.error("GET", series, 400, "max_step", params=q, query={"key": "loss", "max_step": "1.5"})
    api.error("GET", series, 400, "experiments", params=q, query={"key": "loss", "experiments": "0,x"})
    api.error("GET", series, 404, "experiments", params=q, query={"key": "loss", "experiments": "0,9"})
    api.error("GET", series, 404, params={"run": "no-such-run"}, query={"key": "loss"})

    # Stream errors.
    api.error("GET", stream, 404, params={"run": "no-such-run"})
    api.error("GET", stream, 400, "experiment", params=q, query={"experiment": "-1"})
    api.error("GET", stream, 404, "experiment", params=q, query={"experiment": 2})
    # Experiment 1 must not take another probe node's GPUs later.
    api.call("POST", "/api/v1/runs/{run}/cancel", {"run": run}, expect=200)


def test_artifacts_and_restore(api, finished_run):
    node, run, a = probe_attempt(api, finished_run["snapshot"], 11, max_restarts=1)
    register = "/api/v1/agents/{node}/attempts/{attempt}/artifacts"
    listing = "/api/v1/runs/{run}/artifacts"
    p = {"node": node, "attempt": a["attempt"]}
    files = {}
    for path, content in (("ckpt/model.pt", b"weights" * 100), ("ckpt/opt.pt", b"moments"),
                          ("out/result.txt", b"accuracy 0.9\n")):
        sha = hashlib.sha256(content).hexdigest()
        api.call("PUT", "/api/v1/blobs/{sha256}", {"sha256": sha}, body=content, expect=201)
        files[path] = {"path": path, "sha256": sha, "size": len(content)}
    ckpt = [files["ckpt/model.pt"], dict(files["ckpt/opt.pt"], mode=0o600)]
    r = api.call("POST", register, p, json_body={"kind": "checkpoint", "files": ckpt}, expect=200).json
    assert r["recorded"] == 2
    group = r["group"]
    r = api.call("POST", register, p, json_body={"kind": "artifact", "files": [files["out/result.txt"]]},
                 expect=200).json
    assert r["recorded"] == 1 and r["group"] != group

    doc = api.call("GET", listing, {"run": run}, expect=200).json
    assert doc["run"] == run
    rows = {(x["kind"], x["path"]): x for x in doc["artifacts"]}
    assert set(rows) == {("checkpoint", "ckpt/model.pt"), ("checkpoint", "ckpt/opt.pt"),
                         ("artifact", "out/result.txt")}
    model = rows[("checkpoint", "ckpt/model.pt")]
    assert model["experiment"] == 0 and model["attempt"] == 1 and model["group"] == group
    assert model["mode"] == 0o644 and model["sha256"] == files["ckpt/model.pt"]["sha256"] and model["created_at"]
    assert rows[("checkpoint", "ckpt/opt.pt")]["mode"] == 0o600
    for kind, want in (("checkpoint", 2), ("artifact", 1), ("all", 3), ("", 3)):
        doc = api.call("GET", listing, {"run": run}, query={"kind": kind}, expect=200).json
        assert len(doc["artifacts"]) == want and all(kind in ("all", "", x["kind"]) for x in doc["artifacts"])
    doc = api.call("GET", listing, {"run": run}, query={"experiment": 0, "kind": "checkpoint"}, expect=200).json
    assert len(doc["artifacts"]) == 2
    api.error("GET", listing, 400, "kind", params={"run": run}, query={"kind": "model"})
    api.error("GET", listing, 400, "experiment", params={"run": run}, query={"experiment": "x"})
    api.error("GET", listing, 404, "experiment", params={"run": run}, query={"experiment": 1})
    api.error("GET", listing, 404, params={"run": "no-such-run"})

    # Registration errors.
    good = files["out/result.txt"]
    for path in ("../escape", "/abs/path", "a//b", "a/./b", ""):
        api.error("POST", register, 400, "files[0].path", params=p,
                  json_body={"kind": "artifact", "files": [dict(good, path=path)]})
    api.error("POST", register, 400, "files[1].size", params=p,
              json_body={"kind": "artifact", "files": [good, dict(good, path="x", size=good["size"] + 1)]})
    api.error("POST", register, 400, "files[0].size", params=p,
              json_body={"kind": "artifact", "files": [dict(good, size=-1)]})
    api.error("POST", register, 400, "files[0].mode", params=p,
              json_body={"kind": "artifact", "files": [dict(good, mode=0o10000)]})
    api.error("POST", register, 400, "files[0].sha256", params=p,
              json_body={"kind": "artifact", "files": [dict(good, sha256="../../../etc/passwd")]})
    err = api.error("POST", register, 409, "files[0].sha256", params=p,
                    json_body={"kind": "artifact", "files": [dict(good, sha256="1" * 64)]})
    assert err["code"] == "failed_precondition"
    api.error("POST", register, 400, "files[0].extra", params=p,
              json_body={"kind": "artifact", "files": [dict(good, extra=1)]})
    api.error("POST", register, 400, "kind", params=p, json_body={"kind": "model", "files": [good]})
    api.error("POST", register, 400, "kind", params=p, json_body={"files": [good]})
    api.error("POST", register, 400, "files", params=p, json_body={"kind": "artifact", "files": []})
    api.error("POST", register, 400, "files", params=p, json_body={"kind": "artifact"})
    api.error("POST", register, 400, params=p, body=b'{"kind": ')
    api.error("POST", register, 400, "attempt", params={"node": node, "attempt": "x"}, json_body={})
    api.error("POST", register, 404, params={"node": node, "attempt": 987654},
              json_body={"kind": "artifact", "files": [good]})
    err = api.error("POST", register, 409, params={"node": "another-node", "attempt": a["attempt"]},
                    json_body={"kind": "artifact", "files": [good]})
    assert err["code"] == "failed_precondition"
    api.error("POST", register, 413, params=p, body=b'{"x": "' + b"x" * (17 << 20) + b'"}')
    assert len(api.call("GET", listing, {"run": run}, expect=200).json["artifacts"]) == 3

    # The attempt is lost; the next one restores the newest checkpoint group.
    sync = "/api/v1/agents/{node}/sync"
    work = api.call("POST", sync, {"node": node}, json_body={"attempts": []}, expect=200).json
    deadline = time.monotonic() + 30
    while not work["assign"]:
        assert time.monotonic() < deadline, work
        work = api.call("POST", sync, {"node": node}, query={"wait_ms": 2000}, json_body={"attempts": []},
                        expect=200).json
    b = work["assign"][0]
    assert b["run"] == run and b["number"] == 2 and b["attempt"] != a["attempt"]
    want = [{"path": f["path"], "sha256": f["sha256"], "size": f["size"], "mode": f.get("mode", 0o644)} for f in ckpt]
    assert sorted(b["restore"], key=lambda f: f["path"]) == want


# --------------------------------------------------------------------------
# (c) errors

def test_submit_errors(api, finished_run):
    runs = "/api/v1/runs"
    snap = finished_run["snapshot"]
    ok = {"script": "hello.sh", "snapshot": snap}
    err = api.error("POST", runs, 400, body=b'{"script": ', headers={"Content-Type": "application/json"})
    assert err["code"] == "invalid_argument" and "not valid JSON" in err["message"] and "field" not in err
    api.error("POST", runs, 400, body=b"[1, 2]")
    api.error("POST", runs, 400, "bogus", json_body=dict(ok, bogus=1))
    api.error("POST", runs, 400, "script", json_body=dict(ok, script=5))
    api.error("POST", runs, 400, "script", json_body={"snapshot": snap})
    api.error("POST", runs, 400, "snapshot", json_body={"script": "x.sh"})
    api.error("POST", runs, 400, "snapshot", json_body=dict(ok, snapshot="ABC"))
    api.error("POST", runs, 400, "snapshot", json_body=dict(ok, snapshot="1" * 64))  # not uploaded
    api.error("POST", runs, 400, "args", json_body=dict(ok, args="--lr 1"))
    api.error("POST", runs, 400, "args", json_body=dict(ok, args=[1]))
    api.error("POST", runs, 400, "env", json_body=dict(ok, env={"A": 1}))
    api.error("POST", runs, 400, "resources", json_body=dict(ok, resources=[]))
    api.error("POST", runs, 400, "resources.cpus", json_body=dict(ok, resources={"cpus": "1"}))
    api.error("POST", runs, 400, "resources.cpus", json_body=dict(ok, resources={"cpus": 0}))
    api.error("POST", runs, 400, "resources.gpus", json_body=dict(ok, resources={"gpus": 1.5}))
    api.error("POST", runs, 400, "resources.memory_bytes", json_body=dict(ok, resources={"memory_bytes": -1}))
    api.error("POST", runs, 400, "resources.disk", json_body=dict(ok, resources={"disk": 1}))
    api.error("POST", runs, 400, "max_restarts", json_body=dict(ok, max_restarts=1001))
    api.error("POST", runs, 400, "grace_ms", json_body=dict(ok, grace_ms=-2))
    api.error("POST", runs, 400, "name", json_body=dict(ok, name="Bad_Name"))
    api.error("POST", runs, 400, "name", json_body=dict(ok, name="x" * 64))
    api.error("POST", runs, 400, "description", json_body=dict(ok, description="d" * 10001))
    err = api.error("POST", runs, 409, "name", json_body=dict(ok, name=finished_run["name"]))
    assert err["code"] == "already_exists"
    err = api.error("POST", runs, 409, "resources", json_body=dict(ok, resources={"gpus": 4096}))
    assert err["code"] == "failed_precondition"
    err = api.error("POST", runs, 413, body=b'{"pad": "' + b"x" * (1 << 20) + b'"}')
    assert err["code"] == "resource_exhausted"


def test_run_and_log_errors(api, finished_run):
    name = finished_run["name"]
    assert api.error("GET", "/api/v1/runs/{run}", 404, params={"run": "no-such-run"})["code"] == "not_found"
    api.error("POST", "/api/v1/runs/{run}/cancel", 404, params={"run": "no-such-run"})
    cancel = "/api/v1/runs/{run}/experiments/{experiment}/cancel"
    api.error("POST", cancel, 400, "experiment", params={"run": name, "experiment": "x"})
    api.error("POST", cancel, 400, "experiment", params={"run": name, "experiment": "-1"})
    api.error("POST", cancel, 404, params={"run": name, "experiment": 7})
    api.error("POST", cancel, 404, params={"run": "no-such-run", "experiment": 0})
    logs = "/api/v1/runs/{run}/experiments/{experiment}/logs"
    p = {"run": name, "experiment": 0}
    api.error("GET", logs, 404, params={"run": "no-such-run", "experiment": 0})
    api.error("GET", logs, 404, params={"run": name, "experiment": 7})
    api.error("GET", logs, 400, "experiment", params={"run": name, "experiment": "one"})
    api.error("GET", logs, 400, "offset", params=p, query={"offset": "abc"})
    api.error("GET", logs, 400, "offset", params=p, query={"offset": "-1"})
    api.error("GET", logs, 400, "wait_ms", params=p, query={"wait_ms": "30001"})
    api.error("GET", logs, 400, "max_bytes", params=p, query={"max_bytes": "0"})
    api.error("GET", logs, 400, "attempt", params=p, query={"attempt": "x"})
    stream = "/api/v1/runs/{run}/experiments/{experiment}/logs/stream"
    api.error("GET", stream, 404, params={"run": "no-such-run", "experiment": 0})
    api.error("GET", stream, 404, params={"run": name, "experiment": 7})
    api.error("GET", stream, 400, "experiment", params={"run": name, "experiment": "x"})
    api.error("GET", stream, 400, "offset", params=p, query={"offset": "x"})
    api.error("GET", stream, 400, "attempt", params=p, query={"attempt": "-1"})
    api.error("GET", "/api/v1/events", 404, query={"run": "no-such-run"})


def test_runs_listing_filters_and_pages(api, cli, code_dir, finished_run):
    runs = "/api/v1/runs"
    prefix = uniq("listing")
    names = [f"{prefix}-{i}" for i in range(3)]
    for n in names:
        cli("run", "--name", n, "--description", f"Listing {prefix}", code_dir / "hello.sh")
    for n in names:
        wait_run(api, n, "succeeded")
    everything = api.call("GET", runs, expect=200).json
    assert everything["total"] == len(everything["runs"]) >= 4
    r = api.call("GET", runs, query={"q": prefix.upper(), "order": "newest", "limit": 2}, expect=200).json
    assert [x["name"] for x in r["runs"]] == [names[2], names[1]] and r["total"] == 3
    r = api.call("GET", runs, query={"q": f"listing {prefix}", "offset": 2, "limit": 5, "order": "oldest"},
                 expect=200).json
    assert [x["name"] for x in r["runs"]] == [names[2]] and r["total"] == 3
    r = api.call("GET", runs, query={"state": "succeeded,failed", "q": prefix}, expect=200).json
    assert r["total"] == 3
    assert api.call("GET", runs, query={"state": "queued", "q": prefix}, expect=200).json == {"runs": [], "total": 0}
    row = next(x for x in everything["runs"] if x["name"] == finished_run["name"])
    assert row["gpus"] == 0 and row["cluster"] == "local" and row["started_at"] and row["ended_at"]
    assert row["started_at"] <= row["ended_at"]
    for key, value in (("limit", "0"), ("limit", "10001"), ("offset", "-1"), ("order", "random"),
                       ("state", "done"), ("state", "running,")):
        api.error("GET", runs, 400, key, query={key: value})


def test_events_can_skip_the_first_dump(api, finished_run):
    events = "/api/v1/events"
    name = finished_run["name"]
    _, got = api.sse(events, query={"run": name}, until=lambda ev: len(ev) >= 1, timeout=10)
    assert got[0][1]["name"] == name and got[0][1]["state"] == "succeeded"
    # With initial=0 nothing comes for a run that does not change.
    with pytest.raises((TimeoutError, socket.timeout)):
        api.sse(events, query={"run": name, "initial": "0"}, until=lambda ev: True, timeout=1.5)
    api.error("GET", events, 400, "initial", query={"initial": "yes"})


def test_attempts_of_an_experiment(api, finished_run, cli, agent, code_dir):
    attempts = "/api/v1/runs/{run}/experiments/{experiment}/attempts"
    name = finished_run["name"]
    doc = api.call("GET", attempts, {"run": name, "experiment": 0}, expect=200).json
    assert len(doc["attempts"]) == 1
    a = doc["attempts"][0]
    assert a["number"] == 1 and a["state"] == "succeeded" and a["exit_code"] == 0
    assert a["node"] == finished_run["experiments"][0]["node"] and a["nodes"] == [a["node"]]
    assert a["reason"] == "exited with code 0" and a["started_at"] <= a["ended_at"] and a["gpus"] == []
    failed = uniq("fails")
    cli("run", "--name", failed, code_dir / "fail.sh")
    wait_run(api, failed, "failed")
    b = api.call("GET", attempts, {"run": failed, "experiment": 0}, expect=200).json["attempts"][0]
    assert b["state"] == "failed" and b["exit_code"] == 3 and b["reason"] == "exited with code 3"
    api.error("GET", attempts, 400, "experiment", params={"run": name, "experiment": "x"})
    api.error("GET", attempts, 404, params={"run": name, "experiment": 1})
    api.error("GET", attempts, 404, params={"run": "no-such-run", "experiment": 0})


def test_rerun(api, finished_run, agent):
    rerun = "/api/v1/runs/{run}/rerun"
    old = finished_run["name"]
    new = uniq("again")
    doc = api.call("POST", rerun, {"run": old}, json_body={"args": ["--lr", "[0.1, 0.2]"], "name": new},
                   expect=201).json
    assert doc["name"] == new and doc["args"] == ["--lr", "[0.1, 0.2]"] and doc["description"] == "from the CLI"
    assert doc["script"] == finished_run["script"] and doc["snapshot"] == finished_run["snapshot"]
    assert doc["env_names"] == ["SECRET_THING"] and "s3cr3t" not in json.dumps(doc)
    assert [e["args"] for e in doc["experiments"]] == [["--lr", "0.1"], ["--lr", "0.2"]]
    assert [e["params"] for e in doc["experiments"]] == [{"lr": "0.1"}, {"lr": "0.2"}]
    assert doc["sweep"]["parameters"] == ["lr"]
    same = api.call("POST", rerun, {"run": old}, expect=201).json
    assert same["name"] not in (old, new) and same["args"] == finished_run["args"]
    assert len(same["experiments"]) == 1
    err = api.error("POST", rerun, 400, "args", params={"run": old}, json_body={"args": ["--lr=[0.1, 0.01"]})
    assert "argument 1" in err["message"]
    api.error("POST", rerun, 400, "args", params={"run": old}, json_body={"args": "--lr 1"})
    api.error("POST", rerun, 400, "name", params={"run": old}, json_body={"name": "Bad_Name"})
    api.error("POST", rerun, 400, "unknown", params={"run": old}, json_body={"unknown": 1})
    api.error("POST", rerun, 404, params={"run": "no-such-run"})
    err = api.error("POST", rerun, 409, "name", params={"run": old}, json_body={"name": new})
    assert err["code"] == "already_exists"
    err = api.error("POST", rerun, 413, params={"run": old}, body=b'{"pad": "' + b"x" * (1 << 20) + b'"}')
    assert err["code"] == "resource_exhausted"
    wait_run(api, new, "succeeded")


def test_blob_errors(api):
    blob = "/api/v1/blobs/{sha256}"
    api.error("PUT", blob, 400, "body", params={"sha256": "0" * 64}, body=b"not the content")
    api.error("PUT", blob, 400, "sha256", params={"sha256": "ABC"}, body=b"x")
    api.error("GET", blob, 400, "sha256", params={"sha256": "A" * 64})
    api.error("HEAD", blob, 400, params={"sha256": "xyz"})
    r = api.oversized("PUT", blob, {"sha256": "0" * 64})
    assert r.status == 413 and r.json["error"]["code"] == "resource_exhausted"


def test_agent_errors(api):
    register = "/api/v1/agents/register"
    api.error("POST", register, 400, body=b"{")
    api.error("POST", register, 400, "id", json_body={})
    api.error("POST", register, 400, "id", json_body={"id": "a b", "cpus": 1})
    api.error("POST", register, 400, "cpus", json_body={"id": "x"})
    api.error("POST", register, 400, "gpus", json_body={"id": "x", "cpus": 1, "gpus": {}})
    api.error("POST", register, 400, "gpus[0].index", json_body={"id": "x", "cpus": 1, "gpus": [{"index": "0"}]})
    api.error("POST", register, 400, "gpus[0].uuid", json_body={"id": "x", "cpus": 1, "gpus": [{"uuid": "u"}]})
    api.error("POST", register, 413, body=b'{"id": "' + b"x" * (1 << 20) + b'"}')
    node = uniq("probe-err")
    api.call("POST", register, json_body={"id": node, "cpus": 0.25}, expect=200)
    sync, report = "/api/v1/agents/{node}/sync", "/api/v1/agents/{node}/report"
    for path in (sync, report):
        api.error("POST", path, 404, params={"node": "never-registered"}, json_body={})
        api.error("POST", path, 400, params={"node": node}, body=b"{")
        api.error("POST", path, 400, "attempts", params={"node": node}, json_body={"attempts": {}})
        api.error("POST", path, 400, "attempts[0].state", params={"node": node},
                  json_body={"attempts": [{"id": 1, "state": "weird"}]})
        api.error("POST", path, 400, "attempts[0].id", params={"node": node},
                  json_body={"attempts": [{"state": "running"}]})
        api.error("POST", path, 400, "attempts[0].extra", params={"node": node},
                  json_body={"attempts": [{"id": 1, "state": "running", "extra": 1}]})
        api.error("POST", path, 400, "reports", params={"node": node}, json_body={"reports": []})
    api.error("POST", sync, 400, "wait_ms", params={"node": node}, query={"wait_ms": "-1"})
    api.error("POST", sync, 413, params={"node": node}, body=b'{"x": "' + b"x" * (17 << 20) + b'"}')
    api.error("POST", report, 413, params={"node": node}, body=b'{"x": "' + b"x" * (1 << 20) + b'"}')
    log = "/api/v1/agents/{node}/attempts/{attempt}/log"
    api.error("PUT", log, 400, "attempt", params={"node": node, "attempt": "x"}, body=b"x")
    api.error("PUT", log, 400, "offset", params={"node": node, "attempt": 1}, query={"offset": "x"}, body=b"x")
    api.error("PUT", log, 404, params={"node": node, "attempt": 987654}, body=b"x")
    r = api.oversized("PUT", log, {"node": node, "attempt": 1})
    assert r.status == 413


def test_clusters(api, tmp_path_factory):
    clusters = api.call("GET", "/api/v1/clusters", expect=200).json
    assert clusters["default"] == "local" and [c["name"] for c in clusters["clusters"]] == ["local"]
    key = tmp_path_factory.mktemp("keys") / "id"
    key.write_text("not a real key\n")
    name = uniq("lab")
    made = api.call("POST", "/api/v1/clusters", expect=201,
                    json_body={"name": name, "backend": "ssh", "hosts": ["nobody@127.0.0.1:1"],
                               "identity": str(key), "server_url": "http://127.0.0.1:1"}).json
    assert made["hosts"] == ["nobody@127.0.0.1:1"] and made["identity"] == str(key) and not made["default"]
    api.error("POST", "/api/v1/clusters", 409, "name", json_body={"name": name, "backend": "ssh", "hosts": ["h"]})
    api.error("POST", "/api/v1/clusters", 400, "backend", json_body={"name": "k8s", "backend": "kubernetes"})
    api.error("POST", "/api/v1/clusters", 400, "partition",
              json_body={"name": "hpc", "backend": "slurm", "partition": "a b"})
    api.error("POST", "/api/v1/clusters", 400, "identity",
              json_body={"name": "lab2", "backend": "ssh", "hosts": ["h"], "identity": "/nonexistent/key"})
    shown = api.call("GET", "/api/v1/clusters/{cluster}", params={"cluster": name}, expect=200).json
    assert shown["name"] == name and shown["nodes"] == []
    api.error("GET", "/api/v1/clusters/{cluster}", 404, params={"cluster": "nosuch"})
    api.error("POST", "/api/v1/clusters/{cluster}/default", 404, params={"cluster": "nosuch"})
    assert api.call("POST", "/api/v1/clusters/{cluster}/default", params={"cluster": name},
                    expect=200).json["default"] is True
    assert api.call("POST", "/api/v1/clusters/{cluster}/default", params={"cluster": "local"},
                    expect=200).json["default"] is True
    api.error("DELETE", "/api/v1/clusters/{cluster}", 409, params={"cluster": "local"})
    api.error("DELETE", "/api/v1/clusters/{cluster}", 404, params={"cluster": "nosuch"})
    assert api.call("DELETE", "/api/v1/clusters/{cluster}", params={"cluster": name},
                    expect=200).json == {"deleted": name}


def test_cost_and_pricing(api, finished_run):
    run = finished_run
    cost = api.call("GET", "/api/v1/runs/{run}/cost", params={"run": run["name"]}, expect=200).json
    assert cost["run"] == run["name"] and cost["cost"] == 0 and cost["price_per_node_hour"] == 0
    assert [e["id"] for e in cost["experiments"]] == [e["id"] for e in run["experiments"]]
    api.error("GET", "/api/v1/runs/{run}/cost", 404, params={"run": "nosuch"})
    report = api.call("GET", "/api/v1/cost", expect=200).json
    assert report["by"] == "run" and run["name"] in [g["key"] for g in report["groups"]]
    assert api.call("GET", "/api/v1/cost", query={"by": "user", "since": "2020-01-01"}, expect=200).json["by"] == "user"
    api.error("GET", "/api/v1/cost", 400, "since", query={"since": "yesterday"})
    api.error("GET", "/api/v1/cost", 400, "by", query={"by": "team"})
    durations = api.call("GET", "/api/v1/durations", query={"script": run["script"]}, expect=200).json
    assert durations["experiments"] >= 1 and 0 < durations["median_ms"] <= durations["max_ms"]
    api.error("GET", "/api/v1/durations", 400, "script")
    priced = api.call("PATCH", "/api/v1/clusters/{cluster}", params={"cluster": "local"}, expect=200,
                      json_body={"price_per_node_hour": 2.5, "monthly_budget": 100}).json
    assert priced["price_per_node_hour"] == 2.5 and priced["monthly_budget"] == 100
    assert priced["month"]["cost"] == 0 and len(priced["month"]["month"]) == 7
    api.error("PATCH", "/api/v1/clusters/{cluster}", 400, "price_per_node_hour", params={"cluster": "local"},
              json_body={"price_per_node_hour": -1})
    api.error("PATCH", "/api/v1/clusters/{cluster}", 400, "backend", params={"cluster": "local"},
              json_body={"backend": "ssh"})
    api.error("PATCH", "/api/v1/clusters/{cluster}", 404, params={"cluster": "nosuch"},
              json_body={"monthly_budget": 1})
    api.call("PATCH", "/api/v1/clusters/{cluster}", params={"cluster": "local"}, expect=200,
             json_body={"price_per_node_hour": 0, "monthly_budget": 0})


def test_methods_not_allowed(api):
    for method, path in (("DELETE", "/api/v1/runs"), ("PUT", "/api/v1/health"), ("GET", "/api/v1/runs/x/cancel"),
                         ("GET", "/api/v1/agents/register"), ("DELETE", "/api/v1/blobs/" + "0" * 64)):
        r = api.raw(method, path)
        assert r.status == 400 and r.json["error"]["message"] == f"method {method} is not allowed on {path}", r
        check_error_shape(r)


def test_token_is_required_beyond_loopback(lattice_servers):
    """With --require-token (as on a non-loopback address) every operation
    but health needs the bearer token."""
    server = lattice_servers("--require-token")
    assert server.info["token_required"] is True
    anonymous, wrong, right = Api(server), Api(server, "0" * 64), Api(server, server.token)
    for method, template, op in operations():
        body = b"x" if method == "PUT" else (b"{}" if method == "POST" else None)
        if op.get("security") == []:
            anonymous.call(method, template, DUMMY, body=body, expect=200)
            continue
        for client in (anonymous, wrong):
            r = client.call(method, template, DUMMY, body=body, expect=401)
            if method != "HEAD":
                assert r.json["error"]["code"] == "unauthenticated"
                assert "Authorization: Bearer" in r.json["error"]["message"]
    right.call("GET", "/api/v1/runs", expect=200)
    assert right.call("GET", "/api/v1/nodes", expect=200).json == {"nodes": []}


# --------------------------------------------------------------------------

def test_zz_every_operation_and_documented_status_was_exercised(request):
    """Runs last (file order): everything the spec promises was seen."""
    mine = {item.name for item in request.session.items if item.module is request.module}
    everything = {name for name, obj in vars(request.module).items() if name.startswith("test_") and callable(obj)}
    if mine != everything or request.session.testsfailed:
        pytest.skip("needs the whole module, passing")
    missing = []
    for method, template, op in operations():
        for status in op["responses"]:
            if status != "default" and (method, template, int(status)) not in OBSERVED:
                missing.append(f"{method} {template} {status}")
    assert not missing, "documented but never observed:\n  " + "\n  ".join(missing)
