//! The `nicbox` command line: parse, set up logging, hand over to the library.

use std::process::ExitCode;

/// mimalloc (v2): see ARCHITECTURE.md, invariants.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    nicbox::cli::main()
}
