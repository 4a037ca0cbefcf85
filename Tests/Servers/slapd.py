#!/usr/bin/env python3
"""A throwaway OpenLDAP slapd on loopback for the tests.

Usage: slapd.py WORKDIR
WORKDIR is an existing empty directory; slapd.conf (not cn=config), the mdb database, pid/args files, the log and
the password file all live in it. Schemas core, cosine, nis and inetorgperson; suffix dc=example,dc=org; rootdn
cn=admin,dc=example,dc=org with a random password (password_file: no newline, mode 0600, so `ldapsearch -y` works).
Loaded at start: dc=example,dc=org, ou=people, uid=alice and uid=bob (inetOrgPerson) under ou=people.
slapd runs as root, so `slapcat -f SLAPD_CONFIG -n DATABASE` and `slapadd -f ... -n ...` run as root work on the
same files (slapadd only while slapd is stopped, or with -q on an empty database).
When ready, prints one JSON line:
  {"url": "ldap://127.0.0.1:N", "host": "127.0.0.1", "port": N, "suffix": "dc=example,dc=org",
   "bind_dn": "cn=admin,dc=example,dc=org", "password_file": ..., "slapd_config": ..., "database": 1,
   "data_dir": ..., "entries": [...], "log": ...}
Then waits until stdin reaches EOF or SIGTERM/SIGINT arrives, stops slapd and exits 0.
On failure prints the reason to stderr and exits 1 without JSON.
"""
import base64, hashlib, os, secrets, socket

import launcher
from launcher import Failure, free_port, run, spawn, tail, wait_ready, write_secret

PACKAGE = "slapd"
SLAPD, SLAPADD, SCHEMA = "/usr/sbin/slapd", "/usr/sbin/slapadd", "/etc/ldap/schema"
SUFFIX, ROOTDN = "dc=example,dc=org", "cn=admin,dc=example,dc=org"
DATABASE = 1  # with slapd.conf, -n 0 is the implicit config database; the first `database` is 1

launcher.setup(inherited_signals=True)


def ssha(password):
    salt = secrets.token_bytes(8)
    return "{SSHA}" + base64.b64encode(hashlib.sha1(password.encode() + salt).digest() + salt).decode()


def tlv(tag, data):
    n = len(data)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + data


def simple_bind(port, dn, password):
    """LDAPv3 simple bind by hand (no client library needed); returns the resultCode, None if no answer yet."""
    request = tlv(0x30, tlv(0x02, b"\x01") + tlv(0x60, tlv(0x02, b"\x03") + tlv(0x04, dn.encode())
                                                    + tlv(0x80, password.encode())))
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(request)
            answer = s.recv(4096)
    except OSError:
        return None
    at = answer.find(b"\x61")  # [APPLICATION 1] BindResponse, then ENUMERATED resultCode
    if at < 0:
        return None
    body = answer[at + 2:] if answer[at + 1] < 0x80 else answer[at + 2 + (answer[at + 1] & 0x7f):]
    return body[2] if body[:2] == b"\x0a\x01" else None


BASE_LDIF = f"""dn: {SUFFIX}
objectClass: top
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: ou=people,{SUFFIX}
objectClass: top
objectClass: organizationalUnit
ou: people

dn: uid=alice,ou=people,{SUFFIX}
objectClass: top
objectClass: inetOrgPerson
uid: alice
cn: Alice Example
sn: Example
givenName: Alice
mail: alice@example.org

dn: uid=bob,ou=people,{SUFFIX}
objectClass: top
objectClass: inetOrgPerson
uid: bob
cn: Bob Example
sn: Example
givenName: Bob
mail: bob@example.org
"""
ENTRIES = [f"{SUFFIX}", f"ou=people,{SUFFIX}", f"uid=alice,ou=people,{SUFFIX}", f"uid=bob,ou=people,{SUFFIX}"]


def start(work):
    for tool in (SLAPD, SLAPADD, f"{SCHEMA}/inetorgperson.schema"):
        if not os.path.exists(tool):
            raise Failure(f"slapd is missing ({tool}): apt-get install {PACKAGE} ldap-utils")
    conf, data, log = f"{work}/slapd.conf", f"{work}/db", f"{work}/slapd.log"
    os.mkdir(data, 0o700)
    port = free_port()
    password = secrets.token_urlsafe(18)
    password_file = f"{work}/ldap.password"
    write_secret(password_file, password)
    schemas = "".join(f"include {SCHEMA}/{name}.schema\n" for name in ("core", "cosine", "nis", "inetorgperson"))
    with open(conf, "w") as f:
        f.write(f"""# written by polyarchiv's Tests/Servers/slapd.py
{schemas}
pidfile {work}/slapd.pid
argsfile {work}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb

database mdb
maxsize 1073741824
suffix "{SUFFIX}"
rootdn "{ROOTDN}"
rootpw {ssha(password)}
directory {data}
index objectClass eq
index uid eq
""")
    with open(f"{work}/base.ldif", "w") as f:
        f.write(BASE_LDIF)
    run([SLAPADD, "-f", conf, "-n", str(DATABASE), "-l", f"{work}/base.ldif"], "slapadd of the base entries")
    url = f"ldap://127.0.0.1:{port}"
    # -d 0: stay in the foreground (no fork), log nothing extra; -s 256 would log stats
    proc = spawn([SLAPD, "-f", conf, "-h", f"{url}/", "-d", "0"], log, cwd=work)
    wait_ready(lambda: simple_bind(port, ROOTDN, password) is not None, proc, log, "slapd")
    code = simple_bind(port, ROOTDN, password)
    if code != 0:
        raise Failure(f"slapd refused the rootdn bind (resultCode {code}); log {log}:\n{tail(log)}")
    return {"url": url, "host": "127.0.0.1", "port": port, "suffix": SUFFIX, "bind_dn": ROOTDN,
            "password_file": password_file, "slapd_config": conf, "database": DATABASE, "data_dir": data,
            "entries": ENTRIES, "log": log}


def main():
    work = launcher.workdir_argument()
    launcher.serve(lambda: start(work))


if __name__ == "__main__":
    main()
