#!/usr/bin/env python3
"""Self-test of relay.py against a tiny fake EPP TLS server.

    python3 tests/epp/test_relay.py        # exit 0 when every check passed

Makes a CA, a server leaf (SAN DNS:localhost, IP:127.0.0.1) and client leaves with openssl in
a temporary folder; runs a fake EPP server that requires a client certificate, sends a greeting
and answers each client frame according to its clTRID (valid, schema-invalid, clTRID not
echoed, malformed, DOCTYPE, not UTF-8, unknown namespace, sent in pieces, ...); runs relay.py in
front of it and checks the relay's stdout, the bytes the client receives, the mapping of local
port to client certificate, the propagation of closes, and the JSON-lines report.
"""

import json
import os
import re
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RELAY = os.path.join(HERE, "relay.py")
XSD = os.environ.get("EPP_XSD", os.path.join(os.path.dirname(os.path.abspath(__file__)), "xsd", "pt-lab", "all_pt.xsd"))

PASSED = []
FAILED = []


def check(name, cond, detail=""):
    if cond:
        PASSED.append(name)
        print("ok   %s" % name, flush=True)
    else:
        FAILED.append(name)
        print("FAIL %s %s" % (name, detail), flush=True)


# ---------------------------------------------------------------- certificates

def _run(cmd, cwd):
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def make_ca(d, name):
    _run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
          "-keyout", name + "-key.pem", "-out", name + ".pem", "-days", "2", "-subj", "/CN=" + name,
          "-addext", "basicConstraints=critical,CA:TRUE",
          "-addext", "keyUsage=critical,keyCertSign,cRLSign"], d)
    return os.path.join(d, name + ".pem"), os.path.join(d, name + "-key.pem")


def make_leaf(d, ca, name, cn, server):
    ext = os.path.join(d, name + ".ext")
    with open(ext, "w") as f:
        f.write("basicConstraints=critical,CA:FALSE\n")
        f.write("keyUsage=critical,digitalSignature\n")
        f.write("subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
        if server:
            f.write("extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n")
        else:
            f.write("extendedKeyUsage=clientAuth\n")
    _run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
          "-keyout", name + "-key.pem", "-out", name + ".csr", "-subj", "/CN=" + cn], d)
    _run(["openssl", "x509", "-req", "-in", name + ".csr", "-CA", os.path.basename(ca),
          "-CAkey", os.path.basename(ca)[:-4] + "-key.pem", "-CAcreateserial", "-out", name + ".pem",
          "-days", "2", "-extfile", ext], d)
    return os.path.join(d, name + ".pem"), os.path.join(d, name + "-key.pem")


# ---------------------------------------------------------------- fake EPP server

EPP = "urn:ietf:params:xml:ns:epp-1.0"

GREETING = (
    '<?xml version="1.0" encoding="UTF-8" standalone="no"?>'
    '<epp xmlns="urn:ietf:params:xml:ns:epp-1.0"><greeting><svID>Fake EPP</svID>'
    "<svDate>2025-01-01T00:00:00.0Z</svDate><svcMenu><version>1.0</version><lang>en</lang>"
    "<objURI>urn:ietf:params:xml:ns:domain-1.0</objURI><objURI>urn:ietf:params:xml:ns:contact-1.0</objURI>"
    "<svcExtension><extURI>urn:ietf:params:xml:ns:secDNS-1.1</extURI>"
    "<extURI>urn:ietf:params:xml:ns:rgp-1.0</extURI></svcExtension></svcMenu>"
    "<dcp><access><all/></access><statement><purpose><admin/><prov/></purpose>"
    "<recipient><ours/><public/></recipient><retention><stated/></retention></statement></dcp>"
    "</greeting></epp>"
).encode()


def response(cltrid, code=1000, msg="Command completed successfully", resdata="", extra_in_response=""):
    tr = "<clTRID>%s</clTRID>" % cltrid if cltrid is not None else ""
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
        '<epp xmlns="urn:ietf:params:xml:ns:epp-1.0">\n'
        '  <response>\n    <result code="%d"><msg>%s</msg></result>\n%s%s'
        "    <trID>%s<svTRID>FAKE-%d</svTRID></trID>\n  </response>\n</epp>\n"
        % (code, msg, resdata, extra_in_response, tr, int(time.time() * 1000))
    ).encode("utf-8")


CHK_DATA = (
    '    <resData><domain:chkData xmlns:domain="urn:ietf:params:xml:ns:domain-1.0">'
    '<domain:cd><domain:name avail="1">exemplo.pt</domain:name></domain:cd>'
    "</domain:chkData></resData>\n"
)


def frame(payload):
    return struct.pack(">I", len(payload) + 4) + payload


def read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def read_frame(sock):
    hdr = read_exact(sock, 4)
    if hdr is None:
        return None
    (total,) = struct.unpack(">I", hdr)
    return read_exact(sock, total - 4)


class FakeServer:
    """Requires a client certificate; answers each client frame by the prefix of its clTRID."""

    def __init__(self, cert, key, ca):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.ctx.load_verify_locations(ca)
        self.ctx.verify_mode = ssl.CERT_REQUIRED
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(8)
        self.port = self.lsock.getsockname()[1]
        self.conns = []  # dicts: cn, sent (bytes), received (list of payloads), eof (Event)
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                raw, _ = self.lsock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw):
        info = {"cn": None, "sent": b"", "received": [], "eof": threading.Event(), "error": None}
        with self.lock:
            self.conns.append(info)
        try:
            s = self.ctx.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError) as e:
            info["error"] = repr(e)
            info["eof"].set()
            raw.close()
            return
        try:
            subject = dict(x[0] for x in s.getpeercert()["subject"])
            info["cn"] = subject.get("commonName")

            def send(data, pieces=None):
                info["sent"] += data
                if pieces is None:
                    s.sendall(data)
                else:
                    for i in range(0, len(data), pieces):
                        s.sendall(data[i:i + pieces])
                        time.sleep(0.002)

            send(frame(GREETING))
            held = None
            while True:
                payload = read_frame(s)
                if payload is None:
                    break
                info["received"].append(payload)
                text = payload.decode("utf-8", "replace")
                m = re.search(r"<clTRID>(.*?)</clTRID>", text)
                cl = m.group(1) if m else None
                if "<hello" in text:
                    send(frame(GREETING))
                    continue
                if "<logout" in text:
                    send(frame(response(cl, 1500, "Command completed successfully; ending session")))
                    break
                kind = (cl or "").split("-")[0]
                if kind == "valid" or cl is None:
                    out = frame(response(cl, resdata=CHK_DATA))
                elif kind == "invalid":
                    out = frame(response(cl, extra_in_response="    <bogus/>\n"))
                elif kind == "noecho":
                    out = frame(response(None))
                elif kind == "wrongecho":
                    out = frame(response("someone-else"))
                elif kind == "malformed":
                    out = frame(response(cl, msg="auth code a<b & c"))
                elif kind == "doctype":
                    body = response(cl).replace(b"\n<epp", b'\n<!DOCTYPE epp [<!ENTITY x "y">]>\n<epp', 1)
                    out = frame(body)
                elif kind == "latin1":
                    out = frame(response(cl, msg="Opera\xe7\xe3o conclu\xeddo").replace(
                        "Opera\xe7\xe3o conclu\xeddo".encode("utf-8"), "Opera\xe7\xe3o conclu\xeddo".encode("latin-1")))
                elif kind == "badns":
                    out = frame(response(cl, resdata='    <resData><x:thing xmlns:x="urn:example:unknown-1.0"/></resData>\n'))
                elif kind == "split":
                    send(frame(response(cl, resdata=CHK_DATA)), pieces=7)
                    continue
                elif kind == "hold":
                    held = frame(response(cl, resdata=CHK_DATA))
                    continue
                else:
                    out = frame(response(cl, 2000, "Unknown command"))
                if held is not None:
                    out = held + out  # two responses in one write
                    held = None
                send(out)
        except (ssl.SSLError, OSError) as e:
            info["error"] = repr(e)
        finally:
            info["eof"].set()
            try:
                s.close()
            except OSError:
                pass

    def close(self):
        self.lsock.close()


# ---------------------------------------------------------------- client side

def command(cltrid, body='<check><domain:check xmlns:domain="urn:ietf:params:xml:ns:domain-1.0">'
                         "<domain:name>exemplo.pt</domain:name></domain:check></check>"):
    tr = "<clTRID>%s</clTRID>" % cltrid if cltrid is not None else ""
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<epp xmlns="%s"><command>%s%s</command></epp>'
            % (EPP, body, tr)).encode()


HELLO = ('<?xml version="1.0" encoding="UTF-8"?><epp xmlns="%s"><hello/></epp>' % EPP).encode()
LOGOUT = ('<?xml version="1.0" encoding="UTF-8"?><epp xmlns="%s"><command><logout/>'
          "<clTRID>logout-1</clTRID></command></epp>" % EPP).encode()


class Client:
    def __init__(self, port, ca, cert=None, key=None):
        ctx = ssl.create_default_context(cafile=ca)
        if cert:
            ctx.load_cert_chain(cert, key)
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.s = ctx.wrap_socket(raw, server_hostname="localhost")
        self.received = b""

    def get(self):
        hdr = read_exact(self.s, 4)
        if hdr is None:
            return None
        (total,) = struct.unpack(">I", hdr)
        body = read_exact(self.s, total - 4)
        self.received += hdr + (body or b"")
        return body

    def send(self, payload, crlf=False, split=False):
        if crlf:  # what pyepp does: CRLF after </epp>, counted in the length
            payload += b"\r\n"
        data = frame(payload)
        if split:
            self.s.sendall(data[:3])
            time.sleep(0.05)
            self.s.sendall(data[3:40])
            time.sleep(0.05)
            self.s.sendall(data[40:])
        else:
            self.s.sendall(data)

    def at_eof(self):
        try:
            self.s.settimeout(5)
            return self.s.recv(1) == b""
        except (ssl.SSLError, OSError):
            return True

    def close(self):
        self.s.close()


def start_relay(tmp, upstream_port, ca, cert, key, maps, report):
    cmd = [sys.executable, RELAY, "--upstream", "127.0.0.1:%d" % upstream_port, "--ca", ca,
           "--cert", cert, "--key", key, "--report", report, "--xsd", XSD]
    for m in maps:
        cmd += ["--map", "0=%s,%s" % m]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=open(os.path.join(tmp, "relay.err"), "ab"),
                            text=True)
    lines = []
    deadline = time.time() + 30
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if line.strip() == "ready":
            break
    return proc, lines


def read_report(path, want, timeout=10):
    deadline = time.time() + timeout
    while True:
        with open(path, encoding="utf-8") as f:
            rows = [json.loads(x) for x in f if x.strip()]
        if len(rows) >= want or time.time() > deadline:
            return rows
        time.sleep(0.05)


def main():
    tmp = tempfile.mkdtemp(prefix="relaytest-")
    ca, _ = make_ca(tmp, "ca")
    scert, skey = make_leaf(tmp, ca, "server", "localhost", server=True)
    acert, akey = make_leaf(tmp, ca, "client-a", "client-a", server=False)
    bcert, bkey = make_leaf(tmp, ca, "client-b", "client-b", server=False)
    rogue_ca, _ = make_ca(tmp, "rogue")
    rcert, rkey = make_leaf(tmp, rogue_ca, "rogue-server", "localhost", server=True)

    fake = FakeServer(scert, skey, ca)
    report = os.path.join(tmp, "report.jsonl")
    proc, lines = start_relay(tmp, fake.port, ca, scert, skey, [(acert, akey), (bcert, bkey)], report)
    try:
        ok_lines = (len(lines) == 3 and lines[2] == "ready"
                    and all(re.fullmatch(r"relay 0 -> \d+", x) for x in lines[:2]))
        check("relay prints 'relay 0 -> PORT' per map, then 'ready'", ok_lines, repr(lines))
        if not ok_lines:
            return
        port_a = int(lines[0].split()[-1])
        port_b = int(lines[1].split()[-1])
        check("two maps get two ports", port_a != port_b and port_a > 0 and port_b > 0)

        # ---- session on map A, without a client certificate (the relay requests, not requires)
        c = Client(port_a, ca)
        got = []
        got.append(c.get())                                  # 1 greeting
        c.send(HELLO); got.append(c.get())                   # 2 greeting again
        c.send(command("valid-1")); got.append(c.get())      # 3 ok
        c.send(command("invalid-2")); got.append(c.get())    # 4 schema-invalid
        c.send(command("noecho-3")); got.append(c.get())     # 5 no clTRID
        c.send(command("wrongecho-4")); got.append(c.get())  # 6 other clTRID
        c.send(command("malformed-5")); got.append(c.get())  # 7 not well-formed
        c.send(command("doctype-6")); got.append(c.get())    # 8 DOCTYPE
        c.send(command("latin1-7")); got.append(c.get())     # 9 not UTF-8
        c.send(command("badns-8")); got.append(c.get())      # 10 unknown namespace
        c.send(command("split-9"), split=True); got.append(c.get())  # 11 both directions in pieces
        # 12, 13: two commands in one write, answered by two responses in one write; CRLF after </epp>
        c.s.sendall(frame(command("hold-10") + b"\r\n") + frame(command("valid-11") + b"\r\n"))
        got.append(c.get()); got.append(c.get())
        c.send(command(None), crlf=True); got.append(c.get())  # 14 command without clTRID
        c.send(LOGOUT); got.append(c.get())                  # 15 logout, server closes
        check("client received 15 frames", all(g is not None for g in got) and len(got) == 15)
        check("server close reaches the client", c.at_eof())
        c.close()
        time.sleep(0.2)
        conn_a = fake.conns[0]
        check("map A presents client-a's certificate upstream", conn_a["cn"] == "client-a", conn_a["cn"])
        check("bytes reach the client unchanged", c.received == conn_a["sent"],
              "%d vs %d bytes" % (len(c.received), len(conn_a["sent"])))
        check("client frames reach the server unchanged (split and batched too)",
              len(conn_a["received"]) == 15 - 1 and conn_a["received"][9] == command("split-9")
              and conn_a["received"][10] == command("hold-10") + b"\r\n")

        # ---- session on map B, with a client certificate; the client closes first
        c2 = Client(port_b, ca, acert, akey)
        g = c2.get()
        check("map B: greeting", g is not None and b"<greeting>" in g)
        c2.close()
        time.sleep(0.2)
        conn_b = fake.conns[1]
        check("map B presents client-b's certificate upstream", conn_b["cn"] == "client-b", conn_b["cn"])
        check("client close reaches the server", conn_b["eof"].wait(5))

        rows = read_report(report, 16)
        check("report has 16 frame lines", len(rows) == 16, "%d lines: %s" % (len(rows), rows))
        if len(rows) >= 16:
            want = [
                (True, None), (True, None), (True, None), (False, "schema"), (False, "does not echo clTRID"),
                (False, "echoes clTRID 'someone-else'"), (False, "not well-formed"), (False, "DOCTYPE"),
                (False, "not UTF-8"), (False, "schema"), (True, None), (True, None), (True, None),
                (True, None), (True, None), (True, None),
            ]
            names = ["greeting", "hello->greeting", "valid response", "schema-invalid response",
                     "clTRID missing", "clTRID wrong", "malformed XML", "DOCTYPE", "not UTF-8",
                     "unknown namespace", "response in pieces", "batched response 1", "batched response 2",
                     "command without clTRID", "logout 1500", "map B greeting"]
            for i, ((ok, needle), name) in enumerate(zip(want, names)):
                r = rows[i]
                good = r.get("frame") == i + 1 and r.get("ok") is ok
                if not ok:
                    good = good and needle in r.get("error", "") and "xml" in r
                check("report frame %d (%s): ok=%s" % (i + 1, name, ok), good, json.dumps(r)[:400])
            check("report lines carry the connection", rows[0]["conn"] == 1 and rows[15]["conn"] == 2)
    finally:
        proc.terminate()
        proc.wait(10)

    # ---- the relay verifies the upstream server against --ca
    rogue = FakeServer(rcert, rkey, ca)
    report2 = os.path.join(tmp, "report2.jsonl")
    proc2, lines2 = start_relay(tmp, rogue.port, ca, scert, skey, [(acert, akey)], report2)
    try:
        port = int(lines2[0].split()[-1]) if lines2 and lines2[-1] == "ready" else None
        check("second relay ready", port is not None, repr(lines2))
        if port:
            c3 = Client(port, ca)
            check("upstream with a certificate from another CA: client gets no frame", c3.get() is None)
            c3.close()
            rows = read_report(report2, 1)
            check("upstream with a certificate from another CA: reported",
                  len(rows) == 1 and rows[0]["ok"] is False and rows[0]["frame"] is None
                  and "upstream connection failed" in rows[0]["error"], repr(rows))
    finally:
        proc2.terminate()
        proc2.wait(10)
        fake.close()
        rogue.close()
    if FAILED:
        print("kept %s (relay.err, report*.jsonl)" % tmp)
    else:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001
        import traceback
        traceback.print_exc()
        FAILED.append("exception: %r" % (e,))
    print("%d passed, %d failed" % (len(PASSED), len(FAILED)))
    sys.exit(1 if FAILED or not PASSED else 0)
