#!/usr/bin/env python3
"""A throwaway Dovecot (IMAP) instance on loopback for the tests.

Usage: dovecot.py WORKDIR
WORKDIR is an existing empty directory; dovecot.conf (self-contained, /etc/dovecot is not read), base_dir,
state_dir, the log, the passwd-file and the mail (maildir:WORKDIR/mail/%u) all live in it.
Users alice (3 messages in INBOX) and bob (2 messages) with random passwords. Both have the uid/gid of the
system user `mail` (8:8; Dovecot refuses uid 0 for mail access, and passwd-file refuses it outright), so
`doveadm -u` works with that uid: a directory it should write (a backup destination) must be writable by mail_uid
(the JSON gives it). `doveadm -c CONFIG ...` works while it runs (doveadm -u looks users up through the auth
socket in base_dir):
  doveadm -c CONFIG mailbox status -u alice messages INBOX
  doveadm -c CONFIG backup -u alice maildir:/empty/dir       # copies alice's mail OUT: /empty/dir becomes a mirror
  doveadm -c CONFIG backup -R -u alice maildir:/backup/dir   # restores /backup/dir INTO alice's mailbox (mirror)
The -R restore works only when alice's maildir does not exist yet (or matches the backup's history): if her INBOX
gained or lost messages since the backup, dsync wants to delete and recreate INBOX, cannot, exits 65 and leaves the
INBOX EMPTY. `doveadm -c CONFIG import -u alice maildir:/backup/dir "" all` merges instead (duplicates possible).
When ready, prints one JSON line:
  {"config": ..., "host": "127.0.0.1", "imap_port": N, "users": ["alice", "bob"], "passwords": {...},
   "messages": {"alice": 3, "bob": 2}, "mail_root": ..., "mail_location": "maildir:MAIL_ROOT/%u",
   "users_file": ..., "base_dir": ..., "log": ..., "doveadm": "/usr/bin/doveadm",
   "mail_user": "mail", "mail_uid": 8, "mail_gid": 8}
Then waits until stdin reaches EOF or SIGTERM/SIGINT arrives, stops dovecot and exits 0.
On failure prints the reason to stderr and exits 1 without JSON.
"""
import ctypes, grp, imaplib, json, os, pwd, secrets, signal, socket, subprocess, sys, time

DOVECOT, DOVEADM, IMAP = "/usr/sbin/dovecot", "/usr/bin/doveadm", "/usr/lib/dovecot/imap"
READY_TIMEOUT = 60
USERS = {"alice": 3, "bob": 2}  # user -> messages put in INBOX
MAIL_USER = "mail"  # whose uid/gid the mail users get

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


class ImapProbe:
    """True once `user` can log in over IMAP; raises Failure after repeated refusals (a broken passdb or userdb
    would otherwise show only as a timeout)."""
    def __init__(self, port, user, password, log):
        self.port, self.user, self.password, self.log, self.refused = port, user, password, log, 0

    def __call__(self):
        try:
            imap = imaplib.IMAP4("127.0.0.1", self.port, timeout=5)
        except OSError:
            return False  # not listening yet
        try:
            imap.login(self.user, self.password)
            imap.select("INBOX")
            imap.logout()
            return True
        except (OSError, imaplib.IMAP4.error) as e:
            self.refused += 1
            if self.refused >= 3:
                raise Failure(f"dovecot refuses IMAP login for {self.user} ({e}); log {self.log}:\n{tail(self.log)}")
            return False
        finally:
            try:
                imap.shutdown()
            except OSError:
                pass


def message(user, n):
    return (f"From: Sender {n} <sender{n}@example.org>\r\n"
            f"To: {user}@example.org\r\n"
            f"Subject: test message {n} for {user}\r\n"
            f"Date: Mon, 0{n} Jan 2024 10:00:00 +0000\r\n"
            f"Message-ID: <{user}.{n}@polyarchiv.test>\r\n"
            f"MIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n"
            f"\r\n"
            f"Hello {user}, this is message {n}.\r\n")


def start(work):
    for tool, package in ((DOVECOT, "dovecot-core"), (DOVEADM, "dovecot-core"), (IMAP, "dovecot-imapd")):
        if not os.path.exists(tool):
            raise Failure(f"{os.path.basename(tool)} is missing: apt-get install dovecot-core dovecot-imapd")
    conf, log, users_file = f"{work}/dovecot.conf", f"{work}/dovecot.log", f"{work}/users"
    base_dir, state_dir, mail_root = f"{work}/run", f"{work}/state", f"{work}/mail"
    if len(f"{base_dir}/login/imap-login-XXXXXXXX") > 100:
        raise Failure(f"work directory path too long for dovecot's unix sockets: {work}")
    os.chmod(work, os.stat(work).st_mode | 0o711)  # login processes run as dovenull and need base_dir
    try:
        owner = pwd.getpwnam(MAIL_USER)
    except KeyError:
        raise Failure(f"system user {MAIL_USER} is missing (base-passwd)")
    uid, gid = owner.pw_uid, owner.pw_gid
    for d in (state_dir, mail_root, f"{work}/home") + tuple(f"{work}/home/{u}" for u in USERS):
        os.mkdir(d, 0o755)
        if d != state_dir:
            os.chown(d, uid, gid)
    passwords = {user: secrets.token_urlsafe(12) for user in USERS}
    write_secret(users_file, "".join(f"{u}:{{PLAIN}}{p}:{uid}:{gid}::{work}/home/{u}::\n" for u, p in passwords.items()))
    try:  # the auth process reads it as default_internal_user (dovecot)
        os.chown(users_file, 0, grp.getgrnam("dovecot").gr_gid)
        os.chmod(users_file, 0o640)
    except KeyError:
        raise Failure("group dovecot is missing: apt-get install dovecot-core dovecot-imapd")
    port = free_port()
    with open(conf, "w") as f:
        f.write(f"""# written by polyarchiv's Tests/Servers/dovecot.py; self-contained, does not include /etc/dovecot
protocols = imap
listen = 127.0.0.1
base_dir = {base_dir}
state_dir = {state_dir}
instance_name = polyarchiv-{os.path.basename(work)}-{port}
log_path = {log}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
# the test users have the uid/gid of the system user {MAIL_USER}
first_valid_uid = {uid}
last_valid_uid = {uid}
first_valid_gid = {gid}
last_valid_gid = {gid}
mail_location = maildir:{mail_root}/%u
namespace inbox {{
  inbox = yes
  separator = /
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {users_file}
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {users_file}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
""")
    env = dict(os.environ, LC_ALL="C")
    run([DOVECOT, "-c", conf, "-n"], "dovecot configuration check", env=env)
    proc = spawn([DOVECOT, "-F", "-c", conf], f"{work}/dovecot.out", cwd=work, env=env)
    user0 = next(iter(USERS))
    wait_ready(ImapProbe(port, user0, passwords[user0], log), proc, log, "dovecot")
    for user, count in USERS.items():
        for n in range(1, count + 1):
            run([DOVEADM, "-c", conf, "save", "-u", user, "-m", "INBOX"], f"doveadm save for {user}",
                input=message(user, n), stdin=None, env=env)
        out = run([DOVEADM, "-c", conf, "-f", "flow", "mailbox", "status", "-u", user, "messages", "INBOX"],
                  f"doveadm mailbox status for {user}", env=env)
        if f"messages={count}" not in out.split():
            raise Failure(f"{user}'s INBOX should have {count} messages, doveadm says: {out.strip()}")
    return {"config": conf, "host": "127.0.0.1", "imap_port": port, "users": list(USERS), "passwords": passwords,
            "messages": USERS, "mail_root": mail_root, "mail_location": f"maildir:{mail_root}/%u",
            "users_file": users_file, "base_dir": base_dir, "log": log, "doveadm": DOVEADM,
            "mail_user": MAIL_USER, "mail_uid": uid, "mail_gid": gid}


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
