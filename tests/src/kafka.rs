//! The test broker: `scripts/test.sh` starts tansu on loopback and exports its address as
//! `PG_SLO_TEST_KAFKA`. Each test makes topics of its own (unique names), so tests share the
//! broker without seeing each other's messages.

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::time::Duration;

/// The test broker's `host:port`.
pub fn broker() -> String {
    std::env::var("PG_SLO_TEST_KAFKA").unwrap_or_else(|_| {
        panic!(
            "PG_SLO_TEST_KAFKA is not set: run scripts/test.sh, which starts the test broker, \
             or start one (README, Tests) and export PG_SLO_TEST_KAFKA=127.0.0.1:PORT"
        )
    })
}

/// A new topic with `partitions` partitions and a unique name.
pub async fn create_topic(prefix: &str, partitions: i32) -> String {
    let name = format!("{prefix}-{}", uuid::Uuid::new_v4().simple());
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", broker())
        .create()
        .expect("an admin client");
    let results = admin
        .create_topics(
            &[NewTopic::new(&name, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .expect("the broker answers CreateTopics");
    for r in results {
        r.unwrap_or_else(|(topic, e)| panic!("creating topic {topic}: {e}"));
    }
    name
}

/// An idempotent producer with `acks=all`: a message is acknowledged once the broker has it.
pub struct Producer {
    inner: FutureProducer,
    topic: String,
}

impl Producer {
    pub fn new(topic: &str) -> Producer {
        let inner = ClientConfig::new()
            .set("bootstrap.servers", broker())
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("message.timeout.ms", "15000")
            .create()
            .expect("a producer");
        Producer {
            inner,
            topic: topic.to_owned(),
        }
    }

    /// Sends one message and waits for the broker's acknowledgement; returns (partition, offset).
    pub async fn send(&self, key: Option<&str>, payload: Option<&[u8]>) -> (i32, i64) {
        let mut record: FutureRecord<'_, str, [u8]> = FutureRecord::to(&self.topic);
        if let Some(k) = key {
            record = record.key(k);
        }
        if let Some(p) = payload {
            record = record.payload(p);
        }
        let delivery = self
            .inner
            .send(record, Duration::from_secs(15))
            .await
            .unwrap_or_else(|(e, _)| panic!("the broker did not acknowledge a message: {e}"));
        (delivery.partition, delivery.offset)
    }
}
