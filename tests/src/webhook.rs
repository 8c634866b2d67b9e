//! A webhook receiver for the notifier's tests: an HTTP server on a free loopback port that
//! records every alert it accepts (with its `Idempotency-Key`), and answers 500 to the first
//! `fail_first` posts.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

/// A running receiver; it stops with the test's runtime.
#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    /// Each accepted body, with its `Idempotency-Key` header.
    pub accepted: Arc<Mutex<Vec<(Value, String)>>>,
    /// Every post, accepted or not.
    pub posts: Arc<AtomicUsize>,
}

#[derive(Clone)]
struct ReceiverState {
    accepted: Arc<Mutex<Vec<(Value, String)>>>,
    posts: Arc<AtomicUsize>,
    fail_first: usize,
}

async fn receive(
    State(s): State<ReceiverState>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> StatusCode {
    let n = s.posts.fetch_add(1, Ordering::SeqCst);
    if n < s.fail_first {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    s.accepted.lock().unwrap().push((body, key));
    StatusCode::NO_CONTENT
}

impl Receiver {
    /// Starts a receiver at `POST /hook`.
    pub async fn start(fail_first: usize) -> Receiver {
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let posts = Arc::new(AtomicUsize::new(0));
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(ReceiverState {
                accepted: accepted.clone(),
                posts: posts.clone(),
                fail_first,
            });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver {
            addr,
            accepted,
            posts,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// The accepted bodies.
    pub fn bodies(&self) -> Vec<Value> {
        self.accepted
            .lock()
            .unwrap()
            .iter()
            .map(|(b, _)| b.clone())
            .collect()
    }

    /// The `alert_id` of each accepted body, sorted.
    pub fn alert_ids(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self
            .bodies()
            .iter()
            .map(|b| b["alert_id"].as_i64().unwrap())
            .collect();
        ids.sort();
        ids
    }

    /// Waits (up to 20 s) until `n` alerts were accepted.
    pub async fn wait_for(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.accepted.lock().unwrap().len() < n {
            assert!(
                Instant::now() < deadline,
                "the webhook got {:?}, expected {n} alerts",
                self.alert_ids()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
