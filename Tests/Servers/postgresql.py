#!/usr/bin/env python3
"""A throwaway PostgreSQL 15 cluster on loopback for the tests.

Usage: postgresql.py WORKDIR
WORKDIR is an existing empty directory; the cluster, its socket, log and password files all live in it.
When ready, prints one JSON line:
  {"host": "127.0.0.1", "port": N, "user": "polyarchiv", "password_file": ..., "socket_dir": ..., "bin": ...,
   "database": "polyarchiv", "pgpass": ..., "data_dir": ..., "log": ..., "superuser": "postgres"}
`polyarchiv` is a superuser that logs in with its password (scram-sha-256) over TCP and over the socket;
`postgres` may log in over the socket without a password. password_file holds the bare password with no
newline; pgpass is the same password in PGPASSFILE format. Both are mode 0600 (libpq ignores a looser PGPASSFILE).
Then waits until stdin reaches EOF or SIGTERM/SIGINT arrives, stops the cluster and exits 0.
On failure prints the reason to stderr and exits 1 without JSON.
"""
import ctypes, json, os, pwd, secrets, signal, socket, subprocess, sys, time

BIN = "/usr/lib/postgresql/15/bin"
PACKAGE = "postgresql-15"
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


def check_reachable(path, user):
    """Every ancestor must be searchable by `user`, or the server cannot reach its files."""
    pw = pwd.getpwnam(user)
    p = path
    while True:
        st = os.stat(p)
        ok = st.st_mode & 0o001 or (st.st_uid == pw.pw_uid and st.st_mode & 0o100) \
            or (st.st_gid == pw.pw_gid and st.st_mode & 0o010)
        if not ok:
            raise Failure(f"{p} is not searchable by user {user}; the work directory must be reachable by {user}")
        if p == "/":
            return
        p = os.path.dirname(p)


def start(work):
    for tool in ("initdb", "postgres", "psql", "pg_isready"):
        if not os.path.exists(os.path.join(BIN, tool)):
            raise Failure(f"postgresql is missing ({BIN}/{tool}): apt-get install {PACKAGE}")
    try:
        pw = pwd.getpwnam("postgres")
    except KeyError:
        raise Failure(f"user postgres is missing: apt-get install {PACKAGE}")
    as_postgres = dict(user=pw.pw_uid, group=pw.pw_gid, extra_groups=[])

    data, sockdir, log = f"{work}/data", f"{work}/run", f"{work}/postgresql.log"
    port = free_port()
    if len(f"{sockdir}/.s.PGSQL.{port}.lock") > 107:
        raise Failure(f"work directory path too long for a unix socket: {work}")
    os.chmod(work, os.stat(work).st_mode | 0o711)
    check_reachable(work, "postgres")
    for d in (data, sockdir):
        os.mkdir(d, 0o700 if d == data else 0o755)
        os.chown(d, pw.pw_uid, pw.pw_gid)

    env = {k: v for k, v in os.environ.items() if not k.startswith("PG") and not k.startswith("LC_")}
    env.update(LC_ALL="C", HOME=pw.pw_dir)
    run([f"{BIN}/initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C",
         "--no-sync", "--no-instructions"], "initdb", cwd=data, env=env, **as_postgres)
    with open(f"{data}/pg_hba.conf", "w") as f:
        f.write("# written by polyarchiv's Tests/Servers/postgresql.py\n"
                "local all postgres trust\n"
                "local all all scram-sha-256\n"
                "host all all 127.0.0.1/32 scram-sha-256\n")
    proc = spawn([f"{BIN}/postgres", "-D", data, "-p", str(port), "-k", sockdir,
                  "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
                  "-c", "full_page_writes=off", "-c", "logging_collector=off", "-c", "log_destination=stderr"],
                 log, stop_signal=signal.SIGINT, cwd=data, env=env, **as_postgres)  # SIGINT: fast shutdown

    def ready():
        return subprocess.run([f"{BIN}/pg_isready", "-q", "-h", "127.0.0.1", "-p", str(port)], env=env,
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
    wait_ready(ready, proc, log, "postgres")

    password = secrets.token_urlsafe(18)
    password_file, pgpass = f"{work}/pg.password", f"{work}/pgpass"
    write_secret(password_file, password)
    write_secret(pgpass, f"127.0.0.1:{port}:*:polyarchiv:{password}\nlocalhost:{port}:*:polyarchiv:{password}\n")
    psql = [f"{BIN}/psql", "-X", "-v", "ON_ERROR_STOP=1", "-q", "-p", str(port)]
    run(psql + ["-h", sockdir, "-U", "postgres", "-d", "postgres",
                "-c", f"CREATE ROLE polyarchiv LOGIN SUPERUSER PASSWORD '{password}'",
                "-c", "CREATE DATABASE polyarchiv OWNER polyarchiv"], "creating role polyarchiv", env=env)
    out = run(psql + ["-h", "127.0.0.1", "-U", "polyarchiv", "-d", "polyarchiv", "-At", "-c", "SHOW server_version"],
              "password login over TCP", env=dict(env, PGPASSWORD=password))
    return {"host": "127.0.0.1", "port": port, "user": "polyarchiv", "password_file": password_file,
            "socket_dir": sockdir, "bin": BIN, "database": "polyarchiv", "pgpass": pgpass, "data_dir": data,
            "log": log, "superuser": "postgres", "version": out.strip()}


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
