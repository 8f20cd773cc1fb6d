#!/usr/bin/env python3
"""A small in-memory EPP server, only to smoke-test the scenario scripts and relay.py while
nicbox's own EPP server is not there (tests/epp/test_scenarios_mock.py drives it).

It is not nicbox and decides nothing about nicbox's behaviour: it answers the commands the
scenarios send the way RFC 5730/5731/5733/5910/3915 describe (hostAttr nameservers, secDNS-1.1,
contact create/info/update/delete, transfers approved at once with auth code + pw roid, poll
messages with domain:trnData, acks answered with <msgQ count id=ACKED>, RGP restore, renew only
in the 60 days before expiry, as .pt), requires a client certificate whose CN is the registrar
id, and validates every CLIENT frame against the XSD (invalid ones are recorded in
.invalid_client_frames and answered 2001), so the scripts are shown to send valid EPP.

Its lab clock starts at the real time; .http_port serves POST /admin/api/clock/advance
{"days": N} (HTTP Basic admin:ADMIN_PASSWORD), as nicbox's admin API does, answering {"now": ...}.
"""

import base64
import datetime
import http.server
import itertools
import json
import os
import random
import socket
import ssl
import string
import struct
import sys
import threading
from xml.sax.saxutils import escape

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "pylib"))

from lxml import etree  # noqa: E402

E = "urn:ietf:params:xml:ns:epp-1.0"
D = "urn:ietf:params:xml:ns:domain-1.0"
C = "urn:ietf:params:xml:ns:contact-1.0"
S = "urn:ietf:params:xml:ns:secDNS-1.1"
R = "urn:ietf:params:xml:ns:rgp-1.0"
NS = {"epp": E, "domain": D, "contact": C, "secDNS": S, "rgp": R}

GREETING = (
    '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
    '<epp xmlns="urn:ietf:params:xml:ns:epp-1.0"><greeting><svID>mock registry</svID>'
    "<svDate>%s</svDate><svcMenu><version>1.0</version><lang>en</lang><lang>pt</lang>"
    "<objURI>urn:ietf:params:xml:ns:domain-1.0</objURI><objURI>urn:ietf:params:xml:ns:contact-1.0</objURI>"
    "<svcExtension><extURI>urn:ietf:params:xml:ns:secDNS-1.1</extURI>"
    "<extURI>urn:ietf:params:xml:ns:rgp-1.0</extURI></svcExtension></svcMenu>"
    "<dcp><access><all/></access><statement><purpose><admin/><prov/></purpose>"
    "<recipient><ours/><public/></recipient><retention><stated/></retention></statement></dcp>"
    "</greeting></epp>\n"
)


LAB_OFFSET = [0]  # seconds the lab clock is ahead of the real one (one mock per process)


def now():
    t = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    return t + datetime.timedelta(seconds=LAB_OFFSET[0])


def ts(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.0Z")


def plus_years(t, n):
    try:
        return t.replace(year=t.year + n)
    except ValueError:  # 29 February
        return t.replace(year=t.year + n, day=28)


def code16():
    return "".join(random.choice(string.ascii_letters + string.digits) for _ in range(16))


class EppError(Exception):
    def __init__(self, code, msg):
        super().__init__(msg)
        self.code = code
        self.msg = msg


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


class MockRegistry:
    def __init__(self, cert, key, ca, registrars, xsd, contacts=None, admin_password="admin-pw-12345"):
        self.registrars = registrars  # id -> password
        self.schema = etree.XMLSchema(etree.parse(xsd))
        self.lock = threading.Lock()
        # id -> {"sponsor", "name", "org", "street", "city", "pc", "cc", "voice", "email"};
        # `contacts` (id -> sponsor) are there from the start, like the demo's registrar contacts.
        self.contacts = {cid: {"sponsor": sp, "name": cid, "org": "", "street": [], "city": "Lisboa", "pc": "",
                               "cc": "PT", "voice": "", "email": "%s@example.pt" % cid.lower()}
                         for cid, sp in (contacts or {}).items()}
        self.admin_password = admin_password
        self.domains = {}  # name -> dict
        self.queues = {r: [] for r in registrars}  # registrar -> [(id, qdate, msg, resdata)]
        self.roids = itertools.count(1)
        self.msg_ids = itertools.count(1)
        self.sv = itertools.count(1)
        self.invalid_client_frames = []
        self.logins = []  # the login frames as received
        self.client_frames = []
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.ctx.load_verify_locations(ca)
        self.ctx.verify_mode = ssl.CERT_REQUIRED
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._http_handler())
        self.http_port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.lsock.close()
        self.httpd.shutdown()
        self.httpd.server_close()

    # ------------------------------------------------------------ admin HTTP (lab clock)

    def _http_handler(self):
        mock = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, status, obj):
                body = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                want = "Basic " + base64.b64encode(("admin:" + mock.admin_password).encode()).decode()
                if self.headers.get("authorization") != want:
                    return self._answer(401, {"code": "unauthorized"})
                if self.path != "/admin/api/clock/advance":
                    return self._answer(404, {"code": "not_found"})
                try:
                    days = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)))["days"]
                    assert isinstance(days, int) and 1 <= days <= 3650
                except (ValueError, KeyError, TypeError, AssertionError):
                    return self._answer(400, {"code": "invalid_request"})
                with mock.lock:
                    LAB_OFFSET[0] += days * 86400
                return self._answer(200, {"now": ts(now()), "kind": "lab", "offset_days": LAB_OFFSET[0] / 86400})

        return Handler

    # ------------------------------------------------------------ transport

    def _accept(self):
        while True:
            try:
                raw, _ = self.lsock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw):
        try:
            s = self.ctx.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()
            return
        try:
            cn = dict(x[0] for x in s.getpeercert()["subject"]).get("commonName")
            session = {"cert": cn, "user": None}
            s.sendall(frame((GREETING % ts(now())).encode()))
            while True:
                hdr = read_exact(s, 4)
                if hdr is None:
                    return
                (total,) = struct.unpack(">I", hdr)
                payload = read_exact(s, total - 4)
                if payload is None:
                    return
                out, close = self.handle(session, payload)
                s.sendall(frame(out.encode("utf-8")))
                if close:
                    return
        except (ssl.SSLError, OSError):
            return
        finally:
            try:
                s.close()
            except OSError:
                pass

    # ------------------------------------------------------------ responses

    def resp(self, cl, code, msg, resdata="", ext="", msgq=""):
        tr = "<clTRID>%s</clTRID>" % escape(cl) if cl else ""
        return (
            '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
            '<epp xmlns="urn:ietf:params:xml:ns:epp-1.0"><response><result code="%d"><msg>%s</msg></result>'
            "%s%s%s<trID>%s<svTRID>MOCK-%06d</svTRID></trID></response></epp>\n"
            % (code, escape(msg), msgq, ("<resData>%s</resData>" % resdata) if resdata else "",
               ("<extension>%s</extension>" % ext) if ext else "", tr, next(self.sv))
        )

    def handle(self, session, payload):
        self.client_frames.append(payload)
        try:
            root = etree.fromstring(payload.strip(), etree.XMLParser(resolve_entities=False, no_network=True))
        except etree.XMLSyntaxError as e:
            self.invalid_client_frames.append((str(e), payload))
            return self.resp(None, 2001, "Command syntax error"), False
        cmd = root.find("{%s}command" % E)
        cl_el = cmd.find("{%s}clTRID" % E) if cmd is not None else None
        cl = cl_el.text if cl_el is not None else None
        if not self.schema.validate(root.getroottree()):
            self.invalid_client_frames.append((str(self.schema.error_log.last_error), payload))
            return self.resp(cl, 2001, "Command syntax error"), False
        if root.find("{%s}hello" % E) is not None:
            return GREETING % ts(now()), False
        try:
            with self.lock:
                return self.command(session, cmd, cl, payload)
        except EppError as e:
            return self.resp(cl, e.code, e.msg), e.code >= 2500

    def command(self, session, cmd, cl, payload):
        verb = next(c for c in cmd if isinstance(c.tag, str))
        name = etree.QName(verb).localname
        if name == "login":
            self.logins.append(payload)
            user = verb.findtext("{%s}clID" % E)
            if user != session["cert"] or self.registrars.get(user) != verb.findtext("{%s}pw" % E):
                raise EppError(2200, "Authentication error")
            session["user"] = user
            return self.resp(cl, 1000, "Command completed successfully"), False
        if session["user"] is None:
            raise EppError(2002, "Command use error")
        if name == "logout":
            return self.resp(cl, 1500, "Command completed successfully; ending session"), True
        if name == "poll":
            return self.poll(session["user"], verb, cl), False
        obj = next((c for c in verb if isinstance(c.tag, str)), None)
        kind = {D: "domain", C: "contact"}.get(etree.QName(obj).namespace) if obj is not None else None
        handler = getattr(self, "%s_%s" % (kind, name), None) if kind else None
        if obj is None or handler is None:
            raise EppError(2101, "Unimplemented command")
        ext = cmd.find("{%s}extension" % E)
        return handler(session["user"], verb, obj, ext, cl), False

    # ------------------------------------------------------------ contact

    def _contact(self, user, obj):
        cid = obj.findtext("{%s}id" % C)
        c = self.contacts.get(cid)
        if c is None:
            raise EppError(2303, "Object does not exist")
        if c["sponsor"] != user:
            raise EppError(2201, "Authorization error")
        return cid, c

    @staticmethod
    def _postal(c, pi):
        for k in ("name", "org"):
            if pi.findtext("{%s}%s" % (C, k)) is not None:
                c[k] = pi.findtext("{%s}%s" % (C, k))
        addr = pi.find("{%s}addr" % C)
        if addr is not None:
            c["street"] = [x.text or "" for x in addr.findall("{%s}street" % C)]
            for k in ("city", "pc", "cc"):
                c[k] = addr.findtext("{%s}%s" % (C, k)) or ""

    def contact_create(self, user, verb, obj, ext, cl):
        cid = obj.findtext("{%s}id" % C)
        if cid in self.contacts:
            raise EppError(2302, "Object exists")
        c = {"sponsor": user, "name": "", "org": "", "street": [], "city": "", "pc": "", "cc": "",
             "voice": obj.findtext("{%s}voice" % C) or "", "email": obj.findtext("{%s}email" % C) or ""}
        self._postal(c, obj.find("{%s}postalInfo" % C))
        self.contacts[cid] = c
        return self.resp(cl, 1000, "Command completed successfully",
                         '<contact:creData xmlns:contact="%s"><contact:id>%s</contact:id><contact:crDate>%s</contact:crDate>'
                         "</contact:creData>" % (C, escape(cid), ts(now())))

    def contact_info(self, user, verb, obj, ext, cl):
        cid, c = self._contact(user, obj)
        addr = "".join("<contact:street>%s</contact:street>" % escape(x) for x in c["street"])
        addr += "<contact:city>%s</contact:city>" % escape(c["city"])
        if c["pc"]:
            addr += "<contact:pc>%s</contact:pc>" % escape(c["pc"])
        addr += "<contact:cc>%s</contact:cc>" % escape(c["cc"])
        body = ('<contact:id>%s</contact:id><contact:roid>C%s-PT</contact:roid><contact:status s="ok"/>'
                '<contact:postalInfo type="int"><contact:name>%s</contact:name>%s<contact:addr>%s</contact:addr>'
                "</contact:postalInfo>%s<contact:email>%s</contact:email><contact:clID>%s</contact:clID>"
                "<contact:crID>%s</contact:crID><contact:crDate>%s</contact:crDate>"
                % (escape(cid), abs(hash(cid)) % 10**9, escape(c["name"]),
                   "<contact:org>%s</contact:org>" % escape(c["org"]) if c["org"] else "", addr,
                   "<contact:voice>%s</contact:voice>" % escape(c["voice"]) if c["voice"] else "",
                   escape(c["email"]), escape(c["sponsor"]), escape(c["sponsor"]), ts(now())))
        return self.resp(cl, 1000, "Command completed successfully",
                         '<contact:infData xmlns:contact="%s">%s</contact:infData>' % (C, body))

    def contact_update(self, user, verb, obj, ext, cl):
        cid, c = self._contact(user, obj)
        chg = obj.find("{%s}chg" % C)
        if chg is not None:
            pi = chg.find("{%s}postalInfo" % C)
            if pi is not None:
                self._postal(c, pi)
            for k in ("voice", "email"):
                if chg.findtext("{%s}%s" % (C, k)) is not None:
                    c[k] = chg.findtext("{%s}%s" % (C, k))
        return self.resp(cl, 1000, "Command completed successfully")

    def contact_delete(self, user, verb, obj, ext, cl):
        cid, c = self._contact(user, obj)
        if any(cid == d["registrant"] or cid in [x for _, x in d["contacts"]] for d in self.domains.values()):
            raise EppError(2305, "Object association prohibits operation")
        del self.contacts[cid]
        return self.resp(cl, 1000, "Command completed successfully")

    # ------------------------------------------------------------ domain

    def _domain(self, obj):
        name = (obj.findtext("{%s}name" % D) or "").lower()
        d = self.domains.get(name)
        if d is None:
            raise EppError(2303, "Object does not exist")
        return name, d

    def _sponsor(self, user, d):
        if d["clID"] != user:
            raise EppError(2201, "Authorization error")

    @staticmethod
    def _ds(parent):
        return [tuple(ds.findtext("{%s}%s" % (S, k)).strip().lower() for k in ("keyTag", "alg", "digestType", "digest"))
                for ds in parent.findall("{%s}dsData" % S)]

    def domain_check(self, user, verb, obj, ext, cl):
        cds = ""
        for n in obj.findall("{%s}name" % D):
            avail = n.text.lower() not in self.domains
            cds += '<domain:cd><domain:name avail="%d">%s</domain:name>%s</domain:cd>' % (
                avail, escape(n.text), "" if avail else "<domain:reason>In use</domain:reason>")
        return self.resp(cl, 1000, "Command completed successfully",
                         '<domain:chkData xmlns:domain="%s">%s</domain:chkData>' % (D, cds))

    def domain_create(self, user, verb, obj, ext, cl):
        name = obj.findtext("{%s}name" % D).lower()
        if name in self.domains:
            raise EppError(2302, "Object exists")
        if obj.find("{%s}ns/{%s}hostObj" % (D, D)) is not None:
            raise EppError(2306, "hostObj is not offered: use hostAttr")
        contacts = [(c.get("type"), c.text) for c in obj.findall("{%s}contact" % D)]
        registrant = obj.findtext("{%s}registrant" % D)
        for cid in [registrant] + [c for _, c in contacts]:
            if (self.contacts.get(cid) or {}).get("sponsor") != user:
                raise EppError(2303, "Contact %s does not exist" % cid)
        ns = []
        for ha in obj.findall("{%s}ns/{%s}hostAttr" % (D, D)):
            ns.append((ha.findtext("{%s}hostName" % D).lower(),
                       [(a.get("ip", "v4"), a.text) for a in ha.findall("{%s}hostAddr" % D)]))
        ds = []
        if ext is not None and ext.find("{%s}create" % S) is not None:
            ds = self._ds(ext.find("{%s}create" % S))
        period = int(obj.findtext("{%s}period" % D) or 1)
        t = now()
        self.domains[name] = {
            "roid": "D%09d-PT" % next(self.roids), "clID": user, "crID": user, "crDate": t,
            "exDate": plus_years(t, period), "registrant": registrant, "contacts": contacts, "ns": ns,
            "ds": ds, "status": set(), "auth": code16(), "transfer": None,
        }
        d = self.domains[name]
        return self.resp(cl, 1000, "Command completed successfully",
                         '<domain:creData xmlns:domain="%s"><domain:name>%s</domain:name><domain:crDate>%s</domain:crDate>'
                         "<domain:exDate>%s</domain:exDate></domain:creData>" % (D, escape(name), ts(t), ts(d["exDate"])))

    def domain_info(self, user, verb, obj, ext, cl):
        name, d = self._domain(obj)
        pw = obj.findtext("{%s}authInfo/{%s}pw" % (D, D))
        full = d["clID"] == user or (pw is not None and pw == d["auth"])
        status = "".join('<domain:status s="%s"/>' % s for s in sorted(d["status"])) or '<domain:status s="ok"/>'
        body = "<domain:name>%s</domain:name><domain:roid>%s</domain:roid>%s" % (escape(name), d["roid"], status)
        if full:
            body += "<domain:registrant>%s</domain:registrant>" % escape(d["registrant"])
            body += "".join('<domain:contact type="%s">%s</domain:contact>' % (t, escape(c)) for t, c in d["contacts"])
            if d["ns"]:
                body += "<domain:ns>%s</domain:ns>" % "".join(
                    "<domain:hostAttr><domain:hostName>%s</domain:hostName>%s</domain:hostAttr>"
                    % (escape(h), "".join('<domain:hostAddr ip="%s">%s</domain:hostAddr>' % (v, escape(a)) for v, a in addrs))
                    for h, addrs in d["ns"])
        body += "<domain:clID>%s</domain:clID>" % escape(d["clID"])
        if full:
            body += "<domain:crID>%s</domain:crID><domain:crDate>%s</domain:crDate><domain:exDate>%s</domain:exDate>" % (
                escape(d["crID"]), ts(d["crDate"]), ts(d["exDate"]))
        if d["clID"] == user:
            body += "<domain:authInfo><domain:pw>%s</domain:pw></domain:authInfo>" % escape(d["auth"])
        ext_out = ""
        if full and d["ds"]:
            ext_out = '<secDNS:infData xmlns:secDNS="%s">%s</secDNS:infData>' % (S, "".join(
                "<secDNS:dsData><secDNS:keyTag>%s</secDNS:keyTag><secDNS:alg>%s</secDNS:alg>"
                "<secDNS:digestType>%s</secDNS:digestType><secDNS:digest>%s</secDNS:digest></secDNS:dsData>"
                % (k, a, t, g.upper()) for k, a, t, g in d["ds"]))
        if "pendingDelete" in d["status"]:
            ext_out += '<rgp:infData xmlns:rgp="%s"><rgp:rgpStatus s="redemptionPeriod"/></rgp:infData>' % R
        return self.resp(cl, 1000, "Command completed successfully",
                         '<domain:infData xmlns:domain="%s">%s</domain:infData>' % (D, body), ext_out)

    def domain_update(self, user, verb, obj, ext, cl):
        name, d = self._domain(obj)
        self._sponsor(user, d)
        restore = ext.find("{%s}update/{%s}restore" % (R, R)) if ext is not None else None
        if restore is not None:
            if "pendingDelete" not in d["status"]:
                raise EppError(2304, "Object status prohibits operation")
            d["status"].discard("pendingDelete")
            return self.resp(cl, 1000, "Command completed successfully")
        for st in obj.findall("{%s}add/{%s}status" % (D, D)):
            d["status"].add(st.get("s"))
        for st in obj.findall("{%s}rem/{%s}status" % (D, D)):
            d["status"].discard(st.get("s"))
        upd = ext.find("{%s}update" % S) if ext is not None else None
        if upd is not None:
            rem = upd.find("{%s}rem" % S)
            if rem is not None:
                if rem.findtext("{%s}all" % S) in ("true", "1"):
                    d["ds"] = []
                gone = self._ds(rem)
                d["ds"] = [x for x in d["ds"] if x not in gone]
            add = upd.find("{%s}add" % S)
            if add is not None:
                d["ds"] += self._ds(add)
        return self.resp(cl, 1000, "Command completed successfully")

    def domain_renew(self, user, verb, obj, ext, cl):
        name, d = self._domain(obj)
        self._sponsor(user, d)
        if obj.findtext("{%s}curExpDate" % D) != d["exDate"].date().isoformat():
            raise EppError(2004, "curExpDate is not the current expiry date")
        if d["exDate"] - now() > datetime.timedelta(days=60):
            raise EppError(2105, "Object is not eligible for renewal")
        d["exDate"] = plus_years(d["exDate"], int(obj.findtext("{%s}period" % D) or 1))
        return self.resp(cl, 1000, "Command completed successfully",
                         '<domain:renData xmlns:domain="%s"><domain:name>%s</domain:name><domain:exDate>%s</domain:exDate>'
                         "</domain:renData>" % (D, escape(name), ts(d["exDate"])))

    def _trn(self, name, t):
        return ('<domain:trnData xmlns:domain="%s"><domain:name>%s</domain:name><domain:trStatus>%s</domain:trStatus>'
                "<domain:reID>%s</domain:reID><domain:reDate>%s</domain:reDate><domain:acID>%s</domain:acID>"
                "<domain:acDate>%s</domain:acDate></domain:trnData>"
                % (D, escape(name), t["status"], escape(t["reID"]), ts(t["date"]), escape(t["acID"]), ts(t["date"])))

    def domain_transfer(self, user, verb, obj, ext, cl):
        name, d = self._domain(obj)
        op = verb.get("op")
        if op == "query":
            if d["transfer"] is None:
                raise EppError(2301, "Object not pending transfer")
            return self.resp(cl, 1000, "Command completed successfully", self._trn(name, d["transfer"]))
        if op != "request":
            raise EppError(2102, "Unimplemented option")
        pw = obj.find("{%s}authInfo/{%s}pw" % (D, D))
        if d["clID"] == user:
            raise EppError(2106, "Object is not eligible for transfer")
        if pw is None or pw.text != d["auth"] or pw.get("roid") != d["roid"]:
            raise EppError(2202, "Invalid authorization information")
        t = {"status": "serverApproved", "reID": user, "acID": d["clID"], "date": now()}
        self.queues[d["clID"]].append((str(next(self.msg_ids)), now(), "Transfer approved", self._trn(name, t)))
        d.update(clID=user, auth=code16(), transfer=t)
        return self.resp(cl, 1000, "Command completed successfully", self._trn(name, t))

    def domain_delete(self, user, verb, obj, ext, cl):
        name, d = self._domain(obj)
        self._sponsor(user, d)
        d["status"] = {"pendingDelete"}
        return self.resp(cl, 1000, "Command completed successfully")

    # ------------------------------------------------------------ poll

    def poll(self, user, verb, cl):
        q = self.queues[user]
        if verb.get("op") == "ack":
            mid = verb.get("msgID")
            if not any(m[0] == mid for m in q):
                raise EppError(2303, "Message does not exist")
            q[:] = [m for m in q if m[0] != mid]
            return self.resp(cl, 1000, "Command completed successfully", msgq='<msgQ count="%d" id="%s"/>' % (len(q), mid))
        if not q:
            return self.resp(cl, 1300, "Command completed successfully; no messages")
        mid, qd, msg, resdata = q[0]
        return self.resp(cl, 1301, "Command completed successfully; ack to dequeue", resdata,
                         msgq='<msgQ count="%d" id="%s"><qDate>%s</qDate><msg>%s</msg></msgQ>' % (len(q), mid, ts(qd), escape(msg)))

