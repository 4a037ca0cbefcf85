#!/usr/bin/env python3
"""A minimal WebDAV-like server whose first N PUTs answer 503 (for retry tests).

Usage: flaky_dav.py ROOT FAILURES [STATUS] [--tls CERT KEY [--client-ca CA]] [--no-head-length]
With --tls it speaks HTTPS; with --client-ca it also requires a client certificate signed by CA. With
--no-head-length, HEAD answers carry no Content-Length (as some servers do); PROPFIND (Depth 0) tells the size and
whether a path is a collection.
Answers STATUS (default 503) to the first FAILURES PUT requests, then stores files under ROOT; HEAD, GET, MKCOL,
MOVE (Destination header) and DELETE work. Prints its port, runs until stdin closes; every request is logged to
ROOT/../requests.log as "METHOD PATH STATUS".
"""
import http.server, os, ssl, sys, threading, urllib.parse

import launcher

arguments = sys.argv[1:]
tls = client_ca = None
if "--tls" in arguments:
    at = arguments.index("--tls")
    tls = arguments[at + 1:at + 3]
    del arguments[at:at + 3]
if "--client-ca" in arguments:
    at = arguments.index("--client-ca")
    client_ca = arguments[at + 1]
    del arguments[at:at + 2]
no_head_length = "--no-head-length" in arguments
if no_head_length:
    arguments.remove("--no-head-length")
root, failures = arguments[0], int(arguments[1])
status = int(arguments[2]) if len(arguments) > 2 else 503
log = os.path.join(os.path.dirname(os.path.abspath(root)), "requests.log")
state = {"puts": 0}


class Handler(http.server.BaseHTTPRequestHandler):
    def local(self, path=None):
        return os.path.join(root, urllib.parse.unquote(urllib.parse.urlparse(path or self.path).path).lstrip("/"))

    def answer(self, code, body=b""):
        with open(log, "a") as out:
            out.write(f"{self.command} {self.path} {code}\n")
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_PUT(self):
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length)
        state["puts"] += 1
        if state["puts"] <= failures:
            return self.answer(status)
        os.makedirs(os.path.dirname(self.local()), exist_ok=True)
        with open(self.local(), "wb") as out:
            out.write(data)
        self.answer(201)

    def do_HEAD(self):
        path = self.local()
        if not os.path.isfile(path):
            return self.answer(404)
        self.send_response(200)
        if not no_head_length:
            self.send_header("Content-Length", str(os.path.getsize(path)))
        self.end_headers()

    def do_PROPFIND(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = self.local()
        if not os.path.exists(path):
            return self.answer(404)
        kind = "<D:collection/>" if os.path.isdir(path) else ""
        length = "" if os.path.isdir(path) else f"<D:getcontentlength>{os.path.getsize(path)}</D:getcontentlength>"
        body = (f'<?xml version="1.0"?><D:multistatus xmlns:D="DAV:"><D:response><D:href>{self.path}</D:href><D:propstat><D:prop>'
                f'<D:resourcetype>{kind}</D:resourcetype>{length}</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>'
                f'</D:response></D:multistatus>').encode()
        self.answer(207, body)

    def do_GET(self):
        path = self.local()
        if not os.path.isfile(path):
            return self.answer(404)
        with open(path, "rb") as source:
            self.answer(200, source.read())

    def do_MKCOL(self):
        os.makedirs(self.local(), exist_ok=True)
        self.answer(201)

    def do_MOVE(self):
        os.replace(self.local(), self.local(self.headers["Destination"]))
        self.answer(204)

    def do_DELETE(self):
        if os.path.isfile(self.local()):
            os.remove(self.local())
        self.answer(204)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
if tls:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*tls)
    if client_ca:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(client_ca)
    server.socket = context.wrap_socket(server.socket, server_side=True)
threading.Thread(target=server.serve_forever, daemon=True).start()
print(server.server_address[1], flush=True)
launcher.wait_for_eof()
server.shutdown()
