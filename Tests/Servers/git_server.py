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
import http.client, os, shutil, socket

import launcher
from launcher import NGINX, Failure, free_port, run, spawn, wait_ready

FCGIWRAP = "/usr/sbin/fcgiwrap"
FASTCGI_PARAMS = "/etc/nginx/fastcgi_params"

launcher.setup(subreaper=True)


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
    password, password_file, htpasswd = launcher.basic_auth(work, "git.password")

    # fcgiwrap on TCP: a unix socket path under a long WORKDIR could exceed sun_path's 108 bytes. No -c N: one
    # process (requests are served one at a time), so PR_SET_PDEATHSIG also covers it if the launcher is killed.
    fcgi_port, fcgi_log = free_port(), f"{work}/fcgiwrap.log"
    fcgi = spawn([FCGIWRAP, "-s", f"tcp:127.0.0.1:{fcgi_port}", "-p", backend], fcgi_log, cwd=work)
    wait_ready(lambda: tcp_probe(fcgi_port), fcgi, fcgi_log, "fcgiwrap")

    port = free_port()
    server = f"""        listen 127.0.0.1:{port};
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
"""
    error_log, access_log = launcher.start_nginx(work, "git_server.py", server, lambda: http_probe(port))
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
    parser = launcher.argument_parser("git daemon and smart HTTP (nginx + git-http-backend) until stdin closes")
    parser.add_argument("--init", action="append", default=[], metavar="NAME",
                        help="create the bare repository repos/NAME.git (repeatable)")
    parser.add_argument("--no-http", action="store_true", help="git daemon only")
    args, work = launcher.parse_args(parser)
    launcher.serve(lambda: start(work, args.init, not args.no_http))


if __name__ == "__main__":
    main()
