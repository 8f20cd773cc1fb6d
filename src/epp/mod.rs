//! EPP (RFC 5730-5734, 5910, 3915, 8807) beside the HTTP API, through the same registry service
//! layer: `server` (TLS, frames, sessions and their bounds), `xml` (reading and writing),
//! `exec` (commands mapped onto the registry), `pt` (the .pt extension), `certs` (the demo's
//! test PKI and certificate fingerprints).

pub mod certs;
pub mod exec;
pub mod pt;
pub mod server;
pub mod xml;
