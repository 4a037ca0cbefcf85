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
import os, pwd, secrets

import launcher
from launcher import Failure, check_reachable, free_port, run, spawn, succeeds, wait_ready, write_secret

PACKAGE = "mariadb-server"

launcher.setup(inherited_signals=True)


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

    wait_ready(lambda: succeeds(["/usr/bin/mariadb-admin", "--no-defaults", f"--socket={sock}", "-uroot", "ping"], env=env),
               proc, log, "mariadbd")

    password = secrets.token_urlsafe(18)
    password_file = f"{work}/mariadb.password"
    write_secret(password_file, password)
    write_secret(client_config, f"[client]\nhost = 127.0.0.1\nport = {port}\nuser = polyarchiv\npassword = {password}\n")
    sql = "".join(f"CREATE USER 'polyarchiv'@'{host}' IDENTIFIED BY '{password}';\n"
                  f"GRANT ALL PRIVILEGES ON *.* TO 'polyarchiv'@'{host}' WITH GRANT OPTION;\n"
                  for host in ("127.0.0.1", "localhost"))
    run(["/usr/bin/mariadb", "--no-defaults", f"--socket={sock}", "-uroot"], "creating user polyarchiv",
        input=sql, env=env)
    version = run(["/usr/bin/mariadb", f"--defaults-extra-file={client_config}", "-N", "-B", "-e", "SELECT VERSION()"],
                  "password login over TCP", env=env).strip()
    return {"host": "127.0.0.1", "port": port, "socket": sock, "user": "polyarchiv", "password_file": password_file,
            "client_config": client_config, "server_config": server_config, "data_dir": data, "log": log,
            "version": version}


def main():
    work = launcher.workdir_argument()
    launcher.serve(lambda: start(work))


if __name__ == "__main__":
    main()
