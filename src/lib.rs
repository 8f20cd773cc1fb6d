//! nicbox: a country-code TLD registry in one process over one embedded database.
//!
//! The library holds everything; `main.rs` only parses the command line. Calls flow one way:
//! front ends (`http`, the CLI in `cli`) call `registry`, which alone decides rules and alone
//! writes, through `store` (the only module that knows redb), using `policy` (pure rules),
//! `model` (plain data) and `clock` (the only reader of the wall clock).

pub mod abuse;
pub mod cli;
pub mod clock;
pub mod config;
pub mod control;
pub mod deep;
pub mod demo;
pub mod directory;
pub mod dns;
pub mod epp;
pub mod greeting;
pub mod http;
pub mod jobs;
pub mod limits;
pub mod mail;
pub mod model;
pub mod policy;
pub mod progress;
pub mod registry;
pub mod run;
pub mod server;
pub mod store;
pub mod tls;
pub mod whois;
pub mod zone;

#[cfg(test)]
mod layout_tests;
