//! `pg-slo apply` and `pg-slo export`: SLO definitions as code.
//!
//! `apply FILE` reads and checks the whole file (slo_core::definitions, every problem located),
//! then, in one transaction holding an advisory lock (two applies never interleave), reads the
//! definitions in force, prints the plan, and carries it out (`--dry-run`: prints only). `export`
//! writes the database's definitions in the same format; applying an export changes nothing.
//! Touches the definition tables through [`db`], the file system for the file, and the terminal.

pub mod db;

use crate::dbconn::{self, DbArgs};
use anyhow::Context;
use chrono::NaiveDate;
use clap::Args;
use slo_core::definitions::{self, Definitions, Plan};
use std::io::Write;
use std::path::{Path, PathBuf};
use tracing::instrument;

/// The advisory lock key of `apply` (two applies at once would plan against stale state).
const APPLY_LOCK: &str = "pg_slo.apply";

/// Settings of `pg-slo apply`.
#[derive(Debug, Clone, Args)]
pub struct ApplyArgs {
    /// The definitions file (TOML), for example examples/foxfire.toml.
    pub file: PathBuf,

    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Allow removing SLOs that have performance history (their rows of slo.slo_performance are deleted).
    #[arg(long)]
    pub allow_delete: bool,

    /// After applying, rebuild performance rows from this business date to today with
    /// slo.recompute, so rows already computed follow the new definitions.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub recompute_from: Option<NaiveDate>,

    #[command(flatten)]
    pub db: DbArgs,
}

/// Settings of `pg-slo export`.
#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// Write to this file instead of standard output.
    #[arg(long, short)]
    pub output: Option<PathBuf>,

    #[command(flatten)]
    pub db: DbArgs,
}

/// What `apply` did, for the caller and the tests.
#[derive(Debug)]
pub struct Applied {
    pub plan: Plan,
    pub applied: bool,
}

/// Why `apply` stopped.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The file cannot be read.
    #[error("cannot read {file}: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    /// The file breaks rules; each problem is printed with its file, line and field.
    #[error("{file}: {} problem{} found; nothing was applied", problems.len(), if problems.len() == 1 { "" } else { "s" })]
    Invalid {
        file: String,
        problems: Vec<definitions::FileProblem>,
    },
    /// The plan removes or moves what history needs.
    #[error("the plan cannot be applied; nothing was changed:\n  {}", reasons.join("\n  "))]
    Blocked { reasons: Vec<String> },
    /// The database refused or failed.
    #[error(transparent)]
    Database(#[from] anyhow::Error),
}

/// Reads and checks a definitions file.
pub fn read_file(path: &Path) -> Result<Definitions, ApplyError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ApplyError::Read {
        file: file.clone(),
        source,
    })?;
    definitions::parse_file(&text).map_err(|problems| ApplyError::Invalid { file, problems })
}

/// `pg-slo apply`: prints the plan to `out` and applies it unless `--dry-run`.
#[instrument(skip_all, fields(file = %args.file.display(), dry_run = args.dry_run))]
pub async fn apply(args: &ApplyArgs, out: &mut impl Write) -> Result<Applied, ApplyError> {
    let wanted = read_file(&args.file)?;
    let mut client = dbconn::connect(&args.db, "apply").await?;
    let tx = client
        .transaction()
        .await
        .context("starting the transaction")?;
    tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&APPLY_LOCK])
        .await
        .context("taking the apply lock")?;
    let current = db::read(&tx).await?;
    let usage = db::usage(&tx, &wanted, &current).await?;
    let plan = definitions::plan(&wanted, &current, &usage, args.allow_delete);
    print_plan(out, &args.file.display().to_string(), &plan).context("writing the plan")?;
    if !plan.blocked.is_empty() {
        return Err(ApplyError::Blocked {
            reasons: plan.blocked.clone(),
        });
    }
    if args.dry_run {
        writeln!(out, "Dry run: nothing was changed.").context("writing")?;
        return Ok(Applied {
            plan,
            applied: false,
        });
    }
    db::execute(&tx, &plan, &wanted, &current).await?;
    let recomputed = match args.recompute_from {
        Some(from) => Some(
            tx.query_one(
                "SELECT slo.recompute($1, greatest($1, current_date))",
                &[&from],
            )
            .await
            .context("slo.recompute")?
            .get::<_, i32>(0),
        ),
        None => None,
    };
    tx.commit().await.context("committing")?;
    let (a, c, r) = plan.counts();
    if plan.is_empty() {
        writeln!(out, "Nothing to apply.").context("writing")?;
    } else {
        writeln!(out, "Applied: {a} added, {c} changed, {r} removed.").context("writing")?;
    }
    if let (Some(from), Some(rows)) = (args.recompute_from, recomputed) {
        writeln!(
            out,
            "Recomputed {rows} performance rows from {from} to today."
        )
        .context("writing")?;
    }
    tracing::info!(added = a, changed = c, removed = r, "definitions applied");
    Ok(Applied {
        plan,
        applied: true,
    })
}

fn print_plan(out: &mut impl Write, file: &str, plan: &Plan) -> std::io::Result<()> {
    writeln!(out, "Plan for {file}:")?;
    for change in &plan.changes {
        writeln!(out, "{change}")?;
    }
    for kept in &plan.kept {
        writeln!(out, "! {kept}")?;
    }
    let (a, c, r) = plan.counts();
    if plan.is_empty() {
        writeln!(out, "No changes: the database matches the file.")?;
    } else {
        writeln!(out, "Plan: {a} to add, {c} to change, {r} to remove.")?;
    }
    if plan.affects_expected_times() {
        writeln!(
            out,
            "Note: performance rows already computed keep their expected times until rebuilt; \
             pass --recompute-from DATE, or run SELECT slo.recompute(from, to)."
        )?;
    }
    Ok(())
}

/// `pg-slo export`: the database's definitions in the file format.
#[instrument(skip_all)]
pub async fn export(args: &ExportArgs) -> anyhow::Result<String> {
    let client = dbconn::connect(&args.db, "export").await?;
    let defs = db::read(&client).await?;
    Ok(definitions::render(&defs))
}

/// Writes the export to `--output` (whole, through a temporary file) or standard output.
pub async fn run_export(args: &ExportArgs) -> anyhow::Result<()> {
    let text = export(args).await?;
    match &args.output {
        None => std::io::stdout()
            .write_all(text.as_bytes())
            .context("writing to standard output")?,
        Some(path) => {
            let tmp = path.with_extension("toml.tmp");
            std::fs::write(&tmp, &text).with_context(|| format!("writing {}", tmp.display()))?;
            std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
        }
    }
    Ok(())
}

/// `pg-slo apply` from the command line: the plan to standard output, problems to standard error.
pub async fn run_apply(args: &ApplyArgs) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout();
    match apply(args, &mut stdout).await {
        Ok(_) => Ok(()),
        Err(ApplyError::Invalid { file, problems }) => {
            let mut stderr = std::io::stderr();
            for p in &problems {
                let _ = writeln!(stderr, "{}", p.located(&file));
            }
            Err(anyhow::anyhow!(ApplyError::Invalid { file, problems }))
        }
        Err(e) => Err(e.into()),
    }
}
