#!/usr/bin/env python3
"""A throwaway FTP (or explicit FTPS) server on loopback for the tests: pyftpdlib >= 2 (pip install pyftpdlib;
--tls also needs pyopenssl). Debian's python3-pyftpdlib 1.5.7 breaks on FTPS data connections, so this script
insists on 2.x.

Usage: ftp.py WORKDIR [--tls]
WORKDIR is an existing empty directory. User `backup` with a random password (WORKDIR/ftp.password, mode 0600, no
trailing newline), home WORKDIR/ftproot (writable: upload, append/resume, mkdir, rename, delete). The control port and
the passive data ports are free ports of 127.0.0.1 (chosen by the kernel).
--tls: explicit FTPS (AUTH TLS) with a self-signed certificate for 127.0.0.1 (WORKDIR/ftp-cert.pem, subjectAltName
IP:127.0.0.1, usable as the CA file); TLS is then required on the control and the data connections (PBSZ 0 + PROT P,
i.e. curl --ssl-reqd, libcurl CURLOPT_USE_SSL=CURLUSESSL_ALL).
When ready, prints one JSON line:
  {"host": "127.0.0.1", "port": N, "user": "backup", "password": ..., "password_file": ..., "root": WORKDIR/ftproot,
   "url": "ftp://127.0.0.1:N/", "tls": false, "ca_cert": null or WORKDIR/ftp-cert.pem, "log": WORKDIR/ftp.log}
Paths in ftp:// URLs are relative to the root (ftp://127.0.0.1:N/dir/file is ROOT/dir/file).
Then waits until stdin reaches EOF or SIGTERM/SIGINT arrives, stops the server and exits 0.
On failure prints the reason to stderr and exits 1 without JSON.
"""
import logging, os, secrets, socket, sys, threading

import launcher
from launcher import Failure

launcher.setup()

SERVER = None  # the pyftpdlib server, served by a thread of this process (no child processes)
STOPPING = threading.Event()
SERVING = None


def stop_server():
    STOPPING.set()
    if SERVING is not None:
        SERVING.join(timeout=20)
    if SERVER is not None:
        try:
            SERVER.close_all()
        except Exception:
            pass


def start(work, tls):
    global SERVER, SERVING
    try:
        import pyftpdlib
        from pyftpdlib.authorizers import DummyAuthorizer
        from pyftpdlib.servers import FTPServer
        from pyftpdlib.handlers import FTPHandler
    except ImportError:
        raise Failure(f"pyftpdlib is missing: {sys.executable} -m pip install 'pyftpdlib>=2'")
    if int(pyftpdlib.__ver__.split(".")[0]) < 2:
        raise Failure(f"pyftpdlib {pyftpdlib.__ver__} ({pyftpdlib.__file__}) is too old (FTPS data connections fail): "
                      f"{sys.executable} -m pip install 'pyftpdlib>=2'")
    if tls:
        try:
            from pyftpdlib.handlers import TLS_FTPHandler as Handler
        except ImportError:
            raise Failure(f"pyopenssl is missing (pyftpdlib's FTPS needs it): {sys.executable} -m pip install pyopenssl")
    else:
        Handler = FTPHandler

    root, password_file, log = f"{work}/ftproot", f"{work}/ftp.password", f"{work}/ftp.log"
    os.makedirs(root)
    password = secrets.token_urlsafe(18)
    launcher.write_secret(password_file, password, exclusive=True)

    handler = logging.FileHandler(log)
    handler.setFormatter(logging.Formatter("[%(asctime)s] %(message)s"))
    logger = logging.getLogger("pyftpdlib")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False

    authorizer = DummyAuthorizer()
    authorizer.add_user("backup", password, root, perm="elradfmwMT")  # everything, including SITE CHMOD and MFMT
    Handler.authorizer = authorizer
    Handler.passive_ports = None  # kernel-assigned free ports for PASV/EPSV
    Handler.permit_foreign_addresses = False
    Handler.banner = "polyarchiv test FTP server ready."
    ca_cert = None
    if tls:
        if not os.path.exists("/usr/bin/openssl"):
            raise Failure("openssl is missing: apt-get install openssl")
        ca_cert, key = launcher.self_signed_certificate(work, "ftp", openssl="/usr/bin/openssl")
        Handler.certfile, Handler.keyfile = ca_cert, key
        Handler.tls_control_required = True
        Handler.tls_data_required = True

    try:
        SERVER = FTPServer(("127.0.0.1", 0), Handler)
    except Exception as e:
        raise Failure(f"pyftpdlib could not start: {type(e).__name__}: {e}")
    port = SERVER.socket.getsockname()[1]

    def serve():
        logger.info(f"serving {'FTPS' if tls else 'FTP'} on 127.0.0.1:{port}, root {root}")
        while not STOPPING.is_set():
            SERVER.ioloop.loop(0.2, False)  # one poll of at most 0.2 s

    SERVING = threading.Thread(target=serve, name="ftp", daemon=True)
    SERVING.start()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:  # probe: the 220 greeting
        if not s.recv(512).startswith(b"220"):
            raise Failure(f"the FTP server on port {port} did not greet with 220; log {log}")
    return {"host": "127.0.0.1", "port": port, "user": "backup", "password": password, "password_file": password_file,
            "root": root, "url": f"ftp://127.0.0.1:{port}/", "tls": tls, "ca_cert": ca_cert, "log": log}


def main():
    parser = launcher.argument_parser("FTP/FTPS server on loopback until stdin closes")
    parser.add_argument("--tls", action="store_true", help="explicit FTPS (AUTH TLS), required on control and data")
    args, work = launcher.parse_args(parser)
    launcher.serve(lambda: start(work, args.tls), stop=stop_server)


if __name__ == "__main__":
    main()
