#!/usr/bin/env python3
"""Throwaway git servers on loopback for the tests, both serving the bare repositories under WORKDIR/repos:
- `git daemon` (git://, receive-pack enabled, no authentication), and
- smart HTTP: nginx (basic auth) -> fcgiwrap -> git-http-backend (apt-get install nginx fcgiwrap).

Usage: git_server.py WORKDIR [--init NAME ...] [--no-http]
WORKDIR is an existing empty directory; configs, logs, the htpasswd and WORKDIR/repos live in it.
--init NAME creates the bare repository WORKDIR/repos/NAME.git (repeatable; NAME may contain "/"), with HEAD on main
and `http.receivepack true`. Repositories created later in WORKDIR/repos are served too (git-http-backend enables
receive-pack for an authenticated user even without http.receivepack).
Smart HTTP: user `backup` with a random password (WORKDIR/git.password, mode 0600, no trailing newline).
--no-http: git daemon only (no nginx/fcgiwrap needed); http_url etc. are then null.
When ready, prints one JSON line:
  {"git_url": "git://127.0.0.1:N/", "http_url": "http://127.0.0.1:M/", "user": "backup", "password": ...,
   "password_file": ..., "repos": WORKDIR/repos, "repositories": {"NAME": WORKDIR/repos/NAME.git}, "logs": {...}}
so a repository is at git_url + "NAME.git" and http_url + "NAME.git" (e.g. http://backup:PW@127.0.0.1:M/NAME.git).
Then waits until stdin reaches EOF or SIGTERM/SIGINT arrives, stops every server and exits 0.
On failure prints the reason to stderr and exits 1 without JSON.
"""
import argparse, ctypes, http.client, json, os, secrets, shutil, signal, socket, subprocess, sys, time

NGINX, FCGIWRAP = "/usr/sbin/nginx", "/usr/sbin/fcgiwrap"
FASTCGI_PARAMS = "/etc/nginx/fastcgi_params"
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
            os.killpg(proc.pid, signal.SIGKILL)  # strays left in the server's session (workers, CGI children)
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


def tcp_probe(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return True
    except OSError:
        return False


def http_probe(port):
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("GET", "/probe.git/info/refs?service=git-upload-pack")
            return conn.getresponse().status == 401
        finally:
            conn.close()
    except (OSError, http.client.HTTPException):
        return False


def write_secret(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def init_repo(git, repos, name):
    if name.endswith(".git"):
        name = name[:-4]
    path = os.path.join(repos, f"{name}.git")
    if not os.path.realpath(path).startswith(repos + "/"):
        raise Failure(f"--init {name}: outside {repos}")
    run([git, "init", "--bare", "--quiet", "--initial-branch=main", path], f"git init --bare {path}")
    run([git, "-C", path, "config", "http.receivepack", "true"], "git config http.receivepack")
    return name, path


def git_http_backend(git):
    path = run([git, "--exec-path"], "git --exec-path").strip() + "/git-http-backend"
    if not os.access(path, os.X_OK):
        raise Failure(f"{path} is missing: apt-get install git")
    return path


def start_http(work, repos, git):
    for tool, package in ((NGINX, "nginx"), (FCGIWRAP, "fcgiwrap"), (FASTCGI_PARAMS, "nginx-common")):
        if not os.path.exists(tool):
            raise Failure(f"{tool} is missing: apt-get install nginx fcgiwrap (or run with --no-http)")
    if shutil.which("openssl") is None:
        raise Failure("openssl is missing: apt-get install openssl")
    backend = git_http_backend(git)
    prefix = f"{work}/nginx"
    for d in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        os.makedirs(f"{prefix}/{d}")
    password, password_file, htpasswd = secrets.token_urlsafe(18), f"{work}/git.password", f"{work}/htpasswd"
    write_secret(password_file, password)
    hashed = run(["openssl", "passwd", "-apr1", "-stdin"], "openssl passwd", input=password).strip()
    write_secret(htpasswd, f"backup:{hashed}\n")

    # fcgiwrap on TCP: a unix socket path under a long WORKDIR could exceed sun_path's 108 bytes. No -c N: one
    # process (requests are served one at a time), so PR_SET_PDEATHSIG also covers it if the launcher is killed.
    fcgi_port, fcgi_log = free_port(), f"{work}/fcgiwrap.log"
    fcgi = spawn([FCGIWRAP, "-s", f"tcp:127.0.0.1:{fcgi_port}", "-p", backend], fcgi_log, cwd=work)
    wait_ready(lambda: tcp_probe(fcgi_port), fcgi, fcgi_log, "fcgiwrap")

    port = free_port()
    conf, error_log, access_log = f"{work}/nginx.conf", f"{work}/nginx-error.log", f"{work}/nginx-access.log"
    user = "user root;" if os.geteuid() == 0 else ""
    with open(conf, "w") as f:
        f.write(f"""# written by polyarchiv's Tests/Servers/git_server.py
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
    server {{
        listen 127.0.0.1:{port};
        server_name 127.0.0.1;
        location / {{
            auth_basic "polyarchiv test git";
            auth_basic_user_file {htpasswd};
            include {FASTCGI_PARAMS};
            fastcgi_pass 127.0.0.1:{fcgi_port};
            fastcgi_param SCRIPT_FILENAME {backend};
            fastcgi_param GIT_PROJECT_ROOT {repos};
            fastcgi_param GIT_HTTP_EXPORT_ALL "";
            fastcgi_param PATH_INFO $uri;
            fastcgi_param REMOTE_USER $remote_user;
            fastcgi_param GIT_PROTOCOL $http_git_protocol;
            fastcgi_read_timeout 600s;
            fastcgi_buffering off;
        }}
    }}
}}
""")
    nginx = spawn([NGINX, "-e", error_log, "-p", prefix, "-c", conf], error_log, cwd=work)
    wait_ready(lambda: http_probe(port), nginx, error_log, "nginx")
    return {"http_url": f"http://127.0.0.1:{port}/", "http_port": port, "user": "backup", "password": password,
            "password_file": password_file}, {"nginx_error": error_log, "nginx_access": access_log, "fcgiwrap": fcgi_log}


def start(work, names, http):
    git = shutil.which("git")
    if git is None:
        raise Failure("git is missing: apt-get install git")
    repos = f"{work}/repos"
    os.makedirs(repos)
    repositories = dict(init_repo(git, repos, name) for name in names)

    port, log = free_port(), f"{work}/git-daemon.log"
    daemon = spawn([git, "daemon", "--reuseaddr", "--export-all", "--enable=receive-pack", "--informative-errors",
                    "--verbose", "--log-destination=stderr", f"--base-path={repos}", "--listen=127.0.0.1",
                    f"--port={port}", f"--pid-file={work}/git-daemon.pid"], log, cwd=work)
    wait_ready(lambda: tcp_probe(port), daemon, log, "git daemon")
    info = {"git_url": f"git://127.0.0.1:{port}/", "git_port": port,
            "http_url": None, "http_port": None, "user": None, "password": None, "password_file": None}
    logs = {"git_daemon": log}
    if http:
        http_info, http_logs = start_http(work, repos, git)
        info.update(http_info)
        logs.update(http_logs)
    info.update({"repos": repos, "repositories": repositories, "logs": logs})
    return info


def main():
    parser = argparse.ArgumentParser(description="git daemon and smart HTTP (nginx + git-http-backend) until stdin closes")
    parser.add_argument("workdir")
    parser.add_argument("--init", action="append", default=[], metavar="NAME",
                        help="create the bare repository repos/NAME.git (repeatable)")
    parser.add_argument("--no-http", action="store_true", help="git daemon only")
    args = parser.parse_args()
    if not os.path.isdir(args.workdir):
        sys.exit(f"{sys.argv[0]}: {args.workdir} is not an existing directory")
    work = os.path.realpath(args.workdir)
    status = 0
    try:
        info = start(work, args.init, not args.no_http)
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
