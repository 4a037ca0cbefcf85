#!/usr/bin/env python3
"""A TCP fault-injection proxy on loopback for the tests: do uploads and downloads survive broken connections?
Python stdlib only, one thread with a selector (the launcher's main thread waits for stdin).

Usage: fault_proxy.py WORKDIR --target HOST:PORT [--ftp]
Listens on a free port of 127.0.0.1 and forwards every accepted connection to HOST:PORT (HOST may be a name, an IPv4
address or a bracketed IPv6 address: [::1]:22), both directions, injecting the faults that WORKDIR/faults.json
describes. When ready, prints one JSON line:
  {"port": P, "control": WORKDIR/faults.json, "log": WORKDIR/proxy.log, "stats": WORKDIR/stats.json,
   "host": "127.0.0.1", "target": "HOST:PORT", "ftp": false}
Then waits until stdin reaches EOF or SIGTERM/SIGINT/SIGHUP arrives, closes every socket and exits 0.
On failure prints the reason to stderr and exits 1 without JSON.

Control file (WORKDIR/faults.json, created as [] when missing): a JSON list of rules, read again for every
accepted connection, so a test can change the faults between attempts (write it to a temporary file and rename it:
a half-written file is retried briefly, then ignored and reported under "errors" in stats.json). A missing or empty
file means no faults. A rule is an object:
  "connection": N or [N, ...]  the Nth connection accepted on the rule's channel (1-based), or
  "every": true                every connection of the channel (give exactly one of the two)
  "channel": "control"|"data"  connections accepted on the main port ("control"), or FTP data connections ("data",
                               only with --ftp); default "data" with --ftp, else "control"
  "direction": "upstream" (client -> server) | "downstream" (server -> client)            (required)
  "action": one of                                                                           (required)
     "cut"                 the first `at` bytes of that direction are forwarded (and the proxy waits up to 2 s for
                           the receiver to acknowledge them), then both sockets are closed with SO_LINGER 0: client
                           and server each get a TCP RST; everything else in flight is dropped. (Acknowledged
                           means in the receiver's kernel: Linux still lets it read them before ECONNRESET, but an
                           application may drop its last chunk on the error; pyftpdlib sometimes keeps a bit less.)
     "stall"               forwarding of that direction stops after `at` bytes for "seconds" (absent or null:
                           forever), then goes on; the proxy stops reading, so the sender feels TCP back-pressure.
                           The other direction keeps flowing. An endless stall ends (both sockets closed) when the
                           side waiting for the stalled bytes closes its end; any stall ends early on a reset.
     "corrupt"             the byte at offset `at` is XORed with 0xFF (the stream length does not change)
     "truncate_and_close"  the first `at` bytes are forwarded, then both sides get a clean FIN (shutdown), whatever
                           they send afterwards is read and discarded, and the sockets are closed after both ends
                           closed (or 5 s)
  "at": byte offset in that direction's stream as the receiver sees it, default 0. cut, stall and
        truncate_and_close fire as soon as exactly `at` bytes have been forwarded (at 0: as soon as the connection to
        the target is up, before any byte); corrupt fires when byte number `at` (0-based) passes.
  "seconds": stall duration (number > 0); only for "stall"
  "times": K   fire on at most K connections, then never again. Counted per rule when the fault really fires (a
               connection that closes before reaching `at` does not use one up), across re-reads of the file: the
               count belongs to the rule's "id" if it has one, else to its exact text (change either to start again)
  "id": a name for stats.json; "comment": ignored
Examples:
  cut the first 2 connections at 1 MiB on the way up, let the third through:
    [{"every": true, "times": 2, "direction": "upstream", "action": "cut", "at": 1048576}]
  stall the 1st connection's download for 3 s after 64 KiB, and flip byte 100000 of the 2nd connection's:
    [{"connection": 1, "direction": "downstream", "action": "stall", "at": 65536, "seconds": 3},
     {"connection": 2, "direction": "downstream", "action": "corrupt", "at": 100000}]
Invalid rules are skipped and reported under "errors" in stats.json and in the log.

WORKDIR/stats.json (rewritten, atomically, at start, whenever a fault fires and whenever a connection closes):
  {"accepted": N, "accepted_by_channel": {"control": N, "data": M}, "open": K,
   "connections": [{"id": 1, "channel": "control", "number": 1, "parent": null, "client": "127.0.0.1:PORT",
                    "target": "HOST:PORT", "state": STATE, "reason": ..., "upstream": {"received": B, "forwarded": B},
                    "downstream": {...}, "faults": [...], "opened": UNIX_TIME, "duration": S,
                    "passive_rewrites": N, "tls": false}, ...],
   "faults_fired": [{"connection": 1, "channel": ..., "number": ..., "direction": ..., "action": ..., "at": ...,
                     "rule": INDEX, "id": ..., "time": UNIX_TIME}, ...],
   "rules": [{"index": 0, "id": ..., "fired": N}, ...] (the rules of the last read), "errors": [{"message", "count"}]}
STATE is "connecting", "open", "cutting" or "truncating" (a fault is finishing) while the connection lasts, then
"closed" (both sides closed), "cut", "truncated", "reset" (a side reset or failed), "connect_failed" or "stopped".
"received" counts bytes read from the sender, "forwarded" bytes handed to the receiver's socket (after FTP
rewriting and the faults). "number" is the connection's rank on its channel; "parent" is a data connection's
control connection id. WORKDIR/proxy.log has one line per event.

--ftp: plain FTP. Data connections go through the proxy too: the server's 227 (PASV) and 229 (EPSV) replies on the
control connection are rewritten so that the client connects to a fresh data port of the proxy (127.0.0.1, one
connection per reply, forgotten after 60 s or when the control connection closes), which forwards to the data
port the server announced. Faults then target data connections by default (channel "data"); the data connections
are numbered 1, 2, ... in the order they are accepted, over all control connections. Active mode (PORT/EPRT) is
not rewritten: the server connects to the client directly, past the proxy.
Limits: explicit FTPS (AUTH TLS, 234 reply) encrypts the control channel, so from then on the proxy forwards it
untouched and can no longer rewrite the passive replies: the client connects to the server's data ports directly
and data-channel faults cannot be injected (control-channel faults still work, on ciphertext offsets). Implicit
FTPS (TLS from the first byte) is detected and forwarded untouched too. CCC (back to clear text) is not followed.
Listens on IPv4 loopback only (the target may be IPv6). One thread does all forwarding (fine for test transfers
of some MiB per second, not a benchmark).
"""
import errno, fcntl, heapq, itertools, json, os, re, select, selectors, socket, struct, termios, threading, time

import launcher
from launcher import Failure

launcher.setup()

CHUNK = 65536             # bytes per recv/send
HIGH_WATER = 256 * 1024   # stop reading a direction while this much waits to be sent
CONNECT_TIMEOUT = 10      # seconds to connect to the target
CUT_DRAIN = 2.0           # seconds a cut waits for the bytes before it to be acknowledged
TRUNCATE_DRAIN = 5.0      # seconds a truncated connection discards input before closing
DATA_LISTEN_TIMEOUT = 60  # seconds an FTP data port waits for the client
STALL_POLL = 0.1          # seconds between checks of a stalled connection's sockets
READ, WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE
ACTIONS = ("cut", "stall", "corrupt", "truncate_and_close")
DIRECTIONS = ("upstream", "downstream")
CHANNELS = ("control", "data")
FIELDS = {"connection", "every", "channel", "direction", "action", "at", "seconds", "times", "id", "comment"}


def split_host_port(text):
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise Failure(f"--target {text!r}: give HOST:PORT (IPv6: [ADDRESS]:PORT)")
    return host.strip("[]"), int(port)


def format_address(address):
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


class Rule:
    def __init__(self, index, spec, ftp, occurrences):
        if not isinstance(spec, dict):
            raise ValueError("a rule is a JSON object")
        unknown = set(spec) - FIELDS
        if unknown:
            raise ValueError(f"unknown field(s) {sorted(unknown)}")
        self.index, self.spec = index, spec
        self.every = spec.get("every", False)
        connection = spec.get("connection")
        if not isinstance(self.every, bool):
            raise ValueError('"every" must be true or false')
        if self.every == (connection is not None):
            raise ValueError('give "connection": N (1-based) or "every": true, exactly one of them')
        numbers = [] if connection is None else [connection] if not isinstance(connection, list) else connection
        if any(not is_int(n) or n < 1 for n in numbers) or (connection is not None and not numbers):
            raise ValueError('"connection" is a number >= 1 or a non-empty list of them')
        self.numbers = set(numbers)
        self.channel = spec.get("channel", "data" if ftp else "control")
        if self.channel not in CHANNELS:
            raise ValueError(f'"channel" is one of {list(CHANNELS)}')
        if self.channel == "data" and not ftp:
            raise ValueError('channel "data" needs --ftp')
        self.direction = spec.get("direction")
        if self.direction not in DIRECTIONS:
            raise ValueError(f'"direction" is one of {list(DIRECTIONS)}')
        self.action = spec.get("action")
        if self.action not in ACTIONS:
            raise ValueError(f'"action" is one of {list(ACTIONS)}')
        self.at = spec.get("at", 0)
        if not is_int(self.at) or self.at < 0:
            raise ValueError('"at" is a byte offset >= 0')
        self.seconds = spec.get("seconds")
        if self.seconds is not None:
            if self.action != "stall":
                raise ValueError('"seconds" is only for "stall"')
            if isinstance(self.seconds, bool) or not isinstance(self.seconds, (int, float)) or self.seconds <= 0:
                raise ValueError('"seconds" is a number > 0 (leave it out to stall forever)')
        self.times = spec.get("times")
        if self.times is not None and (not is_int(self.times) or self.times < 1):
            raise ValueError('"times" is a number >= 1')
        self.id = spec.get("id")
        if self.id is not None:
            self.key = f"id:{self.id}"
        else:
            text = json.dumps(spec, sort_keys=True)
            occurrences[text] = occurrences.get(text, 0) + 1
            self.key = f"{text}#{occurrences[text]}"

    def matches(self, channel, number):
        return channel == self.channel and (self.every or number in self.numbers)

    def describe(self):
        extra = f" {self.seconds}s" if self.action == "stall" and self.seconds else (
            " forever" if self.action == "stall" else "")
        return f"rule {self.index}{'' if self.id is None else ' ' + repr(self.id)}: {self.direction} " \
               f"{self.action} at {self.at}{extra}"


class Timer:
    def __init__(self, fn):
        self.fn, self.cancelled = fn, False

    def cancel(self):
        self.cancelled = True


class Endpoint:
    """One socket of a proxied connection: the client's (accepted) or the server's (connected)."""

    def __init__(self, conn, side, sock):
        self.conn, self.side, self.sock = conn, side, sock
        self.mask, self.closed, self.eof = 0, False, False
        sock.setblocking(False)

    def set_mask(self, mask):
        if self.closed or mask == self.mask:
            return
        selector = self.conn.proxy.selector
        if self.mask == 0:
            selector.register(self.sock, mask, self.on_event)
        elif mask == 0:
            selector.unregister(self.sock)
        else:
            selector.modify(self.sock, mask, self.on_event)
        self.mask = mask

    def on_event(self, mask):
        if not self.closed:
            self.conn.on_event(self, mask)

    def shutdown_write(self):
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self, reset=False):
        if self.closed:
            return
        self.set_mask(0)
        self.closed = True
        if reset:
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        try:
            self.sock.close()
        except OSError:
            pass


class Pipe:
    """One direction of a connection: bytes read from src, transformed (FTP), faulted, then written to dst."""

    def __init__(self, conn, name, src, dst):
        self.conn, self.name, self.src, self.dst = conn, name, src, dst
        self.staging = bytearray()  # transformed bytes not yet past the fault engine
        self.buf = bytearray()      # bytes waiting to be written to dst
        self.pos = 0                # bytes of the stream as dst sees it that passed the fault engine
        self.received = self.forwarded = 0
        self.src_eof = self.dst_shut = False
        self.faults = []            # armed rules, by offset
        self.stalled = False
        self.stall_rule = None
        self.stall_timer = None
        self.transform = None       # fn(bytes, eof) -> bytes

    def wants_read(self):
        return not self.src_eof and not self.stalled and len(self.staging) + len(self.buf) < HIGH_WATER

    def feed(self, data, eof=False):
        if self.transform is not None:
            data = self.transform(data, eof)
        self.staging += data
        self.process()

    def process(self):
        """Moves staged bytes to the send buffer, firing the armed faults at their offsets."""
        conn = self.conn
        while conn.state == "open" and not self.stalled:
            fault = self.faults[0] if self.faults else None
            if fault is not None and fault.at <= self.pos and (fault.action != "corrupt" or self.staging):
                self.faults.pop(0)
                if not conn.proxy.may_fire(fault, conn, self):
                    continue
                if fault.action == "corrupt":
                    self.staging[0] ^= 0xFF
                elif fault.action == "stall":
                    self.start_stall(fault)
                elif fault.action == "cut":
                    conn.begin_cut(self, fault)
                else:
                    conn.begin_truncate(self, fault)
                continue
            if not self.staging:
                return
            n = len(self.staging) if fault is None else min(len(self.staging), fault.at - self.pos)
            self.buf += self.staging[:n]
            del self.staging[:n]
            self.pos += n

    def start_stall(self, rule):
        self.stalled, self.stall_rule = True, rule
        proxy = self.conn.proxy
        if rule.seconds:
            self.stall_timer = proxy.call_later(rule.seconds, self.end_stall)
        proxy.call_later(STALL_POLL, self.watch_stall)

    def end_stall(self):
        if not self.stalled or self.conn.state != "open":
            return
        self.stalled, self.stall_rule = False, None
        self.conn.proxy.log(f"#{self.conn.id} {self.name} stall over at {self.pos}")
        self.process()
        self.conn.after_io()

    def watch_stall(self):
        """A stalled connection whose peer reset (or, for an endless stall, whose receiver closed) is torn down."""
        conn = self.conn
        if not self.stalled or conn.state != "open":
            return
        for endpoint in (self.src, self.dst):
            poller = select.poll()
            poller.register(endpoint.sock.fileno(), select.POLLERR | select.POLLRDHUP)
            events = poller.poll(0)
            flags = events[0][1] if events else 0
            if flags & select.POLLERR:
                return conn.abort("reset", f"{endpoint.side} reset during a stall")
            if flags & select.POLLRDHUP and endpoint is self.dst and self.stall_rule.seconds is None:
                return conn.close("closed", f"{endpoint.side} closed during an endless stall")
        conn.proxy.call_later(STALL_POLL, self.watch_stall)

    def stats(self):
        return {"received": self.received, "forwarded": self.forwarded}


class Connection:
    def __init__(self, proxy, cid, channel, number, client_sock, client_address, target, rules, parent=None):
        self.proxy, self.id, self.channel, self.number, self.parent = proxy, cid, channel, number, parent
        self.target = target
        self.state = "connecting"
        self.reason = None
        self.opened, self.started, self.duration = time.time(), time.monotonic(), None
        self.fired = []
        self.listeners = set()  # FTP data ports opened for this control connection
        self.ftp = None
        self.passive_rewrites = 0
        self.tls = False
        self.timers = []
        self.client_text = format_address(client_address)
        self.target_text = format_address(target[4])
        self.client = Endpoint(self, "client", client_sock)
        family, kind, protocol, _, address = target
        self.server = Endpoint(self, "server", socket.socket(family, kind, protocol))
        for endpoint in (self.client, self.server):
            try:
                endpoint.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        self.up = Pipe(self, "upstream", self.client, self.server)
        self.down = Pipe(self, "downstream", self.server, self.client)
        for rule in rules:
            if rule.matches(channel, number) and not proxy.exhausted(rule):
                (self.up if rule.direction == "upstream" else self.down).faults.append(rule)
        for pipe in (self.up, self.down):
            pipe.faults.sort(key=lambda r: r.at)  # stable: same offset, file order
        self.cut_pipe = None
        self.deadline = None

    def start(self):
        error = self.server.sock.connect_ex(self.target[4])
        if error not in (0, errno.EINPROGRESS):
            return self.connect_failed(os.strerror(error))
        self.timers.append(self.proxy.call_later(CONNECT_TIMEOUT, lambda: self.connect_failed("timed out")))
        self.after_io()

    # --- events ----------------------------------------------------------------------------------------------------

    def pipes_of(self, endpoint):
        """(the pipe endpoint feeds, the pipe that writes to endpoint)"""
        return (self.up, self.down) if endpoint is self.client else (self.down, self.up)

    def on_event(self, endpoint, mask):
        try:
            if self.state == "connecting":
                if endpoint is self.server and mask & WRITE:
                    self.finish_connect()
            elif self.state == "truncating":
                self.truncating_io(endpoint, mask)
            elif self.state in ("open", "cutting"):
                src_pipe, dst_pipe = self.pipes_of(endpoint)
                if mask & WRITE:
                    self.write(dst_pipe)
                if mask & READ and self.state == "open" and not endpoint.closed:
                    self.read(src_pipe)
            self.after_io()
        except Exception as e:  # a bug must not stop the other connections
            self.proxy.log(f"#{self.id} internal error: {type(e).__name__}: {e}")
            self.abort("reset", f"internal error: {type(e).__name__}: {e}")

    def finish_connect(self):
        error = self.server.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error:
            return self.connect_failed(os.strerror(error))
        self.state = "open"
        self.proxy.log(f"#{self.id} {self.channel} {self.number} connected {self.client_text} -> {self.target_text}")
        for pipe in (self.up, self.down):
            pipe.process()  # faults at offset 0 fire now

    def connect_failed(self, why):
        if self.state != "connecting":
            return
        self.proxy.log(f"#{self.id} connecting to {self.target_text} failed: {why}")
        self.finish("connect_failed", f"connecting to {self.target_text}: {why}", reset=True)

    def read(self, pipe):
        try:
            data = pipe.src.sock.recv(CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            return self.abort("reset", f"{pipe.src.side}: {e.strerror or e}")
        if not data:
            pipe.src_eof = pipe.src.eof = True
            pipe.feed(b"", eof=True)
            return
        pipe.received += len(data)
        pipe.feed(data)

    def write(self, pipe):
        if not pipe.buf:
            return
        try:
            n = pipe.dst.sock.send(pipe.buf[:CHUNK])
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            return self.abort("reset", f"{pipe.dst.side}: {e.strerror or e}")
        pipe.forwarded += n
        del pipe.buf[:n]

    def after_io(self):
        """Half-closes finished directions, closes finished connections, and sets what the selector waits for."""
        if self.state == "open":
            for pipe in (self.up, self.down):
                if pipe.src_eof and not pipe.staging and not pipe.buf and not pipe.dst_shut and not pipe.stalled:
                    pipe.dst.shutdown_write()
                    pipe.dst_shut = True
            if self.up.dst_shut and self.down.dst_shut:
                return self.close("closed", "both sides closed")
        elif self.state == "cutting" and not self.cut_pipe.buf and self.deadline is None:
            self.deadline = time.monotonic() + CUT_DRAIN
            self.wait_acknowledged()
        elif self.state == "truncating" and self.cut_pipe is not None and not self.cut_pipe.buf:
            self.cut_pipe = None
            self.client.shutdown_write()
            self.server.shutdown_write()
            self.timers.append(self.proxy.call_later(TRUNCATE_DRAIN, lambda: self.close("truncated", self.reason)))
            if self.client.eof and self.server.eof:
                return self.close("truncated", self.reason)
        if self.state in ("closed", "cut", "truncated", "reset", "connect_failed", "stopped"):
            return
        for endpoint in (self.client, self.server):
            src_pipe, dst_pipe = self.pipes_of(endpoint)
            mask = 0
            if self.state == "connecting":
                mask = WRITE if endpoint is self.server else 0
            elif self.state == "open":
                mask = (READ if src_pipe.wants_read() else 0) | (WRITE if dst_pipe.buf else 0)
            elif self.state == "cutting":
                mask = WRITE if dst_pipe is self.cut_pipe and dst_pipe.buf else 0
            elif self.state == "truncating":
                if self.cut_pipe is not None:
                    mask = WRITE if dst_pipe is self.cut_pipe and dst_pipe.buf else 0
                elif not endpoint.eof:
                    mask = READ
            endpoint.set_mask(mask)

    # --- faults ----------------------------------------------------------------------------------------------------

    def drop_pending(self, keep):
        for pipe in (self.up, self.down):
            pipe.staging.clear()
            if pipe is not keep:
                pipe.buf.clear()

    def begin_cut(self, pipe, rule):
        self.state, self.cut_pipe = "cutting", pipe
        self.reason = f"cut {pipe.name} at {pipe.pos} ({rule.describe()})"
        self.drop_pending(keep=pipe)

    def wait_acknowledged(self):
        """The cut's RST once the receiver acknowledged the bytes before it (or after CUT_DRAIN)."""
        if self.state != "cutting":
            return
        try:
            unacknowledged = struct.unpack("i", fcntl.ioctl(self.cut_pipe.dst.sock.fileno(), termios.TIOCOUTQ,
                                                            b"\0\0\0\0"))[0]
        except OSError:
            unacknowledged = 0
        if unacknowledged == 0 or time.monotonic() > self.deadline:
            if unacknowledged:
                self.reason += f", {unacknowledged} bytes not acknowledged"
            return self.finish("cut", self.reason, reset=True)
        self.timers.append(self.proxy.call_later(0.005, self.wait_acknowledged))

    def begin_truncate(self, pipe, rule):
        self.state, self.cut_pipe = "truncating", pipe
        self.reason = f"truncated {pipe.name} at {pipe.pos} ({rule.describe()})"
        self.drop_pending(keep=pipe)

    def truncating_io(self, endpoint, mask):
        if mask & WRITE and self.cut_pipe is not None:
            self.write(self.cut_pipe)
        if mask & READ and self.state == "truncating" and self.cut_pipe is None:
            try:
                while True:
                    data = endpoint.sock.recv(CHUNK)  # discarded
                    if not data:
                        endpoint.eof = True
                        break
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                endpoint.eof = True
            if self.client.eof and self.server.eof:
                self.close("truncated", self.reason)

    # --- ends ------------------------------------------------------------------------------------------------------

    def abort(self, state, reason):
        """Both sockets closed with RST."""
        if self.state in ("closed", "cut", "truncated", "reset", "connect_failed", "stopped"):
            return
        self.proxy.log(f"#{self.id} {reason}: closing both sides with RST")
        self.finish(state, reason, reset=True)

    def close(self, state, reason):
        if self.state in ("closed", "cut", "truncated", "reset", "connect_failed", "stopped"):
            return
        self.finish(state, reason, reset=False)

    def finish(self, state, reason, reset):
        self.state, self.reason = state, reason
        self.duration = round(time.monotonic() - self.started, 3)
        for timer in self.timers:
            timer.cancel()
        for pipe in (self.up, self.down):
            if pipe.stall_timer is not None:
                pipe.stall_timer.cancel()
        self.client.close(reset)
        self.server.close(reset)
        for listener in list(self.listeners):
            listener.close("its control connection closed")
        self.proxy.connection_closed(self)

    def snapshot(self):
        record = {"id": self.id, "channel": self.channel, "number": self.number, "parent": self.parent,
                  "client": self.client_text, "target": self.target_text,
                  "state": self.state,
                  "reason": self.reason, "upstream": self.up.stats(), "downstream": self.down.stats(),
                  "faults": self.fired, "opened": round(self.opened, 3),
                  "duration": self.duration if self.duration is not None else round(time.monotonic() - self.started, 3)}
        if self.ftp is not None:
            record["passive_rewrites"], record["tls"] = self.passive_rewrites, self.tls
        return record


class FtpControl:
    """Rewrites an FTP control connection's 227/229 replies to data ports of the proxy, until TLS starts."""
    PASV = re.compile(rb"(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3})")
    EPSV = re.compile(rb"\(([!-~])\1\1(\d+)\1\)")

    def __init__(self, proxy, conn):
        self.proxy, self.conn = proxy, conn
        self.raw = False
        self.auth_pending = False
        self.greeted = False
        self.up_line = bytearray()
        self.down_line = bytearray()
        conn.ftp = self
        conn.up.transform, conn.down.transform = self.upstream, self.downstream

    def go_raw(self, why):
        if not self.raw:
            self.raw, self.conn.tls = True, True
            self.proxy.log(f"#{self.conn.id} {why}: control connection forwarded untouched from now on")

    def upstream(self, data, eof):
        if self.raw:
            return data
        if not self.greeted and data[:1] == b"\x16":
            self.go_raw("the client speaks TLS first (implicit FTPS?)")
            return data
        self.up_line += data
        while True:
            end = self.up_line.find(b"\n")
            if end < 0:
                break
            command = bytes(self.up_line[:end]).strip().upper()
            del self.up_line[:end + 1]
            if command.startswith(b"AUTH"):
                self.auth_pending = True
        if len(self.up_line) > 4096:
            self.up_line.clear()
        return data

    def downstream(self, data, eof):
        if self.raw:
            return data
        self.down_line += data
        if not self.greeted and self.down_line:
            if not self.down_line[:1].isdigit():
                self.go_raw("the server does not greet with an FTP reply")
                out = bytes(self.down_line)
                self.down_line.clear()
                return out
            self.greeted = True
        out = bytearray()
        while not self.raw:
            end = self.down_line.find(b"\n")
            if end < 0:
                break
            line = bytes(self.down_line[:end + 1])
            del self.down_line[:end + 1]
            out += self.rewrite(line)
        if self.raw or eof or len(self.down_line) > 8192:
            out += self.down_line
            self.down_line.clear()
        return bytes(out)

    def rewrite(self, line):
        code, final = line[:3], line[3:4] == b" "
        if code == b"234" and self.auth_pending:
            self.go_raw("AUTH accepted (TLS)")
        elif final and code[:1] in (b"4", b"5") and self.auth_pending:
            self.auth_pending = False
        elif code == b"227" and final:
            match = self.PASV.search(line, 4)
            if match:
                numbers = [int(n) for n in match.groups()]
                host = ".".join(map(str, numbers[:4]))
                if host == "0.0.0.0":
                    host = self.conn.target[4][0]
                port = self.open_data_port(host, numbers[4] * 256 + numbers[5], line)
                if port:
                    return line[:match.start()] + f"127,0,0,1,{port >> 8},{port & 255}".encode() + line[match.end():]
        elif code == b"229" and final:
            match = self.EPSV.search(line, 4)
            if match:
                port = self.open_data_port(self.conn.target[4][0], int(match.group(2)), line)
                if port:
                    d = match.group(1)
                    return line[:match.start()] + b"(" + d * 3 + str(port).encode() + d + b")" + line[match.end():]
        return line

    def open_data_port(self, host, port, line):
        try:
            listener = DataListener(self.proxy, self.conn, host, port)
        except OSError as e:
            self.proxy.log(f"#{self.conn.id} cannot proxy {line.strip()!r}: {e}")
            return None
        self.conn.passive_rewrites += 1
        self.proxy.log(f"#{self.conn.id} {line[:3].decode()} rewritten: data port {listener.port} -> "
                       f"{format_address((host, port))}")
        return listener.port


class DataListener:
    """A one-connection data port of the proxy for one 227/229 reply."""

    def __init__(self, proxy, parent, host, port):
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        self.proxy, self.parent, self.target = proxy, parent, infos[0]
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.closed = False
        proxy.selector.register(self.sock, READ, self.on_event)
        self.timer = proxy.call_later(DATA_LISTEN_TIMEOUT, lambda: self.close("no client came"))
        parent.listeners.add(self)
        proxy.listeners.add(self)

    def on_event(self, mask):
        try:
            sock, address = self.sock.accept()
        except (BlockingIOError, InterruptedError):
            return
        self.close(None)
        self.proxy.new_connection(sock, address, "data", self.target, parent=self.parent.id)

    def close(self, why):
        if self.closed:
            return
        self.closed = True
        self.timer.cancel()
        if why:
            self.proxy.log(f"#{self.parent.id} data port {self.port} closed: {why}")
        self.proxy.selector.unregister(self.sock)
        self.sock.close()
        self.parent.listeners.discard(self)
        self.proxy.listeners.discard(self)


class Proxy:
    def __init__(self, work, target, ftp):
        self.work, self.ftp = work, ftp
        self.control, self.log_path, self.stats_path = f"{work}/faults.json", f"{work}/proxy.log", f"{work}/stats.json"
        host, port = target
        try:
            self.target = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        except socket.gaierror as e:
            raise Failure(f"--target {host}:{port}: {e}")
        self.target_text = format_address((host, port))
        self.selector = selectors.DefaultSelector()
        self.timers, self.sequence = [], itertools.count()
        self.stopping = threading.Event()
        self.wake_read, self.wake_write = socket.socketpair()
        self.wake_read.setblocking(False)
        self.selector.register(self.wake_read, READ, lambda mask: self.wake_read.recv(64))
        self.open_connections, self.all_connections, self.listeners = {}, [], set()
        self.accepted, self.by_channel = 0, {"control": 0, "data": 0}
        self.fired, self.fired_counts, self.errors, self.rules = [], {}, {}, []
        self.log_file = open(self.log_path, "a", buffering=1)
        if not os.path.exists(self.control):
            with open(self.control, "w") as f:
                f.write("[]\n")
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(128)
        self.listener.setblocking(False)
        self.port = self.listener.getsockname()[1]
        self.selector.register(self.listener, READ, self.on_accept)
        self.thread = threading.Thread(target=self.run, name="fault-proxy", daemon=True)

    # --- loop ------------------------------------------------------------------------------------------------------

    def call_later(self, delay, fn):
        timer = Timer(fn)
        heapq.heappush(self.timers, (time.monotonic() + delay, next(self.sequence), timer))
        return timer

    def run(self):
        try:
            while not self.stopping.is_set():
                timeout = 0.5
                if self.timers:
                    timeout = min(timeout, max(0.0, self.timers[0][0] - time.monotonic()))
                for key, mask in self.selector.select(timeout):
                    key.data(mask)
                now = time.monotonic()
                while self.timers and self.timers[0][0] <= now:
                    _, _, timer = heapq.heappop(self.timers)
                    if not timer.cancelled:
                        try:
                            timer.fn()
                        except Exception as e:  # a bug must not stop the other connections
                            self.log(f"internal error in a timer: {type(e).__name__}: {e}")
        except Exception as e:
            self.log(f"proxy loop failed: {type(e).__name__}: {e}")
        finally:
            self.close_everything()

    def stop(self):
        self.stopping.set()
        try:
            self.wake_write.send(b"x")
        except OSError:
            pass
        self.thread.join(timeout=20)

    def close_everything(self):
        for conn in list(self.open_connections.values()):
            conn.close("stopped", "the proxy stopped")
        for listener in list(self.listeners):
            listener.close("the proxy stopped")
        for sock in (self.listener, self.wake_read, self.wake_write):
            try:
                sock.close()
            except OSError:
                pass
        self.write_stats()
        self.log("stopped")
        self.log_file.close()

    def log(self, message):
        if not self.log_file.closed:
            self.log_file.write(f"{time.strftime('%H:%M:%S')}.{int(time.time() * 1000) % 1000:03d} {message}\n")

    # --- connections -----------------------------------------------------------------------------------------------

    def on_accept(self, mask):
        while True:
            try:
                sock, address = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                self.log(f"accept failed: {e}")
                return
            self.new_connection(sock, address, "control", self.target)

    def new_connection(self, sock, address, channel, target, parent=None):
        self.accepted += 1
        self.by_channel[channel] += 1
        self.rules = self.load_rules()
        try:
            conn = Connection(self, self.accepted, channel, self.by_channel[channel], sock, address, target,
                              self.rules, parent)
        except Exception as e:
            self.log(f"#{self.accepted} could not be set up: {type(e).__name__}: {e}")
            sock.close()
            return
        self.open_connections[conn.id] = conn
        self.all_connections.append(conn)
        if self.ftp and channel == "control":
            FtpControl(self, conn)
        armed = [r.describe() for p in (conn.up, conn.down) for r in p.faults]
        self.log(f"#{conn.id} accepted {channel} connection {conn.number} from {conn.client_text}"
                 f"{' (parent #%d)' % parent if parent else ''}; armed: {', '.join(armed) or 'nothing'}")
        conn.start()

    def connection_closed(self, conn):
        self.open_connections.pop(conn.id, None)
        self.log(f"#{conn.id} {conn.state}: {conn.reason}; upstream {conn.up.received} in / {conn.up.forwarded} out, "
                 f"downstream {conn.down.received} in / {conn.down.forwarded} out, {conn.duration} s")
        self.write_stats()

    # --- rules -----------------------------------------------------------------------------------------------------

    def error(self, message):
        if message not in self.errors:
            self.log(f"control file: {message}")
        self.errors[message] = self.errors.get(message, 0) + 1

    def load_rules(self):
        data, problem = None, None
        for attempt in range(3):
            try:
                with open(self.control) as f:
                    text = f.read()
            except FileNotFoundError:
                return []
            except OSError as e:
                self.error(f"{self.control}: {e}")
                return []
            if not text.strip():
                return []
            try:
                data = json.loads(text)
                break
            except json.JSONDecodeError as e:
                problem = e
                time.sleep(0.02)  # perhaps half written: try again
        else:
            self.error(f"{self.control} is not valid JSON ({problem}): no faults")
            return []
        if isinstance(data, dict) and isinstance(data.get("rules"), list):
            data = data["rules"]
        if not isinstance(data, list):
            self.error(f"{self.control} must hold a JSON list of rules: no faults")
            return []
        rules, occurrences = [], {}
        for index, spec in enumerate(data):
            try:
                rules.append(Rule(index, spec, self.ftp, occurrences))
            except ValueError as e:
                self.error(f"rule {index} ignored: {e}: {json.dumps(spec)}")
        return rules

    def exhausted(self, rule):
        return rule.times is not None and self.fired_counts.get(rule.key, 0) >= rule.times

    def may_fire(self, rule, conn, pipe):
        if self.exhausted(rule):
            self.log(f"#{conn.id} {rule.describe()} not fired: already fired {rule.times} times")
            return False
        self.fired_counts[rule.key] = self.fired_counts.get(rule.key, 0) + 1
        event = {"connection": conn.id, "channel": conn.channel, "number": conn.number, "direction": pipe.name,
                 "action": rule.action, "at": pipe.pos, "rule": rule.index, "id": rule.id,
                 "time": round(time.time(), 3)}
        if rule.action == "stall":
            event["seconds"] = rule.seconds
        self.fired.append(event)
        conn.fired.append(f"{pipe.name} {rule.action} at {pipe.pos}")
        self.log(f"#{conn.id} fired {rule.describe()} (upstream {conn.up.pos} / downstream {conn.down.pos} bytes "
                 f"passed)")
        self.write_stats()
        return True

    # --- stats -----------------------------------------------------------------------------------------------------

    def write_stats(self):
        data = {"accepted": self.accepted, "accepted_by_channel": dict(self.by_channel),
                "open": len(self.open_connections),
                "connections": [conn.snapshot() for conn in self.all_connections],
                "faults_fired": self.fired,
                "rules": [{"index": r.index, "id": r.id, "fired": self.fired_counts.get(r.key, 0)} for r in self.rules],
                "errors": [{"message": m, "count": c} for m, c in self.errors.items()]}
        temporary = f"{self.stats_path}.tmp"
        try:
            with open(temporary, "w") as f:
                json.dump(data, f, indent=1)
            os.replace(temporary, self.stats_path)
        except OSError as e:
            self.log(f"cannot write {self.stats_path}: {e}")


def main():
    parser = launcher.argument_parser("TCP fault-injection proxy on loopback until stdin closes")
    parser.add_argument("--target", required=True, help="HOST:PORT to forward to ([ADDRESS]:PORT for IPv6)")
    parser.add_argument("--ftp", action="store_true", help="FTP: rewrite 227/229 replies and proxy data connections")
    args, work = launcher.parse_args(parser)
    try:
        target = split_host_port(args.target)
    except Failure as e:
        parser.error(str(e))
    proxy = None

    def start():
        nonlocal proxy
        proxy = Proxy(work, target, args.ftp)
        proxy.write_stats()
        proxy.log(f"listening on 127.0.0.1:{proxy.port} for {proxy.target_text}{' (FTP)' if args.ftp else ''}")
        proxy.thread.start()
        return {"port": proxy.port, "control": proxy.control, "log": proxy.log_path, "stats": proxy.stats_path,
                "host": "127.0.0.1", "target": proxy.target_text, "ftp": args.ftp}

    def stop():
        if proxy is not None:
            if proxy.thread.is_alive():
                proxy.stop()
            elif not proxy.log_file.closed:
                proxy.close_everything()

    launcher.serve(start, stop)


if __name__ == "__main__":
    main()
