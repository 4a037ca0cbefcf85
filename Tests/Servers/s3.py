#!/usr/bin/env python3
"""A throwaway S3 server on loopback for the tests: moto_server (pip install 'moto[server]'), in memory.

Usage: s3.py WORKDIR [--bucket NAME ...]
WORKDIR is an existing empty directory; moto's log (moto.log) goes there. Listens on a free port of 127.0.0.1.
The buckets (default: polyarchiv-test; names need at least 3 characters) are created with signed (SigV4) requests
before the JSON line is printed:
  {"endpoint": "http://127.0.0.1:PORT", "region": "us-east-1", "access_key": "testing", "secret_key": "testing",
   "bucket": "polyarchiv-test", "buckets": [...], "log": ...}
moto accepts any credentials and does not check signatures; use path-style URLs (ENDPOINT/BUCKET/KEY).
Then waits until stdin reaches EOF or SIGTERM/SIGINT arrives, stops moto_server and exits 0.
On failure prints the reason to stderr and exits 1 without JSON.
"""
import argparse, ctypes, datetime, hashlib, hmac, json, os, signal, socket, subprocess, sys, time
import urllib.error, urllib.request

READY_TIMEOUT = 60
REGION, ACCESS_KEY, SECRET_KEY = "us-east-1", "testing", "testing"

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
            os.killpg(proc.pid, signal.SIGKILL)  # strays left in the server's session
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


def wait_ready(probe, proc, log, what):
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        if probe():
            return
        if proc.poll() is not None:
            raise Failure(f"{what} exited with status {proc.returncode} during start; log {log}:\n{tail(log)}")
        if time.monotonic() > deadline:
            raise Failure(f"{what} not ready after {READY_TIMEOUT} s; log {log}:\n{tail(log)}")
        time.sleep(0.1)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def signed_request(endpoint, method, path, body=b""):
    """An S3 request signed with AWS Signature Version 4 (path-style, no query string)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    host = endpoint.split("://", 1)[1]
    payload_hash = hashlib.sha256(body).hexdigest()
    headers = {"host": host, "x-amz-content-sha256": payload_hash, "x-amz-date": amz_date}
    signed = ";".join(sorted(headers))
    canonical = "\n".join([method, path, "", "".join(f"{k}:{headers[k]}\n" for k in sorted(headers)), signed, payload_hash])
    scope = f"{day}/{REGION}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = f"AWS4{SECRET_KEY}".encode()
    for part in (day, REGION, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{scope}, SignedHeaders={signed}, "
                                f"Signature={signature}")
    del headers["host"]
    request = urllib.request.Request(endpoint + path, data=body if method in ("PUT", "POST") else None,
                                     method=method, headers=headers)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy
    with opener.open(request, timeout=10) as response:
        return response.status, response.read()


def start(work, buckets):
    try:
        import moto.server, flask, flask_cors  # noqa: F401  (moto[server]'s extras)
    except ImportError as e:
        raise Failure(f"moto_server is missing ({e}): {sys.executable} -m pip install 'moto[server]'")
    for name in buckets:
        if not 3 <= len(name) <= 63:
            raise Failure(f"bucket name {name!r}: S3 (and moto) need 3 to 63 characters")
    port, log = free_port(), f"{work}/moto.log"
    endpoint = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    # `python -m moto.server` is moto_server without pyenv's shim in between; SIGINT stops werkzeug cleanly.
    proc = spawn([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], log,
                 stop_signal=signal.SIGINT, cwd=work, env=env)

    def probe():
        try:
            return signed_request(endpoint, "GET", "/")[0] == 200
        except (OSError, urllib.error.URLError):
            return False

    wait_ready(probe, proc, log, "moto_server")
    for name in buckets:
        try:
            signed_request(endpoint, "PUT", f"/{name}")
        except urllib.error.HTTPError as e:
            raise Failure(f"creating bucket {name} failed: HTTP {e.code} {e.read()[:500]!r}")
    return {"endpoint": endpoint, "region": REGION, "access_key": ACCESS_KEY, "secret_key": SECRET_KEY,
            "bucket": buckets[0], "buckets": buckets, "log": log}


def main():
    parser = argparse.ArgumentParser(description="moto S3 server on loopback until stdin closes")
    parser.add_argument("workdir")
    parser.add_argument("--bucket", action="append", help="bucket to create (repeatable; default polyarchiv-test)")
    args = parser.parse_args()
    if not os.path.isdir(args.workdir):
        sys.exit(f"{sys.argv[0]}: {args.workdir} is not an existing directory")
    work = os.path.realpath(args.workdir)
    status = 0
    try:
        info = start(work, args.bucket or ["polyarchiv-test"])
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
