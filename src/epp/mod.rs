//! EPP (RFC 5730-5734, 5910, 3915, 8807) beside the HTTP API, through the same registry service
//! layer: `server` (TLS, frames, sessions and their bounds), `xml` (reading and writing),
//! `exec` (commands mapped onto the registry), `pt` (the .pt extension), `certs` (the demo's
//! test PKI and certificate fingerprints).

pub mod certs;
pub mod exec;
pub mod pt;
pub mod server;
pub mod xml;

/// Every EPP command the server answers (besides `<hello>`): the session's own (`login`,
/// `logout`) and those `exec` dispatches (`domain:info`, ..., `poll`). The authorization matrix
/// test (tests/it/authz.rs) covers exactly these.
pub fn commands() -> Vec<&'static str> {
    server::SESSION_COMMANDS.iter().copied().chain(exec::command_names()).collect()
}
