"""Chunked code snapshots end to end: `lattice run` uploads only the chunks the
server lacks, the agent unpacks what was submitted, and POST
/api/v1/blobs/missing and the submit-time checks answer as api/openapi.yaml
says (answers are validated with test_openapi's checker)."""
import hashlib
import http.client
import json
import os
import re

from harness import Lattice, lattice, script_dir, write_script  # noqa: F401
from test_openapi import Resp, check_response

SUMMARY_RE = re.compile(r"^lattice: code (.+) in (\d+) chunks?; (?:uploaded (.+) \((\d+) new chunks?\)|nothing to upload)",
                        re.M)
MISSING = "/api/v1/blobs/missing"
BATCH = "/api/v1/blobs/batch"

TRAIN = ("import hashlib, pathlib\n"
         "h = hashlib.sha256()\n"
         "for p in sorted(pathlib.Path('data').iterdir()):\n"
         "    h.update(p.read_bytes())\n"
         "print(h.hexdigest(), pathlib.Path('notes.txt').read_text().count('\\n'))\n")


def make_project(d, files=6, size=700_000):
    (d / "data").mkdir()
    for i in range(files):
        (d / "data" / f"part{i}.bin").write_bytes(os.urandom(size))
    (d / "notes.txt").write_text("first line\n")
    return write_script(d, "train.py", TRAIN)


def expected_output(d):
    h = hashlib.sha256()
    for p in sorted((d / "data").iterdir()):
        h.update(p.read_bytes())
    return f"{h.hexdigest()} {(d / 'notes.txt').read_text().count(chr(10))}\n"


def summary(stderr):
    m = SUMMARY_RE.search(stderr)
    return m.groups() if m else None


def api(lat, method, path, body=None, headers=None):
    """A request to the local server; the answer is checked against the spec."""
    url = json.loads((lat.home / "server.json").read_text())["url"]
    host, port = url.split("//")[1].split(":")
    conn = http.client.HTTPConnection(host, int(port.rstrip("/")), timeout=60)
    try:
        h = {"Content-Type": "application/json", **(headers or {})}
        conn.request(method, path, body=body, headers=h)
        resp = conn.getresponse()
        r = Resp(method, path, resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()
    template = path if path in (MISSING, BATCH, "/api/v1/runs") else "/api/v1/blobs/{sha256}"
    check_response(method, template, r)
    return r


def test_resubmit_after_editing_one_file_uploads_only_its_chunks(lattice, script_dir):
    script = make_project(script_dir)
    first = lattice.run("run", "--follow", script)
    assert first.stdout == expected_output(script_dir)
    total, chunks, uploaded, new = summary(first.stderr)
    assert total == "4 MiB" and int(chunks) >= 40 and int(new) == int(chunks), first.stderr

    # A few bytes changed in the middle of one file.
    part = script_dir / "data" / "part3.bin"
    data = bytearray(part.read_bytes())
    data[len(data) // 2:len(data) // 2 + 8] = b"EDITED!!"
    part.write_bytes(bytes(data))
    second = lattice.run("run", "--follow", script)
    assert second.stdout == expected_output(script_dir), "the agent ran the edited code"
    _, chunks2, uploaded2, new2 = summary(second.stderr)
    assert chunks2 == chunks and 1 <= int(new2) <= 2, second.stderr
    assert uploaded2.endswith("KiB") and float(uploaded2.split()[0]) < 600, second.stderr

    # Nothing changed: nothing uploaded, and no summary for a quick no-op.
    third = lattice.run("run", "--follow", script)
    assert third.stdout == second.stdout
    assert "lattice: code" not in third.stderr, third.stderr

    # A line appended to a text file.
    with open(script_dir / "notes.txt", "a") as f:
        f.write("second line\n")
    fourth = lattice.run("run", "--follow", script)
    assert fourth.stdout == expected_output(script_dir)
    assert fourth.stdout.endswith(" 2\n")
    assert 1 <= int(summary(fourth.stderr)[3]) <= 2, fourth.stderr


def test_blobs_missing_lists_what_the_server_lacks(lattice, script_dir):
    script = write_script(script_dir, "t.sh", "echo ok\n")
    name = lattice.run("run", script).stdout.strip()
    snapshot = lattice.json("status", name)["snapshot"]
    manifest = api(lattice, "GET", f"/api/v1/blobs/{snapshot}").body.decode()
    lines = manifest.splitlines()
    assert lines[0] == "lattice-snapshot-v2" and lines[3] == f"chunks {len(lines) - 4}"
    chunks = [line.split()[0] for line in lines[4:]]
    absent = ["a" * 64, "b" * 64]
    body = json.dumps({"sha256": [absent[0], snapshot, *chunks, absent[1], absent[0]]})
    r = api(lattice, "POST", MISSING, body)
    assert r.status == 200 and r.json == {"missing": [absent[0], absent[1], absent[0]]}
    assert api(lattice, "POST", MISSING, json.dumps({"sha256": []})).json == {"missing": []}


def test_blobs_missing_refuses_bad_requests(lattice, script_dir):
    lattice.run("server", "start")
    for body, field, words in (
            ({"sha256": "a" * 64}, "sha256", "must be an array"),
            ({"sha256": ["A" * 64]}, "sha256[0]", "lowercase hex SHA-256"),
            ({"sha256": ["a" * 64, "../x"]}, "sha256[1]", "lowercase hex SHA-256"),
            ({}, "sha256", "is required"),
            ({"sha256": [], "more": 1}, "more", "unknown field")):
        r = api(lattice, "POST", MISSING, json.dumps(body))
        assert r.status == 400 and r.json["error"]["field"] == field and words in r.json["error"]["message"], r
    r = api(lattice, "POST", MISSING, b"[1, 2]")
    assert r.status == 400 and "must be a JSON object" in r.json["error"]["message"]
    r = api(lattice, "POST", MISSING, json.dumps({"sha256": ["c" * 64] * 100_001}))
    assert r.status == 413 and r.json["error"]["field"] == "sha256"
    r = api(lattice, "POST", MISSING, b" " * ((8 << 20) + 1))
    assert r.status == 413


def test_submit_names_the_chunks_a_snapshot_lacks(lattice, script_dir):
    lattice.run("server", "start")
    absent = "d" * 64
    manifest = f"lattice-snapshot-v2\nfiles 1\nbytes 10\nchunks 1\n{absent} 30 1024\n".encode()
    sha = hashlib.sha256(manifest).hexdigest()
    r = api(lattice, "PUT", f"/api/v1/blobs/{sha}", manifest, {"Content-Type": "application/octet-stream"})
    assert r.status == 201
    r = api(lattice, "POST", "/api/v1/runs", json.dumps({"script": "t.sh", "snapshot": sha}))
    assert r.status == 400 and r.json["error"]["field"] == "snapshot"
    assert f"lacks 1 of its 1 chunks ({absent})" in r.json["error"]["message"], r

    # An old single-archive snapshot (a zstd frame) is refused with a hint.
    old = b"\x28\xb5\x2f\xfd" + os.urandom(100)
    old_sha = hashlib.sha256(old).hexdigest()
    api(lattice, "PUT", f"/api/v1/blobs/{old_sha}", old, {"Content-Type": "application/octet-stream"})
    r = api(lattice, "POST", "/api/v1/runs", json.dumps({"script": "t.sh", "snapshot": old_sha}))
    assert r.status == 400 and "older lattice" in r.json["error"]["message"], r


def record(content: bytes, name: str | None = None) -> bytes:
    return (name or hashlib.sha256(content).hexdigest()).encode() + b" %d\n" % len(content) + content


def test_blob_batch_stores_all_or_nothing(lattice, script_dir):
    lattice.run("server", "start")
    blobs = [os.urandom(n) for n in (0, 1, 70_000, 5)]
    names = [hashlib.sha256(b).hexdigest() for b in blobs]
    octet = {"Content-Type": "application/octet-stream"}
    r = api(lattice, "POST", BATCH, b"".join(record(b) for b in blobs), octet)
    assert r.status == 201 and r.json == {"blobs": 4, "bytes": sum(map(len, blobs)), "new": 4}
    assert api(lattice, "POST", MISSING, json.dumps({"sha256": names})).json == {"missing": []}
    assert api(lattice, "GET", f"/api/v1/blobs/{names[2]}").body == blobs[2]
    r = api(lattice, "POST", BATCH, record(blobs[2]) + record(b"fresh"), octet)
    assert r.json["new"] == 1

    # One record whose content is not its name: nothing of the batch is stored.
    good, bad = os.urandom(100), os.urandom(100)
    r = api(lattice, "POST", BATCH, record(good) + record(bad, "e" * 64), octet)
    assert r.status == 400 and r.json["error"]["field"] == "body" and "e" * 64 in r.json["error"]["message"]
    assert api(lattice, "POST", MISSING, json.dumps({"sha256": [hashlib.sha256(good).hexdigest()]})).json[
        "missing"] == [hashlib.sha256(good).hexdigest()]
    for body, words in ((b"", "at least one blob"), (record(good)[:-1], "ends inside the blob"),
                        (b"x" * 64 + b" 1\nx", "lowercase hex SHA-256"),
                        (hashlib.sha256(good).hexdigest().encode() + b" 0100\n" + good, "not a decimal number")):
        r = api(lattice, "POST", BATCH, body, octet)
        assert r.status == 400 and words in r.json["error"]["message"], r
