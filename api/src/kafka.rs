//! What the Kafka consumer (`pg-slo ingest kafka`) and the publishing API (`pg-slo serve
//! --publish`) share: the connection settings, and librdkafka's log and errors routed into
//! `tracing`. Touches nothing but the process arguments and the Kafka client's configuration.

use anyhow::Context;
use clap::Args;
use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::error::KafkaError;

/// The topic job-status events travel on, unless configured otherwise.
pub const DEFAULT_TOPIC: &str = "pg-slo.job-status";

/// Where the brokers are, and which topic carries job-status events.
#[derive(Debug, Clone, Args, Default)]
pub struct KafkaArgs {
    /// Kafka bootstrap servers, comma-separated `host:port` (librdkafka `bootstrap.servers`).
    #[arg(long, env = "PG_SLO_KAFKA_BROKERS")]
    pub kafka_brokers: Option<String>,

    /// The topic of job-status events: one event (the API's JSON object) per message.
    #[arg(long, env = "PG_SLO_KAFKA_TOPIC", default_value = DEFAULT_TOPIC)]
    pub kafka_topic: String,

    /// Any other librdkafka setting, as KEY=VALUE (repeatable; for example
    /// `security.protocol=ssl` or `ssl.ca.location=/etc/ssl/kafka-ca.pem`).
    #[arg(long = "kafka-property", short = 'X', value_name = "KEY=VALUE", value_parser = parse_property)]
    pub kafka_properties: Vec<(String, String)>,
}

fn parse_property(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

impl KafkaArgs {
    /// The client configuration: brokers, then the operator's own properties (which win).
    pub fn client_config(&self, client_id: &str) -> anyhow::Result<ClientConfig> {
        let brokers = self
            .kafka_brokers
            .as_deref()
            .filter(|b| !b.trim().is_empty())
            .context("--kafka-brokers (PG_SLO_KAFKA_BROKERS) is required")?;
        anyhow::ensure!(
            !self.kafka_topic.trim().is_empty(),
            "--kafka-topic must not be empty"
        );
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", brokers)
            .set("client.id", client_id)
            .set_log_level(RDKafkaLogLevel::Info);
        for (key, value) in &self.kafka_properties {
            config.set(key, value);
        }
        Ok(config)
    }
}

/// A client context that sends librdkafka's log lines and client errors to `tracing`
/// (target `librdkafka`), so they land in the service's structured log.
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingContext;

impl ClientContext for TracingContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        log_to_tracing(level, fac, log_message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        error_to_tracing(&error, reason);
    }
}

/// librdkafka's log line as a `tracing` event.
pub fn log_to_tracing(level: RDKafkaLogLevel, facility: &str, message: &str) {
    match level {
        RDKafkaLogLevel::Emerg
        | RDKafkaLogLevel::Alert
        | RDKafkaLogLevel::Critical
        | RDKafkaLogLevel::Error => {
            tracing::error!(target: "librdkafka", facility, "{message}")
        }
        RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", facility, "{message}"),
        RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
            tracing::info!(target: "librdkafka", facility, "{message}")
        }
        RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", facility, "{message}"),
    }
}

/// A client error of librdkafka (a broker down, a timeout) as a `tracing` event: a warning,
/// since the client retries by itself.
pub fn error_to_tracing(error: &KafkaError, reason: &str) {
    tracing::warn!(target: "librdkafka", error = %error, "{reason}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_properties_are_key_value_pairs_and_win_over_the_defaults() {
        let args = KafkaArgs {
            kafka_brokers: Some("127.0.0.1:9092".into()),
            kafka_topic: DEFAULT_TOPIC.into(),
            kafka_properties: vec![
                parse_property("client.id=mine").unwrap(),
                parse_property("sasl.password=a=b").unwrap(),
            ],
        };
        let config = args.client_config("pg-slo").unwrap();
        assert_eq!(config.get("bootstrap.servers"), Some("127.0.0.1:9092"));
        assert_eq!(config.get("client.id"), Some("mine"));
        assert_eq!(config.get("sasl.password"), Some("a=b"));
        assert!(parse_property("no-equals-sign").is_err());
        assert!(parse_property("=value").is_err());
    }

    #[test]
    fn brokers_are_required_to_build_a_client() {
        let err = KafkaArgs::default().client_config("pg-slo").unwrap_err();
        assert!(err.to_string().contains("--kafka-brokers"), "{err}");
    }
}
