#!/usr/bin/env python3
"""EPP scenario against nicbox with PyPI's pyepp 0.3 (installed in tests/epp/pylib), normally
through tests/epp/relay.py, which validates every server frame.

    SSL_CERT_FILE=CA.pem NICBOX_HTTP=http://127.0.0.1:PORT \
        python3 tests/epp/pyepp_scenario.py CREDENTIALS_JSON PORT_A PORT_B SUFFIX

pyepp trusts a CA only through SSL_CERT_FILE (it calls ssl.create_default_context() and has no
CA parameter); when it is unset this script sets it to the credentials' epp.ca_cert before
connecting. CREDENTIALS_JSON is nicbox demo's demo-credentials.json (first two registrars = A
and B; each names its own organization contact, with a NIF, as `contact`); PORT_A / PORT_B are
the 127.0.0.1 ports presenting A's / B's client certificate upstream (relay.py --map); SUFFIX
makes the names unique (at most 13 characters: contact ids are 3-16). NICBOX_HTTP is the demo's
HTTP base URL (the credentials say port 0 when the demo listens on a free port; without
NICBOX_HTTP their `http` is used unless its port is 0): the renew step moves the demo's lab
clock with POST /admin/api/clock/advance. Each step prints "ok STEP" or "FAIL STEP: CODE
MESSAGE"; the first failure exits 1. PYEPP_DEBUG=1 logs every frame (pyepp's logging at DEBUG,
passwords masked) on stderr.

The order follows the .pt rules: a contact created over plain EPP has no fiscal id, so the
domain's registrant/admin/tech is A's own registrar contact (the scenario's own contact gets
create, info, update and delete); an auth code is valid 30 days, so the transfer comes first; a
domain can be renewed only in the 60 days before it expires, so B moves the lab clock forward 30
days at a time until the renew is accepted.

pyepp speaks hostObj only, so the domain is created without nameservers. Its Domain.create()
sends secDNS-1.1 dsData (DomainData.dns_sec), so DS goes through pyepp. Where pyepp has no
method (DS removal, transfer with the pw roid attribute, transfer query) the frame is sent raw
with EppCommunicator.execute(xml); where its method cannot pass what is needed (info with
authInfo) its own template DOMAIN_INFO_XML is rendered through BaseCommand.execute(), which
has the authInfo slot that Domain.info() does not expose.
"""

import base64
import datetime
import json
import logging
import os
import re
import socket
import sys
import time
import urllib.error
import urllib.request
import uuid
from xml.sax.saxutils import escape, quoteattr

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "pylib"))

from lxml import etree  # noqa: E402

from pyepp import (  # noqa: E402
    AddressData,
    Contact,
    ContactData,
    Domain,
    DomainData,
    DSRecordData,
    EppCommunicator,
    Poll,
    PostalInfoData,
)
from pyepp.command_templates import DOMAIN_INFO_XML  # noqa: E402

NS = {
    "epp": "urn:ietf:params:xml:ns:epp-1.0",
    "domain": "urn:ietf:params:xml:ns:domain-1.0",
    "contact": "urn:ietf:params:xml:ns:contact-1.0",
    "secDNS": "urn:ietf:params:xml:ns:secDNS-1.1",
    "rgp": "urn:ietf:params:xml:ns:rgp-1.0",
}
DS = {"key_tag": 12345, "algorithm": 13, "digest_type": 2,
      "digest": "8d1b3cd0b7d4f3d3a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718"}


# ------------------------------------------------------------------ output

class StepFailure(Exception):
    def __init__(self, code, msg):
        super().__init__(msg)
        self.code = code
        self.msg = msg


class Step:
    """with Step("name"): ...  prints "ok name", or "FAIL name: code msg" and exits 1."""

    def __init__(self, name):
        self.name = name

    def __enter__(self):
        return self

    def __exit__(self, et, e, tb):
        if et is None:
            print("ok %s" % self.name, flush=True)
            return False
        if isinstance(e, StepFailure):
            code, msg = e.code, e.msg
        elif isinstance(e, SystemExit):
            return False
        else:
            # EppCommunicator.login() raises with "Code: NNNN" in its message.
            m = re.search(r"Code: (\d{4})", str(e))
            code, msg = (m.group(1) if m else "none"), "%s: %s" % (type(e).__name__, e)
            if e.__cause__ is not None:
                msg += " (cause: %s: %s)" % (type(e.__cause__).__name__, e.__cause__)
        msg = re.sub(r"\s+", " ", str(msg)).strip()
        print("FAIL %s: %s %s" % (self.name, code if code is not None else "none", msg), flush=True)
        sys.exit(1)


def expect(res, *codes):
    """Raises StepFailure unless the EppResultData's code is one of codes."""
    if res.code not in codes:
        raise StepFailure(res.code, "%s%s" % (res.message, " (%s)" % res.reason if res.reason else ""))
    return res


def paced(send, what):
    """send() again while it answers 2400 "Command rate limit" (nicbox allows so many commands
    per second per session, and says how many in extValue): up to 5 times 1.1 s."""
    for attempt in range(6):
        res = send()
        limited = res.code == 2400 and "rate limit" in ("%s %s" % (res.message, res.reason)).lower()
        if not limited or attempt == 5:
            return res
        print("note: %s: 2400 %s (%s); waiting 1.1 s" % (what, res.message, res.reason), file=sys.stderr)
        time.sleep(1.1)
    return res


def need(cond, code, msg):
    if not cond:
        raise StepFailure(code, msg)


def xml(res):
    raw = res.raw_response
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    return etree.fromstring(raw.strip())


def text(root, path):
    found = root.xpath(path, namespaces=NS)
    if not found:
        return None
    node = found[0]
    return node if isinstance(node, str) else node.text


def raw_command(body, extension=""):
    """A command frame as EppCommunicator.execute() takes it (a string; pyepp adds the length
    header and a CRLF)."""
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
        '<epp xmlns="urn:ietf:params:xml:ns:epp-1.0"><command>%s%s<clTRID>%s</clTRID></command></epp>'
        % (body, ("<extension>%s</extension>" % extension) if extension else "", uuid.uuid4())
    )


def http_base(creds):
    """NICBOX_HTTP, else the credentials' http unless its port is 0; None when neither."""
    url = (os.environ.get("NICBOX_HTTP") or creds.get("http") or "").rstrip("/")
    m = re.fullmatch(r"https?://[^/]+:(\d+)", url)
    return url if m and int(m.group(1)) != 0 else None


def advance_clock(http, admin_password, days):
    """POST {http}/admin/api/clock/advance {"days": N} as the demo's admin; returns the answer
    (its "now" is the lab clock after the move). Raises StepFailure("HTTP nnn", ...)."""
    req = urllib.request.Request(
        http + "/admin/api/clock/advance",
        data=json.dumps({"days": days}).encode(),
        method="POST",
        headers={
            "content-type": "application/json",
            "authorization": "Basic " + base64.b64encode(("admin:" + admin_password).encode()).decode(),
        },
    )
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return json.loads(r.read().decode("utf-8"))
    except urllib.error.HTTPError as e:
        raise StepFailure("HTTP %d" % e.code, "clock advance: %s" % e.read().decode("utf-8", "replace"))
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise StepFailure("HTTP", "clock advance: %r" % (e,))


# ------------------------------------------------------------------ scenario

def main(argv):
    if len(argv) != 5:
        print("usage: %s CREDENTIALS_JSON PORT_A PORT_B SUFFIX" % argv[0], file=sys.stderr)
        return 2
    cred_file, port_a, port_b, suffix = argv[1:]
    if not re.fullmatch(r"[A-Za-z0-9-]{1,13}", suffix):
        print("SUFFIX must be 1-13 characters of [A-Za-z0-9-]", file=sys.stderr)
        return 2
    if os.environ.get("PYEPP_DEBUG"):
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
    with open(cred_file, encoding="utf-8") as f:
        creds = json.load(f)
    os.environ.setdefault("SSL_CERT_FILE", creds["epp"]["ca_cert"])
    reg_a, reg_b = creds["registrars"][0], creds["registrars"][1]
    http = http_base(creds)
    if http is None:
        print("set NICBOX_HTTP=http://127.0.0.1:PORT (the demo's HTTP address; the credentials say %r)"
              % creds.get("http"), file=sys.stderr)
        return 2
    if not reg_a.get("contact"):
        print("registrar %s has no `contact` in %s" % (reg_a["id"], cred_file), file=sys.stderr)
        return 2
    admin_password = creds["admin"]["password"]

    domain = ("pyepp-%s.pt" % suffix).lower()
    cid_a = "PA-%s" % suffix  # A's own contact: create, info, update, delete
    holder = reg_a["contact"]  # registrant, admin and tech of the domain (has a NIF)

    def login(step, port, reg):
        with Step(step):
            epp = EppCommunicator("127.0.0.1", str(port), client_cert=reg["client_cert"], client_key=reg["client_key"])
            greeting = epp.connect()
            need(greeting and b"greeting" in greeting, None, "no greeting")
            # pyepp writes the length header and the XML with two sendall()s: with Nagle's
            # algorithm on, the second waits for the peer's delayed ACK of the first (about
            # 40 ms a command, most of this scenario's time when it acknowledges hundreds of
            # poll messages). Its socket is plain TCP under TLS; TCP_NODELAY sends both at once.
            epp._ssl_socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # pyepp always announces domain-1.0, contact-1.0, host-1.0 and secDNS-1.1; each
            # extension given here is sent as urn:ietf:params:xml:ns:<name>. login() raises
            # unless the code is 1000.
            res = epp.login(reg["id"], reg["epp_password"], extensions=["rgp-1.0"])
            expect(res, 1000)
        return epp

    def create_contact(epp, step, cid, name):
        with Step(step):
            res = Contact(epp).create(ContactData(
                id=cid,
                email="%s@example.pt" % cid.lower(),
                postal_info=PostalInfoData(
                    name=name,
                    organization="Exemplo Lda",
                    type="int",
                    address=AddressData(street_1="Rua Augusta 100", city="Lisboa", postal_code="1100-053",
                                        country_code="PT"),
                ),
                phone="+351.213456789",
                password="Ct%s9x" % cid.replace("-", ""),
            ))
            expect(res, 1000)

    def info_raw(epp, auth=None):
        # Domain.info() has no authInfo argument and crashes (AttributeError) on an infData
        # without registrant; its template has the authInfo slot ("udai").
        kwargs = {"domain_name": domain}
        if auth is not None:
            kwargs["udai"] = auth
        return expect(Domain(epp).execute(DOMAIN_INFO_XML, **kwargs), 1000)

    # ---------------------------------------------------------------- A
    epp_a = login("A login", port_a, reg_a)

    with Step("A hello"):
        g = epp_a.hello()
        need(g and b"greeting" in g, None, "no greeting in answer to <hello>")

    with Step("domain check %s" % domain):
        res = expect(Domain(epp_a).check([domain]), 1000)
        data = {k.lower(): v for k, v in (res.result_data or {}).items()}
        need(domain in data, 1000, "check answer names %s" % list(data))
        need(data[domain]["avail"], 1000, "not available: %s" % data[domain]["reason"])

    create_contact(epp_a, "contact create %s" % cid_a, cid_a, "Ana Exemplo")

    def contact_info(epp, cid):
        res = expect(Contact(epp).info(cid), 1000)
        c = res.result_data
        need((c.id or "").lower() == cid.lower(), 1000, "info names %r" % c.id)
        return c

    with Step("contact info %s" % cid_a):
        c = contact_info(epp_a, cid_a)
        need(c.postal_info.name == "Ana Exemplo", 1000, "name %r" % c.postal_info.name)
        need(c.postal_info.address.city == "Lisboa", 1000, "city %r" % c.postal_info.address.city)
        need(c.phone == "+351.213456789", 1000, "voice %r" % c.phone)
        need(c.sponsoring_client_id == reg_a["id"], 1000, "clID %r" % c.sponsoring_client_id)

    with Step("contact update %s (voice, city)" % cid_a):
        # pyepp sends <contact:add>/<contact:rem> only for a status given, and chg with what
        # ContactData sets (an int postalInfo needs name, city and cc).
        expect(Contact(epp_a).update(ContactData(
            id=cid_a,
            postal_info=PostalInfoData(
                name="Ana Exemplo",
                type="int",
                address=AddressData(street_1="Rua de Santa Catarina 1", city="Porto", postal_code="4000-447",
                                    country_code="PT"),
            ),
            phone="+351.223456789",
        )), 1000)
    with Step("contact info %s shows the update" % cid_a):
        c = contact_info(epp_a, cid_a)
        need(c.postal_info.address.city == "Porto", 1000, "city %r" % c.postal_info.address.city)
        need(c.phone == "+351.223456789", 1000, "voice %r" % c.phone)

    with Step("domain create %s (registrant/admin/tech %s; no nameservers: pyepp is hostObj only; DS via secDNS)"
              % (domain, holder)):
        res = Domain(epp_a).create(DomainData(
            domain_name=domain,
            period=1,
            registrant=holder,
            admin=holder,
            tech=holder,
            password="Dm%s7qZ" % suffix.replace("-", ""),
            dns_sec=[DSRecordData(**DS)],
        ))
        expect(res, 1000)
        name = text(xml(res), "//domain:creData/domain:name")
        need((name or "").lower() == domain, 1000, "creData names %r" % name)

    state = {}
    with Step("domain info (sponsor A)"):
        res = expect(Domain(epp_a).info(domain), 1000)
        d = res.result_data
        root = xml(res)
        roid = text(root, "//domain:infData/domain:roid")
        need(roid and re.fullmatch(r"D[0-9A-Za-z_]+-PT", roid), 1000, "roid %r is not D...-PT" % roid)
        need(d.password, 1000, "no authInfo/pw for the sponsor")
        need((d.registrant or "").lower() == holder.lower(), 1000, "registrant %r" % d.registrant)
        need((d.admin or "").lower() == holder.lower() and (d.tech or "").lower() == holder.lower(), 1000,
             "admin %r tech %r" % (d.admin, d.tech))
        need(d.expiry_date and re.match(r"\d{4}-\d\d-\d\d", d.expiry_date), 1000, "exDate %r" % d.expiry_date)
        ds = d.dns_sec or []
        got = [(str(x.key_tag), str(x.algorithm), str(x.digest_type), str(x.digest).lower()) for x in ds]
        want = (str(DS["key_tag"]), str(DS["algorithm"]), str(DS["digest_type"]), DS["digest"])
        need(got == [want], 1000, "DS is %r, want [%r]" % (got, want))
        state.update(roid=roid, auth=d.password)

    with Step("domain update add clientTransferProhibited"):
        expect(Domain(epp_a).update(domain, add_statuses=[("clientTransferProhibited", "scenario")]), 1000)
    with Step("domain info shows clientTransferProhibited"):
        res = expect(Domain(epp_a).info(domain), 1000)
        need("clientTransferProhibited" in (res.result_data.status or []), 1000, "status %r" % res.result_data.status)
    with Step("domain update rem clientTransferProhibited"):
        expect(Domain(epp_a).update(domain, remove_statuses=["clientTransferProhibited"]), 1000)

    with Step("domain update rem DS (raw frame: pyepp's update has no secDNS)"):
        ds_xml = "".join(
            "<secDNS:%s>%s</secDNS:%s>" % (k, escape(str(DS[f])), k)
            for k, f in (("keyTag", "key_tag"), ("alg", "algorithm"), ("digestType", "digest_type"), ("digest", "digest"))
        )
        frame = raw_command(
            '<update><domain:update xmlns:domain="urn:ietf:params:xml:ns:domain-1.0">'
            "<domain:name>%s</domain:name></domain:update></update>" % escape(domain),
            '<secDNS:update xmlns:secDNS="urn:ietf:params:xml:ns:secDNS-1.1"><secDNS:rem>'
            "<secDNS:dsData>%s</secDNS:dsData></secDNS:rem></secDNS:update>" % ds_xml,
        )
        expect(epp_a.execute(frame), 1000)
    with Step("domain info shows no DS, no clientTransferProhibited"):
        res = expect(Domain(epp_a).info(domain), 1000)
        need(not res.result_data.dns_sec, 1000, "DS still there: %r" % res.result_data.dns_sec)
        need("clientTransferProhibited" not in (res.result_data.status or []), 1000, "status %r" % res.result_data.status)

    # ---------------------------------------------------------------- B
    epp_b = login("B login", port_b, reg_b)

    with Step("B domain info without authInfo"):
        res = info_raw(epp_b)
        root = xml(res)
        need(text(root, "//domain:infData/domain:name") is not None, 1000, "no infData")
        pw = text(root, "//domain:infData/domain:authInfo/domain:pw")
        need(pw is None, 1000, "authInfo shown to a non-sponsor: %r" % pw)

    with Step("B domain info with authInfo"):
        res = info_raw(epp_b, state["auth"])
        roid = text(xml(res), "//domain:infData/domain:roid")
        need(roid == state["roid"], 1000, "roid %r" % roid)

    with Step("B transfer request (raw frame: pw roid attribute)"):
        # Domain.transfer() sends <domain:pw> without roid; the .pt transfer needs both.
        frame = raw_command(
            '<transfer op="request"><domain:transfer xmlns:domain="urn:ietf:params:xml:ns:domain-1.0">'
            "<domain:name>%s</domain:name><domain:authInfo><domain:pw roid=%s>%s</domain:pw></domain:authInfo>"
            "</domain:transfer></transfer>" % (escape(domain), quoteattr(state["roid"]), escape(state["auth"]))
        )
        res = expect(epp_b.execute(frame), 1000)
        st = text(xml(res), "//domain:trnData/domain:trStatus")
        need(st == "serverApproved", 1000, "trStatus %r, want serverApproved" % st)

    with Step("B transfer query (raw frame: pyepp has no query)"):
        frame = raw_command(
            '<transfer op="query"><domain:transfer xmlns:domain="urn:ietf:params:xml:ns:domain-1.0">'
            "<domain:name>%s</domain:name></domain:transfer></transfer>" % escape(domain)
        )
        res = expect(epp_b.execute(frame), 1000)
        root = xml(res)
        need(text(root, "//domain:trnData/domain:trStatus") == "serverApproved", 1000,
             "trStatus %r" % text(root, "//domain:trnData/domain:trStatus"))
        need((text(root, "//domain:trnData/domain:name") or "").lower() == domain, 1000, "trnData names another domain")

    with Step("B domain info after transfer (sponsor B)"):
        res = expect(Domain(epp_b).info(domain), 1000)
        need(res.result_data.sponsoring_client_id == reg_b["id"], 1000, "clID %r" % res.result_data.sponsoring_client_id)

    # ---------------------------------------------------------------- A's poll queue
    def ack(msg_id):
        # An ack answers 1000 with <msgQ count="N" id="ACKED-ID"/> (RFC 5730 2.9.2.3, its
        # example); pyepp's acknowledge() reads both (int()) and fails without them.
        res = expect(paced(lambda: Poll(epp_a).acknowledge(msg_id), "poll ack"), 1000)
        q = xml(res).xpath("//epp:response/epp:msgQ", namespaces=NS)
        need(q, 1000, "ack of %s answered without <msgQ>" % msg_id)
        need(q[0].get("id") == str(msg_id), 1000, "ack of %s answered msgQ id=%r" % (msg_id, q[0].get("id")))
        need(res.result_data is not None and res.result_data.message_id == int(msg_id), 1000,
             "pyepp read the ack as %r" % (res.result_data,))

    with Step("A poll req (domain:trnData)"):
        # Older messages may come first (the demo's own, or those of an earlier run's clock
        # moves): they are acknowledged (counted on stderr) until the transfer message for this
        # domain comes; after it nothing more is acknowledged. Poll.request() parses msgQ id
        # with int() and needs qDate: a non-numeric id or a missing qDate fails here.
        poll = Poll(epp_a)
        msg_id, acked = None, 0
        for _ in range(20000):
            res = expect(paced(poll.request, "poll req"), 1301, 1300)
            need(res.code == 1301, res.code, "queue empty: no transfer message for %s" % domain)
            q = res.result_data
            root = xml(res)
            name = text(root, "//epp:resData/domain:trnData/domain:name")
            if (name or "").lower() == domain:
                msg_id = q.message_id
                st = text(root, "//epp:resData/domain:trnData/domain:trStatus")
                need(st == "serverApproved", res.code, "trStatus %r, want serverApproved" % st)
                re_id = text(root, "//epp:resData/domain:trnData/domain:reID")
                need(re_id == reg_b["id"], res.code, "reID %r, want %s" % (re_id, reg_b["id"]))
                break
            # One note for the first few, then a count: an earlier run's clock moves leave
            # hundreds (the demo's domains renewed, their nameservers failing the check...).
            if acked < 5:
                print("note: acknowledging older message %s" % q.message_id, file=sys.stderr)
            ack(q.message_id)
            acked += 1
        need(msg_id is not None, None, "no transfer message for %s in 20000 messages" % domain)
        print("note: acknowledged %d older messages before the transfer message" % acked, file=sys.stderr)
        state["msg_id"] = msg_id

    with Step("A poll ack"):
        ack(state["msg_id"])

    # ---------------------------------------------------------------- B renews (lab clock)
    with Step("B domain renew 1y (lab clock moved until the renew window opens)"):
        # .pt renews only in the 60 days before expiry (2105 before that): B reads exDate,
        # tries, and on 2105 moves the demo's lab clock 30 days forward and tries again.
        res, moves = None, 0
        for _ in range(14):
            info = expect(Domain(epp_b).info(domain), 1000)
            exdate = info.result_data.expiry_date or ""
            need(re.match(r"\d{4}-\d\d-\d\d", exdate), 1000, "exDate %r" % exdate)
            cur = datetime.date.fromisoformat(exdate[:10])
            res = expect(Domain(epp_b).renew(domain, cur, 1), 1000, 2105)
            if res.code == 1000:
                break
            res = None
            lab = advance_clock(http, admin_password, 30)
            moves += 1
            print("note: renew of %s (exDate %s) answered 2105; lab clock now %s" % (domain, cur, lab.get("now")),
                  file=sys.stderr)
        need(res is not None, 2105, "still not renewable after 14 clock moves of 30 days")
        root = xml(res)
        new = text(root, "//domain:renData/domain:exDate") or ""
        ok = new[:4].isdigit() and int(new[:4]) == cur.year + 1 and (
            new[5:10] == cur.isoformat()[5:] or cur.isoformat()[5:] == "02-29")
        need(ok, 1000, "exDate %r after renewing %s by 1y" % (new, cur))
        need((text(root, "//domain:renData/domain:name") or "").lower() == domain, 1000, "renData names another domain")
        print("note: renewed %s from %s to %s after %d clock moves of 30 days" % (domain, cur, new, moves),
              file=sys.stderr)
    with Step("B domain info shows the new exDate"):
        info = expect(Domain(epp_b).info(domain), 1000)
        need((info.result_data.expiry_date or "")[:10] == new[:10], 1000,
             "exDate %r, want %s" % (info.result_data.expiry_date, new))

    # ---------------------------------------------------------------- B deletes and restores
    with Step("B domain delete"):
        expect(Domain(epp_b).delete(domain), 1000)
    with Step("B domain restore (rgp request)"):
        expect(Domain(epp_b).restore(domain), 1000)

    # ---------------------------------------------------------------- A's contact goes
    with Step("contact delete %s" % cid_a):
        expect(Contact(epp_a).delete(cid_a), 1000)
    with Step("contact info %s after delete (2303)" % cid_a):
        expect(Contact(epp_a).info(cid_a), 2303)

    with Step("A logout"):
        expect(epp_a.logout(), 1500)
    with Step("B logout"):
        expect(epp_b.logout(), 1500)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
