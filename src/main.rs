//! The `custodia` command: parse, run, map the error to an exit code.

#![forbid(unsafe_code)]

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    // A core dump would write keys and testimony to disk.
    cli::disable_core_dumps();
    cli::remove_partial_output_on_interrupt();
    let args = match cli::parse() {
        Ok(args) => args,
        Err(e) => return cli::usage_error(&e),
    };
    let out = cli::Output::new(args.global.json, args.global.quiet);
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            failure.report(&out);
            ExitCode::from(failure.exit_code())
        }
    }
}
