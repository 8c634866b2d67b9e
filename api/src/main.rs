//! `pg-slo`: the pg_slo command. See `pg-slo --help`.

use api::config::{Cli, Command};
use api::startup::{shutdown_signal, Application};
use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // The server logs requests at info; the one-shot commands print their own output and log
    // only warnings unless RUST_LOG asks for more.
    let default_level = match cli.command {
        Command::Serve(_) | Command::Notify(_) | Command::Ingest(_) => "info",
        _ => "warn",
    };
    api::telemetry::init(cli.log_format, default_level);
    match cli.command {
        Command::Serve(config) => {
            let app = Application::build(&config).await?;
            app.run_until(shutdown_signal()).await?;
        }
        Command::Apply(args) => api::definitions::run_apply(&args).await?,
        Command::Export(args) => api::definitions::run_export(&args).await?,
        Command::Report(args) => api::report::run(&args).await?,
        Command::Demo(args) => {
            api::demo::run(&args).await?;
        }
        Command::Token(args) => api::admin::run(args).await?,
        Command::Notify(args) => api::notify::run(args).await?,
        Command::Ingest(args) => api::ingest::run(&args, shutdown_signal()).await?,
        Command::Backfill(args) => {
            let summary = api::backfill::run(&args).await?;
            if summary.rejected > 0 {
                // Some lines were refused (listed in the reject file): a distinct exit code
                // for scripts, after everything else was loaded.
                std::process::exit(2);
            }
        }
    }
    Ok(())
}
