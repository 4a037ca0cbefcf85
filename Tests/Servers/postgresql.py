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
import os, pwd, secrets, signal

import launcher
from launcher import Failure, check_reachable, free_port, run, spawn, succeeds, wait_ready, write_secret

BIN = "/usr/lib/postgresql/15/bin"
PACKAGE = "postgresql-15"

launcher.setup(inherited_signals=True)


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

    wait_ready(lambda: succeeds([f"{BIN}/pg_isready", "-q", "-h", "127.0.0.1", "-p", str(port)], env=env), proc, log,
               "postgres")

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
    work = launcher.workdir_argument()
    launcher.serve(lambda: start(work))


if __name__ == "__main__":
    main()
