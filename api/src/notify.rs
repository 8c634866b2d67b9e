//! `pg-slo notify`: delivers the alerts the database raises (CONTRACT section 6) to operators.
//!
//! Each alert goes to every target of this notifier: the structured log (one line per alert, at
//! a level that fits its kind) and each configured webhook (a JSON POST). What was delivered is
//! recorded in `slo.alert_delivery`, one row per (alert, target):
//!
//! - the notifier LISTENs on `slo_alert` and also polls, so an alert raised while no notifier
//!   ran is delivered when one starts (alerts older than `--max-age-hours` are left alone);
//! - each delivery is claimed with `FOR UPDATE SKIP LOCKED` in its own transaction, which
//!   commits as soon as the target accepted it: several notifiers deliver each alert once, and
//!   a restart repeats nothing that was recorded. A crash between a webhook's answer and that
//!   commit can repeat one delivery; every POST carries `Idempotency-Key: pg-slo-alert-<id>` so
//!   a receiver can drop it;
//! - a failed POST (no answer, or not 2xx) is retried with exponential backoff, up to
//!   `--max-attempts`, then recorded as failed and logged at ERROR;
//! - muted alerts (an SLO muted for the business date) are recorded, never delivered.
//!
//! The database connection is re-made with backoff when it fails; nothing is lost meanwhile.
//! May touch PostgreSQL (reads `slo.alert`, writes `slo.alert_delivery`), the webhooks and the
//! log.

use crate::dbconn::DbArgs;
use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Args;
use futures_util::{stream, FutureExt, StreamExt};
use serde::Serialize;
use std::future::Future;
use std::str::FromStr;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, Client, NoTls};
use tracing::instrument;

/// The target every notifier has: its log.
pub const LOG_TARGET: &str = "log";

/// Settings of `pg-slo notify`.
#[derive(Debug, Clone, Args)]
pub struct NotifyArgs {
    #[command(flatten)]
    pub db: DbArgs,

    /// Webhook to POST each alert to, as JSON (http or https); repeat, or separate with commas.
    #[arg(long = "webhook", env = "PG_SLO_WEBHOOKS", value_delimiter = ',')]
    pub webhooks: Vec<String>,

    /// Attempts per webhook before a delivery is recorded as failed.
    #[arg(long, env = "PG_SLO_NOTIFY_MAX_ATTEMPTS", default_value_t = 12,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub max_attempts: u32,

    /// Wait before the first retry, in milliseconds; it doubles with each attempt, up to 10 minutes.
    #[arg(long, env = "PG_SLO_NOTIFY_RETRY_BASE_MS", default_value_t = 5_000)]
    pub retry_base_ms: u64,

    /// Alerts raised longer ago than this when first seen are not delivered.
    #[arg(long, env = "PG_SLO_NOTIFY_MAX_AGE_HOURS", default_value_t = 24)]
    pub max_age_hours: u32,

    /// Seconds between looks for due deliveries when no notification arrives.
    #[arg(long, env = "PG_SLO_NOTIFY_POLL_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub poll_secs: u64,

    /// Seconds a webhook may take to answer.
    #[arg(long, env = "PG_SLO_NOTIFY_WEBHOOK_TIMEOUT_SECS", default_value_t = 10)]
    pub webhook_timeout_secs: u64,
}

/// One alert, as delivered (the webhook's JSON body).
#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    pub alert_id: i64,
    pub slo_id: String,
    pub business_date: chrono::NaiveDate,
    pub period_start: String,
    pub kind: String,
    pub raised_at: DateTime<Utc>,
    pub detail: serde_json::Value,
}

/// A configured notifier.
pub struct Notifier {
    args: NotifyArgs,
    targets: Vec<String>,
    http: reqwest::Client,
}

impl Notifier {
    /// Checks the settings (each webhook an http or https URL).
    pub fn new(args: NotifyArgs) -> anyhow::Result<Notifier> {
        let mut targets = vec![LOG_TARGET.to_owned()];
        for url in &args.webhooks {
            let parsed = reqwest::Url::parse(url)
                .with_context(|| format!("--webhook {url:?} is not a URL"))?;
            anyhow::ensure!(
                matches!(parsed.scheme(), "http" | "https"),
                "--webhook {url:?} must be an http or https URL"
            );
            anyhow::ensure!(
                url != LOG_TARGET && !targets.contains(url),
                "--webhook {url:?} is given twice"
            );
            targets.push(url.clone());
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(args.webhook_timeout_secs.max(1)))
            .user_agent(concat!("pg-slo/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("building the HTTP client")?;
        Ok(Notifier {
            args,
            targets,
            http,
        })
    }

    /// Delivers until `shutdown` completes; the delivery in flight is finished first.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        tokio::pin!(shutdown);
        tracing::info!(targets = ?self.targets, "pg-slo notify started");
        let mut backoff = Duration::from_millis(500);
        loop {
            let session = tokio::select! {
                _ = &mut shutdown => break,
                s = self.connect() => s,
            };
            match session {
                Ok((mut client, mut notifications)) => {
                    backoff = Duration::from_millis(500);
                    match self
                        .serve(&mut client, &mut notifications, &mut shutdown)
                        .await
                    {
                        Ok(()) => break,
                        Err(e) => {
                            tracing::warn!(error = %format!("{e:#}"), "database session ended; reconnecting")
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), retry_in_ms = backoff.as_millis() as u64,
                                   "cannot reach the database; retrying")
                }
            }
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
        tracing::info!("pg-slo notify stopped");
        Ok(())
    }

    /// A connection that LISTENs on `slo_alert`, and the stream of its notifications (which
    /// ends when the connection does).
    async fn connect(&self) -> anyhow::Result<(Client, mpsc::UnboundedReceiver<()>)> {
        let mut config = tokio_postgres::Config::from_str(&self.args.db.database_url)
            .context("DATABASE_URL is not a valid connection string")?;
        config.application_name("pg-slo notify");
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        let (client, mut connection) = config
            .connect(NoTls)
            .await
            .context("connecting to the database")?;
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut messages = stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(message) = messages.next().await {
                match message {
                    Ok(AsyncMessage::Notification(_)) => {
                        let _ = tx.send(());
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "database connection failed");
                        break;
                    }
                }
            }
        });
        client
            .batch_execute("LISTEN slo_alert")
            .await
            .context("LISTEN slo_alert")?;
        Ok((client, rx))
    }

    /// Schedules and delivers, waking on notifications and every poll interval, until shutdown
    /// (`Ok`) or a database error (`Err`).
    async fn serve(
        &self,
        client: &mut Client,
        notifications: &mut mpsc::UnboundedReceiver<()>,
        shutdown: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
    ) -> anyhow::Result<()> {
        let skipped = self.count_too_old(client).await?;
        if skipped > 0 {
            tracing::warn!(
                alerts = skipped,
                max_age_hours = self.args.max_age_hours,
                "undelivered alerts older than the maximum age are left alone"
            );
        }
        loop {
            self.schedule(client).await?;
            loop {
                if shutdown.as_mut().now_or_never().is_some() {
                    return Ok(());
                }
                if !self.deliver_one(client).await? {
                    break;
                }
            }
            let wait = self.next_due_in(client).await?;
            tokio::select! {
                _ = shutdown.as_mut() => return Ok(()),
                n = notifications.recv() => {
                    if n.is_none() {
                        anyhow::bail!("the database connection closed");
                    }
                    // Several notifications may be queued: one look serves them all.
                    while notifications.try_recv().is_ok() {}
                }
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Undelivered alerts older than the maximum age (reported once per session).
    async fn count_too_old(&self, client: &Client) -> anyhow::Result<i64> {
        let row = client
            .query_one(
                "SELECT count(*) FROM slo.alert a
                 WHERE NOT a.muted AND a.raised_at < now() - make_interval(hours => $1)
                   AND a.raised_at >= now() - make_interval(hours => $1 * 8)
                   AND NOT EXISTS (SELECT 1 FROM slo.alert_delivery d
                                   WHERE d.alert_id = a.alert_id AND d.target = ANY($2))",
                &[&(self.args.max_age_hours as i32), &self.targets],
            )
            .await
            .context("counting old undelivered alerts")?;
        Ok(row.get(0))
    }

    /// Records a pending delivery to each target of every recent alert that has none.
    #[instrument(skip_all)]
    async fn schedule(&self, client: &Client) -> anyhow::Result<u64> {
        client
            .execute(
                "INSERT INTO slo.alert_delivery (alert_id, target)
                 SELECT a.alert_id, t.target
                 FROM slo.alert a CROSS JOIN unnest($1::text[]) AS t(target)
                 WHERE NOT a.muted AND a.raised_at >= now() - make_interval(hours => $2)
                   AND NOT EXISTS (SELECT 1 FROM slo.alert_delivery d
                                   WHERE d.alert_id = a.alert_id AND d.target = t.target)
                 ORDER BY a.alert_id, t.target
                 ON CONFLICT DO NOTHING",
                &[&self.targets, &(self.args.max_age_hours as i32)],
            )
            .await
            .context("scheduling deliveries")
    }

    /// How long until the next retry is due (at most the poll interval).
    async fn next_due_in(&self, client: &Client) -> anyhow::Result<Duration> {
        let poll = Duration::from_secs(self.args.poll_secs);
        let row = client
            .query_one(
                "SELECT extract(epoch FROM min(next_attempt_at) - now())::float8
                 FROM slo.alert_delivery WHERE state = 'pending' AND target = ANY($1)",
                &[&self.targets],
            )
            .await
            .context("looking for retries")?;
        Ok(match row.get::<_, Option<f64>>(0) {
            Some(secs) if secs <= 0.0 => Duration::from_millis(10),
            Some(secs) => Duration::from_secs_f64(secs).min(poll),
            None => poll,
        })
    }

    /// Claims one due delivery, makes it, records the outcome; false when none is due.
    async fn deliver_one(&self, client: &mut Client) -> anyhow::Result<bool> {
        let tx = client.transaction().await.context("beginning a delivery")?;
        let Some(row) = tx
            .query_opt(
                "SELECT d.alert_id, d.target, d.attempts, a.slo_id, a.business_date,
                        to_char(a.period_start, 'HH24:MI:SS'), a.kind, a.raised_at, a.detail
                 FROM slo.alert_delivery d JOIN slo.alert a ON a.alert_id = d.alert_id
                 WHERE d.state = 'pending' AND d.next_attempt_at <= now() AND d.target = ANY($1)
                 ORDER BY d.next_attempt_at, d.alert_id
                 LIMIT 1
                 FOR UPDATE OF d SKIP LOCKED",
                &[&self.targets],
            )
            .await
            .context("claiming a delivery")?
        else {
            tx.rollback().await.ok();
            return Ok(false);
        };
        let target: String = row.get(1);
        let attempts: i32 = row.get(2);
        let alert = Alert {
            alert_id: row.get(0),
            slo_id: row.get(3),
            business_date: row.get(4),
            period_start: row.get(5),
            kind: row.get(6),
            raised_at: row.get(7),
            detail: row.get(8),
        };
        let outcome = if target == LOG_TARGET {
            log_alert(&alert);
            Ok(())
        } else {
            self.post(&target, &alert).await
        };
        let attempts = attempts + 1;
        match outcome {
            Ok(()) => {
                tx.execute(
                    "UPDATE slo.alert_delivery
                     SET state = 'delivered', attempts = $3, delivered_at = now(), last_error = NULL
                     WHERE alert_id = $1 AND target = $2",
                    &[&alert.alert_id, &target, &attempts],
                )
                .await
                .context("recording a delivery")?;
                if target != LOG_TARGET {
                    tracing::info!(alert_id = alert.alert_id, target = %target, attempts, "alert delivered");
                }
            }
            Err(error) => {
                let give_up = attempts as u32 >= self.args.max_attempts;
                let wait_ms = self
                    .args
                    .retry_base_ms
                    .saturating_mul(1u64 << (attempts as u32 - 1).min(20))
                    .min(600_000) as f64;
                tx.execute(
                    "UPDATE slo.alert_delivery
                     SET state = CASE WHEN $4 THEN 'failed' ELSE 'pending' END, attempts = $3,
                         next_attempt_at = now() + make_interval(secs => $5), last_error = $6
                     WHERE alert_id = $1 AND target = $2",
                    &[
                        &alert.alert_id,
                        &target,
                        &attempts,
                        &give_up,
                        &(wait_ms / 1000.0),
                        &error,
                    ],
                )
                .await
                .context("recording a failed delivery")?;
                if give_up {
                    tracing::error!(alert_id = alert.alert_id, target = %target, attempts, error = %error,
                                    "alert not delivered: giving up");
                } else {
                    tracing::warn!(alert_id = alert.alert_id, target = %target, attempts, error = %error,
                                   retry_in_ms = wait_ms as u64, "alert delivery failed; will retry");
                }
            }
        }
        tx.commit().await.context("committing a delivery")?;
        Ok(true)
    }

    /// POSTs the alert; any answer but 2xx is a failure, described for the delivery record.
    async fn post(&self, url: &str, alert: &Alert) -> Result<(), String> {
        let response = self
            .http
            .post(url)
            .header(
                "idempotency-key",
                format!("pg-slo-alert-{}", alert.alert_id),
            )
            .json(alert)
            .send()
            .await
            .map_err(|e| format!("no answer: {e}"))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("answered {status}"))
        }
    }
}

/// One log line per alert, at a level that fits its kind: late and slack_breached are errors,
/// late_start and at_risk warnings, recovered information.
fn log_alert(alert: &Alert) {
    let detail = alert.detail.to_string();
    macro_rules! line {
        ($level:ident) => {
            tracing::$level!(
                alert_id = alert.alert_id,
                slo_id = %alert.slo_id,
                business_date = %alert.business_date,
                period_start = %alert.period_start,
                kind = %alert.kind,
                raised_at = %alert.raised_at.to_rfc3339(),
                detail = %detail,
                "SLO alert"
            )
        };
    }
    match alert.kind.as_str() {
        "late" | "slack_breached" => line!(error),
        "late_start" | "at_risk" => line!(warn),
        _ => line!(info),
    }
}

/// `pg-slo notify`: runs until SIGTERM or Ctrl-C.
pub async fn run(args: NotifyArgs) -> anyhow::Result<()> {
    Notifier::new(args)?
        .run_until(crate::startup::shutdown_signal())
        .await
}
