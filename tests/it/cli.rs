//! The command line itself (issue 16 item 4): every subcommand's `--help` shows an example,
//! `--config` falls back to `NICBOX_CONFIG` and then `/etc/nicbox/nicbox.toml`, and the man page
//! and completions are generated from the same definition.

use std::process::{Command, Stdio};

use crate::common::{binary, write_config};

/// Every command path of the definition (`["registrar", "add"]`, ...), hidden ones included.
fn command_paths(cmd: &clap::Command, prefix: &[String], out: &mut Vec<Vec<String>>) {
    for sub in cmd.get_subcommands() {
        let mut path = prefix.to_vec();
        path.push(sub.get_name().to_string());
        out.push(path.clone());
        command_paths(sub, &path, out);
    }
}

fn output(args: &[&str], env: &[(&str, Option<&str>)]) -> (i32, String, String) {
    let mut c = Command::new(binary());
    c.args(args).stdin(Stdio::null());
    for (k, v) in env {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    let out = c.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_subcommand_help_has_an_example() {
    let mut paths = Vec::new();
    command_paths(&nicbox::cli::command(), &[], &mut paths);
    let names: Vec<String> = paths.iter().map(|p| p.join(" ")).collect();
    // The definition walked is the binary's: the known commands are all there.
    for known in ["demo", "serve", "check", "registrar add", "registrar epp-cert", "user add", "zone export", "man"] {
        assert!(names.iter().any(|n| n == known), "{known} missing from {names:?}");
    }
    // `help` is clap's own (it prints the other commands' help).
    for path in paths.iter().filter(|p| p.last().is_some_and(|l| l != "help")) {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let (code, out, err) = output(&args, &[]);
        assert_eq!(code, 0, "nicbox {}: {err}", args.join(" "));
        let example =
            out.find("Example").unwrap_or_else(|| panic!("no example in `nicbox {}`:\n{out}", args.join(" ")));
        // The example is a command line of nicbox itself.
        assert!(out[example..].contains("nicbox "), "nicbox {}:\n{out}", args.join(" "));
    }
    let (code, out, _) = output(&["--help"], &[]);
    assert_eq!(code, 0);
    assert!(out.contains("Example") && out.contains("NICBOX_CONFIG"), "{out}");
}

#[test]
fn config_comes_from_nicbox_config_then_etc() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let c = config.to_str().unwrap();
    let (code, out, err) = output(&["init"], &[("NICBOX_CONFIG", Some(c))]);
    assert_eq!(code, 0, "init with NICBOX_CONFIG: {out} {err}");
    assert!(dir.path().join("data/nicbox.redb").exists(), "the database named by NICBOX_CONFIG's file: {out}");
    let (code, out, err) = output(&["check"], &[("NICBOX_CONFIG", Some(c))]);
    assert_eq!(code, 0, "{out} {err}");
    assert!(out.contains("configuration: ok") && out.contains("database: ok (0 domains"), "{out}");
    let (code, out, err) =
        output(&["registrar", "add", "--id", "envreg", "--name", "Env"], &[("NICBOX_CONFIG", Some(c))]);
    assert_eq!(code, 0, "{out} {err}");
    let (_, out, _) = output(&["registrar", "list"], &[("NICBOX_CONFIG", Some(c))]);
    assert!(out.contains("envreg"), "{out}");

    // --config wins over the environment.
    let (code, _, err) = output(&["check", "--config", "/nonexistent/a.toml"], &[("NICBOX_CONFIG", Some(c))]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent/a.toml"), "{err}");

    // Neither: /etc/nicbox/nicbox.toml, named in the help and used.
    let (_, help, _) = output(&["check", "--help"], &[("NICBOX_CONFIG", None)]);
    assert!(help.contains("[env: NICBOX_CONFIG") && help.contains("[default: /etc/nicbox/nicbox.toml]"), "{help}");
    if !std::path::Path::new("/etc/nicbox/nicbox.toml").exists() {
        let (code, _, err) = output(&["check"], &[("NICBOX_CONFIG", None)]);
        assert_eq!(code, 2);
        assert!(err.contains("/etc/nicbox/nicbox.toml"), "{err}");
    }
}

#[test]
fn man_page_and_completions_come_from_the_definition() {
    let (code, man, err) = output(&["man"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(man.starts_with(".ie") || man.contains(".TH nicbox"), "roff: {}", &man[..man.len().min(200)]);
    for sub in ["serve", "check", "registrar", "zone"] {
        assert!(man.contains(sub), "man page lists {sub}");
    }
    let (code, bash, err) = output(&["completions", "bash"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(bash.contains("complete") && bash.contains("nicbox") && bash.contains("--config"), "{bash}");
    // bash itself accepts the script.
    let status = Command::new("bash").args(["-n", "-c", &bash]).status().expect("bash");
    assert!(status.success());
    let (code, _, _) = output(&["completions", "zsh"], &[]);
    assert_eq!(code, 0);
}
