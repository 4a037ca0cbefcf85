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
import grp, imaplib, os, pwd, secrets

import launcher
from launcher import Failure, free_port, run, spawn, tail, wait_ready, write_secret

DOVECOT, DOVEADM, IMAP = "/usr/sbin/dovecot", "/usr/bin/doveadm", "/usr/lib/dovecot/imap"
USERS = {"alice": 3, "bob": 2}  # user -> messages put in INBOX
MAIL_USER = "mail"  # whose uid/gid the mail users get

launcher.setup(inherited_signals=True)


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
                input=message(user, n), env=env)
        out = run([DOVEADM, "-c", conf, "-f", "flow", "mailbox", "status", "-u", user, "messages", "INBOX"],
                  f"doveadm mailbox status for {user}", env=env)
        if f"messages={count}" not in out.split():
            raise Failure(f"{user}'s INBOX should have {count} messages, doveadm says: {out.strip()}")
    return {"config": conf, "host": "127.0.0.1", "imap_port": port, "users": list(USERS), "passwords": passwords,
            "messages": USERS, "mail_root": mail_root, "mail_location": f"maildir:{mail_root}/%u",
            "users_file": users_file, "base_dir": base_dir, "log": log, "doveadm": DOVEADM,
            "mail_user": MAIL_USER, "mail_uid": uid, "mail_gid": gid}


def main():
    work = launcher.workdir_argument()
    launcher.serve(lambda: start(work))


if __name__ == "__main__":
    main()
