#!/usr/bin/env python3
"""A throwaway MariaDB server on loopback for the tests.

Usage: mariadb.py WORKDIR
WORKDIR is an existing empty directory; the data directory, socket, configuration, log and password files
all live in it. When ready, prints one JSON line:
  {"host": "127.0.0.1", "port": N, "socket": ..., "user": "polyarchiv", "password_file": ...,
   "client_config": ..., "server_config": ..., "data_dir": ..., "log": ...}
`polyarchiv`@`127.0.0.1` and `polyarchiv`@`localhost` (the socket) have ALL PRIVILEGES WITH GRANT OPTION and
the password in password_file (no newline, mode 0600). client_config is a [client] option file with host, port,
user and password for `mariadb --defaults-extra-file=...`. root@localhost logs in over the socket as OS root.
Then waits until stdin reaches EOF or SIGTERM/SIGINT arrives, stops the server and exits 0.
On failure prints the reason to stderr and exits 1 without JSON.
"""
import ctypes, json, os, pwd, secrets, signal, socket, subprocess, sys, time

PACKAGE = "mariadb-server"
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
    r = subprocess.run(argv, stdin=kw.pop("stdin", subprocess.DEVNULL), capture_output=True, text=True, **kw)
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
    for tool in ("/usr/sbin/mariadbd", "/usr/bin/mariadb-install-db", "/usr/bin/mariadb", "/usr/bin/mariadb-admin"):
        if not os.path.exists(tool):
            raise Failure(f"mariadb is missing ({tool}): apt-get install {PACKAGE}")
    try:
        pw = pwd.getpwnam("mysql")
    except KeyError:
        raise Failure(f"user mysql is missing: apt-get install {PACKAGE}")

    data, rundir, log = f"{work}/data", f"{work}/run", f"{work}/mariadb.log"
    sock = f"{rundir}/mysqld.sock"
    server_config, client_config = f"{work}/my.cnf", f"{work}/client.cnf"
    if len(sock) > 107:
        raise Failure(f"work directory path too long for a unix socket: {work}")
    os.chmod(work, os.stat(work).st_mode | 0o711)
    check_reachable(work, "mysql")
    port = free_port()
    for d in (data, f"{work}/tmp", rundir):  # mariadbd runs as mysql: it must own where it writes
        os.mkdir(d, 0o755 if d == rundir else 0o750)
        os.chown(d, pw.pw_uid, pw.pw_gid)
    open(log, "a").close()
    os.chown(log, pw.pw_uid, pw.pw_gid)
    # Every server setting lives in this file, read instead of /etc/mysql (--defaults-file must come first).
    with open(server_config, "w") as f:
        f.write(f"""[mysqld]
user = mysql
datadir = {data}
tmpdir = {work}/tmp
port = {port}
bind-address = 127.0.0.1
socket = {sock}
pid-file = {rundir}/mysqld.pid
log-error = {log}
skip-name-resolve
innodb-buffer-pool-size = 64M
innodb-log-file-size = 16M
innodb-flush-log-at-trx-commit = 0
""")
    env = dict(os.environ, LC_ALL="C")
    env.pop("MYSQL_PWD", None)
    run(["/usr/bin/mariadb-install-db", f"--defaults-file={server_config}", "--skip-test-db",
         "--auth-root-authentication-method=socket"], "mariadb-install-db", cwd=work, env=env)
    # Started as mysql rather than letting mariadbd switch from root: a uid change would clear PR_SET_PDEATHSIG.
    proc = spawn(["/usr/sbin/mariadbd", f"--defaults-file={server_config}"], f"{work}/mariadbd.out", cwd=work, env=env,
                 user=pw.pw_uid, group=pw.pw_gid, extra_groups=[])

    def ready():
        return subprocess.run(["/usr/bin/mariadb-admin", "--no-defaults", f"--socket={sock}", "-uroot", "ping"], env=env,
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
    wait_ready(ready, proc, log, "mariadbd")

    password = secrets.token_urlsafe(18)
    password_file = f"{work}/mariadb.password"
    write_secret(password_file, password)
    write_secret(client_config, f"[client]\nhost = 127.0.0.1\nport = {port}\nuser = polyarchiv\npassword = {password}\n")
    sql = "".join(f"CREATE USER 'polyarchiv'@'{host}' IDENTIFIED BY '{password}';\n"
                  f"GRANT ALL PRIVILEGES ON *.* TO 'polyarchiv'@'{host}' WITH GRANT OPTION;\n"
                  for host in ("127.0.0.1", "localhost"))
    run(["/usr/bin/mariadb", "--no-defaults", f"--socket={sock}", "-uroot"], "creating user polyarchiv",
        input=sql, stdin=None, env=env)
    version = run(["/usr/bin/mariadb", f"--defaults-extra-file={client_config}", "-N", "-B", "-e", "SELECT VERSION()"],
                  "password login over TCP", env=env).strip()
    return {"host": "127.0.0.1", "port": port, "socket": sock, "user": "polyarchiv", "password_file": password_file,
            "client_config": client_config, "server_config": server_config, "data_dir": data, "log": log,
            "version": version}


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
