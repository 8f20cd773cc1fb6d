//! Fuzzes the registrar API's body handling: the nesting-depth bound, then JSON into the request
//! types (unknown fields refused). Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nicbox::http::extract::json_depth;
use nicbox::registry::{ContactInput, DomainCreate, DomainPatch};

fuzz_target!(|data: &[u8]| {
    if json_depth(data) > 8 {
        return;
    }
    let _ = serde_json::from_slice::<DomainCreate>(data);
    let _ = serde_json::from_slice::<DomainPatch>(data);
    let _ = serde_json::from_slice::<ContactInput>(data);
});
