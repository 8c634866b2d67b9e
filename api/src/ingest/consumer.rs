//! The Kafka consumer loop of `pg-slo ingest kafka`.
//!
//! Touches Kafka (as a member of the consumer group) and, through [`super::store`], PostgreSQL.
//!
//! One OS thread polls librdkafka (`BaseConsumer`), so a rebalance callback only ever runs
//! between two batches: a batch is stored, or given up, before its partitions are handed over.
//! For each poll (up to `batch_size` messages, or what came within `batch_wait`):
//!   1. decode every message with the API's rules;
//!   2. store the batch in one PostgreSQL transaction with the new positions (`store_batch`);
//!      while the database cannot be reached, retry the same batch with backoff (no message is
//!      ever dead-lettered for a database error, and none is skipped);
//!   3. only then commit the Kafka offsets (synchronously), so the group's lag is visible with
//!      the usual tools (`kafka-consumer-groups --describe`).
//!
//! On assignment, each partition starts at its position in PostgreSQL (set in the assignment
//! before librdkafka fetches); partitions never stored start at the group's committed offset,
//! or at the earliest message.

use super::message::decode;
use super::store::{positions, store_batch, BatchOutcome, Received, StoreError};
use crate::auth::writer::WriterIdentity;
use crate::kafka::{error_to_tracing, log_to_tracing};
use chrono::{TimeZone, Utc};
use deadpool_postgres::Pool;
use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{Offset, TopicPartitionList};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::runtime::Handle;

/// How the loop runs.
#[derive(Debug, Clone)]
pub struct LoopSettings {
    pub group: String,
    pub topic: String,
    pub batch_size: usize,
    pub batch_wait: Duration,
    /// The longest pause between two tries of a batch the database refused.
    pub max_backoff: Duration,
    /// Who directly produced events are posted as (`--client-id`), or nobody.
    pub identity: WriterIdentity,
}

/// The consumer's context: librdkafka's log into `tracing`, and the assignment taken from the
/// positions in PostgreSQL.
pub struct IngestContext {
    pool: Pool,
    runtime: Handle,
    group: String,
    topic: String,
}

impl ClientContext for IngestContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        log_to_tracing(level, fac, log_message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        error_to_tracing(&error, reason);
    }
}

impl IngestContext {
    /// Sets each assigned partition's starting offset to its position in PostgreSQL. When the
    /// database cannot be read, the partitions start at the group's committed offset, which is
    /// never ahead of PostgreSQL (it is committed after it), and the store's fencing skips what
    /// was already stored.
    fn start_from_positions(&self, tpl: &mut TopicPartitionList) {
        let partitions: Vec<i32> = tpl
            .elements()
            .iter()
            .filter(|e| e.topic() == self.topic)
            .map(|e| e.partition())
            .collect();
        if partitions.is_empty() {
            return;
        }
        let read = self.runtime.block_on(async {
            tokio::time::timeout(
                Duration::from_secs(10),
                positions(&self.pool, &self.group, &self.topic, &partitions),
            )
            .await
        });
        match read {
            Ok(Ok(stored)) => {
                for (partition, next) in &stored {
                    if let Err(e) =
                        tpl.set_partition_offset(&self.topic, *partition, Offset::Offset(*next))
                    {
                        tracing::warn!(partition, error = %e, "cannot set the starting offset");
                    }
                }
                tracing::info!(
                    topic = %self.topic,
                    partitions = ?partitions,
                    positions = ?stored,
                    "partitions assigned; starting from the positions stored in PostgreSQL"
                );
            }
            Ok(Err(e)) => tracing::warn!(
                partitions = ?partitions, error = %e,
                "partitions assigned, but their positions cannot be read: starting from the group's committed offsets"
            ),
            Err(_) => tracing::warn!(
                partitions = ?partitions,
                "partitions assigned, but reading their positions timed out: starting from the group's committed offsets"
            ),
        }
    }
}

impl ConsumerContext for IngestContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        let result = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                self.start_from_positions(tpl);
                if cooperative {
                    consumer.incremental_assign(tpl)
                } else {
                    consumer.assign(tpl)
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let revoked: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
                tracing::info!(topic = %self.topic, partitions = ?revoked, "partitions revoked");
                if cooperative {
                    consumer.incremental_unassign(tpl)
                } else {
                    consumer.unassign()
                }
            }
            other => {
                tracing::error!(error = ?other, "rebalance failed; dropping the assignment");
                consumer.unassign()
            }
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "applying the new assignment failed");
        }
    }
}

/// Builds the consumer: a member of `group`, with automatic offset commits off (offsets are
/// committed after the database) and reading from the earliest message when a partition has
/// no position anywhere.
pub fn build_consumer(
    mut config: ClientConfig,
    pool: Pool,
    runtime: Handle,
    settings: &LoopSettings,
) -> anyhow::Result<BaseConsumer<IngestContext>> {
    // Defaults first; the operator's -X properties were set already and win, except the two
    // that "nothing lost" depends on.
    for (key, value) in [
        ("auto.offset.reset", "earliest"),
        ("session.timeout.ms", "10000"),
    ] {
        if config.get(key).is_none() {
            config.set(key, value);
        }
    }
    config
        .set("group.id", &settings.group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false");
    let context = IngestContext {
        pool,
        runtime,
        group: settings.group.clone(),
        topic: settings.topic.clone(),
    };
    let consumer: BaseConsumer<IngestContext> = config.create_with_context(context)?;
    consumer.subscribe(&[&settings.topic])?;
    Ok(consumer)
}

/// Totals since start, logged when the loop ends.
#[derive(Debug, Default)]
struct Totals {
    batches: u64,
    stored: u64,
    duplicates: u64,
    dead_lettered: u64,
    skipped: u64,
}

/// Runs until `stop` is set: poll, store, commit. Blocks the calling thread (not a runtime
/// worker); database work runs on `runtime`. Returns after the batch in flight is stored and
/// committed, or, when the database is down at shutdown, given up uncommitted (it is read again
/// by the next consumer of its partitions).
pub fn run(
    consumer: BaseConsumer<IngestContext>,
    pool: Pool,
    runtime: Handle,
    settings: LoopSettings,
    stop: Arc<AtomicBool>,
) {
    let mut totals = Totals::default();
    tracing::info!(
        group = %settings.group, topic = %settings.topic,
        batch_size = settings.batch_size, batch_wait_ms = settings.batch_wait.as_millis() as u64,
        "ingest consumer started"
    );
    while !stop.load(Ordering::SeqCst) {
        let batch = collect(&consumer, &settings, &stop);
        if batch.is_empty() {
            continue;
        }
        let Some(outcome) = store_with_retry(&pool, &runtime, &settings, &batch, &stop) else {
            tracing::warn!(
                messages = batch.len(),
                "shutdown while the database is unavailable: the batch is not stored and will be read again"
            );
            break;
        };
        commit_offsets(&consumer, &settings.topic, &outcome);
        totals.batches += 1;
        totals.stored += outcome.stored;
        totals.duplicates += outcome.duplicates;
        totals.dead_lettered += outcome.dead_lettered;
        totals.skipped += outcome.skipped;
        tracing::info!(
            messages = batch.len(),
            stored = outcome.stored,
            duplicates = outcome.duplicates,
            dead_lettered = outcome.dead_lettered,
            skipped = outcome.skipped,
            positions = ?outcome.next_offsets,
            "batch stored"
        );
    }
    tracing::info!(
        batches = totals.batches,
        stored = totals.stored,
        duplicates = totals.duplicates,
        dead_lettered = totals.dead_lettered,
        skipped = totals.skipped,
        "ingest consumer stopping: leaving the group"
    );
    // Leaving the group hands the partitions over at once (instead of after the session
    // timeout). librdkafka's close may block on an unreachable broker: the caller bounds it.
    consumer.unsubscribe();
    drop(consumer);
}

/// Polls up to `batch_size` messages: waits for the first (checking `stop` twice a second),
/// then takes what arrives within `batch_wait`. Kafka errors are logged; librdkafka retries.
fn collect(
    consumer: &BaseConsumer<IngestContext>,
    settings: &LoopSettings,
    stop: &AtomicBool,
) -> Vec<Received> {
    let mut batch = Vec::new();
    let mut deadline: Option<Instant> = None;
    while batch.len() < settings.batch_size && !stop.load(Ordering::SeqCst) {
        let timeout = match deadline {
            None => Duration::from_millis(500),
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => left,
                _ => break,
            },
        };
        match consumer.poll(timeout) {
            None if deadline.is_none() => continue,
            None => break,
            Some(Err(e)) => {
                tracing::warn!(error = %e, "Kafka consumer error");
                if deadline.is_none() {
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
            Some(Ok(m)) => {
                if m.topic() != settings.topic {
                    continue;
                }
                let payload = m.payload().map(<[u8]>::to_vec);
                let received = Received {
                    partition: m.partition(),
                    offset: m.offset(),
                    key: m.key().map(<[u8]>::to_vec),
                    timestamp: m
                        .timestamp()
                        .to_millis()
                        .and_then(|ms| Utc.timestamp_millis_opt(ms).single()),
                    client_id: client_of(&m),
                    decoded: decode(payload.as_deref(), Utc::now()),
                    payload,
                };
                batch.push(received);
                deadline.get_or_insert_with(|| Instant::now() + settings.batch_wait);
            }
        }
    }
    batch
}

/// Stores the batch, retrying with backoff (200 ms doubling up to `max_backoff`) while the
/// database refuses; `None` when `stop` is set before it could be stored.
fn store_with_retry(
    pool: &Pool,
    runtime: &Handle,
    settings: &LoopSettings,
    batch: &[Received],
    stop: &AtomicBool,
) -> Option<BatchOutcome> {
    let mut backoff = Duration::from_millis(200);
    let mut failures = 0u32;
    // A concurrent registration is checked again at once, a few times; more (which the checks
    // should make impossible) waits like any other refusal instead of spinning.
    let mut ownership_changes = 0u32;
    loop {
        let result = runtime.block_on(store_batch(
            pool,
            &settings.group,
            &settings.topic,
            batch,
            &settings.identity,
        ));
        let err = match result {
            Ok(outcome) => {
                if failures > 0 {
                    tracing::info!(failures, "database reachable again: consumption resumes");
                }
                return Some(outcome);
            }
            Err(StoreError::OwnershipChanged) if ownership_changes < 3 => {
                ownership_changes += 1;
                tracing::info!("a job's owner changed during the batch: checking it again");
                continue;
            }
            Err(e) => e,
        };
        failures += 1;
        match &err {
            StoreError::Database {
                transient: false, ..
            }
            | StoreError::OwnershipChanged => tracing::error!(
                error = %err, failures, retry_in_ms = backoff.as_millis() as u64,
                "the database refused the batch; consumption is paused and the batch retried (nothing is skipped)"
            ),
            _ => tracing::warn!(
                error = %err, failures, retry_in_ms = backoff.as_millis() as u64,
                "database unavailable: consumption is paused and the batch retried"
            ),
        }
        let until = Instant::now() + backoff;
        while Instant::now() < until {
            if stop.load(Ordering::SeqCst) {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        backoff = (backoff * 2).min(settings.max_backoff);
    }
}

/// Commits the batch's positions to Kafka, after the database commit. A failure only delays
/// what lag tools show: PostgreSQL holds the position that counts.
fn commit_offsets(consumer: &BaseConsumer<IngestContext>, topic: &str, outcome: &BatchOutcome) {
    let mut tpl = TopicPartitionList::new();
    for (partition, next) in &outcome.next_offsets {
        if let Err(e) = tpl.add_partition_offset(topic, *partition, Offset::Offset(*next)) {
            tracing::warn!(partition, error = %e, "cannot name the offset to commit");
        }
    }
    if let Err(e) = consumer.commit(&tpl, CommitMode::Sync) {
        tracing::warn!(
            error = %e,
            "committing offsets to Kafka failed (positions are safe in PostgreSQL; lag tools lag behind)"
        );
    }
}

/// The client id the API put in the message's header (publishing mode), when it is a valid
/// identifier; anything else is ignored with a warning (the event is stored without one).
fn client_of(m: &impl Message) -> Option<String> {
    let headers = m.headers()?;
    let header = headers
        .iter()
        .find(|h| h.key == crate::publish::CLIENT_ID_HEADER)?;
    let value = header.value.and_then(|v| std::str::from_utf8(v).ok());
    match value.map(slo_core::Identifier::parse) {
        Some(Ok(id)) => Some(id.into_string()),
        _ => {
            tracing::warn!(
                partition = m.partition(),
                offset = m.offset(),
                "ignoring a message's client id header that is not a valid identifier"
            );
            None
        }
    }
}
