//! The one integration-test binary (one link, shared helpers).
//!
//! - `api`: router tests, HTTP requests to the router in memory (tier 2);
//! - `binary`: black-box tests of the real `nicbox` binary on port 0 (tier 3);
//! - `model`: random command sequences against a plain model of the lifecycle rules (tier 1).

mod admin;
mod api;
mod authz;
mod backup;
mod binary;
mod cli;
mod common;
mod contact;
mod crash;
mod diskfull;
mod dnsd;
mod epp;
mod epp_clients;
mod epp_instant;
mod greeting;
mod hygiene;
mod lifecycle;
mod model;
mod openapi;
mod rdap;
mod secondary;
mod service;
mod tlsreload;
mod whois;
mod zone;
