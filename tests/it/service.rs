//! The systemd units (issue 14 item 10): ops/nicbox.service and ops/nicbox-backup.service
//! - score 2.0 or less ("OK" or better) in `systemd-analyze security --offline=true`, and
//!   `systemd-analyze verify` finds nothing wrong with their keys;
//! - keep the hardening the README promises (a dedicated user, ProtectSystem=strict, the data
//!   directory the one writable place, CAP_NET_BIND_SERVICE the one capability, no new privileges);
//! - do not break the binary: it runs with memory that is never both writable and executable
//!   (the kernel's PR_SET_MDWE, what MemoryDenyWriteExecute= enforces), and every system call
//!   it makes while serving, writing, checking and backing up is in the unit's
//!   SystemCallFilter= (the syscalls seen by strace against `systemd-analyze syscall-filter`).
//!
//! No systemd runs here as PID 1, so the unit is not started; the two checks above are what its
//! sandbox would refuse.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{Server, http_agent, http_call, org_body, run, whois_client, write_config};

fn unit(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("ops").join(name)
}

fn analyze(args: &[&str]) -> (bool, String) {
    let out = Command::new("systemd-analyze")
        .args(args)
        .output()
        .expect("systemd-analyze (Debian package systemd) must be installed: ops/test installs it");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// The overall exposure of a unit file, as `systemd-analyze security` scores it (0 to 10).
fn exposure(path: &Path) -> (f64, String) {
    let (_, text) = analyze(&["security", "--offline=true", "--no-pager", path.to_str().unwrap()]);
    let line = text.lines().find(|l| l.contains("Overall exposure level")).unwrap_or_else(|| panic!("{text}"));
    let score = line.rsplit(':').next().unwrap().split_whitespace().next().unwrap().parse().unwrap();
    (score, text)
}

/// The values of `key` in a unit file.
fn values(path: &Path, key: &str) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix(&format!("{key}=")))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_units_are_hardened_and_score_ok_in_systemd_analyze_security() {
    for (name, most) in [("nicbox.service", 2.0), ("nicbox-backup.service", 1.0)] {
        let path = unit(name);
        let (score, text) = exposure(&path);
        println!("systemd-analyze security {name}: {score}");
        assert!(score <= most, "{name}: exposure {score}, more than {most}:\n{text}");
        // `verify` knows every key; the binary's path does not exist on a build machine.
        let (_, text) = analyze(&["verify", "--no-pager", path.to_str().unwrap()]);
        let problems: Vec<&str> = text
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.contains("/usr/local/bin/nicbox is not executable"))
            .collect();
        assert!(problems.is_empty(), "{name}: systemd-analyze verify: {problems:#?}");
        for (key, want) in [
            ("User", "nicbox"),
            ("ProtectSystem", "strict"),
            ("NoNewPrivileges", "true"),
            ("MemoryDenyWriteExecute", "true"),
            ("SystemCallFilter", "@system-service"),
            ("UMask", "0077"),
        ] {
            assert!(values(&path, key).iter().any(|v| v == want), "{name}: {key}={want}");
        }
        assert!(
            values(&path, "ReadWritePaths").iter().any(|v| v.split_whitespace().any(|p| p == "/var/lib/nicbox")),
            "{name}: the data directory writable"
        );
    }
    let server = unit("nicbox.service");
    assert_eq!(values(&server, "CapabilityBoundingSet"), ["CAP_NET_BIND_SERVICE"]);
    assert_eq!(values(&server, "AmbientCapabilities"), ["CAP_NET_BIND_SERVICE"]);
    assert_eq!(values(&server, "StateDirectory"), ["nicbox"]);
    assert_eq!(values(&unit("nicbox-backup.service"), "CapabilityBoundingSet"), [""]);
}

/// The system calls in `set` as `systemd-analyze syscall-filter` lists them, groups expanded.
fn syscall_set(groups: &BTreeMap<String, Vec<String>>, set: &str, out: &mut BTreeSet<String>) {
    for item in groups.get(set).unwrap_or_else(|| panic!("no syscall group {set}")) {
        if item.starts_with('@') {
            syscall_set(groups, item, out);
        } else {
            out.insert(item.clone());
        }
    }
}

fn syscall_groups() -> BTreeMap<String, Vec<String>> {
    let (ok, text) = analyze(&["syscall-filter", "--no-pager"]);
    assert!(ok, "{text}");
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut current = None;
    for line in text.lines() {
        let t = line.trim();
        if line.starts_with('@') {
            current = Some(t.to_string());
            groups.entry(t.to_string()).or_default();
        } else if !t.is_empty()
            && !t.starts_with('#')
            && let Some(g) = &current
        {
            groups.get_mut(g).unwrap().push(t.to_string());
        }
    }
    groups
}

/// A small session against `server`: contacts and domains written, WHOIS and the API read,
/// `check --deep` and `backup` through the control socket.
fn exercise(server: &Server, config: &Path, dir: &Path) {
    let c = config.to_str().unwrap();
    let (code, out, err) = run(&["registrar", "list", "--config", c]);
    assert_ne!(code, 0, "the server holds the database: {out} {err}");
    let agent = http_agent();
    let key = std::fs::read_to_string(dir.join("key")).unwrap();
    let (status, v) = http_call(&agent, "POST", &server.url("/api/v1/contacts"), Some(&key), Some(&org_body()));
    assert_eq!(status, 201, "{v}");
    let h = v["handle"].as_str().unwrap();
    for name in ["sandbox1.pt", "sandbox2.pt"] {
        let body = serde_json::json!({"name": name, "period_years": 1, "registrant": h, "admin": h, "tech": h,
            "nameservers": [{"name": "ns1.example.net"}, {"name": "ns2.example.net"}]});
        let (status, v) = http_call(&agent, "POST", &server.url("/api/v1/domains"), Some(&key), Some(&body));
        assert_eq!(status, 201, "{v}");
    }
    assert!(whois_client(server.whois, "sandbox1.pt").contains("sandbox1.pt"));
    let (status, _) = http_call(&agent, "GET", &server.url("/rdap/domain/sandbox2.pt"), None, None);
    assert_eq!(status, 200);
    let (code, out, err) = run(&["check", "--deep", "--config", c]);
    assert_eq!(code, 0, "{out} {err}");
    let backup = dir.join("sandbox-backup.redb");
    let (code, out, err) = run(&["backup", "--config", c, "--out", backup.to_str().unwrap()]);
    assert_eq!(code, 0, "{out} {err}");
}

/// A configuration with a database and a registrar (its key in `dir/key`).
fn prepare(dir: &Path) -> PathBuf {
    let config = write_config(dir, "");
    let c = config.to_str().unwrap();
    let (code, out, err) = run(&["init", "--config", c]);
    assert_eq!(code, 0, "{out} {err}");
    let (code, out, err) =
        run(&["registrar", "add", "--config", c, "--id", "ptreg", "--name", "Registos", "--balance-cents", "100000"]);
    assert_eq!(code, 0, "{out} {err}");
    let key = out.lines().find_map(|l| l.split("): ").nth(1)).unwrap().trim().to_string();
    std::fs::write(dir.join("key"), key).unwrap();
    config
}

/// SIGTERM to the process `pid`.
fn sigterm(pid: u32) {
    unsafe {
        libc::kill(pid as i32, libc::SIGTERM);
    }
}

#[test]
fn the_binary_runs_with_no_writable_executable_memory() {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let config = prepare(dir.path());
    let mut cmd = Command::new(crate::common::binary());
    cmd.args(["serve", "--config", config.to_str().unwrap()]);
    // PR_SET_MDWE (65) with PR_MDWE_REFUSE_EXEC_GAIN (1): mappings never become writable and
    // executable, inherited across exec; the kernel's own form of MemoryDenyWriteExecute=.
    unsafe {
        cmd.pre_exec(|| if libc::prctl(65, 1, 0, 0, 0) == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) });
    }
    let server = Server::start_command(cmd, dir.path());
    exercise(&server, &config, dir.path());
    assert_eq!(server.terminate().code(), Some(0));
}

#[test]
fn every_system_call_of_the_binary_is_in_the_units_filter() {
    let groups = syscall_groups();
    // SystemCallFilter=@system-service, then ~@privileged @resources (ops/nicbox.service).
    let (mut allowed, mut denied) = (BTreeSet::new(), BTreeSet::new());
    for v in values(&unit("nicbox.service"), "SystemCallFilter") {
        let (deny, list) = match v.strip_prefix('~') {
            Some(l) => (true, l.to_string()),
            None => (false, v),
        };
        for set in list.split_whitespace() {
            syscall_set(&groups, set, if deny { &mut denied } else { &mut allowed });
        }
    }
    let allowed: BTreeSet<String> = allowed.difference(&denied).cloned().collect();
    assert!(allowed.contains("read") && !allowed.contains("mount"), "{allowed:?}");

    let dir = tempfile::tempdir().unwrap();
    let config = prepare(dir.path());
    let trace = dir.path().join("strace.txt");
    let mut cmd = Command::new("strace");
    cmd.args(["-f", "-qq", "-c", "-o"]).arg(&trace).arg(crate::common::binary()).args([
        "serve",
        "--config",
        config.to_str().unwrap(),
    ]);
    let mut server = Server::start_command(cmd, dir.path());
    exercise(&server, &config, dir.path());
    // The server is strace's child: SIGTERM to it, and strace ends with its exit status.
    let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", server.child.id())).unwrap();
    let pid: u32 = children.split_whitespace().next().expect("nicbox under strace").parse().unwrap();
    sigterm(pid);
    let status = server.child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{:?}", server.log.lock().unwrap());
    let summary = std::fs::read_to_string(&trace).unwrap();
    let seen: BTreeSet<String> = summary
        .lines()
        .skip_while(|l| !l.starts_with("------"))
        .skip(1)
        .take_while(|l| !l.starts_with("------"))
        .filter_map(|l| l.split_whitespace().last().map(str::to_string))
        .collect();
    assert!(seen.contains("fsync") || seen.contains("fdatasync"), "the summary was read: {summary}");
    let outside: Vec<&String> = seen.iter().filter(|s| !allowed.contains(*s)).collect();
    assert!(outside.is_empty(), "system calls the unit's filter refuses: {outside:?}\n{summary}");
}
