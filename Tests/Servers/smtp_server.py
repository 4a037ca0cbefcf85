#!/usr/bin/env python3
"""A loopback SMTP server for the email hook's tests (aiosmtpd).

Usage: smtp_server.py MAILDIR [--auth USER:PASSWORD] [--starttls CERT KEY] [--implicit-tls CERT KEY]
Prints its port when ready, and runs until its stdin closes. Every message is saved as MAILDIR/N.eml, preceded by X-Envelope-From,
X-Envelope-To and X-Authenticated headers (what the client said in the SMTP dialogue).
"""
import argparse, os, ssl, sys

import launcher

try:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult
except ImportError:
    sys.exit("aiosmtpd is missing: pip install aiosmtpd")

parser = argparse.ArgumentParser()
parser.add_argument("maildir")
parser.add_argument("--auth")
parser.add_argument("--starttls", nargs=2)
parser.add_argument("--implicit-tls", nargs=2)
args = parser.parse_args()


class Handler:
    count = 0

    async def handle_DATA(self, server, session, envelope):
        Handler.count += 1
        headers = (f"X-Envelope-From: {envelope.mail_from}\r\nX-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n"
                   f"X-Authenticated: {session.authenticated}\r\nX-TLS: {server.transport.get_extra_info('ssl_object') is not None}\r\n")
        path = os.path.join(args.maildir, f"{Handler.count}.eml")
        with open(path + ".tmp", "wb") as out:
            out.write(headers.encode() + envelope.original_content)
        os.rename(path + ".tmp", path)
        return "250 OK"


def authenticator(server, session, envelope, mechanism, auth_data):
    user, password = args.auth.split(":", 1)
    ok = auth_data.login.decode() == user and auth_data.password.decode() == password
    return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535 itself


def context(pair):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(*pair)
    return ctx


port = launcher.free_port()
options = dict(hostname="127.0.0.1", port=port, auth_require_tls=False)
if args.auth:
    options["authenticator"] = authenticator
if args.starttls:
    options["tls_context"] = context(args.starttls)
if args.implicit_tls:
    options["ssl_context"] = context(args.implicit_tls)
controller = Controller(Handler(), **options)
controller.start()
print(port, flush=True)
launcher.wait_for_eof()  # runs until the test closes stdin (or dies)
controller.stop()
