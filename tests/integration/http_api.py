"""A small client of a node's HTTP edge (management API, /metrics, probes)
for black-box tests: urllib only, every call bounded by a timeout."""

import json
import socket
import urllib.error
import urllib.parse
import urllib.request

TIMEOUT = 10.0


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"Response({self.status}, {self.body[:300]!r})"


class Api:
    def __init__(self, port, key=None, token=None):
        self.base = f"http://127.0.0.1:{port}"
        self.key = key
        self.token = token

    def call(self, method, path, body=None, headers=None, raw=None, auth=True, timeout=TIMEOUT):
        """(status, headers, text) of one request; body is sent as JSON, raw as bytes."""
        h = dict(headers or {})
        if auth and self.key:
            h.setdefault("X-API-Key", self.key)
        if auth and self.token:
            h.setdefault("Authorization", f"Bearer {self.token}")
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return Response(r.status, dict(r.headers), r.read().decode())
        except urllib.error.HTTPError as e:
            return Response(e.code, dict(e.headers), e.read().decode())

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.call("POST", path, body=body if body is not None else {}, **kw)

    def patch(self, path, body, **kw):
        return self.call("PATCH", path, body=body, **kw)

    def delete(self, path, **kw):
        return self.call("DELETE", path, **kw)


def quote(segment):
    """A path segment: slashes and everything else reserved percent-encoded."""
    return urllib.parse.quote(segment, safe="")


def raw_http(port, data, timeout=5.0):
    """Sends bytes, returns everything the node answers until it closes."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk
    finally:
        s.close()
