#!/usr/bin/env python3
"""A throwaway OpenSSH sshd on loopback for the tests (sftp, scp, rsync over ssh, git over ssh).

Usage: sshd.py WORKDIR
WORKDIR is an existing empty directory; sshd_config, the ed25519 host key, an ed25519 client key without
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
import base64, ctypes, hashlib, json, os, signal, socket, subprocess, sys, time

PACKAGE = "openssh-server"
SSHD, SSH_KEYGEN = "/usr/sbin/sshd", "/usr/bin/ssh-keygen"
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
