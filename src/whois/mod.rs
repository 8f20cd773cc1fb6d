//! WHOIS (RFC 3912) under the .pt directory's layout (CONTRACT.md section 2): query parsing and
//! answer rendering as pure code (`query`, `render`: no I/O, fuzzed), and the TCP server
//! (`server`) with its bounds and the shared abuse guard.

pub mod query;
pub mod render;
pub mod server;
