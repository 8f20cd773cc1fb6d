//! Real registrar client libraries against the demo's EPP server: Net::EPP 0.22 (Perl) and
//! pyepp 0.3 (Python) each run the scenario of tests/epp/ (contact create/info/update/delete,
//! domain create with the registrar's own contact, info, update, transfer with the auth code
//! and the ROID, poll and ack, renew once the lab clock reaches the renew window, delete, RGP
//! restore) through tests/epp/relay.py, which validates every server frame against the XSDs.
//! tests/epp/README.md says what each file does.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// What the scenarios need that is not there, each with how to install it.
fn missing_prerequisites(pylib: &Path) -> Vec<&'static str> {
    let mut missing = Vec::new();
    let perl = Command::new("perl")
        .args(["-MNet::EPP::Simple", "-MNet::EPP::Frame", "-MXML::LibXML", "-MHTTP::Tiny", "-MMIME::Base64", "-e", "1"])
        .output();
    if !matches!(&perl, Ok(o) if o.status.success()) {
        missing.push("Net::EPP 0.22 for Perl (with XML::LibXML): apt-get install libnet-epp-perl");
    }
    let python = Command::new("python3")
        .args(["-c", "import sys; sys.path.insert(0, sys.argv[1]); import lxml.etree, pyepp", pylib.to_str().unwrap()])
        .output();
    if !matches!(&python, Ok(o) if o.status.success()) {
        missing.push("lxml and pyepp in tests/epp/pylib: python3 -m pip install --target tests/epp/pylib lxml pyepp");
    }
    missing
}

/// `relay validated N server frames, M invalid` of run_scenarios.py: (N, M).
fn relay_counts(out: &str) -> Option<(usize, usize)> {
    let line = out.lines().find_map(|l| l.trim().strip_prefix("relay validated "))?;
    let mut words = line.split_whitespace();
    let frames = words.next()?.parse().ok()?;
    let invalid = words.nth(2)?.parse().ok()?;
    Some((frames, invalid))
}

#[test]
fn net_epp_and_pyepp_run_the_scenario_against_the_demo() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let epp_dir = root.join("tests/epp");
    let missing = missing_prerequisites(&epp_dir.join("pylib"));
    assert!(
        missing.is_empty(),
        "the EPP client scenarios cannot run; install:\n  {}\n(see tests/epp/README.md)",
        missing.join("\n  ")
    );

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let server = crate::common::start_demo(&data, dir.path());
    let creds = data.join("demo-credentials.json");
    let report = dir.path().join("relay-report.jsonl");
    // The credentials say port 0 (the demo listens on free ports): the real addresses go as
    // arguments.
    let epp = server.epp().to_string();
    let http = format!("http://{}", server.http);
    let started = Instant::now();
    let out = Command::new("python3")
        .arg(epp_dir.join("run_scenarios.py"))
        .arg(&creds)
        .args(["--epp", &epp, "--http", &http, "--report", report.to_str().unwrap()])
        .env("EPP_XSD", root.join("tests/epp/xsd/pt-lab/all_pt.xsd"))
        .output()
        .expect("run python3 tests/epp/run_scenarios.py");
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let shown = format!("run_scenarios.py ({elapsed:.1?}):\n{stdout}\nstderr:\n{stderr}");
    println!("{shown}");

    assert!(out.status.success(), "run_scenarios.py exited {}\n{shown}", out.status);
    assert!(!stdout.lines().any(|l| l.contains("FAIL")), "a step failed\n{shown}");
    for (name, last_steps) in [
        ("netepp", ["B domain renew 1y", "B domain restore (rgp request)", "contact delete NA-", "B logout"]),
        ("pyepp", ["B domain renew 1y", "B domain restore (rgp request)", "contact delete PA-", "B logout"]),
    ] {
        assert!(stdout.contains(&format!("ok   {name} scenario exits 0")), "{name} did not pass\n{shown}");
        let prefix = format!("    {name}: ");
        let steps: Vec<&str> = stdout.lines().filter_map(|l| l.strip_prefix(prefix.as_str())).collect();
        assert!(steps.len() >= 25, "{name} printed only {} steps\n{shown}", steps.len());
        if let Some(bad) = steps.iter().find(|s| !s.starts_with("ok ")) {
            panic!("{name} step not ok: {bad}\n{shown}");
        }
        for step in last_steps {
            assert!(steps.iter().any(|s| s.starts_with(&format!("ok {step}"))), "{name}: no `ok {step}`\n{shown}");
        }
        assert_eq!(steps.last().copied(), Some("ok B logout"), "{name} did not complete\n{shown}");
    }

    let (frames, invalid) = relay_counts(&stdout).unwrap_or_else(|| panic!("no relay count\n{shown}"));
    assert!(frames > 0, "the relay validated no frame\n{shown}");
    assert_eq!(invalid, 0, "the relay found invalid server frames\n{shown}");
    // The relay's own report agrees: one line per server frame, every one valid.
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(&report)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), frames, "{shown}");
    assert!(rows.iter().all(|r| r["ok"] == true), "{shown}");
    drop(server);
}
