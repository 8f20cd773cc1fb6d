#!/usr/bin/env python3
"""Runs both EPP client scenarios through the validating relay against an EPP server.

    python3 tests/epp/run_scenarios.py DATA/demo-credentials.json [--epp HOST:PORT]
                                       [--http URL] [--suffix S] [--report FILE]
                                       [--only netepp|pyepp]

Reads nicbox demo's demo-credentials.json, starts relay.py in front of the EPP server (its
server certificate and key = the demo's, one --map per registrar: the first two registrars),
runs netepp_scenario.pl and pyepp_scenario.py (SSL_CERT_FILE = the demo CA, NICBOX_HTTP = the
HTTP base URL) with both relay ports, and checks that each script passed and that the relay
found no invalid server frame. Prints each script's lines, the relay's failures, and
"N passed, N failed"; exits 1 on any failure.

The EPP address is --epp, else $NICBOX_EPP, else the credentials' epp.addr; the HTTP base URL
(for the scenarios' lab clock moves) is --http, else $NICBOX_HTTP, else the credentials' http.
A demo started with port 0 writes port 0 there: then --epp and --http are needed.
Needs tests/epp/pylib (python3 -m pip install --target tests/epp/pylib lxml pyepp) and
libnet-epp-perl.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
XSD = os.environ.get("EPP_XSD", os.path.join(os.path.dirname(os.path.abspath(__file__)), "xsd", "pt-lab", "all_pt.xsd"))


def start_relay(creds, upstream, report, log):
    epp = creds["epp"]
    cmd = [sys.executable, os.path.join(HERE, "relay.py"), "--upstream", upstream, "--ca", epp["ca_cert"],
           "--cert", epp["server_cert"], "--key", epp["server_key"], "--report", report, "--xsd", XSD]
    for r in creds["registrars"][:2]:
        cmd += ["--map", "0=%s,%s" % (r["client_cert"], r["client_key"])]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=open(log, "ab"), text=True)
    lines = []
    deadline = time.time() + 30
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.strip())
        if lines[-1] == "ready":
            break
    if not lines or lines[-1] != "ready" or len(lines) != 3:
        proc.terminate()
        raise RuntimeError("relay did not start: %r (see %s)" % (lines, log))
    return proc, [int(x.split()[-1]) for x in lines[:2]]


INSTALL = {
    "Net::EPP": "Net::EPP 0.22 for perl is missing: apt-get install libnet-epp-perl",
    "lxml/pyepp": "lxml or pyepp is missing in tests/epp/pylib: "
                  "python3 -m pip install --target tests/epp/pylib lxml pyepp",
}


def missing_prerequisites():
    """What of Net::EPP, lxml and pyepp cannot be loaded, each with how to install it."""
    out = []
    try:
        rc = subprocess.run(["perl", "-MNet::EPP::Simple", "-MNet::EPP::Frame", "-MXML::LibXML", "-MHTTP::Tiny",
                             "-MMIME::Base64", "-MJSON::PP", "-e", "1"], capture_output=True).returncode
    except OSError:
        rc = 1
    if rc != 0:
        out.append(INSTALL["Net::EPP"])
    code = "import sys; sys.path.insert(0, %r); import lxml.etree, pyepp" % os.path.join(HERE, "pylib")
    if subprocess.run([sys.executable, "-c", code], capture_output=True).returncode != 0:
        out.append(INSTALL["lxml/pyepp"])
    return out


def read_report(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(x) for x in f if x.strip()]


def addresses(creds, epp=None, http=None):
    """(EPP HOST:PORT, HTTP base URL): the arguments, else $NICBOX_EPP / $NICBOX_HTTP, else the
    credentials'. Raises ValueError when one has port 0 (the demo was started on port 0)."""
    epp = epp or os.environ.get("NICBOX_EPP") or creds["epp"]["addr"]
    http = (http or os.environ.get("NICBOX_HTTP") or creds.get("http") or "").rstrip("/")
    m = re.fullmatch(r"(.+):(\d+)", epp)
    if not m or int(m.group(2)) == 0:
        raise ValueError("EPP address %r has no port: pass --epp HOST:PORT (or NICBOX_EPP)" % epp)
    m = re.fullmatch(r"https?://[^/]+:(\d+)", http)
    if not m or int(m.group(1)) == 0:
        raise ValueError("HTTP URL %r has no port: pass --http http://127.0.0.1:PORT (or NICBOX_HTTP)" % http)
    return epp, http


def run(cred_path, suffix=None, report=None, only=None, check=None, indent="    ", epp=None, http=None):
    """Returns (passed, failed) lists of check names."""
    passed, failed = [], []

    def chk(name, cond, detail=""):
        (passed if cond else failed).append(name)
        print("%s %s%s" % ("ok  " if cond else "FAIL", name, "" if cond else " " + detail), flush=True)

    check = check or chk
    missing = missing_prerequisites()
    if missing:
        raise RuntimeError("; ".join(missing))
    with open(cred_path, encoding="utf-8") as f:
        creds = json.load(f)
    epp, http = addresses(creds, epp, http)
    tmp = tempfile.mkdtemp(prefix="epp-scenarios-")
    report = report or os.path.join(tmp, "relay-report.jsonl")
    suffix = suffix or "s%s" % str(int(time.time() * 10))[-9:]
    proc, (port_a, port_b) = start_relay(creds, epp, report, os.path.join(tmp, "relay.err"))
    try:
        scripts = [
            ("netepp", ["perl", os.path.join(HERE, "netepp_scenario.pl")], {"NICBOX_HTTP": http}),
            ("pyepp", [sys.executable, os.path.join(HERE, "pyepp_scenario.py")],
             {"SSL_CERT_FILE": creds["epp"]["ca_cert"], "NICBOX_HTTP": http}),
        ]
        for name, cmd, env in scripts:
            if only and name != only:
                continue
            p = subprocess.run(cmd + [cred_path, str(port_a), str(port_b), suffix], capture_output=True, text=True,
                               timeout=600, env={**os.environ, **env})
            out = p.stdout.strip().splitlines()
            for line in out:
                print("%s%s: %s" % (indent, name, line), flush=True)
            if p.stderr.strip():
                print("%s%s stderr: %s" % (indent, name, p.stderr.strip()[-3000:]), flush=True)
            check("%s scenario exits 0" % name, p.returncode == 0, "rc=%d" % p.returncode)
        time.sleep(0.3)
        rows = read_report(report)
        bad = [r for r in rows if not r.get("ok")]
        for r in bad:
            print("%srelay: %s" % (indent, json.dumps(r, ensure_ascii=False)[:3000]), flush=True)
        print("%srelay validated %d server frames, %d invalid" % (indent, len(rows), len(bad)), flush=True)
        check("relay: %d server frames, all valid" % len(rows), rows and not bad, "%d invalid (report %s)" % (len(bad), report))
    finally:
        proc.terminate()
        proc.wait(10)
    return passed, failed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("credentials")
    ap.add_argument("--epp", help="the EPP server's HOST:PORT (default $NICBOX_EPP, else epp.addr)")
    ap.add_argument("--http", help="the demo's HTTP base URL (default $NICBOX_HTTP, else http)")
    ap.add_argument("--suffix")
    ap.add_argument("--report")
    ap.add_argument("--only", choices=["netepp", "pyepp"])
    a = ap.parse_args()
    passed, failed = [], []
    try:
        passed, failed = run(a.credentials, a.suffix, a.report, a.only, epp=a.epp, http=a.http)
    except Exception as e:  # noqa: BLE001
        print("FAIL %s" % (e,))
        failed.append(repr(e))
    print("%d passed, %d failed" % (len(passed), len(failed)))
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
