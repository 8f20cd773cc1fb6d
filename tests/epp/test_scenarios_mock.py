#!/usr/bin/env python3
"""Runs netepp_scenario.pl and pyepp_scenario.py through relay.py against mock_registry.py,
a stand-in EPP server, to show the scripts work end to end while nicbox's EPP server is not
there. Against nicbox the scripts are run the same way, with nicbox demo's
demo-credentials.json and relay.py --upstream at nicbox's EPP address.

    python3 tests/epp/test_scenarios_mock.py    # exit 0 when every check passed
"""

import json
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import run_scenarios  # noqa: E402
import test_relay as tr  # noqa: E402  (certificates)
from mock_registry import MockRegistry  # noqa: E402

PASSED, FAILED = [], []


def check(name, cond, detail=""):
    (PASSED if cond else FAILED).append(name)
    print("%s %s%s" % ("ok  " if cond else "FAIL", name, "" if cond else " " + detail), flush=True)


def main():
    tmp = tempfile.mkdtemp(prefix="scenario-mock-")
    ca, _ = tr.make_ca(tmp, "ca")
    scert, skey = tr.make_leaf(tmp, ca, "server", "localhost", server=True)
    regs = []
    for rid, pw, contact in (("REG-A", "pw-A-12345", "C0000001"), ("REG-B", "pw-B-12345", "C0000002")):
        cert, key = tr.make_leaf(tmp, ca, rid.lower(), rid, server=False)
        regs.append({"id": rid, "name": rid, "api_key": "x", "epp_password": pw, "client_cert": cert, "client_key": key,
                     "contact": contact})
    mock = MockRegistry(scert, skey, ca, {r["id"]: r["epp_password"] for r in regs}, tr.XSD,
                        contacts={r["contact"]: r["id"] for r in regs}, admin_password="admin-pw-12345")
    creds = os.path.join(tmp, "demo-credentials.json")
    # Port 0 in the file, as nicbox demo writes it when started on port 0: the real addresses
    # go to run_scenarios.run() (--epp / --http).
    with open(creds, "w") as f:
        json.dump({"epp": {"addr": "127.0.0.1:0", "ca_cert": ca, "server_cert": scert, "server_key": skey},
                   "http": "http://127.0.0.1:0", "admin": {"username": "admin", "password": "admin-pw-12345"},
                   "registrars": regs}, f)
    try:
        run_scenarios.run(creds, check=check, epp="127.0.0.1:%d" % mock.port, http="http://127.0.0.1:%d" % mock.http_port)
        check("every client frame valid against the XSD", not mock.invalid_client_frames,
              repr(mock.invalid_client_frames)[:2000])
        for i, login in enumerate(mock.logins):
            print("    login frame %d: %s" % (i + 1, login.decode("utf-8", "replace").replace("\n", "\\n").replace("\r", "\\r")))
        tails = sorted({repr(f[f.rindex(b">") + 1:]) for f in mock.client_frames})
        print("    bytes after </epp> in client frames: %s" % ", ".join(tails))
    finally:
        mock.close()
    if not FAILED:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001
        import traceback
        traceback.print_exc()
        FAILED.append(repr(e))
    print("%d passed, %d failed" % (len(PASSED), len(FAILED)))
    sys.exit(1 if FAILED or not PASSED else 0)
