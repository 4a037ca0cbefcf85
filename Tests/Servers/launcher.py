"""What the test-server launchers in this directory share (Python stdlib only). A launcher script does
`import launcher` (Python puts the script's directory on sys.path); importing installs no signal handler.

A launcher calls setup() first, takes its work directory with workdir_argument() (WORKDIR alone) or with
argument_parser() and parse_args() (WORKDIR and options), and hands serve() a function that starts its servers and
returns what a client needs. serve() prints that as one JSON line, waits until stdin reaches EOF or SIGTERM, SIGINT
or SIGHUP arrives, stops what was started and exits 0; on failure it prints the reason to stderr and exits 1
without JSON. Server processes are started with spawn(): each in a session of its own, sent its stop signal when
the launcher dies (even by SIGKILL), and stopped by stop_all(), serve()'s default.
"""
import argparse, ctypes, json, os, pwd, secrets, signal, socket, subprocess, sys, time

READY_TIMEOUT = 60  # seconds a server may take to answer its readiness probe
NGINX = "/usr/sbin/nginx"
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)

CHILDREN = []  # (Popen, signal that stops it cleanly)
LIBC = ctypes.CDLL(None, use_errno=True)
LAUNCHER = os.getpid()
SUBREAPER = False  # set by setup(subreaper=True)


class Stop(Exception):
    """SIGTERM, SIGINT or SIGHUP arrived: stop the servers and exit 0."""


class Failure(Exception):
    """The servers cannot start: the message is printed to stderr and the launcher exits 1."""


def on_signal(signum, frame):
    raise Stop()


def setup(inherited_signals=False, subreaper=False):
    """Unblocks SIGTERM and SIGINT and makes SIGTERM, SIGINT and SIGHUP raise Stop.
    inherited_signals: also unblock every other signal and restore the default action of those the servers rely on
    (for launchers whose servers would inherit a blocked or ignored signal from the test across exec).
    subreaper: orphaned descendants (e.g. CGI workers) come back to the launcher, and stop_all() reaps them."""
    global SUBREAPER
    if inherited_signals:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, signal.valid_signals())
        for sig in (signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGCHLD, signal.SIGALRM):
            signal.signal(sig, signal.SIG_DFL)
    else:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    for sig in STOP_SIGNALS:
        signal.signal(sig, on_signal)
    if subreaper:
        LIBC.prctl(36, 1)  # PR_SET_CHILD_SUBREAPER
        SUBREAPER = True


# --- command line, output and lifetime ----------------------------------------------------------------------------

def workdir_argument():
    """The work directory (real path) of a launcher whose only argument is WORKDIR; exits with the usage if not."""
    if len(sys.argv) != 2 or not os.path.isdir(sys.argv[1]):
        sys.exit(f"usage: {sys.argv[0]} WORKDIR (an existing directory)")
    return os.path.realpath(sys.argv[1])


def argument_parser(description):
    """An ArgumentParser that takes WORKDIR; the launcher adds its options and calls parse_args()."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("workdir")
    return parser


def parse_args(parser):
    """(the parsed arguments, the work directory as a real path); exits if WORKDIR is not an existing directory."""
    args = parser.parse_args()
    if not os.path.isdir(args.workdir):
        sys.exit(f"{sys.argv[0]}: {args.workdir} is not an existing directory")
    return args, os.path.realpath(args.workdir)


def wait_for_eof():
    """Returns once stdin reaches EOF: the test closed it, or died."""
    while os.read(0, 65536):
        pass


def serve(start, stop=None):
    """Prints what start() returns as one JSON line and waits until stdin reaches EOF or Stop; then ignores further
    stop signals, calls stop() (default: stop_all) and exits 0. If start() fails, prints why to stderr (the message
    of a Failure, else the exception with the script's name) and exits 1 after stop()."""
    status = 0
    try:
        info = start()
        print(json.dumps(info), flush=True)
        wait_for_eof()
    except Stop:
        pass
    except Failure as e:
        print(e, file=sys.stderr, flush=True)
        status = 1
    except BaseException as e:
        print(f"{os.path.basename(sys.argv[0])}: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        status = 1
    finally:
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        (stop or stop_all)()
    sys.exit(status)


# --- server processes ---------------------------------------------------------------------------------------------

def die_with_launcher(sig):
    """preexec_fn: the child gets `sig` when the launcher dies, even by SIGKILL (runs after setuid)."""
    def hook():
        LIBC.prctl(1, int(sig))  # PR_SET_PDEATHSIG
        if os.getppid() != LAUNCHER:
            os.kill(os.getpid(), sig)
    return hook


def spawn(argv, log, stop_signal=signal.SIGTERM, **kw):
    """Starts a server in a session of its own, output appended to log; stop_all() stops it with stop_signal."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, preexec_fn=die_with_launcher(stop_signal), **kw)
    CHILDREN.append((proc, stop_signal))
    return proc


def stop_all():
    """Stops the spawned servers, last started first, then kills what is left in their sessions."""
    for proc, sig in reversed(CHILDREN):
        if proc.poll() is None:
            try:
                os.kill(proc.pid, sig)
                proc.wait(timeout=20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # strays left in the server's session (workers, CGI children)
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait()
    CHILDREN.clear()
    if SUBREAPER:
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
    """Runs a command to completion (stdin /dev/null unless input= is given); returns its stdout, raises Failure
    with its stderr if it fails."""
    if "input" not in kw:
        kw.setdefault("stdin", subprocess.DEVNULL)
    r = subprocess.run(argv, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise Failure(f"{what} failed (exit {r.returncode}): {(r.stderr or r.stdout).strip()[-2000:]}")
    return r.stdout


def succeeds(argv, **kw):
    """True if the command exits 0 (its output discarded): a readiness probe."""
    return subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          **kw).returncode == 0


def wait_ready(probe, proc, log, what, interval=0.05):
    """Polls probe() until it is true; raises Failure with the end of log if proc exits first or after
    READY_TIMEOUT."""
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        if probe():
            return
        if proc.poll() is not None:
            raise Failure(f"{what} exited with status {proc.returncode} during start; log {log}:\n{tail(log)}")
        if time.monotonic() > deadline:
            raise Failure(f"{what} not ready after {READY_TIMEOUT} s; log {log}:\n{tail(log)}")
        time.sleep(interval)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- files --------------------------------------------------------------------------------------------------------

def write_secret(path, text, exclusive=False):
    """Writes text to path with mode 0600; exclusive: the file must not exist yet (else it is truncated)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
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


def self_signed_certificate(work, name, openssl="openssl"):
    """WORKDIR/NAME-cert.pem for 127.0.0.1 (subjectAltName IP:127.0.0.1, usable as the CA file) and its key
    WORKDIR/NAME-key.pem (mode 0600); returns (cert, key)."""
    cert, key = f"{work}/{name}-cert.pem", f"{work}/{name}-key.pem"
    run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "7", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert], "openssl req (self-signed certificate)")
    os.chmod(key, 0o600)
    return cert, key


# --- nginx --------------------------------------------------------------------------------------------------------

def basic_auth(work, password_name):
    """User `backup` with a random password in WORKDIR/PASSWORD_NAME (mode 0600, no trailing newline) and its apr1
    hash in WORKDIR/htpasswd (openssl passwd); returns (password, password_file, htpasswd)."""
    password, password_file, htpasswd = secrets.token_urlsafe(18), f"{work}/{password_name}", f"{work}/htpasswd"
    write_secret(password_file, password, exclusive=True)
    hashed = run(["openssl", "passwd", "-apr1", "-stdin"], "openssl passwd", input=password).strip()
    write_secret(htpasswd, f"backup:{hashed}\n", exclusive=True)
    return password, password_file, htpasswd


def add_basic_auth_user(work, htpasswd, user, password_name):
    """Another user in the htpasswd file, with its own random password in WORKDIR/PASSWORD_NAME; returns
    (password, password_file)."""
    password, password_file = secrets.token_urlsafe(18), f"{work}/{password_name}"
    write_secret(password_file, password, exclusive=True)
    hashed = run(["openssl", "passwd", "-apr1", "-stdin"], "openssl passwd", input=password).strip()
    with open(htpasswd, "a") as out:
        out.write(f"{user}:{hashed}\n")
    return password, password_file


def start_nginx(work, script, server, probe, main="", http=""):
    """nginx in the foreground with one worker (run as root when we are root: workers must write into WORKDIR), its
    nginx.conf, pid file, nginx-error.log, nginx-access.log and temp directories (WORKDIR/nginx) in WORKDIR.
    server: the lines inside its only server block; main, http: lines added at the top and to the http block.
    Waits until probe() is true; returns (error_log, access_log)."""
    prefix = f"{work}/nginx"
    for d in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        os.makedirs(f"{prefix}/{d}")
    conf, error_log, access_log = f"{work}/nginx.conf", f"{work}/nginx-error.log", f"{work}/nginx-access.log"
    user = "user root;" if os.geteuid() == 0 else ""
    with open(conf, "w") as f:
        f.write(f"""# written by polyarchiv's Tests/Servers/{script}
{main}daemon off;
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
{http}    server {{
{server}    }}
}}
""")
    # -e: the error log from the very start (else nginx first opens /var/log/nginx/error.log)
    proc = spawn([NGINX, "-e", error_log, "-p", prefix, "-c", conf], error_log, cwd=work)
    wait_ready(probe, proc, error_log, "nginx")
    return error_log, access_log
