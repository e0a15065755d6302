//! `rackwatch-bench`: the detection-quality benchmarks; see `rackwatch_bench::cli`.
use clap::Parser;
use rackwatch_bench::cli::{self, Cli};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli::run(&cli, &mut std::io::stdout().lock()) {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that went away (`rackwatch-bench nab | head`) is not an error.
        Err(error)
            if error
                .downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(error) => {
            // The chain, without repeating a cause a message already quotes.
            let text = error
                .chain()
                .map(ToString::to_string)
                .fold(String::new(), |text, cause| match text.is_empty() {
                    true => cause,
                    false if text.contains(&cause) => text,
                    false => format!("{text}: {cause}"),
                });
            eprintln!("rackwatch-bench: {text}");
            ExitCode::FAILURE
        }
    }
}
