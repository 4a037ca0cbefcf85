#!/usr/bin/env python3
"""A throwaway WebDAV server on loopback for the tests: nginx (apt-get install nginx-light or nginx) with its dav module
and ngx_http_dav_ext_module for PROPFIND/OPTIONS (apt-get install libnginx-mod-http-dav-ext).

Usage: webdav.py WORKDIR [--tls]
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
import argparse, ctypes, http.client, json, os, secrets, signal, socket, ssl, subprocess, sys, time

NGINX = "/usr/sbin/nginx"
DAV_EXT = "/usr/lib/nginx/modules/ngx_http_dav_ext_module.so"
READY_TIMEOUT = 60

signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})


class Stop(Exception):
    pass


class Failure(Exception):
    pass


def on_signal(signum, frame):
    raise Stop()


signal.signal(signal.SIGTERM, on_signal)
signal.signal(signal.SIGINT, on_signal)
signal.signal(signal.SIGHUP, on_signal)

CHILDREN = []  # (Popen, signal that stops it cleanly)
LIBC = ctypes.CDLL(None, use_errno=True)
LAUNCHER = os.getpid()
LIBC.prctl(36, 1)  # PR_SET_CHILD_SUBREAPER: orphaned descendants (e.g. CGI workers) come back to us to be reaped


def die_with_launcher(sig):
    """preexec_fn: the child gets `sig` when the launcher dies, even by SIGKILL."""
    def hook():
        LIBC.prctl(1, int(sig))  # PR_SET_PDEATHSIG
        if os.getppid() != LAUNCHER:
            os.kill(os.getpid(), sig)
    return hook


def spawn(argv, log, stop_signal=signal.SIGTERM, **kw):
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, preexec_fn=die_with_launcher(stop_signal), **kw)
    CHILDREN.append((proc, stop_signal))
    return proc


def stop_all():
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    for proc, sig in reversed(CHILDREN):
        if proc.poll() is None:
            try:
                os.kill(proc.pid, sig)
                proc.wait(timeout=20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # strays left in the server's session (nginx workers)
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait()
    CHILDREN.clear()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # reap orphans handed to us as subreaper
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                time.sleep(0.02)
        except ChildProcessError:
            break


def tail(path, lines=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:]).rstrip()
    except OSError:
        return ""


def run(argv, what, **kw):
    if "input" not in kw:
        kw["stdin"] = subprocess.DEVNULL
    r = subprocess.run(argv, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise Failure(f"{what} failed (exit {r.returncode}): {(r.stderr or r.stdout).strip()[-2000:]}")
    return r.stdout


def wait_ready(probe, proc, log, what):
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        if probe():
            return
        if proc.poll() is not None:
            raise Failure(f"{what} exited with status {proc.returncode} during start; log {log}:\n{tail(log)}")
        if time.monotonic() > deadline:
            raise Failure(f"{what} not ready after {READY_TIMEOUT} s; log {log}:\n{tail(log)}")
        time.sleep(0.05)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_secret(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def self_signed_certificate(work, name):
    cert, key = f"{work}/{name}-cert.pem", f"{work}/{name}-key.pem"
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "7", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert], "openssl req (self-signed certificate)")
    os.chmod(key, 0o600)
    return cert, key


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


def start(work, tls):
    if not os.path.exists(NGINX):
        raise Failure("nginx is missing: apt-get install nginx libnginx-mod-http-dav-ext")
    if not os.path.exists(DAV_EXT):
        raise Failure(f"{DAV_EXT} is missing (PROPFIND): apt-get install libnginx-mod-http-dav-ext")
    if subprocess.run(["which", "openssl"], capture_output=True).returncode != 0:
        raise Failure("openssl is missing: apt-get install openssl")
    root, prefix = f"{work}/dav", f"{work}/nginx"
    os.makedirs(root)
    for d in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        os.makedirs(f"{prefix}/{d}")
    password, password_file, htpasswd = secrets.token_urlsafe(18), f"{work}/webdav.password", f"{work}/htpasswd"
    write_secret(password_file, password)
    hashed = run(["openssl", "passwd", "-apr1", "-stdin"], "openssl passwd", input=password).strip()
    write_secret(htpasswd, f"backup:{hashed}\n")
    ca_cert = None
    port = free_port()
    listen = f"listen 127.0.0.1:{port};"
    if tls:
        ca_cert, key = self_signed_certificate(work, "webdav")
        listen = f"listen 127.0.0.1:{port} ssl;\n        ssl_certificate {ca_cert};\n        ssl_certificate_key {key};"
    conf, error_log, access_log = f"{work}/nginx.conf", f"{work}/nginx-error.log", f"{work}/nginx-access.log"
    user = "user root;" if os.geteuid() == 0 else ""  # workers must write into WORKDIR
    with open(conf, "w") as f:
        f.write(f"""# written by polyarchiv's Tests/Servers/webdav.py
load_module {DAV_EXT};
daemon off;
master_process on;
worker_processes 1;
{user}
pid {work}/nginx.pid;
error_log {error_log} info;
events {{ worker_connections 256; }}
http {{
    default_type application/octet-stream;
    access_log {access_log};
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    client_max_body_size 0;
    sendfile on;
    server {{
        {listen}
        server_name 127.0.0.1;
        root {root};
        location / {{
            auth_basic "polyarchiv test WebDAV";
            auth_basic_user_file {htpasswd};
            dav_methods PUT DELETE MKCOL COPY MOVE;
            dav_ext_methods PROPFIND OPTIONS;
            dav_access user:rw group:rw all:r;
            create_full_put_path on;
            autoindex on;
        }}
    }}
}}
""")
    # -e: the error log from the very start (else nginx first opens /var/log/nginx/error.log)
    proc = spawn([NGINX, "-e", error_log, "-p", prefix, "-c", conf], error_log, cwd=work)
    wait_ready(lambda: http_probe(port, tls, ca_cert), proc, error_log, "nginx")
    scheme = "https" if tls else "http"
    return {"url": f"{scheme}://127.0.0.1:{port}/", "host": "127.0.0.1", "port": port, "user": "backup",
            "password": password, "password_file": password_file, "root": root, "tls": tls, "ca_cert": ca_cert,
            "access_log": access_log, "error_log": error_log}


def main():
    parser = argparse.ArgumentParser(description="nginx WebDAV server on loopback until stdin closes")
    parser.add_argument("workdir")
    parser.add_argument("--tls", action="store_true", help="https with a self-signed certificate for 127.0.0.1")
    args = parser.parse_args()
    if not os.path.isdir(args.workdir):
        sys.exit(f"{sys.argv[0]}: {args.workdir} is not an existing directory")
    work = os.path.realpath(args.workdir)
    status = 0
    try:
        info = start(work, args.tls)
        print(json.dumps(info), flush=True)
        while os.read(0, 65536):
            pass
    except Stop:
        pass
    except Failure as e:
        print(e, file=sys.stderr, flush=True)
        status = 1
    except BaseException as e:
        print(f"{os.path.basename(sys.argv[0])}: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        status = 1
    finally:
        stop_all()
    sys.exit(status)


if __name__ == "__main__":
    main()
