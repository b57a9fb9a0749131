//! The `atlascope` binary: parses the command line and runs it.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    atlascope::telemetry::init();
    let cli = atlascope::cli::Cli::parse();
    let check = cli.is_check();
    match atlascope::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::from(atlascope::cli::exit_code(check, &error))
        }
    }
}
