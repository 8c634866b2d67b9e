//! The consumer's repository: one poll's messages stored in ONE transaction with the consumer
//! position (`slo.ingest_position`), the events (through the one writer of events,
//! [`crate::event_writer::insert`]) and the dead letters (`slo.ingest_dead_letter`).
//!
//! May touch PostgreSQL only. Writes `slo.ingest_position` and `slo.ingest_dead_letter`, and
//! `slo.job_status` through [`crate::event_writer`] only; asks `slo.job_ownership_problems`
//! (through it) about the ownership rule, and `slo.denied_applications` what each event's client
//! may not post for (authentication on).
//!
//! A constraint of the database that the product does not check itself (a DBA's `CHECK`)
//! refuses a message for good, as the API's `422` does: the batch is stored again with each
//! event in a savepoint of its own, and the refused ones become dead letters (reason
//! `database_constraint`).
//!
//! Fencing: the transaction locks the position rows of the batch's partitions first and skips
//! every message below them. A consumer that lost a partition in a rebalance and still stores
//! its last batch, and the consumer that got it, are serialised on that row: whichever commits
//! second finds the messages already behind the position. So a message is stored or
//! dead-lettered once, whatever the rebalances.

use super::message::{ownership_unstorable, Unstorable};
use crate::auth::writer::WriterIdentity;
use crate::event_writer::{self, Inserted, Poster};
use crate::store::denied_applications;
use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Pool, PoolError};
use slo_core::event::denied_violations;
use slo_core::JobStatusEvent;
use std::collections::{BTreeMap, HashMap};
use tracing::instrument;

/// One Kafka message, decoded.
#[derive(Debug, Clone)]
pub struct Received {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
    pub timestamp: Option<DateTime<Utc>>,
    /// The client the API authenticated, when the API published it (publishing mode).
    pub client_id: Option<String>,
    pub decoded: Result<JobStatusEvent, Unstorable>,
}

/// What one stored batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Events added to `slo.job_status`.
    pub stored: u64,
    /// Valid events that were already there (a repeated delivery).
    pub duplicates: u64,
    /// Messages put in `slo.ingest_dead_letter`.
    pub dead_lettered: u64,
    /// Messages behind the stored position (already handled by this or another consumer).
    pub skipped: u64,
    /// The position of each partition after the batch: the next offset to read.
    pub next_offsets: BTreeMap<i32, i64>,
}

/// Why a batch was not stored. Nothing of it was committed; the caller retries the same batch.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No connection could be had (the database is down or unreachable).
    #[error("no database connection: {0}")]
    Pool(#[from] PoolError),
    /// A statement failed; `transient` says whether it passes by itself (see `store::is_transient`).
    #[error("database error: {source}")]
    Database {
        source: tokio_postgres::Error,
        transient: bool,
    },
    /// The ownership of a job changed between the check and the insert (a concurrent writer
    /// registered it): check again.
    #[error("a job was registered concurrently under another application; checking again")]
    OwnershipChanged,
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(source: tokio_postgres::Error) -> Self {
        let transient = crate::store::is_transient(&source);
        StoreError::Database { source, transient }
    }
}

/// The positions of `partitions` stored for the group and topic (partitions never stored are
/// absent).
#[instrument(skip(pool))]
pub async fn positions(
    pool: &Pool,
    group: &str,
    topic: &str,
    partitions: &[i32],
) -> Result<HashMap<i32, i64>, StoreError> {
    let client = pool.get().await?;
    let rows = client
        .query(
            "SELECT partition, next_offset FROM slo.ingest_position \
             WHERE consumer_group = $1 AND topic = $2 AND partition = ANY($3)",
            &[&group, &topic, &partitions],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Stores one poll's messages of `topic` (any partitions, in offset order per partition) in one
/// transaction; returns what it did. Nothing is committed on error.
#[instrument(skip_all, fields(messages = batch.len()))]
pub async fn store_batch(
    pool: &Pool,
    group: &str,
    topic: &str,
    batch: &[Received],
    identity: &WriterIdentity,
) -> Result<BatchOutcome, StoreError> {
    match store_batch_as(pool, group, topic, batch, identity, Insert::Together).await? {
        Some(outcome) => Ok(outcome),
        // A constraint of the database refused the events stored together (nothing of the
        // batch was committed): again, each event alone, so that only the refused ones become
        // dead letters.
        None => store_batch_as(pool, group, topic, batch, identity, Insert::EachAlone)
            .await?
            .ok_or(StoreError::OwnershipChanged),
    }
}

/// An event to store, with the message it came in.
type Posted<'m> = (&'m Received, JobStatusEvent);

/// How the events of a batch are inserted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Insert {
    /// One statement per client: the cheapest. A constraint of the database that refuses it
    /// makes the batch answer `None` (nothing committed).
    Together,
    /// One statement per event, each in a savepoint: an event a constraint of the database
    /// refuses becomes a dead letter.
    EachAlone,
}

/// [`store_batch`], the events inserted as `insert` says; `None` when a constraint of the
/// database refused events inserted together (nothing committed).
async fn store_batch_as(
    pool: &Pool,
    group: &str,
    topic: &str,
    batch: &[Received],
    identity: &WriterIdentity,
    insert: Insert,
) -> Result<Option<BatchOutcome>, StoreError> {
    let mut client = pool.get().await?;
    let mut tx = client.transaction().await?;

    // 1. Lock the partitions' positions (creating them at 0), in partition order.
    let mut partitions: Vec<i32> = batch.iter().map(|m| m.partition).collect();
    partitions.sort_unstable();
    partitions.dedup();
    tx.execute(
        "INSERT INTO slo.ingest_position (consumer_group, topic, partition, next_offset) \
         SELECT $1, $2, p, 0 FROM unnest($3::int[]) AS p ORDER BY p \
         ON CONFLICT (consumer_group, topic, partition) DO NOTHING",
        &[&group, &topic, &partitions],
    )
    .await?;
    let rows = tx
        .query(
            "SELECT partition, next_offset FROM slo.ingest_position \
             WHERE consumer_group = $1 AND topic = $2 AND partition = ANY($3) \
             ORDER BY partition FOR UPDATE",
            &[&group, &topic, &partitions],
        )
        .await?;
    let stored_at: HashMap<i32, i64> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();

    // 2. Skip what is behind the positions; split the rest into events and dead letters.
    let mut outcome = BatchOutcome::default();
    let mut fresh: Vec<&Received> = Vec::with_capacity(batch.len());
    for m in batch {
        if m.offset < stored_at.get(&m.partition).copied().unwrap_or(0) {
            outcome.skipped += 1;
        } else {
            fresh.push(m);
        }
    }
    let events: Vec<JobStatusEvent> = fresh
        .iter()
        .filter_map(|m| m.decoded.as_ref().ok().cloned())
        .collect();

    // 3. The ownership check, inside the transaction: refused events become dead letters.
    let violations = if events.is_empty() {
        Vec::new()
    } else {
        event_writer::ownership(&tx, &events).await?
    };
    let mut refused: BTreeMap<usize, Vec<&slo_core::Violation>> = BTreeMap::new();
    for v in &violations {
        if let Some(i) = v.index {
            refused.entry(i).or_default().push(v);
        }
    }
    let mut dead: Vec<(&Received, Unstorable)> = Vec::new();
    // The good events, by the client they are posted as: the client the API published them
    // for, else the consumer's own (--client-id); None only when authentication is off.
    let mut good: BTreeMap<Option<&str>, Vec<(&Received, &JobStatusEvent)>> = BTreeMap::new();
    let mut event_index = 0;
    for m in &fresh {
        match &m.decoded {
            Err(unstorable) => dead.push((m, unstorable.clone())),
            Ok(event) => {
                match refused.get(&event_index) {
                    Some(v) => dead.push((m, ownership_unstorable(v))),
                    None => good
                        .entry(m.client_id.as_deref().or(identity.client_id()))
                        .or_default()
                        .push((m, event)),
                }
                event_index += 1;
            }
        }
    }

    // 4. Authorization, inside the transaction: with authentication on, the extension is asked
    //    what each client may not post for, and those events become dead letters.
    let mut allowed: Vec<(Option<&str>, Vec<Posted>)> = Vec::with_capacity(good.len());
    for (client_id, received) in good {
        let events: Vec<JobStatusEvent> = received.iter().map(|(_, e)| (*e).clone()).collect();
        let denied = match (identity, client_id) {
            (WriterIdentity::Client(_), Some(c)) => denied_applications(&tx, c, &events).await?,
            _ => Vec::new(),
        };
        let c = client_id.unwrap_or_default();
        let mut refused_at: HashMap<usize, slo_core::Violation> =
            denied_violations(&events, c, &denied)
                .into_iter()
                .filter_map(|v| v.index.map(|i| (i, v)))
                .collect();
        let mut kept = Vec::with_capacity(events.len());
        for (i, ((m, _), event)) in received.iter().zip(events).enumerate() {
            match refused_at.remove(&i) {
                Some(v) => dead.push((m, Unstorable::unauthorized(&v))),
                None => kept.push((*m, event)),
            }
        }
        if !kept.is_empty() {
            allowed.push((client_id, kept));
        }
    }

    // 5. The events, through the one writer of events, with the client each is posted as. The
    //    extension is not asked here (the API asked it before publishing): a refusal by the
    //    ownership rule means a job's owner changed since step 3.
    for (client_id, received) in &allowed {
        let poster = match client_id {
            Some(c) => Poster::Allowed(c),
            None => Poster::Anonymous,
        };
        if insert == Insert::Together {
            let events: Vec<JobStatusEvent> = received.iter().map(|(_, e)| e.clone()).collect();
            match event_writer::insert(&tx, &events, poster).await? {
                Inserted::Stored(o) => {
                    outcome.stored += o.accepted;
                    outcome.duplicates += o.duplicates;
                }
                Inserted::Refused | Inserted::Denied(_) => {
                    return Err(StoreError::OwnershipChanged)
                }
                Inserted::Constraint(_) => return Ok(None),
            }
            continue;
        }
        for (m, event) in received {
            match event_writer::insert_alone(&mut tx, event, poster).await? {
                Inserted::Stored(o) => {
                    outcome.stored += o.accepted;
                    outcome.duplicates += o.duplicates;
                }
                Inserted::Refused | Inserted::Denied(_) => {
                    return Err(StoreError::OwnershipChanged)
                }
                Inserted::Constraint(c) => {
                    dead.push((*m, Unstorable::database_constraint(&c.violation(1))));
                }
            }
        }
    }

    // 6. The dead letters, once each.
    if !dead.is_empty() {
        outcome.dead_lettered = insert_dead_letters(&tx, group, topic, &dead).await?;
    }

    // 7. The positions move past every message of the batch.
    for m in batch {
        let next = outcome.next_offsets.entry(m.partition).or_insert(0);
        *next = (*next).max(m.offset + 1);
    }
    let (parts, nexts): (Vec<i32>, Vec<i64>) = outcome
        .next_offsets
        .iter()
        .map(|(p, n)| (*p, (*n).max(stored_at.get(p).copied().unwrap_or(0))))
        .unzip();
    tx.execute(
        "UPDATE slo.ingest_position p SET next_offset = v.next_offset, updated_at = now() \
         FROM unnest($3::int[], $4::bigint[]) AS v(partition, next_offset) \
         WHERE p.consumer_group = $1 AND p.topic = $2 AND p.partition = v.partition \
           AND p.next_offset < v.next_offset",
        &[&group, &topic, &parts, &nexts],
    )
    .await?;
    tx.commit().await?;
    outcome.next_offsets = parts.into_iter().zip(nexts).collect();
    Ok(Some(outcome))
}

async fn insert_dead_letters<C: GenericClient>(
    client: &C,
    group: &str,
    topic: &str,
    dead: &[(&Received, Unstorable)],
) -> Result<u64, tokio_postgres::Error> {
    let partition: Vec<i32> = dead.iter().map(|(m, _)| m.partition).collect();
    let offset: Vec<i64> = dead.iter().map(|(m, _)| m.offset).collect();
    let key: Vec<Option<&[u8]>> = dead.iter().map(|(m, _)| m.key.as_deref()).collect();
    let payload: Vec<Option<&[u8]>> = dead.iter().map(|(m, _)| m.payload.as_deref()).collect();
    let reason: Vec<&str> = dead.iter().map(|(_, u)| u.reason.code()).collect();
    let problems: Vec<serde_json::Value> = dead.iter().map(|(_, u)| u.problems_json()).collect();
    let time: Vec<Option<DateTime<Utc>>> = dead.iter().map(|(m, _)| m.timestamp).collect();
    for (m, u) in dead {
        tracing::warn!(
            partition = m.partition,
            offset = m.offset,
            reason = u.reason.code(),
            problems = %u.problems_json(),
            "message dead-lettered"
        );
    }
    client
        .execute(
            "INSERT INTO slo.ingest_dead_letter \
               (consumer_group, topic, partition, message_offset, message_key, payload, reason, problems, message_time) \
             SELECT $1, $2, d.* FROM unnest($3::int[], $4::bigint[], $5::bytea[], $6::bytea[], $7::text[], $8::jsonb[], $9::timestamptz[]) \
               AS d(partition, message_offset, message_key, payload, reason, problems, message_time) \
             ORDER BY d.partition, d.message_offset \
             ON CONFLICT ON CONSTRAINT ingest_dead_letter_message_key DO NOTHING",
            &[&group, &topic, &partition, &offset, &key, &payload, &reason, &problems, &time],
        )
        .await
}
