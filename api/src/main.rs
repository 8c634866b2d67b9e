//! `pg-slo`: the pg_slo command. See `pg-slo --help`.

use api::config::{Cli, Command};
use api::startup::{shutdown_signal, Application};
use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    api::telemetry::init(cli.log_format);
    match cli.command {
        Command::Serve(config) => {
            let app = Application::build(&config).await?;
            app.run_until(shutdown_signal()).await?;
        }
        Command::Token(args) => api::admin::run(args).await?,
    }
    Ok(())
}
