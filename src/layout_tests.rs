//! The module layout of issue 14 item 11, kept from coming undone: `cli`, `demo` and `run` call
//! one way (`cli` → `demo` → `run`, `cli` → `run`), no two of the registry's modules import each
//! other, and `store/mod.rs` stays small (each table family has its own file).
//!
//! The check reads the source text: a module refers to another when its code (comments left
//! out) names it through a path (`crate::demo::run`, `super::lifecycle::idempotent`) or in a
//! `use` group (`use super::{lifecycle, ...}`). It is a text check, not a compiler's, but each of
//! the cycles it guards against would have to be written in one of those two forms.

use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The source of a file under `src/` with `//` comments (and doc comments) removed.
fn code(rel: &str) -> String {
    let text = std::fs::read_to_string(src().join(rel)).unwrap_or_else(|e| panic!("src/{rel}: {e}"));
    text.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

fn ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Whether `code` names module `name` under `parent` (`crate`, `super`, `crate::registry`).
fn refers(code: &str, parent: &str, name: &str) -> bool {
    let path = format!("{parent}::{name}");
    let by_path = code.match_indices(&path).any(|(i, _)| {
        let before = code[..i].chars().next_back();
        let after = code[i + path.len()..].chars().next();
        !before.is_some_and(ident_char) && !after.is_some_and(ident_char)
    });
    let group = format!("{parent}::{{");
    let in_group = code.match_indices(&group).any(|(i, _)| {
        let rest = &code[i + group.len()..];
        let item = rest.split(';').next().unwrap_or(rest);
        item.split(|c: char| !ident_char(c)).any(|w| w == name)
    });
    by_path || in_group
}

#[test]
fn the_checker_sees_both_forms() {
    assert!(refers("use crate::cli::{Failure, serve};", "crate", "cli"));
    assert!(refers("    super::lifecycle::idempotent(tx)", "super", "lifecycle"));
    assert!(refers("use super::{Registry, lifecycle::Idem};", "super", "lifecycle"));
    assert!(refers("use crate::{cli, config};", "crate", "cli"));
    assert!(!refers("use crate::client::X; use crate::{clinic};", "crate", "cli"));
    assert!(!refers(
        &"// crate::cli::serve\n".lines().map(|l| l.split("//").next().unwrap()).collect::<String>(),
        "crate",
        "cli"
    ));
}

#[test]
fn cli_demo_and_run_call_one_way() {
    let (cli, demo, run) = (code("cli.rs"), code("demo.rs"), code("run.rs"));
    assert!(refers(&cli, "crate", "demo") && refers(&cli, "crate", "run") && refers(&demo, "crate", "run"));
    assert!(!refers(&demo, "crate", "cli"), "src/demo.rs uses crate::cli: move what it needs to src/run.rs");
    assert!(!refers(&run, "crate", "cli"), "src/run.rs uses crate::cli");
    assert!(!refers(&run, "crate", "demo"), "src/run.rs uses crate::demo");
}

#[test]
fn no_two_registry_modules_import_each_other() {
    let dir = src().join("registry");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok()?.strip_suffix(".rs").map(str::to_owned))
        .filter(|n| n != "mod")
        .collect();
    names.sort();
    assert!(names.iter().any(|n| n == "contacts") && names.iter().any(|n| n == "lifecycle"), "{names:?}");
    let sources: Vec<(String, String)> = names.iter().map(|n| (n.clone(), code(&format!("registry/{n}.rs")))).collect();
    let uses = |from: &str, to: &str| {
        let text = &sources.iter().find(|(n, _)| n == from).unwrap().1;
        refers(text, "super", to) || refers(text, "crate::registry", to)
    };
    assert!(uses("lifecycle", "contacts"), "the checker no longer sees lifecycle's call of contacts::create_in");
    let mut cycles = Vec::new();
    for (i, a) in names.iter().enumerate() {
        for b in &names[i + 1..] {
            if uses(a, b) && uses(b, a) {
                cycles.push(format!("registry/{a}.rs <-> registry/{b}.rs"));
            }
        }
    }
    assert!(cycles.is_empty(), "modules importing each other: {cycles:?}");
}

#[test]
fn store_mod_stays_small() {
    let lines = std::fs::read_to_string(src().join("store/mod.rs")).unwrap().lines().count();
    assert!(lines <= 500, "src/store/mod.rs has {lines} lines: accessors belong in their table family's file");
}
