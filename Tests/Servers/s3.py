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
import datetime, hashlib, hmac, os, signal, sys, urllib.error, urllib.request

import launcher
from launcher import Failure, free_port, spawn, wait_ready

REGION, ACCESS_KEY, SECRET_KEY = "us-east-1", "testing", "testing"

launcher.setup(subreaper=True)


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

    wait_ready(probe, proc, log, "moto_server", interval=0.1)
    for name in buckets:
        try:
            signed_request(endpoint, "PUT", f"/{name}")
        except urllib.error.HTTPError as e:
            raise Failure(f"creating bucket {name} failed: HTTP {e.code} {e.read()[:500]!r}")
    return {"endpoint": endpoint, "region": REGION, "access_key": ACCESS_KEY, "secret_key": SECRET_KEY,
            "bucket": buckets[0], "buckets": buckets, "log": log}


def main():
    parser = launcher.argument_parser("moto S3 server on loopback until stdin closes")
    parser.add_argument("--bucket", action="append", help="bucket to create (repeatable; default polyarchiv-test)")
    args, work = launcher.parse_args(parser)
    launcher.serve(lambda: start(work, args.bucket or ["polyarchiv-test"]))


if __name__ == "__main__":
    main()
