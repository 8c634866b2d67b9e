//! Shared test support for pg_slo's service and end-to-end tests: a PostgreSQL database of
//! its own per test, with the extension created and the brief's applications defined.
//! Used by `api/tests` and by this crate's `tests/`.
//!
//! - [`TestDb`]: the database of one test; [`DbProxy`]: a TCP proxy that plays an outage.
//! - [`kafka`]: topics and an acknowledging producer on the test broker (`PG_SLO_TEST_KAFKA`).
//! - [`cluster`]: a scratch PostgreSQL cluster of a test's own.
//! - [`process`]: the real `pg-slo` binary as a child process, its JSON log lines collected.

pub mod cluster;
pub mod kafka;
pub mod process;
pub mod webhook;

use serde_json::{json, Value};
use slo_core::token::{Token, TOKEN_RANDOM_BYTES};
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_postgres::{Client, NoTls};

/// The server holding the test databases; override with `PG_SLO_TEST_DATABASE_URL`.
pub fn admin_url() -> String {
    std::env::var("PG_SLO_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "host=127.0.0.1 port=5432 user=postgres dbname=postgres".to_owned())
}

pub async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"));
    tokio::spawn(connection);
    client
}

/// A database of its own, dropped when the test ends.
pub struct TestDb {
    pub name: String,
    pub host: String,
    pub port: u16,
    /// The server's admin connection string (where the database is created and dropped).
    admin: String,
}

impl TestDb {
    /// Creates the database, the extension, two applications and one defined job, on the
    /// server of [`admin_url`].
    pub async fn new() -> TestDb {
        TestDb::on(&admin_url()).await
    }

    /// The same on another server, given by its admin connection string (a scratch cluster of
    /// a test's own).
    pub async fn on(admin_url: &str) -> TestDb {
        let admin = connect(admin_url).await;
        let name = format!("pg_slo_test_{}", uuid::Uuid::new_v4().simple());
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        let cfg: tokio_postgres::Config = admin_url.parse().unwrap();
        let host = match &cfg.get_hosts()[0] {
            tokio_postgres::config::Host::Tcp(h) => h.clone(),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(p) => p.to_string_lossy().into_owned(),
        };
        let port = cfg.get_ports().first().copied().unwrap_or(5432);
        let db = TestDb {
            name,
            host,
            port,
            admin: admin_url.to_owned(),
        };
        db.client()
            .await
            .batch_execute(
                "CREATE EXTENSION pg_slo;
                 INSERT INTO slo.application (app_id, name) VALUES
                   ('overdrafts', 'Overdrafts'), ('deposits', 'Deposits');
                 INSERT INTO slo.job (job_id, app_id, name) VALUES
                   ('od-calc', 'overdrafts', 'Calculate and charge overdrafts');",
            )
            .await
            .unwrap();
        db
    }

    pub fn url(&self) -> String {
        self.url_via(&self.host, self.port)
    }

    /// Defines the daily SLO `slo_id` of the overdraft job (`od-calc`) on an every-day calendar:
    /// due to start by `start` and end by `end` after its business date (offsets such as
    /// `1 day 03:00`) in `time_zone`, with `slack` (`0` for none).
    pub async fn define_overdraft_slo(
        &self,
        slo_id: &str,
        time_zone: &str,
        start: &str,
        end: &str,
        slack: &str,
    ) {
        self.client()
            .await
            .batch_execute(&format!(
                "INSERT INTO slo.calendar VALUES ('every_day', 'Every day', '{{1,2,3,4,5,6,7}}', NULL, true)
                   ON CONFLICT DO NOTHING;
                 INSERT INTO slo.slo (slo_id, name, app_id, calendar_id, time_zone, slack)
                   VALUES ('{slo_id}', 'Overdraft data', 'overdrafts', 'every_day', '{time_zone}', '{slack}');
                 INSERT INTO slo.slo_job VALUES ('{slo_id}', 'od-calc', '{start}', '{end}', 'calendar');"
            ))
            .await
            .unwrap();
    }

    /// The connection string to this database through another address (a proxy).
    pub fn url_via(&self, host: &str, port: u16) -> String {
        format!("host={host} port={port} user=postgres dbname={}", self.name)
    }

    pub async fn client(&self) -> Client {
        connect(&self.url()).await
    }

    /// Rows of `slo.job_status`, as (app, job, status, status_time UTC, business_date, run, host, period_start).
    pub async fn events(&self) -> Vec<Value> {
        let rows = self
            .client()
            .await
            .query(
                "SELECT json_build_object('app_id', app_id, 'job_id', job_id, 'status', status,
                        'status_time', to_char(status_time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),
                        'business_date', business_date, 'run_id', run_id, 'host_id', host_id,
                        'period_start', period_start, 'client_id', client_id)
                 FROM slo.job_status ORDER BY status_id",
                &[],
            )
            .await
            .unwrap();
        rows.iter().map(|r| r.get::<_, Value>(0)).collect()
    }

    /// Issues a pg_slo token for `client` (created if new, granted `apps`) the way
    /// `pg-slo token issue` does, through `slo.issue_token`; returns the token.
    pub async fn issue_token(&self, client: &str, apps: &[&str]) -> String {
        let mut bytes = [0u8; TOKEN_RANDOM_BYTES];
        bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        let token = Token::from_random_bytes(&bytes);
        self.client()
            .await
            .execute(
                "SELECT slo.issue_token($1, $2, $3, $4)",
                &[&client, &apps, &token.hash().as_slice(), &token.hint()],
            )
            .await
            .unwrap();
        token.expose().to_owned()
    }

    /// A login role of its own that is a member of `group` (`slo_api`, `slo_reader`,
    /// `slo_admin`), dropped when the returned guard is; and a connection string to this
    /// database as that role.
    pub async fn login_as_member_of(&self, group: &str) -> (TestRole, String) {
        let name = format!("slo_test_{}", uuid::Uuid::new_v4().simple());
        connect(&admin_url())
            .await
            .batch_execute(&format!(
                "CREATE ROLE {name} LOGIN PASSWORD 'test-only' IN ROLE {group}"
            ))
            .await
            .unwrap();
        let url = format!(
            "host={} port={} user={name} password=test-only dbname={}",
            self.host, self.port, self.name
        );
        (TestRole { name }, url)
    }

    pub async fn count(&self, sql: &str) -> i64 {
        self.client()
            .await
            .query_one(sql, &[])
            .await
            .unwrap()
            .get(0)
    }
}

/// Runs `sql` on the admin database `admin` from a `Drop`: on a runtime of its own (Drop cannot
/// await, and the test's runtime may be shutting down); errors are ignored.
fn run_on_drop(admin: String, sql: String) {
    let _ = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            if let Ok((client, conn)) = tokio_postgres::connect(&admin, NoTls).await {
                tokio::spawn(conn);
                let _ = client.batch_execute(&sql).await;
            }
        });
    })
    .join();
}

impl Drop for TestDb {
    fn drop(&mut self) {
        run_on_drop(
            self.admin.clone(),
            format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

/// A login role made for one test (named `slo_test_*`), dropped at the end of the test.
pub struct TestRole {
    pub name: String,
}

impl Drop for TestRole {
    fn drop(&mut self) {
        run_on_drop(admin_url(), format!("DROP ROLE IF EXISTS {}", self.name));
    }
}

/// The README's curl example as JSON: a valid event of the overdraft job, for tests to post
/// (and to change one field at a time).
pub fn readme_event() -> Value {
    json!({
        "app_id": "overdrafts",
        "job_id": "od-calc",
        "status": "start",
        "status_time": "2026-11-17T00:30:00-05:00",
        "business_date": "2026-11-16",
        "run_id": "run-1",
        "host_id": "batch01"
    })
}

/// A TCP proxy to PostgreSQL that a test can cut (every connection closed, new ones refused)
/// and restore.
pub struct DbProxy {
    pub port: u16,
    up: Arc<watch::Sender<bool>>,
}

impl DbProxy {
    pub async fn start(target_host: &str, target_port: u16) -> DbProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (up, _) = watch::channel(true);
        let up = Arc::new(up);
        let target = format!("{target_host}:{target_port}");
        let up_for_loop = up.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if !*up_for_loop.borrow() {
                    drop(inbound); // refused: the database is "down"
                    continue;
                }
                let mut down = up_for_loop.subscribe();
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = down.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        DbProxy { port, up }
    }

    pub fn cut(&self) {
        self.up.send_replace(false);
    }

    pub fn restore(&self) {
        self.up.send_replace(true);
    }
}
