//! One database connection for the command-line commands (`apply`, `export`, `report`), which
//! run a few statements and exit: no pool. Touches PostgreSQL only.

use anyhow::Context;
use clap::Args;
use std::str::FromStr;
use tokio_postgres::{Client, NoTls};

/// The database a command works on.
#[derive(Debug, Clone, Args)]
pub struct DbArgs {
    /// PostgreSQL connection string (key=value or postgres:// URL) of a database with `CREATE EXTENSION pg_slo`.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: String,
}

/// Connects, naming the application `pg-slo <command>` in `pg_stat_activity`.
pub async fn connect(args: &DbArgs, command: &str) -> anyhow::Result<Client> {
    let mut config = tokio_postgres::Config::from_str(&args.database_url)
        .context("DATABASE_URL is not a valid connection string")?;
    config.application_name(format!("pg-slo {command}"));
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(std::time::Duration::from_secs(10));
    }
    let (client, connection) = config
        .connect(NoTls)
        .await
        .context("connecting to the database (DATABASE_URL)")?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::error!(error = %e, "database connection failed");
        }
    });
    let has_extension: bool = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_slo')",
            &[],
        )
        .await
        .context("checking for the pg_slo extension")?
        .get(0);
    anyhow::ensure!(
        has_extension,
        "the database has no pg_slo extension: run CREATE EXTENSION pg_slo first"
    );
    Ok(client)
}
