//! `pg-slo backfill FILE...`: job-status history from NDJSON or CSV files (or standard input)
//! into `slo.job_status`, so trends work from day one.
//!
//! Touches the files named (read), the reject file (written), the terminal (a progress bar on
//! standard error, hidden when it is not a terminal) and PostgreSQL: writes `slo.job_status`
//! (only through [`crate::event_writer`]; and, through `slo.recompute`, `slo.slo_performance`);
//! asks `slo.job_ownership_problems` (the ownership rule) and `slo.denied_applications`.
//!
//! Every line is checked by the API's rules (`slo_core::parse_events`) and the ownership rule,
//! so the backfill refuses exactly what `POST /v1/job-status` refuses. A reader thread parses
//! while the database loads the previous batch. Each batch is one transaction: `COPY` (binary)
//! into a temporary staging table, then one `INSERT ... SELECT ... ORDER BY` the event key
//! `ON CONFLICT ON CONSTRAINT job_status_event_key DO NOTHING` into `slo.job_status`
//! ([`crate::event_writer::insert_staged`]), so the duplicate rule holds and the engine's
//! statement trigger runs once per batch, set-based. When a constraint of the database that the
//! product does not check itself (a DBA's `CHECK`) refuses that statement, the batch is loaded
//! again one event at a time, each in a savepoint, and the refused lines are rejected (rule
//! `database_constraint`), as the API's `422` refuses them.
//! An interrupted backfill can be run again: what was loaded is counted as duplicates.

use crate::auth::writer::{WriterAuthArgs, WriterIdentity};
use crate::dbconn::DbArgs;
use crate::event_writer::{self, Inserted, Poster};
use crate::store::denied_applications;
use anyhow::Context;
use chrono::{NaiveDate, Utc};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{json, Map, Value};
use slo_core::event::{denied_violations, EVENT_FIELDS};
use slo_core::JobStatusEvent;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use tracing::instrument;

/// Settings of `pg-slo backfill`.
#[derive(Debug, Clone, Args)]
pub struct BackfillArgs {
    #[command(flatten)]
    pub db: DbArgs,

    /// Files to load, in order; none, or `-`, reads standard input. NDJSON: one event object
    /// per line, as POST /v1/job-status takes it. CSV: a header row naming the event's fields
    /// (any order; `period_start` may be left out or empty).
    pub files: Vec<PathBuf>,

    /// Input format; `auto` reads `*.csv` as CSV and anything else (and standard input) as NDJSON.
    #[arg(long, value_enum, default_value_t = Format::Auto)]
    pub format: Format,

    /// Events per transaction (one COPY and one INSERT each).
    #[arg(long, default_value_t = 50_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub batch_size: u32,

    /// Where refused lines go, one JSON object per line with file, line number, problems and input.
    #[arg(long, default_value = "backfill-rejects.ndjson")]
    pub reject_file: PathBuf,

    /// Who the history is posted as (for example the scheduler's client): stored as `client_id`
    /// on every row; lines of applications the client may not post for are refused (rule
    /// `application_not_allowed`, as the API's `403`).
    #[command(flatten)]
    pub auth: WriterAuthArgs,

    /// Skip `slo.recompute` over the loaded business dates at the end (for example when loading
    /// in several runs and recomputing once at the end).
    #[arg(long)]
    pub no_recompute: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Auto,
    Ndjson,
    Csv,
}

/// What a backfill did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// Non-blank lines (NDJSON) or records (CSV) read.
    pub read: u64,
    /// Events added to `slo.job_status`.
    pub stored: u64,
    /// Valid events that were already stored (or repeated in the input).
    pub duplicates: u64,
    /// Lines refused, each written to the reject file.
    pub rejected: u64,
    /// The business dates of the valid events.
    pub first_business_date: Option<NaiveDate>,
    pub last_business_date: Option<NaiveDate>,
    /// Performance rows in the loaded range after `slo.recompute` (None when skipped).
    pub recomputed: Option<i64>,
}

/// Where a line came from.
#[derive(Debug, Clone)]
struct Origin {
    file: Arc<str>,
    line: u64,
    input: Value,
}

/// A refused line.
#[derive(Debug, Clone)]
struct Reject {
    origin: Origin,
    problems: Value,
}

/// What the reader hands to the loader.
#[derive(Debug, Default)]
struct Batch {
    events: Vec<JobStatusEvent>,
    origins: Vec<Origin>,
    rejects: Vec<Reject>,
    lines: u64,
}

/// Runs the command: prints the summary on standard output and returns it.
pub async fn run(args: &BackfillArgs) -> anyhow::Result<Summary> {
    let identity = args.auth.identity("pg-slo backfill")?;
    let inputs = inputs(args)?;
    let total_bytes: Option<u64> = inputs
        .iter()
        .map(|(path, _)| {
            path.as_ref()
                .and_then(|p| std::fs::metadata(p).ok().map(|m| m.len()))
        })
        .sum();
    let progress = progress_bar(total_bytes);
    progress.enable_steady_tick(Duration::from_millis(200));
    let pool = crate::store::build_pool(&args.db.database_url, 1, Duration::from_secs(10))?;
    crate::store::ready(&pool)
        .await
        .context("the database (DATABASE_URL) cannot be used")?;
    let mut client = pool.get().await.context("connecting to the database")?;
    let summary = load(&mut client, args, &identity, inputs, progress.clone()).await?;
    progress.finish_and_clear();
    print_summary(&summary, &args.reject_file);
    Ok(summary)
}

/// Each input with its format: (path, or None for standard input).
fn inputs(args: &BackfillArgs) -> anyhow::Result<Vec<(Option<PathBuf>, Format)>> {
    let mut out = Vec::new();
    let files: Vec<PathBuf> = if args.files.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        args.files.clone()
    };
    for f in files {
        let stdin = f.as_os_str() == "-";
        let format = match args.format {
            Format::Auto
                if !stdin && f.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) =>
            {
                Format::Csv
            }
            Format::Auto => Format::Ndjson,
            other => other,
        };
        if !stdin {
            anyhow::ensure!(f.is_file(), "{}: no such file", f.display());
        }
        out.push(((!stdin).then_some(f), format));
    }
    Ok(out)
}

fn progress_bar(total_bytes: Option<u64>) -> ProgressBar {
    let target = ProgressDrawTarget::stderr();
    match total_bytes {
        Some(total) => {
            let bar = ProgressBar::with_draw_target(Some(total), target);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({eta} left) {msg}",
                )
                .expect("a valid template"),
            );
            bar
        }
        None => {
            let bar = ProgressBar::with_draw_target(None, target);
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bytes} read {msg}")
                    .expect("a valid template"),
            );
            bar
        }
    }
}

/// Reads every input on a thread of its own, and loads its batches as they come.
#[instrument(skip_all)]
async fn load(
    client: &mut deadpool_postgres::Client,
    args: &BackfillArgs,
    identity: &WriterIdentity,
    inputs: Vec<(Option<PathBuf>, Format)>,
    progress: ProgressBar,
) -> anyhow::Result<Summary> {
    let (tx, mut rx) = mpsc::channel::<anyhow::Result<Batch>>(2);
    let batch_size = args.batch_size as usize;
    let bytes = Arc::new(AtomicU64::new(0));
    let reader = {
        let bytes = bytes.clone();
        tokio::task::spawn_blocking(move || read_all(inputs, batch_size, &bytes, &tx))
    };
    event_writer::create_backfill_stage(&*client)
        .await
        .context("creating the staging table")?;
    let mut rejects = RejectFile::new(&args.reject_file);
    let mut summary = Summary::default();
    while let Some(batch) = rx.recv().await {
        let batch = batch?;
        summary.read += batch.lines;
        for r in &batch.rejects {
            rejects.write(r)?;
        }
        summary.rejected += batch.rejects.len() as u64;
        let loaded = load_batch(client, &batch, identity).await?;
        let (stored, duplicates, refused) = (loaded.stored, loaded.duplicates, &loaded.refused);
        for r in refused {
            rejects.write(r)?;
        }
        summary.rejected += refused.len() as u64;
        summary.stored += stored;
        summary.duplicates += duplicates;
        for d in [loaded.first, loaded.last].into_iter().flatten() {
            summary.first_business_date = Some(summary.first_business_date.map_or(d, |f| f.min(d)));
            summary.last_business_date = Some(summary.last_business_date.map_or(d, |l| l.max(d)));
        }
        progress.set_position(bytes.load(Ordering::Relaxed));
        progress.set_message(format!(
            "stored {}, duplicates {}, rejected {}",
            summary.stored, summary.duplicates, summary.rejected
        ));
        tracing::debug!(stored, duplicates, "batch loaded");
    }
    reader.await.context("the reader thread")?;
    rejects.finish()?;
    if let (false, Some(from), Some(to)) = (
        args.no_recompute,
        summary.first_business_date,
        summary.last_business_date,
    ) {
        if summary.stored > 0 {
            progress.set_message(format!("slo.recompute('{from}', '{to}')"));
            let rows: i32 = client
                .query_one("SELECT slo.recompute($1, $2)", &[&from, &to])
                .await
                .context("slo.recompute over the loaded business dates")?
                .get(0);
            summary.recomputed = Some(i64::from(rows));
        }
    }
    tracing::info!(
        read = summary.read,
        stored = summary.stored,
        duplicates = summary.duplicates,
        rejected = summary.rejected,
        "backfill finished"
    );
    Ok(summary)
}

/// What one batch did.
#[derive(Debug, Default)]
struct Loaded {
    stored: u64,
    duplicates: u64,
    refused: Vec<Reject>,
    /// The business dates of the events loaded (stored or duplicates).
    first: Option<NaiveDate>,
    last: Option<NaiveDate>,
}

/// How the events of a batch are inserted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Insert {
    /// `COPY` into the staging table and one statement: the fast way.
    Staged,
    /// One statement per event, each in a savepoint: after a constraint of the database refused
    /// the staged statement, so that only the lines it refuses are rejected.
    EachAlone,
}

/// What one try of a batch came to.
#[derive(Debug)]
enum Attempt {
    Loaded(Loaded),
    /// A job was registered concurrently under another application: check the batch again.
    OwnershipChanged,
    /// A constraint of the database refused the staged statement: load it one event at a time.
    EachAlone,
}

/// Loads one batch in one transaction; returns what it did. A job registered concurrently under
/// another application makes the insert fail: the batch is checked again and retried.
async fn load_batch(
    client: &mut deadpool_postgres::Client,
    batch: &Batch,
    identity: &WriterIdentity,
) -> anyhow::Result<Loaded> {
    if batch.events.is_empty() {
        return Ok(Loaded::default());
    }
    let mut insert = Insert::Staged;
    let mut tries = 0;
    loop {
        tries += 1;
        let mut tx = client.transaction().await.context("loading a batch")?;
        // Dropping the transaction without a commit rolls it back.
        match try_load_batch(&mut tx, batch, identity, insert)
            .await
            .context("loading a batch")?
        {
            Attempt::Loaded(r) => {
                tx.commit().await.context("loading a batch")?;
                return Ok(r);
            }
            Attempt::EachAlone => {
                tracing::info!(
                    "a database constraint refused the batch; loading it one event at a time"
                );
                insert = Insert::EachAlone;
            }
            Attempt::OwnershipChanged if tries < 5 => tracing::info!(
                "a job was registered concurrently under another application; checking the batch again"
            ),
            Attempt::OwnershipChanged => anyhow::bail!(
                "loading a batch: jobs kept being registered concurrently under other applications"
            ),
        }
    }
}

async fn try_load_batch(
    client: &mut deadpool_postgres::Transaction<'_>,
    batch: &Batch,
    identity: &WriterIdentity,
    insert: Insert,
) -> Result<Attempt, tokio_postgres::Error> {
    // The ownership rule and the client's applications, inside the transaction.
    let mut violations = event_writer::ownership(&*client, &batch.events).await?;
    let client_id = identity.client_id();
    if let Some(c) = client_id {
        let denied = denied_applications(&*client, c, &batch.events).await?;
        violations.extend(denied_violations(&batch.events, c, &denied));
    }
    let mut refused_at = vec![false; batch.events.len()];
    let mut problems: std::collections::BTreeMap<usize, Vec<Value>> = Default::default();
    for v in &violations {
        let Some(i) = v.index else { continue };
        refused_at[i] = true;
        problems
            .entry(i)
            .or_default()
            .push(json!({"field": v.field, "rule": v.rule.code(), "message": v.message}));
    }
    if insert == Insert::EachAlone {
        return load_each_alone(client, batch, client_id, refused_at, problems).await;
    }
    let refused: Vec<Reject> = problems
        .into_iter()
        .map(|(i, p)| Reject {
            origin: batch.origins[i].clone(),
            problems: Value::Array(p),
        })
        .collect();
    let sink = client
        .copy_in(&format!(
            "COPY {} (app_id, job_id, status, status_time, business_date, run_id, host_id, period_start) \
             FROM STDIN (FORMAT binary)",
            event_writer::BACKFILL_STAGE
        ))
        .await?;
    let writer = BinaryCopyInWriter::new(
        sink,
        &[
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::TIMESTAMPTZ,
            Type::DATE,
            Type::TEXT,
            Type::TEXT,
            Type::TIME,
        ],
    );
    tokio::pin!(writer);
    let mut staged = 0u64;
    let (mut first, mut last): (Option<NaiveDate>, Option<NaiveDate>) = (None, None);
    for (e, refused) in batch.events.iter().zip(&refused_at) {
        if *refused {
            continue;
        }
        let d = e.business_date();
        first = Some(first.map_or(d, |f| f.min(d)));
        last = Some(last.map_or(d, |l| l.max(d)));
        let (time, date, period) = (e.status_time(), e.business_date(), e.period_start());
        let row: [&(dyn ToSql + Sync); 8] = [
            &e.app_id().as_str(),
            &e.job_id().as_str(),
            &e.status().as_str(),
            &time,
            &date,
            &e.run_id().as_str(),
            &e.host_id().as_str(),
            &period,
        ];
        writer.as_mut().write(&row).await?;
        staged += 1;
    }
    writer.finish().await?;
    // The one writer's statement from the staging table: sorted by the event key (no deadlock
    // with concurrent writers), repeated events skipped, one statement so the engine's trigger
    // computes each touched SLO day once.
    let stored = match event_writer::insert_staged(&*client, client_id).await? {
        Ok(stored) => stored,
        Err(Inserted::Constraint(_)) => return Ok(Attempt::EachAlone),
        Err(_) => return Ok(Attempt::OwnershipChanged),
    };
    Ok(Attempt::Loaded(Loaded {
        stored,
        duplicates: staged - stored,
        refused,
        first,
        last,
    }))
}

/// The batch's events that passed the checks, each with a statement of its own in a savepoint:
/// those a constraint of the database refuses are rejected (rule `database_constraint`).
async fn load_each_alone(
    client: &mut deadpool_postgres::Transaction<'_>,
    batch: &Batch,
    client_id: Option<&str>,
    refused_at: Vec<bool>,
    mut problems: std::collections::BTreeMap<usize, Vec<Value>>,
) -> Result<Attempt, tokio_postgres::Error> {
    // Checked above for the client, inside this transaction.
    let poster = match client_id {
        Some(c) => Poster::Allowed(c),
        None => Poster::Anonymous,
    };
    let mut loaded = Loaded::default();
    for (i, (e, refused)) in batch.events.iter().zip(&refused_at).enumerate() {
        if *refused {
            continue;
        }
        match event_writer::insert_alone(client, e, poster).await? {
            Inserted::Stored(o) => {
                loaded.stored += o.accepted;
                loaded.duplicates += o.duplicates;
                let d = e.business_date();
                loaded.first = Some(loaded.first.map_or(d, |f| f.min(d)));
                loaded.last = Some(loaded.last.map_or(d, |l| l.max(d)));
            }
            Inserted::Constraint(c) => {
                let v = c.violation(1);
                problems
                    .entry(i)
                    .or_default()
                    .push(json!({"field": v.field, "rule": v.rule.code(), "message": v.message}));
            }
            Inserted::Refused | Inserted::Denied(_) => return Ok(Attempt::OwnershipChanged),
        }
    }
    loaded.refused = problems
        .into_iter()
        .map(|(i, p)| Reject {
            origin: batch.origins[i].clone(),
            problems: Value::Array(p),
        })
        .collect();
    Ok(Attempt::Loaded(loaded))
}

/// The reject file, created at the first refused line.
struct RejectFile {
    path: PathBuf,
    out: Option<BufWriter<File>>,
}

impl RejectFile {
    fn new(path: &Path) -> Self {
        RejectFile {
            path: path.to_owned(),
            out: None,
        }
    }

    fn write(&mut self, r: &Reject) -> anyhow::Result<()> {
        if self.out.is_none() {
            let f = File::create(&self.path)
                .with_context(|| format!("creating the reject file {}", self.path.display()))?;
            self.out = Some(BufWriter::new(f));
        }
        let line = json!({
            "file": &*r.origin.file,
            "line": r.origin.line,
            "problems": r.problems,
            "input": r.origin.input,
        });
        let out = self.out.as_mut().expect("opened above");
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")?;
        Ok(())
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        if let Some(out) = self.out.as_mut() {
            out.flush()
                .with_context(|| format!("writing the reject file {}", self.path.display()))?;
        }
        Ok(())
    }
}

fn print_summary(s: &Summary, reject_file: &Path) {
    println!(
        "read {}: stored {}, duplicates {}, rejected {}",
        s.read, s.stored, s.duplicates, s.rejected
    );
    if s.rejected > 0 {
        println!(
            "rejected lines, with their problems: {}",
            reject_file.display()
        );
    }
    if let (Some(from), Some(to)) = (s.first_business_date, s.last_business_date) {
        match s.recomputed {
            Some(rows) => println!(
                "business dates {from} to {to}: slo.recompute wrote {rows} performance rows"
            ),
            None => println!(
                "business dates {from} to {to}: performance computed by the trigger; slo.recompute not run"
            ),
        }
    }
}

// ---- Reading ------------------------------------------------------------------------------

/// Counts the bytes read, for the progress bar.
struct Counting<R> {
    inner: R,
    bytes: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Reads every input in order and sends batches of up to `batch_size` events.
fn read_all(
    inputs: Vec<(Option<PathBuf>, Format)>,
    batch_size: usize,
    bytes: &Arc<AtomicU64>,
    tx: &mpsc::Sender<anyhow::Result<Batch>>,
) {
    let mut batch = Batch::default();
    let now = Utc::now();
    for (path, format) in inputs {
        let name: Arc<str> = path
            .as_ref()
            .map_or_else(|| "-".into(), |p| p.display().to_string().into());
        let raw: Box<dyn Read + Send> = match &path {
            None => Box::new(std::io::stdin()),
            Some(p) => match File::open(p) {
                Ok(f) => Box::new(f),
                Err(e) => {
                    let _ = tx.blocking_send(Err(
                        anyhow::Error::new(e).context(format!("opening {name}"))
                    ));
                    return;
                }
            },
        };
        let reader = BufReader::with_capacity(
            1 << 16,
            Counting {
                inner: raw,
                bytes: bytes.clone(),
            },
        );
        let mut each = |origin: Origin, parsed: Result<JobStatusEvent, Value>| -> bool {
            batch.lines += 1;
            match parsed {
                Ok(e) => {
                    batch.events.push(e);
                    batch.origins.push(origin);
                }
                Err(problems) => batch.rejects.push(Reject { origin, problems }),
            }
            if batch.events.len() >= batch_size {
                let full = std::mem::take(&mut batch);
                return tx.blocking_send(Ok(full)).is_ok();
            }
            true
        };
        let result = match format {
            Format::Csv => read_csv(reader, &name, now, &mut each),
            _ => read_ndjson(reader, &name, now, &mut each),
        };
        if let Err(e) = result {
            let _ = tx.blocking_send(Err(e));
            return;
        }
    }
    let _ = tx.blocking_send(Ok(batch));
}

/// One event object by the API's rules, or its problems as the reject file lists them.
fn check(value: &Value, now: chrono::DateTime<Utc>) -> Result<JobStatusEvent, Value> {
    if !value.is_object() {
        return Err(json!([{"field": null, "rule": "not_an_object",
                           "message": "each line must be one job-status object"}]));
    }
    match slo_core::parse_events(value, now) {
        Ok(batch) => Ok(batch
            .events
            .into_iter()
            .next()
            .expect("one object, one event")),
        Err(rejected) => Err(Value::Array(
            rejected
                .violations
                .iter()
                .map(|v| json!({"field": v.field, "rule": v.rule.code(), "message": v.message}))
                .collect(),
        )),
    }
}

fn read_ndjson(
    mut reader: impl BufRead,
    file: &Arc<str>,
    now: chrono::DateTime<Utc>,
    each: &mut dyn FnMut(Origin, Result<JobStatusEvent, Value>) -> bool,
) -> anyhow::Result<()> {
    let mut buf = Vec::with_capacity(512);
    let mut line = 0u64;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("reading {file}"))?;
        if n == 0 {
            return Ok(());
        }
        line += 1;
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let (input, parsed) = match std::str::from_utf8(&buf) {
            Err(e) => (
                Value::String(String::from_utf8_lossy(&buf).trim_end().to_owned()),
                Err(json!([{"field": null, "rule": "not_utf8",
                            "message": format!("the line is not UTF-8 text: {e}")}])),
            ),
            Ok(text) => {
                let text = text.trim_end_matches(['\n', '\r']);
                let parsed = match serde_json::from_str::<Value>(text) {
                    Ok(value) => check(&value, now),
                    Err(e) => Err(json!([{"field": null, "rule": "malformed_json",
                                          "message": format!("not well-formed JSON: {e}")}])),
                };
                (Value::String(text.to_owned()), parsed)
            }
        };
        let origin = Origin {
            file: file.clone(),
            line,
            input,
        };
        if !each(origin, parsed) {
            return Ok(());
        }
    }
}

fn read_csv(
    reader: impl Read,
    file: &Arc<str>,
    now: chrono::DateTime<Utc>,
    each: &mut dyn FnMut(Origin, Result<JobStatusEvent, Value>) -> bool,
) -> anyhow::Result<()> {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(reader);
    let headers: Vec<String> = csv
        .headers()
        .with_context(|| format!("{file}: reading the CSV header"))?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    for h in &headers {
        anyhow::ensure!(
            EVENT_FIELDS.contains(&h.as_str()),
            "{file}: unknown CSV column {h:?} (the columns are the event's fields: {})",
            EVENT_FIELDS.join(", ")
        );
    }
    let mut record = csv::StringRecord::new();
    loop {
        let (line, parsed, input) = match csv.read_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {
                let line = record.position().map_or(0, |p| p.line());
                let mut obj = Map::new();
                for (h, v) in headers.iter().zip(record.iter()) {
                    // An empty cell is a missing value (`required`, or no period_start).
                    if !v.is_empty() {
                        obj.insert(h.clone(), Value::String(v.to_owned()));
                    }
                }
                let value = Value::Object(obj);
                let parsed = check(&value, now);
                let input = Value::Array(record.iter().map(|f| json!(f)).collect());
                (line, parsed, input)
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                if !matches!(
                    e.kind(),
                    csv::ErrorKind::UnequalLengths { .. } | csv::ErrorKind::Utf8 { .. }
                ) {
                    return Err(anyhow::Error::new(e).context(format!("reading {file}")));
                }
                let problems = json!([{"field": null, "rule": "malformed_csv",
                                       "message": format!("not a record of the header's columns: {e}")}]);
                (line, Err(problems), Value::Null)
            }
        };
        let origin = Origin {
            file: file.clone(),
            line,
            input,
        };
        if !each(origin, parsed) {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> chrono::DateTime<Utc> {
        "2026-11-24T12:00:00Z".parse().unwrap()
    }

    fn collect(
        read: impl Fn(
            &mut dyn FnMut(Origin, Result<JobStatusEvent, Value>) -> bool,
        ) -> anyhow::Result<()>,
    ) -> Vec<(u64, Result<String, Vec<String>>)> {
        let mut out = Vec::new();
        read(&mut |o: Origin, r: Result<JobStatusEvent, Value>| {
            out.push((
                o.line,
                r.map(|e| e.run_id().as_str().to_owned()).map_err(|p| {
                    p.as_array()
                        .unwrap()
                        .iter()
                        .map(|x| x["rule"].as_str().unwrap().to_owned())
                        .collect()
                }),
            ));
            true
        })
        .unwrap();
        out
    }

    #[test]
    fn ndjson_lines_are_checked_by_the_api_rules_and_keep_their_line_numbers() {
        let input = concat!(
            r#"{"app_id":"a","job_id":"j","status":"start","status_time":"2026-11-17T00:30:00-05:00","business_date":"2026-11-16","run_id":"r1","host_id":"h"}"#,
            "\n",
            "\n",
            r#"{"app_id":"a","job_id":"j","status":"done","status_time":"2026-11-17T00:30:00-05:00","business_date":"2026-11-16","run_id":"r2","host_id":"h"}"#,
            "\r\n",
            "not json\n",
            "[1]\n",
            r#"{"app_id":"a","job_id":"j","status":"succeed","status_time":"2026-11-17T01:30:00Z","business_date":"2026-11-16","run_id":"r3","host_id":"h"}"#,
        );
        let file: Arc<str> = "x.ndjson".into();
        let got = collect(|each| read_ndjson(input.as_bytes(), &file, now(), each));
        assert_eq!(
            got,
            vec![
                (1, Ok("r1".to_owned())),
                (3, Err(vec!["unknown_status".to_owned()])),
                (4, Err(vec!["malformed_json".to_owned()])),
                (5, Err(vec!["not_an_object".to_owned()])),
                (6, Ok("r3".to_owned())),
            ]
        );
    }

    #[test]
    fn csv_records_map_their_header_to_the_event_fields() {
        let input = "run_id,app_id,job_id,status,status_time,business_date,host_id,period_start\n\
                     r1,a,j,start,2026-11-17T00:30:00-05:00,2026-11-16,h,\n\
                     r2,a,j,start,2026-11-17T00:30:00,2026-11-16,h,06:30\n\
                     r3,a,j\n\
                     r4,a,,start,2026-11-17T00:30:00Z,2026-11-16,h,06:30\n";
        let file: Arc<str> = "x.csv".into();
        let got = collect(|each| read_csv(input.as_bytes(), &file, now(), each));
        assert_eq!(
            got,
            vec![
                (2, Ok("r1".to_owned())),
                (3, Err(vec!["rfc3339_with_offset".to_owned()])),
                (4, Err(vec!["malformed_csv".to_owned()])),
                (5, Err(vec!["required".to_owned()])),
            ]
        );
    }

    #[test]
    fn a_csv_column_that_is_no_event_field_stops_the_load_at_the_header() {
        let file: Arc<str> = "x.csv".into();
        let err =
            read_csv("app_id,colour\n".as_bytes(), &file, now(), &mut |_, _| true).unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
    }
}
