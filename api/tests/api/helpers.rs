//! Test fixtures: a fresh database per test (with `CREATE EXTENSION pg_slo` and the brief's
//! applications), the real application on port 0, and a TCP proxy that can cut the database
//! off to play an outage without touching the shared PostgreSQL.

use api::auth::config::AuthConfig;
use api::config::ServeConfig;
use api::limits::LimitsConfig;
use api::startup::Application;
use serde_json::Value;
use std::net::SocketAddr;
pub use tests::{DbProxy, TestDb};
use tokio::sync::oneshot;

/// The client every test app's requests come from, unless a test says otherwise.
pub const TEST_CLIENT: &str = "test-client";

/// The real application, serving on a free port until dropped.
pub struct TestApp {
    pub addr: SocketAddr,
    /// Sends `Authorization: Bearer <token>` of [`TEST_CLIENT`] with every request, when the
    /// app was spawned with a token.
    pub http: reqwest::Client,
    /// Sends no credentials.
    pub anonymous: reqwest::Client,
    _stop: oneshot::Sender<()>,
}

impl TestApp {
    /// The application on `db`, with a token of [`TEST_CLIENT`], which may post for both of
    /// the test database's applications (overdrafts, deposits).
    pub async fn spawn(db: &TestDb) -> TestApp {
        Self::spawn_with(db, |_| {}).await
    }

    pub async fn spawn_with(db: &TestDb, tweak: impl FnOnce(&mut ServeConfig)) -> TestApp {
        let token = db
            .issue_token(TEST_CLIENT, &["overdrafts", "deposits"])
            .await;
        Self::spawn_at(db.url(), Some(token), tweak).await
    }

    /// The application on `database_url`; `http` sends `bearer` when given.
    pub async fn spawn_at(
        database_url: String,
        bearer: Option<String>,
        tweak: impl FnOnce(&mut ServeConfig),
    ) -> TestApp {
        let mut config = ServeConfig {
            database_url,
            listen: "127.0.0.1:0".parse().unwrap(),
            pool_size: 4,
            body_limit: 2 * 1024 * 1024,
            db_timeout_secs: 2,
            group_commit_writers: 2,
            auth: AuthConfig::default(),
            limits: LimitsConfig::default(),
            publish: Default::default(),
        };
        tweak(&mut config);
        let app = Application::build(&config)
            .await
            .expect("the application builds");
        let addr = app.local_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(app.run_until(async {
            let _ = stopped.await;
        }));
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(token) = bearer {
            headers.insert(
                reqwest::header::AUTHORIZATION,
                format!("Bearer {token}").parse().unwrap(),
            );
        }
        TestApp {
            addr,
            http: reqwest::Client::builder()
                .default_headers(headers)
                .build()
                .unwrap(),
            anonymous: reqwest::Client::new(),
            _stop: stop,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Posts a JSON body to /v1/job-status; returns status, headers and the parsed body.
    pub async fn post(&self, body: &Value) -> Reply {
        self.post_raw(serde_json::to_vec(body).unwrap(), "application/json")
            .await
    }

    pub async fn post_raw(&self, body: Vec<u8>, content_type: &str) -> Reply {
        let resp = self
            .http
            .post(self.url("/v1/job-status"))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("the request is answered");
        Reply::read(resp).await
    }

    /// Posts a JSON body to /v1/job-status with `authorization` as the whole header value
    /// (`None`: no header).
    pub async fn post_as(&self, authorization: Option<&str>, body: &Value) -> Reply {
        let mut request = self.anonymous.post(self.url("/v1/job-status")).json(body);
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        Reply::read(request.send().await.expect("the request is answered")).await
    }

    /// Posts with `Authorization: Bearer <token>`.
    pub async fn post_with_token(&self, token: &str, body: &Value) -> Reply {
        self.post_as(Some(&format!("Bearer {token}")), body).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        Reply::read(self.http.get(self.url(path)).send().await.unwrap()).await
    }
}

/// A response, read whole.
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    async fn read(resp: reqwest::Response) -> Reply {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
        }
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The (index, field, rule) of each listed problem.
    pub fn problems(&self) -> Vec<(Value, Value, String)> {
        self.body["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| {
                        (
                            e["index"].clone(),
                            e["field"].clone(),
                            e["rule"].as_str().unwrap_or("").to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A valid event of the overdraft job (the README's example); tests change one field at a time.
pub fn event() -> Value {
    tests::readme_event()
}

/// `event()` with `field` set to `value`.
pub fn event_with(field: &str, value: Value) -> Value {
    let mut e = event();
    e[field] = value;
    e
}
