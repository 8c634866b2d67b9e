//! Builds the application: pool, router, listener. `main` is a few lines over this, and tests
//! start the real application on port 0 and read back the port it bound.

use crate::auth::usage::UsageRecorder;
use crate::auth::Authenticator;
use crate::config::ServeConfig;
use crate::group_commit::GroupCommit;
use crate::limits::{time_limit, RateLimiter};
use crate::metrics::{self, Metrics};
use crate::observe::observe;
use crate::publish::Publisher;
use crate::routes::{health, job_status};
use crate::store;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use deadpool_postgres::Pool;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// What every handler may use.
#[derive(Clone)]
pub struct AppState {
    pub pool: Pool,
    pub body_limit: usize,
    pub metrics: Arc<Metrics>,
    pub auth: Arc<Authenticator>,
    /// `None`: no rate limit.
    pub rate_limiter: Option<Arc<RateLimiter>>,
    pub request_timeout: Duration,
    /// Set in publishing mode (`--publish`): events go to Kafka instead of the database.
    pub publisher: Option<Publisher>,
    /// Single events of concurrent requests stored together (none: each request alone).
    pub group_commit: Option<GroupCommit>,
}

/// The routes and their middleware: the request's span and log line outermost, then the time
/// limit, then the body limit.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/job-status", post(job_status::post_job_status))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::get_metrics))
        .route("/openapi.json", get(crate::openapi::get_openapi))
        .layer(DefaultBodyLimit::max(state.body_limit))
        .layer(axum::middleware::from_fn_with_state(
            state.request_timeout,
            time_limit,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(axum::middleware::from_fn(observe))
        .with_state(state)
}

/// A built, bound, not yet running service.
pub struct Application {
    listener: TcpListener,
    router: Router,
    pool: Pool,
    usage: Arc<UsageRecorder>,
    usage_reporter: JoinHandle<()>,
    publisher: Option<Publisher>,
}

impl Application {
    /// Creates the pool (connecting lazily) and binds the listener.
    pub async fn build(config: &ServeConfig) -> anyhow::Result<Self> {
        let pool = store::build_pool(
            &config.database_url,
            usize::from(config.pool_size),
            Duration::from_secs(config.db_timeout_secs.max(1)),
        )?;
        let auth = Authenticator::from_config(&config.auth, pool.clone())?;
        if auth.enabled() {
            tracing::info!(
                auth_cache_secs = config.auth.auth_cache_secs,
                jwt = auth.accepts_jwt(),
                "authentication on: POST /v1/job-status needs Authorization: Bearer <token>"
            );
        } else {
            tracing::warn!(
                "authentication is OFF (--insecure-no-auth): anyone who can reach this service may post \
                 job status for any application, and events are stored without a client id"
            );
        }
        let usage = auth.usage();
        let usage_reporter = tokio::spawn(report_token_use(
            usage.clone(),
            pool.clone(),
            Duration::from_secs(config.auth.token_use_flush_secs.max(1)),
        ));
        let publisher = if config.publish.enabled {
            Some(Publisher::new(&config.publish)?)
        } else {
            None
        };
        let listener = TcpListener::bind(config.listen).await?;
        let metrics = Arc::new(Metrics::new());
        let router = router(AppState {
            pool: pool.clone(),
            body_limit: config.body_limit,
            metrics: metrics.clone(),
            auth: Arc::new(auth),
            rate_limiter: RateLimiter::new(
                config.limits.rate_limit_per_sec,
                config.limits.rate_limit_burst,
            )
            .map(Arc::new),
            request_timeout: Duration::from_secs(config.limits.request_timeout_secs.max(1)),
            publisher: publisher.clone(),
            group_commit: (config.group_commit_writers > 0 && publisher.is_none()).then(|| {
                GroupCommit::start(
                    pool.clone(),
                    usize::from(config.group_commit_writers),
                    metrics,
                )
            }),
        });
        Ok(Application {
            listener,
            router,
            pool,
            usage,
            usage_reporter,
            publisher,
        })
    }

    /// The address actually bound (the port is real even when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` completes, then stops accepting, finishes the requests in
    /// flight, reports the last token use, and closes the pool.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let mode = if self.publisher.is_some() {
            "publish to Kafka"
        } else {
            "insert"
        };
        tracing::info!(addr = %self.local_addr(), mode, "pg-slo API listening");
        let result = axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await;
        self.usage_reporter.abort();
        self.usage.flush(&self.pool).await;
        if let Some(publisher) = &self.publisher {
            publisher.flush(Duration::from_secs(10));
        }
        self.pool.close();
        tracing::info!("pg-slo API stopped");
        result
    }
}

/// Reports token use every `every` (see [`UsageRecorder`]); runs until aborted.
async fn report_token_use(usage: Arc<UsageRecorder>, pool: Pool, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        usage.flush(&pool).await;
    }
}

/// Completes on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown requested: finishing requests in flight");
}
