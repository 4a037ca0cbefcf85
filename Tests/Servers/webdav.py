#!/usr/bin/env python3
"""A throwaway WebDAV server on loopback for the tests: nginx (apt-get install nginx-light or nginx) with its dav module
and ngx_http_dav_ext_module for PROPFIND/OPTIONS (apt-get install libnginx-mod-http-dav-ext).

Usage: webdav.py WORKDIR [--tls] [--append-only]
WORKDIR is an existing empty directory; nginx.conf, htpasswd, temp dirs, pid file and logs live in it, and the served
tree is WORKDIR/dav. Basic auth: user `backup` with a random password (WORKDIR/webdav.password, mode 0600, no trailing
newline). Methods: GET HEAD PUT (parent collections are created: create_full_put_path) DELETE MKCOL COPY MOVE
PROPFIND OPTIONS; no request size limit. nginx's rules: MKCOL and collection MOVE/COPY/DELETE URLs end with "/";
MOVE/COPY need a Destination header (an absolute URL or a path); Overwrite: F is honoured.
--tls: https with a self-signed certificate for 127.0.0.1 (WORKDIR/webdav-cert.pem, subjectAltName IP:127.0.0.1,
usable as the CA file).
When ready, prints one JSON line:
  {"url": "http://127.0.0.1:N/", "host": "127.0.0.1", "port": N, "user": "backup", "password": ...,
   "password_file": ..., "root": WORKDIR/dav, "tls": false, "ca_cert": null, "access_log": ..., "error_log": ...}
Then waits until stdin reaches EOF or SIGTERM/SIGINT arrives, stops nginx and exits 0.
On failure prints the reason to stderr and exits 1 without JSON.
"""
import http.client, os, ssl, subprocess

import launcher
from launcher import NGINX, Failure, free_port

DAV_EXT = "/usr/lib/nginx/modules/ngx_http_dav_ext_module.so"

launcher.setup(subreaper=True)


def http_probe(port, tls, ca_cert):
    """True once nginx answers an HTTP request (401 without credentials)."""
    try:
        if tls:
            conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=5,
                                               context=ssl.create_default_context(cafile=ca_cert))
        else:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("OPTIONS", "/")
            return conn.getresponse().status in (200, 401)
        finally:
            conn.close()
    except (OSError, http.client.HTTPException):
        return False


def start(work, tls, append_only=False):
    if not os.path.exists(NGINX):
        raise Failure("nginx is missing: apt-get install nginx libnginx-mod-http-dav-ext")
    if not os.path.exists(DAV_EXT):
        raise Failure(f"{DAV_EXT} is missing (PROPFIND): apt-get install libnginx-mod-http-dav-ext")
    if subprocess.run(["which", "openssl"], capture_output=True).returncode != 0:
        raise Failure("openssl is missing: apt-get install openssl")
    root = f"{work}/dav"
    os.makedirs(root)
    password, password_file, htpasswd = launcher.basic_auth(work, "webdav.password")
    ca_cert = None
    port = free_port()
    listen = f"listen 127.0.0.1:{port};"
    if tls:
        ca_cert, key = launcher.self_signed_certificate(work, "webdav")
        listen = f"listen 127.0.0.1:{port} ssl;\n        ssl_certificate {ca_cert};\n        ssl_certificate_key {key};"
    admin = {}
    deny = ""
    if append_only:  # `backup` may not DELETE; `admin` (its own password) may
        admin_password, admin_password_file = launcher.add_basic_auth_user(work, htpasswd, "admin", "webdav-admin.password")
        admin = {"admin_user": "admin", "admin_password": admin_password, "admin_password_file": admin_password_file}
        deny = """            set $deny "";
            if ($request_method = DELETE) { set $deny "D"; }
            if ($remote_user != "admin") { set $deny "${deny}U"; }
            if ($deny = "DU") { return 403; }
"""
    server = f"""        {listen}
        server_name 127.0.0.1;
        root {root};
        location / {{
{deny}            auth_basic "polyarchiv test WebDAV";
            auth_basic_user_file {htpasswd};
            dav_methods PUT DELETE MKCOL COPY MOVE;
            dav_ext_methods PROPFIND OPTIONS;
            dav_access user:rw group:rw all:r;
            create_full_put_path on;
            autoindex on;
        }}
"""
    error_log, access_log = launcher.start_nginx(work, "webdav.py", server, lambda: http_probe(port, tls, ca_cert),
                                                 main=f"load_module {DAV_EXT};\n", http="    sendfile on;\n")
    scheme = "https" if tls else "http"
    return {"url": f"{scheme}://127.0.0.1:{port}/", "host": "127.0.0.1", "port": port, "user": "backup",
            "password": password, "password_file": password_file, "root": root, "tls": tls, "ca_cert": ca_cert,
            "access_log": access_log, "error_log": error_log, **admin}


def main():
    parser = launcher.argument_parser("nginx WebDAV server on loopback until stdin closes")
    parser.add_argument("--tls", action="store_true", help="https with a self-signed certificate for 127.0.0.1")
    parser.add_argument("--append-only", action="store_true",
                        help="user backup may not DELETE; user admin (admin_password_file) may")
    args, work = launcher.parse_args(parser)
    launcher.serve(lambda: start(work, args.tls, args.append_only))


if __name__ == "__main__":
    main()
