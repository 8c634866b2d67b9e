//! Configuration: every setting is a flag with an environment variable behind it.
//! Touches nothing but the process arguments and environment.

use crate::admin::TokenArgs;
use crate::auth::config::AuthConfig;
use crate::limits::LimitsConfig;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;

/// The first screen of `pg-slo --help`, after the commands.
const WORKFLOW: &str = "\
Typical use:
  pg-slo apply --dry-run examples/foxfire.toml   check the SLO definitions and show the plan
  pg-slo apply examples/foxfire.toml             ... and apply them in one transaction
  pg-slo serve                                   schedulers POST job status to /v1/job-status
  pg-slo ingest kafka --kafka-brokers HOST:PORT  ... or publish it to Kafka, stored from there
  pg-slo backfill history.ndjson                 load past job status from files
  pg-slo report                                  today's SLO states, late ones first
  pg-slo notify --webhook https://pager.example  deliver alerts (late, at risk, ...) as they come
  pg-slo export -o definitions.toml              the definitions in force, as a file

Commands that use the database take --database-url or DATABASE_URL.
`pg-slo COMMAND --help` explains each command's flags.";

/// pg_slo: batch-job SLO tracking inside PostgreSQL.
#[derive(Debug, Parser)]
#[command(
    name = "pg-slo",
    version,
    about = "pg_slo: batch-job SLO tracking inside PostgreSQL.",
    long_about = None,
    after_help = WORKFLOW
)]
pub struct Cli {
    /// Log format: human-readable text, or one JSON object per line.
    #[arg(long, env = "PG_SLO_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (POST /v1/job-status, /healthz, /readyz, /metrics, /openapi.json).
    Serve(ServeConfig),
    /// Check a definitions file, print the plan (added, changed, removed) and apply it in one transaction.
    Apply(crate::definitions::ApplyArgs),
    /// Write the database's definitions in the definitions-file format (apply of the output changes nothing).
    Export(crate::definitions::ExportArgs),
    /// Print today's SLO states as a table (late ones first), from slo.slo_performance_report.
    Report(crate::report::ReportArgs),
    /// Simulate a job scheduler: post a realistic day (a restart, a late job, one never started) through the API.
    Demo(crate::demo::DemoArgs),
    /// Issue, list and revoke the clients' tokens (connect as a member of slo_admin).
    Token(TokenArgs),
    /// Deliver the alerts the database raises: one log line each, and a POST to each webhook.
    Notify(crate::notify::NotifyArgs),
    /// Store job-status events from a message bus (Kafka), as a member of a consumer group.
    Ingest(crate::ingest::IngestArgs),
    /// Load job-status history from NDJSON or CSV files (or standard input) through COPY.
    Backfill(crate::backfill::BackfillArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Settings of `pg-slo serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// PostgreSQL connection string (key=value or postgres:// URL) of a database with `CREATE EXTENSION pg_slo`.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: String,

    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "PG_SLO_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Largest number of database connections this instance opens.
    #[arg(long, env = "PG_SLO_POOL_SIZE", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub pool_size: u16,

    /// Largest request body accepted, in bytes; larger bodies get 413.
    #[arg(long, env = "PG_SLO_BODY_LIMIT", default_value_t = 2 * 1024 * 1024)]
    pub body_limit: usize,

    /// Seconds a request waits for a database connection before it gets 503.
    #[arg(long, env = "PG_SLO_DB_TIMEOUT_SECS", default_value_t = 5)]
    pub db_timeout_secs: u64,

    /// Writers that store the single events of concurrent requests together, one statement and
    /// one commit for all those waiting (each uses a connection of the pool while it writes);
    /// 0 stores each request alone.
    #[arg(long, env = "PG_SLO_GROUP_COMMIT_WRITERS", default_value_t = 2,
          value_parser = clap::value_parser!(u16).range(0..=64))]
    pub group_commit_writers: u16,

    #[command(flatten)]
    pub auth: AuthConfig,

    #[command(flatten)]
    pub limits: LimitsConfig,
    /// Publishing mode (phase 4): events go to Kafka instead of the database.
    #[command(flatten)]
    pub publish: crate::publish::PublishArgs,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_takes_its_settings_from_flags() {
        let cli = Cli::try_parse_from([
            "pg-slo",
            "--log-format",
            "json",
            "serve",
            "--database-url",
            "host=localhost",
            "--listen",
            "0.0.0.0:9000",
            "--pool-size",
            "4",
        ])
        .unwrap();
        assert_eq!(cli.log_format, LogFormat::Json);
        let Command::Serve(cfg) = cli.command else {
            panic!("serve parses as serve");
        };
        assert_eq!(cfg.database_url, "host=localhost");
        assert_eq!(cfg.listen, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(cfg.pool_size, 4);
        assert_eq!(cfg.group_commit_writers, 2);
        assert_eq!(cfg.body_limit, 2 * 1024 * 1024);
        assert!(
            !cfg.auth.insecure_no_auth,
            "authentication is on by default"
        );
        assert_eq!(cfg.auth.auth_cache_secs, 10);
        assert_eq!(cfg.limits.request_timeout_secs, 30);
    }

    #[test]
    fn authentication_is_turned_off_only_by_its_explicit_flag() {
        let cli = Cli::try_parse_from([
            "pg-slo",
            "serve",
            "--database-url",
            "x",
            "--insecure-no-auth",
        ])
        .unwrap();
        let Command::Serve(cfg) = cli.command else {
            panic!("not serve")
        };
        assert!(cfg.auth.insecure_no_auth);
    }

    #[test]
    fn token_commands_take_their_arguments() {
        let cli = Cli::try_parse_from([
            "pg-slo",
            "token",
            "issue",
            "--client",
            "sched-east",
            "--apps",
            "overdrafts,deposits",
            "--expires-in",
            "90d",
            "--database-url",
            "host=x",
        ])
        .unwrap();
        let Command::Token(args) = cli.command else {
            panic!("not token")
        };
        assert_eq!(args.database_url.as_deref(), Some("host=x"));
        let crate::admin::TokenCommand::Issue(issue) = args.command else {
            panic!("not issue")
        };
        assert_eq!(issue.client, "sched-east");
        assert_eq!(issue.apps, vec!["overdrafts", "deposits"]);
        assert_eq!(issue.expires_in.as_deref(), Some("90d"));
    }

    #[test]
    fn publishing_mode_and_the_ingest_consumer_take_their_kafka_settings_from_flags() {
        let cli = Cli::try_parse_from([
            "pg-slo",
            "serve",
            "--database-url",
            "x",
            "--publish",
            "--kafka-brokers",
            "k1:9092",
            "-X",
            "acks=all",
        ])
        .unwrap();
        let Command::Serve(cfg) = cli.command else {
            panic!("serve parses as serve");
        };
        assert!(cfg.publish.enabled);
        assert_eq!(cfg.publish.kafka.kafka_brokers.as_deref(), Some("k1:9092"));
        assert_eq!(cfg.publish.kafka.kafka_topic, crate::kafka::DEFAULT_TOPIC);
        assert_eq!(
            cfg.publish.kafka.kafka_properties,
            [("acks".to_owned(), "all".to_owned())]
        );
        let cli = Cli::try_parse_from([
            "pg-slo",
            "ingest",
            "kafka",
            "--database-url",
            "x",
            "--kafka-brokers",
            "k1:9092",
            "--group",
            "g1",
            "--batch-size",
            "50",
        ])
        .unwrap();
        let Command::Ingest(args) = cli.command else {
            panic!("ingest parses as ingest");
        };
        let crate::ingest::IngestSource::Kafka(k) = args.source;
        assert_eq!((k.group.as_str(), k.batch_size), ("g1", 50));
    }

    #[test]
    fn a_pool_of_zero_connections_is_refused() {
        let err =
            Cli::try_parse_from(["pg-slo", "serve", "--database-url", "x", "--pool-size", "0"]);
        assert!(err.is_err());
    }
}
