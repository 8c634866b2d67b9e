//! The admin commands of the binary: `pg-slo token issue|list|revoke`.
//!
//! May touch: the database named by `--database-url`, through the extension's token functions
//! only (`slo.issue_token`, `slo.token_list`, `slo.revoke_token`, `slo.revoke_client_tokens`);
//! the operating system's random source; standard output (the issued token, the lists) and
//! standard error (what was done). Connect as a member of the role `slo_admin`.
//!
//! A new token is 32 random bytes from the operating system. Only its SHA-256 and its first
//! characters reach the database; the token itself is printed once, on standard output alone,
//! so that `TOKEN=$(pg-slo token issue ...)` captures it.

use anyhow::{anyhow, bail, Context};
use chrono::{DateTime, Duration, Utc};
use clap::{ArgGroup, Args, Subcommand};
use serde::Serialize;
use slo_core::token::{Token, TOKEN_RANDOM_BYTES};
use slo_core::Identifier;
use std::fmt::Write as _;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};
use tracing::instrument;

/// `pg-slo token ...`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// PostgreSQL connection string of the pg_slo database; connect as a member of slo_admin.
    #[arg(long, env = "DATABASE_URL", global = true)]
    pub database_url: Option<String>,

    #[command(subcommand)]
    pub command: TokenCommand,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Issue a token for a client (created if new) and print it once on standard output.
    Issue(IssueArgs),
    /// List tokens: state, expiry, last use, the client's applications; never the tokens.
    List(ListArgs),
    /// Revoke tokens by id, or every token of a client.
    Revoke(RevokeArgs),
}

/// `pg-slo token issue`.
#[derive(Debug, Args)]
pub struct IssueArgs {
    /// The client id (1 to 128 characters); the client is created when it is new.
    #[arg(long)]
    pub client: String,

    /// Applications the client may post for, comma-separated; added to its grants (required
    /// for a new client; grants are removed with SQL on slo.client_application).
    #[arg(long, value_delimiter = ',')]
    pub apps: Vec<String>,

    /// How long the token lives: a number and a unit m, h or d (for example 90d).
    #[arg(long, conflicts_with = "expires_at")]
    pub expires_in: Option<String>,

    /// When the token expires: RFC 3339 with an offset (for example 2027-03-31T00:00:00Z).
    #[arg(long)]
    pub expires_at: Option<String>,

    /// A note for people: where or why the token is used.
    #[arg(long)]
    pub note: Option<String>,
}

/// `pg-slo token list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only the tokens of this client.
    #[arg(long)]
    pub client: Option<String>,

    /// One JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `pg-slo token revoke`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("what").required(true).args(["token_ids", "client"])))]
pub struct RevokeArgs {
    /// Ids of the tokens to revoke (`pg-slo token list` shows them).
    pub token_ids: Vec<i64>,

    /// Revoke every token of this client instead.
    #[arg(long, conflicts_with = "token_ids")]
    pub client: Option<String>,
}

/// A checked `token issue` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueRequest {
    pub client: Identifier,
    pub apps: Vec<Identifier>,
    pub expires_at: Option<DateTime<Utc>>,
    pub note: Option<String>,
}

impl IssueRequest {
    /// Checks the arguments; errors name the flag and the rule.
    pub fn parse(args: &IssueArgs, now: DateTime<Utc>) -> anyhow::Result<IssueRequest> {
        let client = Identifier::parse(&args.client)
            .map_err(|(_, msg)| anyhow!("--client {:?}: {msg}", args.client))?;
        let mut apps = Vec::new();
        for app in &args.apps {
            let id = Identifier::parse(app).map_err(|(_, msg)| anyhow!("--apps {app:?}: {msg}"))?;
            if !apps.contains(&id) {
                apps.push(id);
            }
        }
        let expires_at = match (&args.expires_in, &args.expires_at) {
            (Some(d), _) => Some(now + parse_lifetime(d)?),
            (None, Some(at)) => {
                let at = DateTime::parse_from_rfc3339(at)
                    .map_err(|_| {
                        anyhow!("--expires-at {at:?}: must be RFC 3339 with an offset, for example 2027-03-31T00:00:00Z")
                    })?
                    .with_timezone(&Utc);
                if at <= now {
                    bail!("--expires-at {at}: must be in the future");
                }
                Some(at)
            }
            (None, None) => None,
        };
        let note = args
            .note
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned);
        Ok(IssueRequest {
            client,
            apps,
            expires_at,
            note,
        })
    }
}

/// A lifetime such as `90d`, `12h`, `30m`: a positive whole number and one unit.
pub fn parse_lifetime(text: &str) -> anyhow::Result<Duration> {
    let rule = || {
        anyhow!(
            "--expires-in {text:?}: must be a positive whole number and a unit m, h or d (for example 90d)"
        )
    };
    let t = text.trim();
    let unit = t.chars().last().ok_or_else(rule)?;
    let n: i64 = t[..t.len() - unit.len_utf8()].parse().map_err(|_| rule())?;
    if n <= 0 {
        return Err(rule());
    }
    let d = match unit {
        'm' => Duration::try_minutes(n),
        'h' => Duration::try_hours(n),
        'd' => Duration::try_days(n),
        _ => None,
    };
    let d = d.ok_or_else(rule)?;
    if d > Duration::days(3660) {
        bail!("--expires-in {text:?}: at most ten years");
    }
    Ok(d)
}

/// A token just issued.
#[derive(Debug, Clone)]
pub struct Issued {
    pub token_id: i64,
    pub token: Token,
    /// The client's applications after the grant.
    pub apps: Vec<String>,
}

/// One row of `token list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenRow {
    pub token_id: i64,
    pub client_id: String,
    pub token_hint: String,
    pub state: String,
    pub note: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub app_ids: Vec<String>,
}

/// A new token of 32 bytes from the operating system's random source.
pub fn new_token() -> anyhow::Result<Token> {
    let mut bytes = [0u8; TOKEN_RANDOM_BYTES];
    getrandom::fill(&mut bytes)
        .map_err(|e| anyhow!("no random bytes from the operating system: {e}"))?;
    Ok(Token::from_random_bytes(&bytes))
}

/// Stores `token` (its hash and hint) for the request's client.
#[instrument(skip_all, fields(client = %request.client))]
pub async fn issue(db: &Client, request: &IssueRequest, token: Token) -> anyhow::Result<Issued> {
    let apps: Vec<&str> = request.apps.iter().map(Identifier::as_str).collect();
    let hash = token.hash();
    let row = db
        .query_one(
            "SELECT slo.issue_token($1, $2, $3, $4, $5, $6)",
            &[
                &request.client.as_str(),
                &apps,
                &hash.as_slice(),
                &token.hint(),
                &request.expires_at,
                &request.note,
            ],
        )
        .await
        .map_err(|e| admin_db_error(e, "issuing the token"))?;
    // A statement of its own: it sees the grants the function just added.
    let apps = db
        .query_one(
            "SELECT ARRAY(SELECT g.app_id FROM slo.client_application g WHERE g.client_id = $1 ORDER BY 1)",
            &[&request.client.as_str()],
        )
        .await
        .map_err(|e| admin_db_error(e, "reading the client's applications"))?;
    Ok(Issued {
        token_id: row.get(0),
        token,
        apps: apps.get(0),
    })
}

/// The tokens of one client, or all.
#[instrument(skip_all)]
pub async fn list(db: &Client, client: Option<&str>) -> anyhow::Result<Vec<TokenRow>> {
    let rows = db
        .query(
            "SELECT token_id, client_id, token_hint, state, note, created_at, expires_at, revoked_at,
                    last_used_at, app_ids
             FROM slo.token_list($1)",
            &[&client],
        )
        .await
        .map_err(|e| admin_db_error(e, "listing tokens"))?;
    Ok(rows
        .iter()
        .map(|r| TokenRow {
            token_id: r.get(0),
            client_id: r.get(1),
            token_hint: r.get(2),
            state: r.get(3),
            note: r.get(4),
            created_at: r.get(5),
            expires_at: r.get(6),
            revoked_at: r.get(7),
            last_used_at: r.get(8),
            app_ids: r.get(9),
        })
        .collect())
}

/// Revokes one token; returns when it was revoked (earlier, if it already was).
#[instrument(skip(db))]
pub async fn revoke(db: &Client, token_id: i64) -> anyhow::Result<DateTime<Utc>> {
    let row = db
        .query_one("SELECT slo.revoke_token($1)", &[&token_id])
        .await
        .map_err(|e| admin_db_error(e, "revoking the token"))?;
    Ok(row.get(0))
}

/// Revokes every token of a client that is not revoked yet; returns how many.
#[instrument(skip(db))]
pub async fn revoke_client(db: &Client, client: &str) -> anyhow::Result<i32> {
    let row = db
        .query_one("SELECT slo.revoke_client_tokens($1)", &[&client])
        .await
        .map_err(|e| admin_db_error(e, "revoking the client's tokens"))?;
    Ok(row.get(0))
}

/// Runs a `pg-slo token` command, printing its result.
pub async fn run(args: TokenArgs) -> anyhow::Result<()> {
    let url = args
        .database_url
        .ok_or_else(|| anyhow!("--database-url (or DATABASE_URL) is required"))?;
    match args.command {
        TokenCommand::Issue(a) => {
            let request = IssueRequest::parse(&a, Utc::now())?;
            let db = connect(&url).await?;
            let issued = issue(&db, &request, new_token()?).await?;
            println!("{}", issued.token.expose());
            eprintln!(
                "Issued token {} ({}) for client {:?}, which may post for: {}. Expires: {}.\n\
                 This is the only time the token is shown: give it to the client's secret store now.",
                issued.token_id,
                issued.token.hint(),
                request.client.as_str(),
                issued.apps.join(", "),
                request
                    .expires_at
                    .map(|t| format_time(&t))
                    .unwrap_or_else(|| "never".into()),
            );
        }
        TokenCommand::List(a) => {
            let db = connect(&url).await?;
            let rows = list(&db, a.client.as_deref()).await?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                print!("{}", table(&rows));
            }
        }
        TokenCommand::Revoke(a) => {
            let db = connect(&url).await?;
            if let Some(client) = &a.client {
                let n = revoke_client(&db, client).await?;
                eprintln!("Revoked {n} token(s) of client {client:?}.");
            }
            for id in &a.token_ids {
                let at = revoke(&db, *id).await?;
                eprintln!("Token {id} is revoked (since {}).", format_time(&at));
            }
            eprintln!(
                "API instances refuse a revoked token within their --auth-cache-secs (default 10 seconds)."
            );
        }
    }
    Ok(())
}

async fn connect(url: &str) -> anyhow::Result<Client> {
    let mut config: tokio_postgres::Config = url
        .parse()
        .context("--database-url is not a valid connection string")?;
    config.application_name("pg-slo token");
    let (client, connection) = config
        .connect(NoTls)
        .await
        .context("connecting to the database")?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::error!(error = %e, "database connection lost");
        }
    });
    Ok(client)
}

/// Errors of the token functions carry their own sentence (the argument and the rule); others
/// keep their cause. Operators see these, not HTTP clients.
fn admin_db_error(e: tokio_postgres::Error, doing: &str) -> anyhow::Error {
    let Some(db) = e.as_db_error() else {
        return anyhow::Error::new(e).context(doing.to_owned());
    };
    let code = db.code();
    if *code == SqlState::INSUFFICIENT_PRIVILEGE {
        anyhow!(
            "{doing}: {} (connect as a member of the role slo_admin)",
            db.message()
        )
    } else if [
        SqlState::UNDEFINED_FUNCTION,
        SqlState::UNDEFINED_TABLE,
        SqlState::INVALID_SCHEMA_NAME,
    ]
    .contains(code)
    {
        anyhow!(
            "{doing}: the database has no pg_slo extension with tokens (CREATE EXTENSION pg_slo)"
        )
    } else if *code == SqlState::UNIQUE_VIOLATION {
        anyhow!("{doing}: a token with the same hash exists already; issue again")
    } else if [
        SqlState::INVALID_PARAMETER_VALUE,
        SqlState::FOREIGN_KEY_VIOLATION,
        SqlState::NO_DATA_FOUND,
        SqlState::CHECK_VIOLATION,
    ]
    .contains(code)
    {
        anyhow!("{doing}: {}", db.message())
    } else {
        anyhow::Error::new(e).context(doing.to_owned())
    }
}

fn format_time(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The rows as an aligned text table.
fn table(rows: &[TokenRow]) -> String {
    let time = |t: &Option<DateTime<Utc>>, none: &str| {
        t.as_ref()
            .map(format_time)
            .unwrap_or_else(|| none.to_owned())
    };
    let mut cells = vec![[
        "ID",
        "CLIENT",
        "TOKEN",
        "STATE",
        "CREATED",
        "EXPIRES",
        "LAST USED",
        "APPLICATIONS",
        "NOTE",
    ]
    .map(str::to_owned)];
    for r in rows {
        cells.push([
            r.token_id.to_string(),
            r.client_id.clone(),
            format!("{}...", r.token_hint),
            r.state.clone(),
            format_time(&r.created_at),
            time(&r.expires_at, "never"),
            time(&r.last_used_at, "-"),
            r.app_ids.join(","),
            r.note.clone().unwrap_or_default(),
        ]);
    }
    let mut widths = [0usize; 9];
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for row in &cells {
        let mut line = String::new();
        for (i, (w, c)) in widths.iter().zip(row).enumerate() {
            if i + 1 == row.len() {
                line.push_str(c);
            } else {
                let _ = write!(line, "{c}{}  ", " ".repeat(w - c.chars().count()));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(client: &str, apps: &[&str]) -> IssueArgs {
        IssueArgs {
            client: client.to_owned(),
            apps: apps.iter().map(|a| a.to_string()).collect(),
            expires_in: None,
            expires_at: None,
            note: None,
        }
    }

    #[test]
    fn lifetimes_take_minutes_hours_and_days() {
        assert_eq!(parse_lifetime("90d").unwrap(), Duration::days(90));
        assert_eq!(parse_lifetime("12h").unwrap(), Duration::hours(12));
        assert_eq!(parse_lifetime("30m").unwrap(), Duration::minutes(30));
        for bad in ["", "d", "0d", "-1d", "5", "5s", "1.5d", "99999d"] {
            let err = parse_lifetime(bad).unwrap_err().to_string();
            assert!(err.starts_with("--expires-in"), "{bad}: {err}");
        }
    }

    #[test]
    fn an_issue_request_names_the_flag_it_refuses() {
        let now = Utc::now();
        let err = IssueRequest::parse(&args(" x", &["overdrafts"]), now).unwrap_err();
        assert!(err.to_string().starts_with("--client \" x\""), "{err}");
        let err = IssueRequest::parse(&args("x", &["over\ndrafts"]), now).unwrap_err();
        assert!(err.to_string().starts_with("--apps"), "{err}");
        let mut a = args("x", &["overdrafts"]);
        a.expires_at = Some("2020-01-01T00:00:00Z".into());
        let err = IssueRequest::parse(&a, now).unwrap_err();
        assert!(err.to_string().contains("must be in the future"), "{err}");
        a.expires_at = Some("2030-01-01 00:00".into());
        let err = IssueRequest::parse(&a, now).unwrap_err();
        assert!(err.to_string().contains("RFC 3339"), "{err}");
    }

    #[test]
    fn an_issue_request_keeps_each_application_once_and_computes_the_expiry() {
        let now = Utc::now();
        let mut a = args("sched", &["overdrafts", "deposits", "overdrafts"]);
        a.expires_in = Some("2h".into());
        a.note = Some("  ".into());
        let r = IssueRequest::parse(&a, now).unwrap();
        assert_eq!(
            r.apps.iter().map(Identifier::as_str).collect::<Vec<_>>(),
            vec!["overdrafts", "deposits"]
        );
        assert_eq!(r.expires_at, Some(now + Duration::hours(2)));
        assert_eq!(r.note, None);
    }

    #[test]
    fn new_tokens_are_random_and_well_formed() {
        let a = new_token().unwrap();
        let b = new_token().unwrap();
        assert_ne!(a, b);
        assert_eq!(Token::parse(a.expose()).unwrap(), a);
    }

    #[test]
    fn the_list_table_aligns_its_columns_and_never_shows_a_token() {
        let t = Utc::now();
        let rows = vec![TokenRow {
            token_id: 12,
            client_id: "sched-east".into(),
            token_hint: "pgslo_1a2b3c".into(),
            state: "active".into(),
            note: Some("batch01".into()),
            created_at: t,
            expires_at: None,
            revoked_at: None,
            last_used_at: None,
            app_ids: vec!["deposits".into(), "overdrafts".into()],
        }];
        let out = table(&rows);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].find("CLIENT"), lines[1].find("sched-east"));
        assert_eq!(lines[0].find("STATE"), lines[1].find("active"));
        assert!(lines[1].contains("pgslo_1a2b3c..."));
        assert!(lines[1].contains("deposits,overdrafts"));
        assert!(lines[1].ends_with("batch01"));
    }
}
