#!/usr/bin/env python3
"""Runs the age program with a passphrase typed on a pseudo-terminal (age reads it from the terminal only).

Usage: age_with_passphrase.py PASSPHRASE AGE-ARGUMENTS...
Exits with age's status; age's terminal output goes to stderr.
"""
import os, pty, sys

passphrase, arguments = sys.argv[1], sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp("age", ["age"] + arguments)
output = b""
typed = 0
while True:
    try:
        data = os.read(fd, 1024)
    except OSError:
        break
    if not data:
        break
    output += data
    # age asks once to decrypt, twice (with confirmation) to encrypt.
    prompts = output.count(b"passphrase")
    while typed < prompts:
        os.write(fd, passphrase.encode() + b"\r")
        typed += 1
_, status = os.waitpid(pid, 0)
sys.stderr.write(output.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status))
