#!/usr/bin/env python3
"""Validating EPP-over-TLS relay for nicbox's tests.

Sits between an EPP client (Net::EPP, pyepp, ...) and nicbox's EPP server:

    client --TLS--> relay 127.0.0.1:LOCALPORT --TLS, client cert of that map--> upstream

Bytes are forwarded unchanged in both directions. The server->client direction is cut into
RFC 5734 frames (4-byte big-endian total length, header included) and every frame is checked:
UTF-8, well-formed, no DOCTYPE, root {urn:ietf:params:xml:ns:epp-1.0}epp, valid against the
XSD (so every element is in a namespace the schemas know), and a <response> to a command that
carried a clTRID must echo it in trID/clTRID. The client->server direction is framed too, only
to learn the clTRID of each command (responses come in order, one per command or <hello>; the
first server frame is the greeting).

One JSON line per server frame goes to --report, flushed at once:
    {"frame": n, "ok": true, "conn": c, "port": p}
    {"frame": n, "ok": false, "error": "...", "xml": "...", "conn": c, "port": p}
Problems that are not about one frame (upstream unreachable, a broken length header) are
written as lines with "frame": null and "ok": false.

Usage:
    relay.py --upstream HOST:PORT --ca CA.pem --cert SERVER.pem --key SERVER-KEY.pem \
             --map LOCALPORT=CLIENTCERT.pem,CLIENTKEY.pem [--map ...] \
             --report FILE --xsd tests/epp/xsd/pt-lab/all_pt.xsd

For each --map it prints "relay PORT_ASKED -> PORT_BOUND" (PORT_ASKED 0 picks a free port),
then "ready", on stdout. Python 3.11 stdlib + lxml (tests/epp/pylib is put on sys.path).
"""

import argparse
import asyncio
import collections
import itertools
import json
import os
import re
import signal
import ssl
import struct
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "pylib"))

from lxml import etree  # noqa: E402

EPP_NS = "urn:ietf:params:xml:ns:epp-1.0"
EPP_ROOT = "{%s}epp" % EPP_NS
MAX_FRAME = 16 * 1024 * 1024  # refuse to buffer more than this for one frame
XML_IN_REPORT_MAX = 65536
_DECL_ENCODING = re.compile(rb"""^\xef?\xbb?\xbf?<\?xml[^>]*?encoding\s*=\s*["']([^"']+)["']""")


def _parser():
    # No DTD loading, no entity expansion, no network; default depth/size limits (no huge_tree).
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        remove_blank_text=False,
        huge_tree=False,
    )


class Validator:
    """Loads the schema once; validate() is serialised (lxml schema objects are not shared
    between threads here)."""

    def __init__(self, xsd_path):
        self._schema = etree.XMLSchema(etree.parse(xsd_path))
        self._lock = threading.Lock()

    def check_server_frame(self, payload):
        """Returns (errors, root). root is None when the frame does not parse."""
        errors = []
        try:
            payload.decode("utf-8")
        except UnicodeDecodeError as e:
            errors.append("not UTF-8: %s" % e)
            return errors, None
        m = _DECL_ENCODING.match(payload)
        if m and m.group(1).decode("ascii", "replace").lower() not in ("utf-8", "utf8"):
            errors.append("XML declaration says encoding=%r, not UTF-8" % m.group(1).decode("ascii", "replace"))
        if b"<!DOCTYPE" in payload:
            errors.append("DOCTYPE present")
        try:
            root = etree.fromstring(payload, _parser())
        except etree.XMLSyntaxError as e:
            errors.append("not well-formed XML: %s" % e)
            return errors, None
        tree = root.getroottree()
        if tree.docinfo.doctype and "DOCTYPE present" not in errors:
            errors.append("DOCTYPE present")
        if root.tag != EPP_ROOT:
            errors.append("root element is %s, not %s" % (root.tag, EPP_ROOT))
        with self._lock:
            ok = self._schema.validate(tree)
            log = list(self._schema.error_log)
        if not ok:
            msgs = ["line %d: %s" % (e.line, e.message) for e in log[:5]]
            if len(log) > 5:
                msgs.append("... %d more" % (len(log) - 5))
            errors.append("schema: " + " | ".join(msgs))
        return errors, root


def client_frame_expectation(payload):
    """What the next server frame answers: ("hello", None), ("command", clTRID or None) or
    ("other", None) for anything else (including frames that do not parse)."""
    try:
        root = etree.fromstring(payload.strip(), _parser())
    except etree.XMLSyntaxError:
        return ("other", None)
    if root.tag != EPP_ROOT:
        return ("other", None)
    for child in root:
        if not isinstance(child.tag, str):
            continue
        if child.tag == "{%s}hello" % EPP_NS:
            return ("hello", None)
        if child.tag == "{%s}command" % EPP_NS:
            cl = child.find("{%s}clTRID" % EPP_NS)
            return ("command", cl.text if cl is not None else None)
        return ("other", None)
    return ("other", None)


def response_parts(root):
    """(kind, result_code, clTRID) of a parsed server frame; kind is 'greeting', 'response' or
    the local name of whatever is there."""
    for child in root:
        if not isinstance(child.tag, str):
            continue
        local = etree.QName(child).localname
        if child.tag == "{%s}greeting" % EPP_NS:
            return ("greeting", None, None)
        if child.tag == "{%s}response" % EPP_NS:
            code = None
            res = child.find("{%s}result" % EPP_NS)
            if res is not None:
                try:
                    code = int(res.get("code"))
                except (TypeError, ValueError):
                    code = None
            cl = child.find("{%s}trID/{%s}clTRID" % (EPP_NS, EPP_NS))
            return ("response", code, cl.text if cl is not None else None)
        return (local, None, None)
    return ("empty", None, None)


class FrameBuffer:
    """Accumulates bytes and yields complete RFC 5734 frames (payload only)."""

    def __init__(self):
        self.buf = bytearray()
        self.broken = None  # error text once the stream can no longer be framed

    def feed(self, data):
        if self.broken:
            return []
        self.buf += data
        out = []
        while len(self.buf) >= 4:
            (total,) = struct.unpack(">I", self.buf[:4])
            if total < 5:
                self.broken = "bad frame length %d (must be > 4: it counts the 4-byte header)" % total
                return out
            if total > MAX_FRAME:
                self.broken = "frame length %d exceeds the relay's %d byte limit" % (total, MAX_FRAME)
                return out
            if len(self.buf) < total:
                break
            out.append(bytes(self.buf[4:total]))
            del self.buf[:total]
        return out


class Report:
    def __init__(self, path):
        self._f = open(path, "w", encoding="utf-8")
        self._lock = threading.Lock()
        self._n = itertools.count(1)

    def frame(self, errors, payload, conn, port):
        with self._lock:
            n = next(self._n)
            rec = {"frame": n, "ok": not errors}
            if errors:
                rec["error"] = "; ".join(errors)
                rec["xml"] = payload[:XML_IN_REPORT_MAX].decode("utf-8", "replace")
            rec["conn"] = conn
            rec["port"] = port
            self._f.write(json.dumps(rec, ensure_ascii=False) + "\n")
            self._f.flush()
            return n

    def event(self, error, conn, port):
        with self._lock:
            rec = {"frame": None, "ok": False, "error": error, "conn": conn, "port": port}
            self._f.write(json.dumps(rec, ensure_ascii=False) + "\n")
            self._f.flush()


class Connection:
    """State of one relayed session: the frame buffers of both directions and the queue of
    commands still waiting for their response."""

    def __init__(self, relay, conn_id, port):
        self.relay = relay
        self.id = conn_id
        self.port = port
        self.c2s = FrameBuffer()
        self.s2c = FrameBuffer()
        self.pending = collections.deque()
        self.server_frames = 0
        self.reported_c2s_broken = False
        self.reported_s2c_broken = False

    def on_client_data(self, data):
        # Runs before the bytes are forwarded, so the expectation is queued before the
        # server can answer.
        for payload in self.c2s.feed(data):
            self.pending.append(client_frame_expectation(payload))
        if self.c2s.broken and not self.reported_c2s_broken:
            self.reported_c2s_broken = True
            self.relay.report.event("client->server: " + self.c2s.broken + "; clTRID tracking stops", self.id, self.port)

    def on_server_data(self, data):
        # Runs before the bytes are forwarded, so the report line exists when the client
        # gets the frame.
        for payload in self.s2c.feed(data):
            self.server_frames += 1
            errors, root = self.relay.validator.check_server_frame(payload)
            first = self.server_frames == 1
            expect = None
            if not first:
                expect = self.pending.popleft() if self.pending else None
            if root is not None:
                kind, code, cltrid = response_parts(root)
                errors += self._order_errors(first, expect, kind, code, cltrid)
            self.relay.report.frame(errors, payload, self.id, self.port)
        if self.s2c.broken and not self.reported_s2c_broken:
            self.reported_s2c_broken = True
            self.relay.report.event("server->client: " + self.s2c.broken + "; validation stops", self.id, self.port)

    @staticmethod
    def _order_errors(first, expect, kind, code, cltrid):
        errs = []
        if first:
            if kind == "greeting":
                return errs
            if kind == "response" and code is not None and 2500 <= code <= 2502:
                return errs  # a server may refuse the session instead of greeting
            return ["first server frame is a %s, not a greeting" % kind]
        if expect is None:
            if kind == "response" and code is not None and 2500 <= code <= 2502:
                return errs  # session-closing notice without a command
            return ["server sent a %s that answers no client frame" % kind]
        what, sent = expect
        if what == "hello":
            if kind != "greeting":
                errs.append("a <hello> was answered with a %s, not a greeting" % kind)
        elif what == "command":
            if kind != "response":
                errs.append("a <command> was answered with a %s, not a response" % kind)
            elif sent is not None and cltrid != sent:
                if cltrid is None:
                    errs.append("response does not echo clTRID %r (no trID/clTRID)" % sent)
                else:
                    errs.append("response echoes clTRID %r, the command sent %r" % (cltrid, sent))
        else:
            if kind not in ("response", "greeting"):
                errs.append("answer is a %s" % kind)
        return errs


class Relay:
    def __init__(self, args):
        host, _, port = args.upstream.rpartition(":")
        self.up_host = host.strip("[]") or "127.0.0.1"
        self.up_port = int(port)
        self.validator = Validator(args.xsd)
        self.report = Report(args.report)
        self.conn_ids = itertools.count(1)

        self.server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.server_ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        self.server_ctx.load_cert_chain(args.cert, args.key)
        # Ask for a client certificate, do not require one.
        self.server_ctx.load_verify_locations(cafile=args.ca)
        self.server_ctx.verify_mode = ssl.CERT_OPTIONAL

        self.maps = []
        for spec in args.map:
            try:
                port_s, files = spec.split("=", 1)
                cert, key = files.split(",", 1)
                asked = int(port_s)
            except ValueError:
                raise SystemExit("bad --map %r: want LOCALPORT=CLIENTCERT.pem,CLIENTKEY.pem" % spec)
            ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=args.ca)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.load_cert_chain(cert, key)
            self.maps.append((asked, ctx))

    async def handle(self, up_ctx, port, reader, writer):
        conn_id = next(self.conn_ids)
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(self.up_host, self.up_port, ssl=up_ctx, server_hostname=self.up_host),
                timeout=20,
            )
        except Exception as e:  # noqa: BLE001 - any failure is reported and ends the session
            self.report.event("upstream connection failed: %r" % (e,), conn_id, port)
            writer.close()
            return
        conn = Connection(self, conn_id, port)
        t_c2s = asyncio.create_task(self.pipe(reader, up_writer, conn.on_client_data))
        t_s2c = asyncio.create_task(self.pipe(up_reader, writer, conn.on_server_data))
        # A closed side closes the other.
        await asyncio.wait({t_c2s, t_s2c}, return_when=asyncio.FIRST_COMPLETED)
        for w in (writer, up_writer):
            try:
                w.close()
            except Exception:  # noqa: BLE001
                pass
        for t in (t_c2s, t_s2c):
            if not t.done():
                t.cancel()
        await asyncio.gather(t_c2s, t_s2c, return_exceptions=True)
        for w in (writer, up_writer):
            try:
                await asyncio.wait_for(w.wait_closed(), timeout=5)
            except Exception:  # noqa: BLE001
                pass

    @staticmethod
    async def pipe(reader, writer, inspect):
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    return
                try:
                    inspect(data)
                except Exception as e:  # noqa: BLE001 - never let a checker bug stop the bytes
                    print("relay: checker error: %r" % (e,), file=sys.stderr, flush=True)
                writer.write(data)
                await writer.drain()
        except (OSError, ssl.SSLError, asyncio.IncompleteReadError, ConnectionError):
            return

    async def run(self):
        servers = []
        for asked, up_ctx in self.maps:
            holder = {"port": asked}

            async def on_client(r, w, c=up_ctx, h=holder):
                await self.handle(c, h["port"], r, w)

            server = await asyncio.start_server(
                on_client,
                host="127.0.0.1",
                port=asked,
                ssl=self.server_ctx,
                ssl_handshake_timeout=20,
            )
            bound = server.sockets[0].getsockname()[1]
            holder["port"] = bound
            servers.append(server)
            print("relay %d -> %d" % (asked, bound), flush=True)
        print("ready", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):
                pass
        await stop.wait()
        for server in servers:
            server.close()


def main(argv=None):
    ap = argparse.ArgumentParser(description="Validating EPP TLS relay")
    ap.add_argument("--upstream", required=True, help="HOST:PORT of the EPP server")
    ap.add_argument("--ca", required=True, help="CA that signed the upstream server certificate")
    ap.add_argument("--cert", required=True, help="the relay's own server certificate")
    ap.add_argument("--key", required=True, help="the relay's own server key")
    ap.add_argument("--map", action="append", required=True, help="LOCALPORT=CLIENTCERT.pem,CLIENTKEY.pem")
    ap.add_argument("--report", required=True, help="JSON-lines report file")
    ap.add_argument("--xsd", required=True, help="schema, e.g. tests/epp/xsd/pt-lab/all_pt.xsd")
    args = ap.parse_args(argv)
    relay = Relay(args)
    try:
        asyncio.run(relay.run())
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
