#!/usr/bin/env python3
"""A throwaway OpenSSH sshd on loopback for the tests (sftp, scp, rsync over ssh, git over ssh).

Usage: sshd.py WORKDIR
WORKDIR is an existing empty directory (or one a previous run used: then the same keys and port, a restart); sshd_config, the ed25519 host key, an ed25519 client key without
passphrase (authorized for root), known_hosts, the pid file and the log all live in it. Only /run/sshd (sshd's
privilege separation directory, a fixed path) is created outside it when missing.
When ready, prints one JSON line:
  {"host": "127.0.0.1", "port": N, "user": "root", "private_key": ..., "public_key": ..., "known_hosts": ...,
   "host_key_sha256": B64, "host_key_sha256_padded": B64=, "host_public_key": ..., "config": ..., "log": ...}
host_key_sha256 is the SHA-256 of the host key blob in base64 without padding, as `ssh-keygen -lf` prints it after
"SHA256:"; libcurl's CURLOPT_SSH_HOST_PUBLIC_KEY_SHA256 / curl --hostpubsha256 accept it as is.
known_hosts has the host key for [127.0.0.1]:PORT.
Then waits until stdin reaches EOF or SIGTERM/SIGINT arrives, stops sshd and exits 0.
On failure prints the reason to stderr and exits 1 without JSON.
"""
import base64, hashlib, os, socket

import launcher
from launcher import Failure, free_port, run, spawn, wait_ready

PACKAGE = "openssh-server"
SSHD, SSH_KEYGEN = "/usr/sbin/sshd", "/usr/bin/ssh-keygen"

launcher.setup(inherited_signals=True)


def banner(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            return s.recv(256).startswith(b"SSH-2.0-")
    except OSError:
        return False


def start(work):
    for tool, package in ((SSHD, PACKAGE), (SSH_KEYGEN, "openssh-client")):
        if not os.path.exists(tool):
            raise Failure(f"{os.path.basename(tool)} is missing: apt-get install {package}")
    host_key, client_key = f"{work}/ssh_host_ed25519_key", f"{work}/id_ed25519"
    conf, log, known_hosts = f"{work}/sshd_config", f"{work}/sshd.log", f"{work}/known_hosts"
    # Started again in the same WORKDIR (a server restart): the same keys, the same port.
    restart = os.path.exists(conf)
    if restart:
        with open(conf) as f:
            port = int(next(line.split()[1] for line in f if line.startswith("Port ")))
    else:
        run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", "polyarchiv-test-host", "-f", host_key], "ssh-keygen (host key)")
        run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", "polyarchiv-test-client", "-f", client_key], "ssh-keygen (client key)")
        with open(f"{client_key}.pub") as src, open(f"{work}/authorized_keys", "w") as dst:
            dst.write(src.read())
        port = free_port()
    with open(conf, "w") as f:
        f.write(f"""# written by polyarchiv's Tests/Servers/sshd.py
Port {port}
ListenAddress 127.0.0.1
HostKey {host_key}
PidFile {work}/sshd.pid
AuthorizedKeysFile {work}/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PrintMotd no
PrintLastLog no
UseDNS no
LogLevel VERBOSE
Subsystem sftp internal-sftp
""")
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # fixed path sshd insists on (privilege separation)
    run([SSHD, "-t", "-f", conf], "sshd -t (configuration test)")
    # -D: no fork; -e: log to stderr (the log file). sshd needs its absolute path to re-exec itself.
    proc = spawn([SSHD, "-D", "-e", "-f", conf], log, cwd=work)
    wait_ready(lambda: banner(port), proc, log, "sshd")

    with open(f"{host_key}.pub") as f:
        key_type, key_b64 = f.read().split()[:2]
    with open(known_hosts, "w") as f:
        f.write(f"[127.0.0.1]:{port} {key_type} {key_b64}\n")
    digest = base64.b64encode(hashlib.sha256(base64.b64decode(key_b64)).digest()).decode()
    return {"host": "127.0.0.1", "port": port, "user": "root", "private_key": client_key,
            "public_key": f"{client_key}.pub", "known_hosts": known_hosts, "host_key_sha256": digest.rstrip("="),
            "host_key_sha256_padded": digest, "host_public_key": f"{host_key}.pub", "config": conf, "log": log}


def main():
    work = launcher.workdir_argument()
    launcher.serve(lambda: start(work))


if __name__ == "__main__":
    main()
