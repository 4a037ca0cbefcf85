#!/usr/bin/env python3
"""A throwaway OpenLDAP slapd on loopback for the tests.

Usage: slapd.py WORKDIR
WORKDIR is an existing empty directory; slapd.conf (not cn=config), the mdb database, pid/args files, the log and
the password file all live in it. Schemas core, cosine, nis and inetorgperson; suffix dc=example,dc=org; rootdn
cn=admin,dc=example,dc=org with a random password (password_file: no newline, mode 0600, so `ldapsearch -y` works).
Loaded at start: dc=example,dc=org, ou=people, uid=alice and uid=bob (inetOrgPerson) under ou=people.
slapd runs as root, so `slapcat -f SLAPD_CONFIG -n DATABASE` and `slapadd -f ... -n ...` run as root work on the
same files (slapadd only while slapd is stopped, or with -q on an empty database).
When ready, prints one JSON line:
  {"url": "ldap://127.0.0.1:N", "host": "127.0.0.1", "port": N, "suffix": "dc=example,dc=org",
   "bind_dn": "cn=admin,dc=example,dc=org", "password_file": ..., "slapd_config": ..., "database": 1,
   "data_dir": ..., "entries": [...], "log": ...}
Then waits until stdin reaches EOF or SIGTERM/SIGINT arrives, stops slapd and exits 0.
On failure prints the reason to stderr and exits 1 without JSON.
"""
import base64, ctypes, hashlib, json, os, secrets, signal, socket, subprocess, sys, time

PACKAGE = "slapd"
SLAPD, SLAPADD, SCHEMA = "/usr/sbin/slapd", "/usr/sbin/slapadd", "/etc/ldap/schema"
SUFFIX, ROOTDN = "dc=example,dc=org", "cn=admin,dc=example,dc=org"
DATABASE = 1  # with slapd.conf, -n 0 is the implicit config database; the first `database` is 1
READY_TIMEOUT = 60

# The test may start us with signals blocked or ignored, and the servers inherit both across exec: unblock every
# signal (SIGTERM and SIGINT included) and restore the default action of those the servers rely on.
signal.pthread_sigmask(signal.SIG_UNBLOCK, signal.valid_signals())
for _sig in (signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGCHLD, signal.SIGALRM):
    signal.signal(_sig, signal.SIG_DFL)


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


def die_with_launcher(sig):
    """preexec_fn: the child gets `sig` when the launcher dies, even by SIGKILL (runs after setuid)."""
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


def tail(path, lines=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:]).rstrip()
    except OSError:
        return ""


def run(argv, what, **kw):
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, **kw)
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
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)


def ssha(password):
    salt = secrets.token_bytes(8)
    return "{SSHA}" + base64.b64encode(hashlib.sha1(password.encode() + salt).digest() + salt).decode()


def tlv(tag, data):
    n = len(data)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + data


def simple_bind(port, dn, password):
    """LDAPv3 simple bind by hand (no client library needed); returns the resultCode, None if no answer yet."""
    request = tlv(0x30, tlv(0x02, b"\x01") + tlv(0x60, tlv(0x02, b"\x03") + tlv(0x04, dn.encode())
                                                    + tlv(0x80, password.encode())))
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(request)
            answer = s.recv(4096)
    except OSError:
        return None
    at = answer.find(b"\x61")  # [APPLICATION 1] BindResponse, then ENUMERATED resultCode
    if at < 0:
        return None
    body = answer[at + 2:] if answer[at + 1] < 0x80 else answer[at + 2 + (answer[at + 1] & 0x7f):]
    return body[2] if body[:2] == b"\x0a\x01" else None


BASE_LDIF = f"""dn: {SUFFIX}
objectClass: top
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: ou=people,{SUFFIX}
objectClass: top
objectClass: organizationalUnit
ou: people

dn: uid=alice,ou=people,{SUFFIX}
objectClass: top
objectClass: inetOrgPerson
uid: alice
cn: Alice Example
sn: Example
givenName: Alice
mail: alice@example.org

dn: uid=bob,ou=people,{SUFFIX}
objectClass: top
objectClass: inetOrgPerson
uid: bob
cn: Bob Example
sn: Example
givenName: Bob
mail: bob@example.org
"""
ENTRIES = [f"{SUFFIX}", f"ou=people,{SUFFIX}", f"uid=alice,ou=people,{SUFFIX}", f"uid=bob,ou=people,{SUFFIX}"]


def start(work):
    for tool in (SLAPD, SLAPADD, f"{SCHEMA}/inetorgperson.schema"):
        if not os.path.exists(tool):
            raise Failure(f"slapd is missing ({tool}): apt-get install {PACKAGE} ldap-utils")
    conf, data, log = f"{work}/slapd.conf", f"{work}/db", f"{work}/slapd.log"
    os.mkdir(data, 0o700)
    port = free_port()
    password = secrets.token_urlsafe(18)
    password_file = f"{work}/ldap.password"
    write_secret(password_file, password)
    schemas = "".join(f"include {SCHEMA}/{name}.schema\n" for name in ("core", "cosine", "nis", "inetorgperson"))
    with open(conf, "w") as f:
        f.write(f"""# written by polyarchiv's Tests/Servers/slapd.py
{schemas}
pidfile {work}/slapd.pid
argsfile {work}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb

database mdb
maxsize 1073741824
suffix "{SUFFIX}"
rootdn "{ROOTDN}"
rootpw {ssha(password)}
directory {data}
index objectClass eq
index uid eq
""")
    with open(f"{work}/base.ldif", "w") as f:
        f.write(BASE_LDIF)
    run([SLAPADD, "-f", conf, "-n", str(DATABASE), "-l", f"{work}/base.ldif"], "slapadd of the base entries")
    url = f"ldap://127.0.0.1:{port}"
    # -d 0: stay in the foreground (no fork), log nothing extra; -s 256 would log stats
    proc = spawn([SLAPD, "-f", conf, "-h", f"{url}/", "-d", "0"], log, cwd=work)
    wait_ready(lambda: simple_bind(port, ROOTDN, password) is not None, proc, log, "slapd")
    code = simple_bind(port, ROOTDN, password)
    if code != 0:
        raise Failure(f"slapd refused the rootdn bind (resultCode {code}); log {log}:\n{tail(log)}")
    return {"url": url, "host": "127.0.0.1", "port": port, "suffix": SUFFIX, "bind_dn": ROOTDN,
            "password_file": password_file, "slapd_config": conf, "database": DATABASE, "data_dir": data,
            "entries": ENTRIES, "log": log}


def main():
    if len(sys.argv) != 2 or not os.path.isdir(sys.argv[1]):
        sys.exit(f"usage: {sys.argv[0]} WORKDIR (an existing directory)")
    work = os.path.realpath(sys.argv[1])
    status = 0
    try:
        info = start(work)
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
