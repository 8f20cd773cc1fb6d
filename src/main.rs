//! The `nicbox` command line: parse, set up logging, hand over to the library.

use std::process::ExitCode;

fn main() -> ExitCode {
    nicbox::cli::main()
}
