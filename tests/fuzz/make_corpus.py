#!/usr/bin/env python3
"""Regenerate the seed corpora of the fuzz targets (tests/fuzz/corpus_*).

The seeds are committed; this script shows where they came from and makes
them again (run it from the source tree with the project venv's python,
after scripts/setup.sh):

    .venv/bin/python tests/fuzz/make_corpus.py artifact vault answer config

artifact  real wheel, sdist and npm tarball of tests/fixtures (python -m
          build, npm pack), near-valid variants (cut short, zip sdist, bad
          member paths) and member lists for the harness to pack
vault     answers of a real OpenBao dev server (tests/peers/openbao.py):
          login, lookup-self, renew-self, KV data and metadata, wrapping
          lookup and unwrap, errors, sealed; every token, accessor and
          secret value in them replaced by a placeholder of the same length
answer    answers of real pypiserver and verdaccio servers (uploads, the
          simple index, packuments, refusals) as raw HTTP responses, plus
          the documented answers of PyPI and npmjs that a local server does
          not give
config    the example configuration and variations of it
tls       ClientHellos of Python's ssl module (OpenSSL): TLS 1.3 and 1.2
          offers, with ALPN http/1.1, h2 only, and none; the first byte is
          the harness's piece size (0xff: all at once, 0x04: 5-byte pieces)

Each target's input layout is described at the top of its harness.
"""
from __future__ import annotations

import base64
import hashlib
import http.client
import io
import json
import re
import os
import secrets
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parents[1]
sys.path[:0] = [str(SRC / "tests"), str(SRC / "tests" / "integration")]


def out(target: str, name: str, data: bytes) -> None:
    d = HERE / f"corpus_{target}"
    d.mkdir(exist_ok=True)
    (d / name).write_bytes(data)


# ---- artifacts --------------------------------------------------------------

def members(*items) -> bytes:
    """The harness's member list: b"<type><path>\\n" + 2-byte length + data."""
    b = b""
    for typ, path, data in items:
        data = data.encode() if isinstance(data, str) else data
        b += typ.encode() + path.encode() + b"\n" + len(data).to_bytes(2, "big") + data
    return b


def artifact() -> None:
    from publish_support import build_js_sdk, build_python_sdk
    work = Path(tempfile.mkdtemp(prefix="aos-fuzz-seeds-"))
    wheel, sdist = build_python_sdk("0.1.0", work / "dist", work)
    tgz = build_js_sdk("0.1.0", work / "dist", work)
    w, s, t = wheel.read_bytes(), sdist.read_bytes(), tgz.read_bytes()

    def raw(flags, name, data):
        return bytes([flags]) + name.encode() + b"\n" + data

    out("artifact", "wheel", raw(0, wheel.name, w))
    out("artifact", "wheel-expected", raw(2, wheel.name, w))
    out("artifact", "sdist", raw(2, sdist.name, s))
    out("artifact", "npm", raw(2, tgz.name, t))
    out("artifact", "npm-any-name", raw(8, "package.tgz", t))
    out("artifact", "wheel-cut", raw(0, wheel.name, w[: len(w) * 2 // 3]))
    out("artifact", "npm-cut", raw(0, tgz.name, t[: len(t) // 2]))
    out("artifact", "wheel-small-bounds", raw(16, wheel.name, w))
    # The sdist as a zip, as old setuptools made them.
    buf = io.BytesIO()
    with tarfile.open(sdist) as tf, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for m in tf.getmembers():
            if m.isfile():
                zf.writestr(m.name, tf.extractfile(m).read())
    out("artifact", "sdist-zip", raw(0, "aos_sdk-0.1.0.zip", buf.getvalue()))

    with zipfile.ZipFile(wheel) as zf:
        meta = zf.read("aos_sdk-0.1.0.dist-info/METADATA")
        record = zf.read("aos_sdk-0.1.0.dist-info/RECORD")
    with tarfile.open(sdist) as tf:
        pkginfo = tf.extractfile("aos_sdk-0.1.0/PKG-INFO").read()
    with tarfile.open(tgz) as tf:
        pkgjson = tf.extractfile("package/package.json").read()

    def wrap(flags, name, *items):
        return bytes([flags | 1]) + name.encode() + b"\n" + members(*items)

    di = "aos_sdk-0.1.0.dist-info/"
    out("artifact", "wrap-wheel", wrap(2, wheel.name, ("d", "aos_sdk/", ""),
        ("f", "aos_sdk/__init__.py", "VERSION = '0.1.0'\n"),
        ("f", di + "METADATA", meta), ("f", di + "RECORD", record)))
    out("artifact", "wrap-wheel-stored", wrap(32, wheel.name, ("f", di + "METADATA", meta)))
    out("artifact", "wrap-sdist", wrap(2, sdist.name,
        ("f", "aos_sdk-0.1.0/PKG-INFO", pkginfo),
        ("f", "aos_sdk-0.1.0/pyproject.toml", "[project]\nname = 'aos-sdk'\n")))
    out("artifact", "wrap-sdist-stored", wrap(32, sdist.name,
        ("f", "./aos_sdk-0.1.0/PKG-INFO", pkginfo)))
    out("artifact", "wrap-sdist-zip", wrap(0, "aos_sdk-0.1.0.zip",
        ("f", "aos_sdk-0.1.0/PKG-INFO", pkginfo)))
    out("artifact", "wrap-npm", wrap(2, tgz.name, ("f", "package/package.json", pkgjson),
        ("f", "package/index.cjs", "module.exports = {};\n")))
    out("artifact", "wrap-npm-bom", wrap(40, "x.tgz",
        ("f", "package/package.json", b"\xef\xbb\xbf" + pkgjson)))
    out("artifact", "wrap-npm-private", wrap(0, tgz.name, ("f", "package/package.json",
        pkgjson.replace(b'"license"', b'"private": true, "license"'))))
    # Any file name (bit 3), so mutations of name and version go on to
    # the publish document.
    out("artifact", "wrap-npm-unscoped", wrap(8, "x.tgz", ("f", "package/package.json",
        '{"name":"left-pad","version":"1.3.0-beta.2+build.5","description":"d\\u00e9",'
        '"dist":{"x":1},"_id":"y","dist":2,"scripts":{},"bin":{"lp":"./x"}}')))
    out("artifact", "wrap-npm-scoped", wrap(8 | 32, "x.tgz", ("f", "./package/package.json",
        '{"name":"@a.b/c_d","version":"0.0.0-0","private":false}')))
    out("artifact", "wrap-npm-twice", wrap(0, tgz.name, ("f", "package/package.json",
        b'{"name":"a","name":"b","version":"0.1.0"}')))
    out("artifact", "wrap-pkginfo-1.0", wrap(0, "aos_sdk-0.1.0.tar.gz",
        ("f", "aos_sdk-0.1.0/PKG-INFO",
         "Metadata-Version: 1.0\nName: aos-sdk\nVersion: 0.1.0\nDescription: one\n"
         "        two\n       |three\n\nbody\n")))
    out("artifact", "wrap-wheel-build-tag", wrap(4, "Aos.SDK-0.1.0rc1-2_x-cp312.cp313-abi3-"
        "manylinux_2_17_x86_64.whl", ("f", "aos_sdk-0.1.0rc1.dist-info/METADATA",
        "Metadata-Version: 2.1\nName: Aos.SDK\nVersion: 0.1.0RC1\nClassifier: a\n"
        "Classifier: b\nProject-URL: Home, https://x\nRequires-Dist: x>=1; extra == 'y'\n"
        "Provides-Extra: y\nDescription-Content-Type: text/markdown\r\n\r\n# body\n")))
    out("artifact", "wrap-escape", wrap(0, wheel.name, ("f", "../evil", "x"),
        ("l", "aos_sdk/link", "/etc/passwd"), ("h", "aos_sdk/hard", "../../x"),
        ("f", di + "METADATA", meta)))
    out("artifact", "wrap-two-metadata", wrap(0, sdist.name,
        ("f", "a/PKG-INFO", pkginfo), ("f", "b/PKG-INFO", pkginfo)))
    out("artifact", "wrap-metadata-link", wrap(0, tgz.name,
        ("l", "package/package.json", "../x")))
    out("artifact", "wrap-no-metadata", wrap(0, wheel.name, ("d", "aos_sdk/", "")))


# ---- Vault answers ----------------------------------------------------------

# Index of each status in fuzz_vault.c's table.
VAULT_STATUS = {200: 0, 204: 1, 400: 2, 401: 3, 403: 4, 404: 5, 412: 6, 429: 7,
                500: 8, 503: 9, 307: 10}
SECRET_KEYS = {"client_token", "accessor", "secret_id", "secret_id_accessor", "token",
               "id", "entity_id", "role_id"}


def secret_strings(doc, keys=SECRET_KEYS, under_kv=False):
    """Every string value that is a credential: by key name, and every value
    of a KV data.data object."""
    if isinstance(doc, dict):
        for k, v in doc.items():
            kv = under_kv or (k == "data" and isinstance(v, dict) and "metadata" in doc)
            if isinstance(v, str) and (k in keys or under_kv):
                yield v
            else:
                yield from secret_strings(v, keys, kv and k == "data")
    elif isinstance(doc, list):
        for v in doc:
            yield from secret_strings(v, keys, under_kv)


def placeholder(value: str) -> str:
    return ("fuzz-seed-not-a-secret-" * (len(value) // 23 + 1))[: len(value)]


def vault() -> None:
    from peers.openbao import OpenBao, seed_package_registry
    with OpenBao() as bao:
        creds = seed_package_registry(bao, values={
            "PYPI_API_TOKEN": "pypi-" + secrets.token_urlsafe(32),
            "NPM_TOKEN": "npm_" + secrets.token_urlsafe(27),
            "TEST_PYPI_API_TOKEN": "pypi-" + secrets.token_urlsafe(32),
            "GITHUB_WEBHOOK_SECRET": secrets.token_hex(20)})
        host, port = "127.0.0.1", bao.bao_port

        def call(name, method, path, body=None, token=None, headers=None):
            c = http.client.HTTPConnection(host, port, timeout=10)
            h = {"X-Vault-Request": "true", **(headers or {})}
            if token:
                h["X-Vault-Token"] = token
            c.request(method, "/v1/" + path, json.dumps(body) if body else None, h)
            r = c.getresponse()
            raw = r.read()
            c.close()
            try:
                doc = json.loads(raw)
            except ValueError:
                doc = None
            text = raw.decode()
            for v in sorted(set(secret_strings(doc)) | {bao.root_token}, key=len,
                            reverse=True):
                if len(v) >= 4:
                    text = text.replace(v, placeholder(v))
            if name:
                out("vault", name, bytes([VAULT_STATUS[r.status]]) + text.encode())
            return doc

        login = call("approle-login", "POST", "auth/approle/login",
                     {"role_id": creds["role_id"], "secret_id": creds["secret_id"]})
        tok = login["auth"]["client_token"]
        call("lookup-self", "GET", "auth/token/lookup-self", token=tok)
        call("renew-self", "POST", "auth/token/renew-self", {}, token=tok)
        call("kv-data", "GET", "secret/data/agenticverz/package-registry", token=tok)
        call("kv-metadata", "GET", "secret/metadata/agenticverz/package-registry",
             token=tok)
        call("kv-denied", "GET", "secret/data/other", token=tok)
        call("login-refused", "POST", "auth/approle/login",
             {"role_id": creds["role_id"], "secret_id": "wrong"})
        wrap = call(None, "POST", "auth/approle/role/aos-publishd/secret-id", {},
                    token=bao.root_token, headers={"X-Vault-Wrap-TTL": "120s"})
        wtok = wrap["wrap_info"]["token"]
        call("wrap-lookup", "POST", "sys/wrapping/lookup", {"token": wtok})
        call("unwrap", "POST", "sys/wrapping/unwrap", None, token=wtok)
        call("unwrap-again", "POST", "sys/wrapping/unwrap", None, token=wtok)
        bao.api("DELETE", "secret/data/agenticverz/package-registry")
        call("kv-data-deleted", "GET", "secret/data/agenticverz/package-registry",
             token=bao.root_token)
        call("kv-metadata-deleted", "GET", "secret/metadata/agenticverz/package-registry",
             token=bao.root_token)
        call("kv-missing", "GET", "secret/data/nothing", token=bao.root_token)
        bao.api("PUT", "sys/seal")
        call("sealed", "GET", "secret/data/agenticverz/package-registry", token=tok)
    # A standby node answers 307 with the active node's address; a single
    # dev server has no standby, so these are written by hand (the first
    # line of the body is the Location; fuzz_vault.c's header).
    redirects = {"redirect-same": (10, "https://vault.example.test:8200/v1/secret/data/x"),
                 "redirect-relative": (10, "/v1/sys/wrapping/unwrap"),
                 "redirect-other-host": (10, "https://active.example.test:8200/v1/x"),
                 "redirect-userinfo": (14, "https://vault.example.test:8200@evil.example/"),
                 "redirect-scheme": (15, "http://vault.example.test:8200/v1/x"),
                 "redirect-loop": (10 | 0x30, "/v1/x"),
                 "redirect-ipv6": (10, "https://[::1]:8200/v1/x")}
    for name, (sel, loc) in redirects.items():
        out("vault", name, bytes([sel]) + loc.encode() + b"\n")


# ---- registry answers -------------------------------------------------------

def http_raw(host, port, method, path, body=None, headers=None) -> bytes:
    """The whole answer as it came: status line, headers, body."""
    c = http.client.HTTPConnection(host, port, timeout=30)
    c.request(method, path, body, headers or {})
    r = c.getresponse()
    body = r.read()
    head = f"HTTP/1.1 {r.status} {r.reason}\r\n"
    for k, v in r.getheaders():
        head += f"{k}: {v}\r\n"
    c.close()
    return (head + "\r\n").encode() + body


def multipart(fields, filename, data):
    b = "aosfuzzboundary"
    parts = [f'--{b}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in fields]
    parts.append(f'--{b}\r\nContent-Disposition: form-data; name="content"; '
                 f'filename="{filename}"\r\nContent-Type: application/octet-stream'
                 f'\r\n\r\n'.encode() + data + b"\r\n")
    return b"".join(parts) + f"--{b}--\r\n".encode(), f"multipart/form-data; boundary={b}"


def answer() -> None:
    from peers.pypiserver import PypiServer
    from peers.verdaccio import Verdaccio
    from publish_support import build_js_sdk, build_python_sdk
    work = Path(tempfile.mkdtemp(prefix="aos-fuzz-seeds-"))
    wheel, _ = build_python_sdk("0.1.0", work / "dist", work)
    tgz = build_js_sdk("0.1.0", work / "dist", work)

    # byte 0 (fuzz_answer.c): bit 0 npm; bits 1-2 which file/version;
    # bit 3 ours = theirs; bits 4-5 the dist-tag asked for.
    def pypi(name, raw, sel=0):
        out("answer", "pypi-" + name, bytes([sel]) + raw)

    def npm(name, raw, sel=1):
        out("answer", "npm-" + name, bytes([sel]) + raw)

    with PypiServer(workdir=work / "pypi") as ps:
        w = wheel.read_bytes()
        fields = [(":action", "file_upload"), ("protocol_version", "1"),
                  ("name", "aos-sdk"), ("version", "0.1.0"),
                  ("filetype", "bdist_wheel"), ("pyversion", "py3"),
                  ("sha256_digest", hashlib.sha256(w).hexdigest())]
        body, ctype = multipart(fields, wheel.name, w)
        auth = {"Authorization": ps.auth_header(), "Content-Type": ctype}
        pypi("upload-ok", http_raw("127.0.0.1", ps.port, "POST", "/", body, auth))
        pypi("upload-exists", http_raw("127.0.0.1", ps.port, "POST", "/", body, auth))
        pypi("upload-no-auth", http_raw("127.0.0.1", ps.port, "POST", "/", body,
                                        {"Content-Type": ctype}))
        get = {"Authorization": ps.auth_header()}
        pypi("simple-page", http_raw("127.0.0.1", ps.port, "GET", "/simple/aos-sdk/",
                                     None, get), 8)
        pypi("simple-missing", http_raw("127.0.0.1", ps.port, "GET", "/simple/nothing/",
                                        None, get))

    with Verdaccio(workdir=work / "verdaccio") as vd:
        token = vd.add_user()
        t = tgz.read_bytes()
        name = "@agenticverz/aos-sdk"
        manifest = json.loads(tarfile.open(tgz).extractfile("package/package.json").read())
        sri = "sha512-" + base64.b64encode(hashlib.sha512(t).digest()).decode()
        manifest.update({"_id": f"{name}@0.1.0", "dist": {
            "integrity": sri, "shasum": hashlib.sha1(t).hexdigest(),
            "tarball": f"{vd.url}{name}/-/aos-sdk-0.1.0.tgz"}})
        doc = json.dumps({"_id": name, "name": name, "dist-tags": {"latest": "0.1.0"},
                          "versions": {"0.1.0": manifest}, "access": None,
                          "_attachments": {f"{name}-0.1.0.tgz": {
                              "content_type": "application/octet-stream",
                              "data": base64.b64encode(t).decode(), "length": len(t)}}})
        path = "/@agenticverz%2faos-sdk"
        h = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        npm("publish-ok", http_raw("127.0.0.1", vd.port, "PUT", path, doc, h))
        npm("publish-exists", http_raw("127.0.0.1", vd.port, "PUT", path, doc, h))
        npm("publish-no-token", http_raw("127.0.0.1", vd.port, "PUT", path, doc,
                                         {"Content-Type": "application/json"}))
        npm("publish-bad-token", http_raw("127.0.0.1", vd.port, "PUT", path, doc,
                                          {**h, "Authorization": "Bearer x"}))
        npm("packument", http_raw("127.0.0.1", vd.port, "GET", path, None,
                                  {"Accept": "application/json"}), 1 | 8)
        npm("packument-abbreviated", http_raw(
            "127.0.0.1", vd.port, "GET", path, None,
            {"Accept": "application/vnd.npm.install-v1+json"}), 1 | 16)
        npm("packument-missing", http_raw("127.0.0.1", vd.port, "GET", "/nothing", None))

    # What PyPI and npmjs answer (DESIGN.md's protocol notes); local servers
    # do not give these.
    pypi("exists-400", b"HTTP/1.1 400 File already exists ('aos_sdk-0.1.0-py3-none-any"
         b".whl', with blake2_256 hash 'ab').\r\nContent-Type: text/plain\r\n\r\n")
    pypi("reused-400", b"HTTP/1.1 400 This filename has already been used, use a "
         b"different version.\r\n\r\n<html><body><pre>see &lt;help&gt; &#38; &#x41;</pre>"
         b"</body></html>")
    pypi("throttled", b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 120\r\n\r\n")
    pypi("unavailable", b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: Wed, 21 Oct "
         b"2037 07:28:00 GMT\r\nContent-Type: text/html\r\n\r\n<!DOCTYPE html><html><head>"
         b"<title>Down</title><style>x{}</style><script>y()</script></head></html>")
    pypi("redirect", b"HTTP/1.1 301 Moved Permanently\r\nLocation: https://"
         b"upload.example/legacy/\r\n\r\n")
    pypi("json-api", b'HTTP/1.1 200 OK\r\n\r\n{"urls":[{"filename":"aos_sdk-0.1.0-py3-none'
         b'-any.whl","digests":{"sha256":"' + b"AB" * 32 + b'"}}]}', 8)
    pypi("simple-json", b'HTTP/1.1 200 OK\r\nContent-Type: application/vnd.pypi.simple.v1'
         b'+json\r\n\r\n{"meta":{"api-version":"1.1"},"name":"aos-sdk","files":[{"filename"'
         b':"aos_sdk-0.1.0.tar.gz","url":"../../p/aos_sdk-0.1.0.tar.gz","hashes":{"sha256":"'
         + b"0f" * 32 + b'"}}]}', 2 | 8)
    pypi("simple-escaped", b'HTTP/1.1 200 OK\r\n\r\n<html><a href=\'../p/aos%5Fsdk-0.1.0.tar.gz'
         b'?x=1#sha256=' + b"1F" * 32 + b'\'> aos_sdk-0.1.0.tar.gz </A><a href="x">x</a>', 2)
    npm("over-403", b'HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\n\r\n'
        b'{"error":"You cannot publish over the previously published versions: 0.1.0."}')
    npm("otp-401", b'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: OTP\r\n\r\n'
        b'{"error":"This operation requires a one-time password."}')
    npm("too-large", b"HTTP/1.1 413 Payload Too Large\r\n\r\n")
    npm("no-answer", b"")


# ---- configuration ----------------------------------------------------------

def config() -> None:
    # The example's "<...>" placeholders replaced, so that the seeds reach
    # the sections after them (a placeholder is refused, naming its key).
    text = (SRC / "systemd" / "config.example.json").read_text()
    example = json.loads(re.sub(r"<[A-Za-z0-9._-]+>", "127.0.0.1", text))
    out("config", "example-placeholders", text.encode())
    out("config", "example", json.dumps(example, indent=2).encode())
    token = {"vault": {"address": "http://127.0.0.1:8200",
                       "auth": {"method": "token", "token_file": "token"}}}
    out("config", "minimal-token", json.dumps(token).encode())
    full = json.loads(json.dumps(example))
    full.update({"runtime_dir": "/run/x", "state_dir": "/var/lib/x",
                 "control_socket": "/run/x/c.sock", "work_dir": "/var/lib/x/w",
                 "build_isolation": "landlock",
                 "control": {"operators": ["root", "@root"], "readers": ["nobody"],
                             "max_connections": 8},
                 "queue": {"path": "/var/lib/x/q.db", "spool_dir": "/var/lib/x/s",
                           "per_registry_concurrency": 2, "max_running": 8,
                           "max_attempts": 8, "backoff_min_ms": 5000,
                           "backoff_max_ms": 900000, "lease_s": 30,
                           "shutdown_grace_s": 60},
                 "publish": {"max_attempts": 4, "backoff_min_ms": 1000,
                             "backoff_max_ms": 60000, "max_file_bytes": 1048576}})
    full["http"].update({"ca_file": "/etc/ssl/ca.pem", "ca_path": "/etc/ssl/certs"})
    full["vault"].update({"namespace": "ns1", "ca_file": "/etc/ssl/ca.pem"})
    full["vault"]["auth"].update({"secret_id_wrapped": True,
                                  "wrap_creation_path": "auth/approle/role/r/secret-id"})
    full["registries"]["npm"]["access"] = "public"
    full["registries"]["local"] = {"type": "pypi", "url": "http://127.0.0.1:8080/",
                                   "index_url": "http://[::1]:8080/simple/"}
    full["listen"].update({"address": "[::1]:8443", "max_unauthenticated_bytes": 4194304})
    full["webhooks"].update({"gitlab": {"secret_key": "GITLAB_WEBHOOK_TOKEN",
                                        "rotation_grace_s": 60},
                             "gitea": {"secret_key": "GITEA_WEBHOOK_SECRET"}})
    js = full["pipelines"]["js-sdk"]
    js.update({"build": [["npm", "ci"], ["npm", "pack"]], "dist_tag": "next",
               "writable": ["/var/cache/npm"], "repository_name": "agenticverz/aos",
               "network": False, "readable": ["/opt/node"]})
    out("config", "full", json.dumps(full, indent=1).encode())
    overlap = json.loads(json.dumps(example))
    overlap["pipelines"]["js-sdk"]["tag_pattern"] = "python-sdk-v*-js"
    out("config", "overlap", json.dumps(overlap).encode())
    out("config", "duplicate-key", b'{"vault":{"address":"https://v","address":"https://w",'
        b'"auth":{"method":"token","token_file":"t"}}}')
    out("config", "not-json", b'{"vault": {"address": "https://v",\n "auth": [}\n')
    out("config", "bad-types", json.dumps({"log_level": 3, "vault": {
        "address": "http://evil.example", "poll_interval_s": 1e300,
        "auth": {"method": "approle", "secret_id_wrapped": "yes"}}}).encode())


# ---- TLS ClientHellos ---------------------------------------------------------

def tls() -> None:
    import ssl
    offers = {"tls13-alpn": (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_3, ["http/1.1"]),
              "tls12-alpn": (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2, ["http/1.1"]),
              "any-h2-only": (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3, ["h2"]),
              "any-no-alpn": (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3, None)}
    for name, (lo, hi, alpn) in offers.items():
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.minimum_version, ctx.maximum_version = lo, hi
        if alpn:
            ctx.set_alpn_protocols(alpn)
        rb, wb = ssl.MemoryBIO(), ssl.MemoryBIO()
        c = ctx.wrap_bio(rb, wb, server_hostname="127.0.0.1")
        try:
            c.do_handshake()
        except ssl.SSLWantReadError:
            pass
        hello = wb.read()
        out("tls", name, b"\xff" + hello)
        out("tls", name + "-pieces", b"\x04" + hello)


def main(argv) -> int:
    jobs = {"artifact": artifact, "vault": vault, "answer": answer, "config": config,
            "tls": tls}
    for name in argv[1:] or list(jobs):
        jobs[name]()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
