#!/usr/bin/env python3
"""A throwaway S3 server on loopback for the tests: moto_server (pip install 'moto[server]'), in memory, that
authenticates every S3 request with AWS Signature Version 4 and a key pair it made.

Usage: s3.py WORKDIR [--bucket NAME ...] [--locked-bucket NAME ...]
WORKDIR is an existing empty directory; moto's log (moto.log) goes there. Listens on a free port of 127.0.0.1.
moto runs with INITIAL_NO_AUTH_ACTION_COUNT=3: its first three API actions go unauthenticated, every later one is
checked. The launcher spends the three on IAM (CreateUser, PutUserPolicy allowing s3:*, CreateAccessKey): the key
pair is random (AKIA... and a 40-character secret). moto runs in a child (s3.py --moto-server HOST PORT) that fixes
its SigV4 check where it differs from AWS (see serve_moto). A self-test (wrong secret, unknown key, old date, other
region, tampered body, percent-encoded key and query) runs before the buckets (default: polyarchiv-test; 3 to 63
lower case letters, digits and hyphens, no dots) are created with signed requests. Then prints:
  {"endpoint": "http://127.0.0.1:PORT", "region": "us-east-1", "access_key": "AKIA...", "secret_key": "...",
   "bucket": "polyarchiv-test", "buckets": [...], "port": PORT, "virtual_host_suffix": "localhost",
   "virtual_host_endpoint": "http://polyarchiv-test.localhost:PORT", "log": ".../moto.log"}
Path style: ENDPOINT/BUCKET/KEY. Virtual-hosted style: http://BUCKET.localhost:PORT/KEY, signed with that Host
(BUCKET.localhost:PORT); moto takes the bucket from the first label of any Host with a dot that is neither an IP
address nor starts with "localhost". libcurl (7.85 and later) resolves *.localhost to loopback itself; getaddrinfo
(glibc) does not: other clients need the equivalent of CURLOPT_RESOLVE "BUCKET.localhost:PORT:127.0.0.1" (which
also works for any other name, e.g. BUCKET.s3.test).
Requests are checked as AWS does: region us-east-1, service s3, x-amz-content-sha256 required (libcurl 7.88 does not
add it: pass "x-amz-content-sha256: UNSIGNED-PAYLOAD" or the body's SHA-256 and libcurl signs it), and the
canonical query is sorted, each parameter with "=" and percent-encoded (libcurl 7.88 signs the query as written, so
write ?uploads= and ?prefix=a%2F&uploads=, not ?uploads&prefix=a/). Not supported: presigned URLs (403),
aws-chunked uploads' chunk signatures (not checked). /moto-api/ takes no credentials (data.json shows the secret,
reset-auth turns authentication off): a test must not use it.
Then waits until stdin reaches EOF or SIGTERM/SIGINT arrives, stops moto_server and exits 0.
On failure prints the reason to stderr and exits 1 without JSON.
"""
import datetime, hashlib, hmac, json, os, re, signal, sys, urllib.error, urllib.parse, urllib.request
import xml.etree.ElementTree as ET

import launcher
from launcher import Failure, free_port, spawn, wait_ready

REGION, USER = "us-east-1", "polyarchiv-test"
NO_AUTH_ACTIONS = 3  # CreateUser, PutUserPolicy, CreateAccessKey
POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
VIRTUAL_HOST_SUFFIX = "localhost"
MAX_SKEW = datetime.timedelta(minutes=15)  # as AWS
AMZ_DATE = "%Y%m%dT%H%M%SZ"


# --- moto_server, with the checks moto 5 leaves out (runs in the child: s3.py --moto-server HOST PORT) -------------

def canonical_target(target):
    """Path and query of a request target, the way AWS canonicalises them for S3: every byte percent-encoded but
    A-Z a-z 0-9 - _ . ~ (and / in the path), the query's parameters sorted, each with its "="."""
    if re.match(r"(?i)https?://", target):  # absolute form
        target = "/" + target.split("/", 3)[3] if target.count("/") >= 3 else "/"
    path, _, query = target.partition("?")

    def encode(text, safe=""):  # RAW_URI holds the bytes as latin-1 (PEP 3333)
        try:
            raw = text.encode("latin-1")
        except UnicodeEncodeError:
            raw = text.encode()
        return urllib.parse.quote(urllib.parse.unquote_to_bytes(raw), safe=safe)

    pairs = sorted((encode(k), encode(v)) for k, _, v in (p.partition("=") for p in query.split("&") if p))
    return (encode(path, "/") or "/") + ("?" + "&".join(f"{k}={v}" for k, v in pairs) if pairs else "")


def serve_moto(host, port, region):
    """moto_server in this process, its SigV4 check of S3 requests made to do what AWS does: sign over the request
    target as the client sent it (moto signs over werkzeug's decoded URL, so %2F, %2B, UTF-8... never match); 403
    AccessDenied without Authorization (moto: 500); 400 AuthorizationHeaderMalformed unless AWS4-HMAC-SHA256 with a
    scope of this region and s3, signing host and x-amz-date; 400 InvalidRequest without x-amz-content-sha256; 403
    RequestTimeTooSkewed more than 15 minutes off; 400 XAmzContentSHA256Mismatch for a body that is not the signed
    one."""
    import flask
    from moto.core import errors, serialize
    from moto.iam import access_control
    from moto.s3.exceptions import S3AccessDeniedError, S3ClientError
    from moto.server import main as moto_main

    statuses = {"RequestTimeTooSkewed": 403, "XAmzContentSHA256Mismatch": 400, "InvalidRequest": 400,
                "AuthorizationHeaderMalformed": 400}
    error_model = serialize.get_error_model

    def get_error_model(exception, service_model):  # moto's S3 model lacks these errors: it would answer 400
        code = getattr(exception, "code", None)
        if code in statuses:
            return errors.ErrorShape(shape_name=code, shape_model={
                "exception": True, "type": "structure", "members": {},
                "error": {"code": code, "httpStatusCode": statuses[code]}})
        return error_model(exception, service_model)

    init, check_signature = access_control.IAMRequestBase.__init__, access_control.IAMRequestBase.check_signature

    def checked_init(self, account_id, method, path, data, body, headers, action):
        if flask.has_request_context():
            path = canonical_target(flask.request.environ.get("RAW_URI") or path)
        if not isinstance(self, access_control.S3IAMRequest):
            return init(self, account_id, method, path, data, body, headers, action)
        lower = {k.lower(): v for k, v in headers.items()}
        if "authorization" not in lower:
            raise S3AccessDeniedError()
        auth = re.match(r"AWS4-HMAC-SHA256 Credential=[^/,]+/\d{8}/([^/,]+)/s3/aws4_request, ?SignedHeaders=([^,]+),",
                        lower["authorization"])
        if not auth or not {"host", "x-amz-date"} <= set(auth.group(2).split(";")):
            raise S3ClientError("AuthorizationHeaderMalformed", "Only AWS4-HMAC-SHA256 is supported, with a "
                                "credential KEY/DATE/REGION/s3/aws4_request and host and x-amz-date signed.")
        if auth.group(1) != region:
            raise S3ClientError("AuthorizationHeaderMalformed", f"The authorization header is malformed; the region "
                                f"'{auth.group(1)}' is wrong; expecting '{region}'")
        if "x-amz-content-sha256" not in lower:
            raise S3ClientError("InvalidRequest", "Missing required header for this request: x-amz-content-sha256")
        init(self, account_id, method, path, data, body, headers, action)  # InvalidAccessKeyId
        try:
            sent = datetime.datetime.strptime(lower.get("x-amz-date", ""), AMZ_DATE)
        except ValueError:
            raise S3ClientError("AccessDenied", "AWS authentication requires a valid x-amz-date header")
        if abs(datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - sent) > MAX_SKEW:
            raise S3ClientError("RequestTimeTooSkewed",
                                "The difference between the request time and the current time is too large.")

    def checked_signature(self):
        check_signature(self)
        if isinstance(self, access_control.S3IAMRequest):
            claimed = {k.lower(): v for k, v in self._headers.items()}["x-amz-content-sha256"]
            if re.fullmatch(r"[0-9a-fA-F]{64}", claimed):
                body = self._body if isinstance(self._body, bytes) else (self._body or "").encode()
                if hashlib.sha256(body).hexdigest() != claimed.lower():
                    raise S3ClientError("XAmzContentSHA256Mismatch",
                                        "The provided 'x-amz-content-sha256' header does not match what was computed.")

    serialize.get_error_model = get_error_model
    access_control.IAMRequestBase.__init__ = checked_init
    access_control.IAMRequestBase.check_signature = checked_signature
    moto_main(["-H", host, "-p", str(port)])


# --- the launcher ---------------------------------------------------------------------------------------------------

def signed_request(endpoint, method, path, query="", body=b"", access_key="bootstrap", secret_key="bootstrap",
                   service="s3", headers=None, amz_date=None, payload_hash=None, region=REGION):
    """(status, body) of a request signed with AWS Signature Version 4; path and query are already URI-encoded in
    canonical form (query sorted). An HTTP error status is returned, not raised."""
    amz_date = amz_date or datetime.datetime.now(datetime.timezone.utc).strftime(AMZ_DATE)
    day = amz_date[:8]
    payload_hash = payload_hash or hashlib.sha256(body).hexdigest()
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    if body:  # else urllib sends application/x-www-form-urlencoded, and moto's flask parses the body away
        headers.setdefault("content-type", "application/octet-stream")
    headers.update({"host": endpoint.split("://", 1)[1], "x-amz-content-sha256": payload_hash, "x-amz-date": amz_date})
    signed = ";".join(sorted(headers))
    canonical = "\n".join([method, path, query, "".join(f"{k}:{headers[k]}\n" for k in sorted(headers)), signed,
                           payload_hash])
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = f"AWS4{secret_key}".encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={signed}, "
                                f"Signature={signature}")
    del headers["host"]
    url = endpoint + path + ("?" + query if query else "")
    request = urllib.request.Request(url, data=body if method in ("PUT", "POST") else None, method=method,
                                     headers=headers)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def iam(endpoint, action, **params):
    """An IAM Query API call, signed with a key moto does not know: only answered while moto still lets
    unauthenticated actions through. Returns the parsed XML; raises Failure unless 200."""
    body = urllib.parse.urlencode({"Action": action, "Version": "2010-05-08", **params}).encode()
    status, text = signed_request(endpoint, "POST", "/", body=body, service="iam",
                                  headers={"content-type": "application/x-www-form-urlencoded; charset=utf-8"})
    if status != 200:
        raise Failure(f"moto IAM {action} failed: HTTP {status} {text[:500]!r}")
    return ET.fromstring(text)


def find(tree, name):
    """The text of the first element named name (any XML namespace)."""
    for element in tree.iter():
        if element.tag.rsplit("}", 1)[-1] == name:
            return element.text
    raise Failure(f"moto's answer has no {name}: {ET.tostring(tree)[:500]!r}")


def expect(what, answer, status, code=None):
    """Raises Failure unless the (status, body) answer has that status (and S3 error code)."""
    if answer[0] != status or (code and f"<Code>{code}</Code>".encode() not in answer[1]):
        raise Failure(f"moto_server self-test: {what}: expected HTTP {status} {code or ''}, got HTTP {answer[0]} "
                      f"{answer[1][:300]!r}")


def start(work, buckets, locked=()):
    try:
        import moto.server, flask, flask_cors  # noqa: F401  (moto[server]'s extras)
    except ImportError as e:
        raise Failure(f"moto_server is missing ({e}): {sys.executable} -m pip install 'moto[server]'")
    for name in buckets:
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", name):
            raise Failure(f"bucket name {name!r}: 3 to 63 lower case letters, digits and hyphens (no dots, so that "
                          f"virtual-hosted requests work: moto takes the bucket from the Host's first label)")
    port, log = free_port(), f"{work}/moto.log"
    endpoint = f"http://127.0.0.1:{port}"
    # No AWS_* (the sandbox's CA bundle and the like) and none of moto's own switches from outside
    # (MOTO_S3_CUSTOM_ENDPOINTS or S3_IGNORE_SUBDOMAIN_BUCKETNAME would turn virtual-hosted requests off).
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "MOTO_", "S3_", "TEST_SERVER_MODE", "TEST_PROXY_MODE", "INITIAL_NO_AUTH"))}
    env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(NO_AUTH_ACTIONS)
    # moto_server in a python of its own (serve_moto); SIGINT stops werkzeug cleanly.
    proc = spawn([sys.executable, os.path.abspath(__file__), "--moto-server", "127.0.0.1", str(port)], log,
                 stop_signal=signal.SIGINT, cwd=work, env=env)

    def probe():  # /moto-api/ is no API action: it does not use up the unauthenticated ones
        try:
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            with opener.open(f"{endpoint}/moto-api/config", timeout=2) as response:
                return 200 <= response.status < 300  # 201 in moto 5
        except OSError:
            return False

    wait_ready(probe, proc, log, "moto_server", interval=0.1)
    iam(endpoint, "CreateUser", UserName=USER)
    iam(endpoint, "PutUserPolicy", UserName=USER, PolicyName="s3-all", PolicyDocument=json.dumps(POLICY))
    created = iam(endpoint, "CreateAccessKey", UserName=USER)
    access_key, secret_key = find(created, "AccessKeyId"), find(created, "SecretAccessKey")
    if access_key == secret_key:
        raise Failure("moto made an access key equal to its secret")

    def signed(method, path, query="", **kw):
        return signed_request(endpoint, method, path, query, access_key=access_key, secret_key=secret_key, **kw)

    # Authentication is on from now. Self-test (a moto upgrade may change what serve_moto patches).
    stale = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)).strftime(AMZ_DATE)
    wrong = secret_key[:-1] + ("y" if secret_key.endswith("x") else "x")
    expect("wrong secret", signed_request(endpoint, "GET", "/", access_key=access_key, secret_key=wrong),
           403, "SignatureDoesNotMatch")
    expect("unknown access key", signed_request(endpoint, "GET", "/", access_key="AKIA" + "X" * 16,
                                                secret_key=secret_key), 403, "InvalidAccessKeyId")
    expect("an hour old", signed("GET", "/", amz_date=stale), 403, "RequestTimeTooSkewed")
    expect("another region", signed("GET", "/", region="eu-west-1"), 400, "AuthorizationHeaderMalformed")
    expect("the right key", signed("GET", "/"), 200)
    for name in buckets:
        expect(f"creating bucket {name}", signed("PUT", f"/{name}"), 200)
    for name in locked:  # Object Lock (and so versioning) enabled, as it can only be at creation
        expect(f"creating bucket {name} with object lock", signed("PUT", f"/{name}",
               headers={"x-amz-bucket-object-lock-enabled": "true"}), 200)
    probe_key = f"/{buckets[0]}/self-test/a%2Bb%20c"
    expect("a body that is not the signed one", signed("PUT", probe_key, body=b"x", payload_hash="0" * 64),
           400, "XAmzContentSHA256Mismatch")
    expect("a percent-encoded key", signed("PUT", probe_key, body=b"x"), 200)
    expect("a percent-encoded query", signed("GET", f"/{buckets[0]}", "list-type=2&prefix=self-test%2Fa%2Bb"), 200)
    expect("deleting the self-test object", signed("DELETE", probe_key), 204)
    return {"endpoint": endpoint, "region": REGION, "access_key": access_key, "secret_key": secret_key,
            "bucket": buckets[0], "buckets": buckets, "locked_buckets": list(locked), "port": port, "virtual_host_suffix": VIRTUAL_HOST_SUFFIX,
            "virtual_host_endpoint": f"http://{buckets[0]}.{VIRTUAL_HOST_SUFFIX}:{port}", "log": log}


def main():
    if sys.argv[1:2] == ["--moto-server"]:  # the child spawned by start()
        serve_moto(sys.argv[2], int(sys.argv[3]), REGION)
        return
    launcher.setup(subreaper=True)
    parser = launcher.argument_parser("moto S3 server on loopback, SigV4 enforced, until stdin closes")
    parser.add_argument("--bucket", action="append", help="bucket to create (repeatable; default polyarchiv-test)")
    parser.add_argument("--locked-bucket", action="append", default=[],
                        help="bucket to create with Object Lock enabled (repeatable)")
    args, work = launcher.parse_args(parser)
    launcher.serve(lambda: start(work, args.bucket or ["polyarchiv-test"], args.locked_bucket))


if __name__ == "__main__":
    main()
