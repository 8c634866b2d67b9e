//! Phase 4: `POST /v1/job-status` publishes valid events to Kafka instead of inserting them,
//! and answers `202` once the broker has acknowledged every one; `pg-slo ingest kafka` stores
//! them. Touches Kafka only (as an idempotent producer with `acks=all`).
//!
//! Each event is one message, keyed by its job id (a job's events stay in one partition, in
//! the order they were posted), its value the event in the API's JSON shape, normalised: the
//! instant in UTC to the microsecond, `period_start` as `HH:MM:SS`.

use crate::kafka::{KafkaArgs, TracingContext};
use anyhow::Context;
use clap::Args;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;
use serde_json::{json, Value};
use slo_core::JobStatusEvent;
use std::time::Duration;
use tracing::instrument;

/// Settings of the publishing mode of `pg-slo serve`.
#[derive(Debug, Clone, Args, Default)]
pub struct PublishArgs {
    /// Publish valid events to Kafka instead of inserting them: POST /v1/job-status answers 202
    /// once the broker acknowledged them (acks=all), and `pg-slo ingest kafka` stores them.
    #[arg(long = "publish", env = "PG_SLO_PUBLISH")]
    pub enabled: bool,

    #[command(flatten)]
    pub kafka: KafkaArgs,

    /// Seconds the broker has to acknowledge a batch before the request gets 503.
    #[arg(long, env = "PG_SLO_KAFKA_ACK_TIMEOUT_SECS", default_value_t = 10)]
    pub kafka_ack_timeout_secs: u64,
}

/// The `202` body of publishing mode: how many events the broker acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct PublishOutcome {
    /// Events published and acknowledged (each is stored once by the consumer, repeated ones too).
    pub published: u64,
}

/// The idempotent producer of the API.
#[derive(Clone)]
pub struct Publisher {
    producer: FutureProducer<TracingContext>,
    topic: String,
}

impl Publisher {
    /// Creates the producer (connecting lazily: the API starts while the brokers are down).
    pub fn new(args: &PublishArgs) -> anyhow::Result<Publisher> {
        let ack_timeout = Duration::from_secs(args.kafka_ack_timeout_secs.max(1));
        let mut config = args.kafka.client_config("pg-slo-api")?;
        config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("message.timeout.ms", ack_timeout.as_millis().to_string());
        let producer: FutureProducer<TracingContext> = config
            .create_with_context(TracingContext)
            .context("creating the Kafka producer")?;
        Ok(Publisher {
            producer,
            topic: args.kafka.kafka_topic.clone(),
        })
    }

    /// Publishes every event and waits until the broker has acknowledged all of them. On an
    /// error some may have been published: the client retries the whole batch, and the
    /// consumer stores a repeated event once. The authenticated client's id travels in the
    /// message header [`CLIENT_ID_HEADER`], and the consumer stores it on the row.
    #[instrument(skip_all, fields(events = events.len(), topic = %self.topic))]
    pub async fn publish(
        &self,
        events: &[JobStatusEvent],
        client_id: Option<&str>,
    ) -> anyhow::Result<()> {
        let payloads: Vec<(String, Vec<u8>)> = events
            .iter()
            .map(|e| {
                let bytes = serde_json::to_vec(&event_json(e)).expect("an event serialises");
                (e.job_id().as_str().to_owned(), bytes)
            })
            .collect();
        // Every message is queued first (librdkafka sends them in batches), then every
        // acknowledgement awaited: the wait is the slowest acknowledgement, not their sum.
        // `message.timeout.ms` bounds each one.
        let mut pending = Vec::with_capacity(payloads.len());
        let mut failed = 0usize;
        let mut first_error: Option<anyhow::Error> = None;
        for (key, payload) in &payloads {
            match self.producer.send_result(with_client(
                FutureRecord::to(&self.topic).key(key).payload(payload),
                client_id,
            )) {
                Ok(delivery) => pending.push(delivery),
                Err((e, _)) => {
                    failed += 1;
                    first_error.get_or_insert_with(|| anyhow::Error::new(e));
                }
            }
        }
        for delivery in pending {
            let error = match delivery.await {
                Ok(Ok(_)) => continue,
                Ok(Err((e, _))) => anyhow::Error::new(e),
                Err(_) => anyhow::anyhow!("the producer was closed before the acknowledgement"),
            };
            failed += 1;
            first_error.get_or_insert(error);
        }
        match first_error {
            None => Ok(()),
            Some(e) => Err(e.context(format!(
                "{failed} of {} events not acknowledged by Kafka",
                events.len()
            ))),
        }
    }

    /// Waits (up to `timeout`) for messages still queued to be delivered, at shutdown.
    pub fn flush(&self, timeout: Duration) {
        if let Err(e) = self.producer.flush(Timeout::After(timeout)) {
            tracing::warn!(error = %e, "Kafka producer flush at shutdown");
        }
    }
}

/// The event in the API's JSON shape (what `slo_core::parse_events` reads back).
pub fn event_json(e: &JobStatusEvent) -> Value {
    let mut v = json!({
        "app_id": e.app_id().as_str(),
        "job_id": e.job_id().as_str(),
        "status": e.status().as_str(),
        "status_time": e.status_time().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "business_date": e.business_date().format("%Y-%m-%d").to_string(),
        "run_id": e.run_id().as_str(),
        "host_id": e.host_id().as_str(),
    });
    if let Some(p) = e.period_start() {
        v["period_start"] = json!(p.format("%H:%M:%S").to_string());
    }
    v
}

/// The Kafka message header that carries the id of the client the API authenticated. The
/// consumer trusts it: whoever may produce to the topic is trusted (grant that with the
/// broker's ACLs).
pub const CLIENT_ID_HEADER: &str = "pg-slo-client-id";

fn with_client<'a>(
    record: FutureRecord<'a, String, Vec<u8>>,
    client_id: Option<&'a str>,
) -> FutureRecord<'a, String, Vec<u8>> {
    match client_id {
        None => record,
        Some(id) => record.headers(OwnedHeaders::new().insert(Header {
            key: CLIENT_ID_HEADER,
            value: Some(id),
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    #[test]
    fn a_published_event_reads_back_as_the_same_event() {
        let now: DateTime<Utc> = "2026-11-24T12:00:00Z".parse().unwrap();
        let body = json!([
            {"app_id": "overdrafts", "job_id": "od-calc", "status": "start",
             "status_time": "2026-11-17T00:30:00.1234567-05:00", "business_date": "2026-11-16",
             "run_id": "run-1", "host_id": "batch01", "period_start": "06:30"},
            {"app_id": "deposits", "job_id": "txn-summary", "status": "fail",
             "status_time": "2026-11-17T10:00:00Z", "business_date": "2026-11-17",
             "run_id": "r2", "host_id": "h"}
        ]);
        let events = slo_core::parse_events(&body, now).unwrap().events;
        for e in &events {
            let again = slo_core::parse_events(&event_json(e), now).unwrap().events;
            assert_eq!(&again[0], e);
        }
        assert_eq!(
            event_json(&events[0])["status_time"],
            "2026-11-17T05:30:00.123456Z"
        );
        assert_eq!(event_json(&events[0])["period_start"], "06:30:00");
        assert!(event_json(&events[1]).get("period_start").is_none());
    }
}
