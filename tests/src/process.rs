//! The real `pg-slo` binary as a child process, started as an operator would, with JSON logs
//! collected for the test to read. Build it first (`cargo build -p api`; the test script does);
//! `PG_SLO_BIN` overrides where it is looked for.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The `pg-slo` binary of this workspace.
pub fn binary() -> PathBuf {
    if let Ok(p) = std::env::var("PG_SLO_BIN") {
        return PathBuf::from(p);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let bin = target.join("debug/pg-slo");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p api` first",
        bin.display()
    );
    bin
}

/// A running `pg-slo` command with `--log-format json`; killed when dropped.
pub struct PgSlo {
    pub child: Child,
    logs: Arc<Mutex<Vec<Value>>>,
}

impl PgSlo {
    /// Starts `pg-slo --log-format json ARGS...` with `env` added to the environment.
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> PgSlo {
        let mut command = Command::new(binary());
        command
            .arg("--log-format")
            .arg("json")
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("pg-slo starts");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let v = serde_json::from_str::<Value>(&line)
                    .unwrap_or_else(|_| Value::String(line.clone()));
                sink.lock().unwrap().push(v);
            }
        });
        PgSlo { child, logs }
    }

    /// The log lines whose message is `message`.
    pub fn logs_with(&self, message: &str) -> Vec<Value> {
        self.logs
            .lock()
            .unwrap()
            .iter()
            .filter(|v| v["message"] == message)
            .cloned()
            .collect()
    }

    /// Waits until a log line with `message` appears; returns it.
    pub fn wait_for_log(&self, message: &str, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(line) = self.logs_with(message).into_iter().next() {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "no log line {message:?} within {limit:?}; logs: {:?}",
                self.logs.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends a signal (`-TERM`, `-KILL`).
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit; returns its exit code (None: still running, or killed).
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// SIGKILL, and wait for it to be gone.
    pub fn kill_hard(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `pg-slo serve` on a free loopback port of `database_url`, with `extra` flags after
/// `--listen`; returns it, once it logs that it listens, and its base URL.
pub fn serve(database_url: &str, extra: &[&str]) -> (PgSlo, String) {
    let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let api = PgSlo::start(&args, &[("DATABASE_URL", database_url)]);
    let line = api.wait_for_log("pg-slo API listening", Duration::from_secs(20));
    let base = format!("http://{}", line["addr"].as_str().unwrap());
    (api, base)
}

impl Drop for PgSlo {
    fn drop(&mut self) {
        self.kill_hard();
    }
}
