//! Group commit of single events: the one-event requests that arrive while others are being
//! stored go into the database together, one statement and one commit for all of them.
//!
//! Schedulers post one event per request, many at once at the start of a batch window. Stored
//! one by one, each request costs PostgreSQL a statement, a run of the trigger and a commit (a
//! WAL flush); here a few writer tasks take every single-event request waiting at the moment
//! they are free, insert them with one `INSERT ... SELECT FROM unnest(...)`, and answer each
//! request only once that statement has committed. Nothing waits for company: a request that
//! finds a writer free goes alone at once, so a quiet service answers as fast as before.
//!
//! Each request keeps its own answer. A single event is either new (`accepted`) or a repeat
//! (`duplicates`), so the one statement, autocommitted, is all or nothing for each request. A
//! repeat skips the trigger (`ON CONFLICT DO NOTHING`), so repeats are checked for their
//! application after the statement (`slo.job_ownership_problems`), as
//! [`crate::event_writer::insert`] does for one event. When the statement is refused as a whole
//! (the trigger found an unknown application or a job of another application among the new
//! events, or a constraint of the database failed it), nothing of it was stored and every
//! request of the group is stored alone, which answers each with its own `201` or `422`.
//!
//! Only events whose poster needs no question to the extension come here (authentication off,
//! or a client the extension allowed the event's application within the cache bound).
//!
//! Touches PostgreSQL (through the pool, and only with the statements of
//! [`crate::event_writer`]) and nothing else.

use crate::error::ApiError;
use crate::event_writer::{self, event_key, EventKey, InsertOutcome, Poster};
use crate::metrics::Metrics;
use crate::store;
use deadpool_postgres::Pool;
use slo_core::JobStatusEvent;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Mutex};

/// Events one statement takes at most.
pub const MAX_GROUP: usize = 256;

/// One waiting request: its event, who posts it, and where its answer goes.
struct Waiting {
    event: JobStatusEvent,
    client_id: Option<String>,
    answer: oneshot::Sender<Result<InsertOutcome, ApiError>>,
}

/// The queue of single events and the writers that store them. Cloning shares them.
#[derive(Clone)]
pub struct GroupCommit {
    queue: mpsc::Sender<Waiting>,
}

impl GroupCommit {
    /// Starts `writers` writer tasks (each uses one connection of `pool` while it stores a
    /// group). They stop when every clone of the returned value is dropped.
    pub fn start(pool: Pool, writers: usize, metrics: Arc<Metrics>) -> GroupCommit {
        let (queue, receiver) = mpsc::channel::<Waiting>(writers.max(1) * MAX_GROUP);
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..writers.max(1) {
            tokio::spawn(write_groups(
                pool.clone(),
                receiver.clone(),
                metrics.clone(),
            ));
        }
        GroupCommit { queue }
    }

    /// Stores one event of a poster already allowed (`Poster::Anonymous` or `Poster::Allowed`);
    /// answers once it is committed, as [`event_writer::store`] does.
    pub async fn insert(
        &self,
        event: &JobStatusEvent,
        client_id: Option<&str>,
    ) -> Result<InsertOutcome, ApiError> {
        let (answer, answered) = oneshot::channel();
        let waiting = Waiting {
            event: event.clone(),
            client_id: client_id.map(str::to_owned),
            answer,
        };
        if self.queue.send(waiting).await.is_err() {
            return Err(ApiError::Internal(anyhow::anyhow!(
                "the group commit writers have stopped"
            )));
        }
        answered.await.unwrap_or_else(|_| {
            Err(ApiError::Internal(anyhow::anyhow!(
                "a group commit writer stopped before answering"
            )))
        })
    }
}

/// A writer: takes the first waiting request and every other one waiting then (up to
/// [`MAX_GROUP`]), stores them, answers them; again, until the queue is closed.
async fn write_groups(
    pool: Pool,
    receiver: Arc<Mutex<mpsc::Receiver<Waiting>>>,
    metrics: Arc<Metrics>,
) {
    loop {
        let group = {
            let mut receiver = receiver.lock().await;
            let Some(first) = receiver.recv().await else {
                return;
            };
            let mut group = vec![first];
            while group.len() < MAX_GROUP {
                match receiver.try_recv() {
                    Ok(w) => group.push(w),
                    Err(_) => break,
                }
            }
            group
        };
        metrics.group_commit_statements.inc();
        metrics.group_commit_events.inc_by(group.len() as u64);
        // In a task of its own: were storing a group ever to panic, its requests would be
        // answered 500 (their answer senders dropped) and this writer would go on with the next.
        let pool = pool.clone();
        let stored = tokio::spawn(async move {
            let answers = store_group(&pool, &group).await;
            for (w, answer) in group.into_iter().zip(answers) {
                // A request given up meanwhile (its client went away) takes no answer.
                let _ = w.answer.send(answer);
            }
        });
        if let Err(e) = stored.await {
            tracing::error!(error = %e, "storing a group of single events failed; its requests were answered 500");
        }
    }
}

/// Stores a group; one answer per request, in order.
#[tracing::instrument(skip_all, fields(events = group.len()))]
async fn store_group(pool: &Pool, group: &[Waiting]) -> Vec<Result<InsertOutcome, ApiError>> {
    let mut client = match pool.get().await {
        Ok(c) => c,
        Err(e) => {
            let e = store::pool_error(e);
            return group.iter().map(|_| Err(shared(&e))).collect();
        }
    };
    if group.len() == 1 {
        return store_each_alone(&mut client, group).await;
    }
    let n = group.len();
    let rows: Vec<(&JobStatusEvent, Option<&str>)> = group
        .iter()
        .map(|w| (&w.event, w.client_id.as_deref()))
        .collect();
    let stored = event_writer::insert_group(&client, &rows).await;
    let rows = match stored {
        Ok(rows) => rows,
        // Refused as a whole (nothing stored): each request alone gets its own answer.
        Err(e) if e.code().is_some() => {
            tracing::debug!(error = %e, "group refused; storing its requests one by one");
            return store_each_alone(&mut client, group).await;
        }
        Err(e) => {
            let e = store::db_error(e);
            return group.iter().map(|_| Err(shared(&e))).collect();
        }
    };
    // Which requests the stored rows belong to (a request repeating another of the group is a
    // duplicate of it).
    let mut stored: HashMap<EventKey, usize> = HashMap::with_capacity(rows.len());
    for k in rows {
        *stored.entry(k).or_default() += 1;
    }
    let mut accepted = vec![false; n];
    let mut repeats: Vec<usize> = Vec::new();
    for (i, w) in group.iter().enumerate() {
        match stored.get_mut(&event_key(&w.event)) {
            Some(left) if *left > 0 => {
                *left -= 1;
                accepted[i] = true;
            }
            _ => repeats.push(i),
        }
    }
    // Repeats skipped the trigger: those naming an unknown application or a job of another
    // application are refused, as a first delivery would have been. They are asked about
    // together: a repeat's job is registered (its first delivery registered it), so each
    // answer is the one it would get alone.
    let mut refused: HashMap<usize, ApiError> = HashMap::new();
    if !repeats.is_empty() {
        let events: Vec<JobStatusEvent> = repeats.iter().map(|&i| group[i].event.clone()).collect();
        match event_writer::ownership(&client, &events).await {
            Ok(violations) => {
                let mut of_request: HashMap<usize, Vec<slo_core::Violation>> = HashMap::new();
                for mut v in violations {
                    let Some(k) = v.index else { continue };
                    v.index = Some(0);
                    of_request.entry(repeats[k]).or_default().push(v);
                }
                for (i, violations) in of_request {
                    let is_batch = false;
                    refused.insert(
                        i,
                        ApiError::Invalid {
                            is_batch,
                            violations,
                        },
                    );
                }
            }
            Err(e) => {
                let e = store::db_error(e);
                for &i in &repeats {
                    refused.insert(i, shared(&e));
                }
            }
        }
    }
    (0..n)
        .map(|i| match refused.remove(&i) {
            Some(e) => Err(e),
            None if accepted[i] => Ok(InsertOutcome {
                accepted: 1,
                duplicates: 0,
            }),
            None => Ok(InsertOutcome {
                accepted: 0,
                duplicates: 1,
            }),
        })
        .collect()
}

/// Stores each request of a group with a statement of its own, as without group commit.
async fn store_each_alone(
    client: &mut deadpool_postgres::Client,
    group: &[Waiting],
) -> Vec<Result<InsertOutcome, ApiError>> {
    let mut answers = Vec::with_capacity(group.len());
    for w in group {
        let poster = match &w.client_id {
            Some(c) => Poster::Allowed(c),
            None => Poster::Anonymous,
        };
        answers.push(event_writer::store_on(client, std::slice::from_ref(&w.event), poster).await);
    }
    answers
}

/// The same failure, for each request of a group.
fn shared(e: &ApiError) -> ApiError {
    match e {
        ApiError::DatabaseUnavailable(cause) => {
            ApiError::DatabaseUnavailable(anyhow::anyhow!("{cause:#}"))
        }
        other => ApiError::Internal(anyhow::anyhow!("{other}")),
    }
}
