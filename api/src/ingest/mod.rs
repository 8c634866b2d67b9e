//! `pg-slo ingest kafka`: job-status events from a Kafka topic into `slo.job_status` (the
//! brief's phases 3 and 4: the message bus in front of the database).
//!
//! - [`message`]: one message → one event, by the API's rules, or why it can never be stored.
//! - [`store`]: one poll's messages, positions and dead letters in one transaction.
//! - [`consumer`]: the consumer-group member: poll, store, commit; rebalances; backoff.
//!
//! Delivery is at least once from Kafka and exactly once into the tables: the position in
//! PostgreSQL moves in the same transaction as the rows, and repeated events are no-ops by the
//! duplicate rule. This module touches the process arguments and signals, and starts the two
//! above; it holds no SQL and no Kafka calls of its own.

pub mod consumer;
pub mod message;
pub mod store;

use crate::auth::writer::WriterAuthArgs;
use crate::kafka::KafkaArgs;
use anyhow::Context;
use clap::{Args, Subcommand};
use consumer::LoopSettings;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// `pg-slo ingest SOURCE`.
#[derive(Debug, Clone, Args)]
pub struct IngestArgs {
    #[command(subcommand)]
    pub source: IngestSource,
}

/// Where events come from.
#[derive(Debug, Clone, Subcommand)]
pub enum IngestSource {
    /// Consume job-status events (one JSON object per message) from a Kafka topic as a member
    /// of a consumer group, and store them; messages that can never be stored go to
    /// slo.ingest_dead_letter. Stops on SIGTERM or Ctrl-C after the batch in flight.
    Kafka(KafkaIngestArgs),
}

/// Settings of `pg-slo ingest kafka`.
#[derive(Debug, Clone, Args)]
pub struct KafkaIngestArgs {
    /// PostgreSQL connection string (key=value or postgres:// URL) of a database with `CREATE EXTENSION pg_slo`.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: String,

    #[command(flatten)]
    pub kafka: KafkaArgs,

    /// Who the events are posted as. A message published by `pg-slo serve --publish` is posted
    /// as the client the API authenticated (its `pg-slo-client-id` header); any other as
    /// --client-id. With authentication on, an event whose client may not post for its
    /// application goes to the dead letters (reason `unauthorized`).
    #[command(flatten)]
    pub auth: WriterAuthArgs,

    /// The consumer group (`group.id`): instances in one group share the topic's partitions.
    #[arg(long, env = "PG_SLO_KAFKA_GROUP", default_value = "pg-slo-ingest")]
    pub group: String,

    /// Most messages stored in one transaction.
    #[arg(long, env = "PG_SLO_INGEST_BATCH_SIZE", default_value_t = 500,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub batch_size: u32,

    /// After a batch's first message, how long to wait for more before storing it (milliseconds).
    #[arg(long, env = "PG_SLO_INGEST_BATCH_WAIT_MS", default_value_t = 100)]
    pub batch_wait_ms: u64,

    /// The longest pause between two tries while the database is unavailable (seconds).
    #[arg(long, env = "PG_SLO_INGEST_MAX_BACKOFF_SECS", default_value_t = 30)]
    pub max_backoff_secs: u64,

    /// Seconds to wait for a database connection before a try counts as failed.
    #[arg(long, env = "PG_SLO_DB_TIMEOUT_SECS", default_value_t = 5)]
    pub db_timeout_secs: u64,
}

/// Runs the command until `shutdown` completes (SIGTERM or Ctrl-C in `main`).
pub async fn run(args: &IngestArgs, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    match &args.source {
        IngestSource::Kafka(kafka) => run_kafka(kafka, shutdown).await,
    }
}

async fn run_kafka(
    args: &KafkaIngestArgs,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    anyhow::ensure!(!args.group.trim().is_empty(), "--group must not be empty");
    let identity = args.auth.identity("pg-slo ingest kafka")?;
    let timeout = Duration::from_secs(args.db_timeout_secs.max(1));
    let pool = crate::store::build_pool(&args.database_url, 2, timeout)?;
    let settings = LoopSettings {
        group: args.group.clone(),
        topic: args.kafka.kafka_topic.clone(),
        batch_size: args.batch_size as usize,
        batch_wait: Duration::from_millis(args.batch_wait_ms),
        max_backoff: Duration::from_secs(args.max_backoff_secs.max(1)),
        identity,
    };
    let config = args.kafka.client_config("pg-slo-ingest")?;
    let runtime = tokio::runtime::Handle::current();
    let consumer = consumer::build_consumer(config, pool.clone(), runtime.clone(), &settings)
        .context("creating the Kafka consumer")?;
    let stop = Arc::new(AtomicBool::new(false));
    let worker = {
        let (pool, stop) = (pool.clone(), stop.clone());
        std::thread::Builder::new()
            .name("pg-slo-ingest".into())
            .spawn(move || consumer::run(consumer, pool, runtime, settings, stop))
            .context("starting the consumer thread")?
    };
    let finished = tokio::task::spawn_blocking(move || worker.join());
    tokio::pin!(finished);
    tokio::select! {
        joined = &mut finished => {
            // The loop only ends by itself on a panic.
            joined.context("joining the consumer thread")?
                .map_err(|_| anyhow::anyhow!("the consumer thread panicked"))?;
            return Ok(());
        }
        () = shutdown => {
            tracing::info!("shutdown requested: finishing the batch in flight");
            stop.store(true, Ordering::SeqCst);
        }
    }
    // The batch in flight is stored (or given up when the database is down), then the consumer
    // leaves the group; librdkafka's close is bounded here, since it can hang on a dead broker.
    match tokio::time::timeout(Duration::from_secs(30), finished).await {
        Ok(joined) => {
            joined
                .context("joining the consumer thread")?
                .map_err(|_| anyhow::anyhow!("the consumer thread panicked"))?;
            tracing::info!("pg-slo ingest stopped");
        }
        Err(_) => tracing::warn!("the Kafka consumer did not close within 30 s; exiting anyway"),
    }
    pool.close();
    Ok(())
}
