//! The `nicbox` command line: parse, set up logging, hand over to the library.

use std::process::ExitCode;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    nicbox::cli::main()
}
