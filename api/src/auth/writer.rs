//! Who the bulk writers (`pg-slo ingest kafka`, `pg-slo backfill`) post as: the same rule as the
//! API's, so no event is stored without a client the extension authorized.
//!
//! A bulk writer has no bearer token to check: the operator names the client with
//! `--client-id`, and every event is checked against what that client may post for
//! (`slo.denied_applications`, asked in the writing transaction); events of other applications are
//! refused one by one (dead letters, reject-file lines), never stored. Turning the check off takes
//! `--insecure-no-auth` and logs a warning at start, as `pg-slo serve` does. Touches nothing but
//! the process arguments and environment.

use clap::Args;

/// The flags naming who a bulk writer posts as.
#[derive(Debug, Clone, Args)]
pub struct WriterAuthArgs {
    /// The client the events are posted as: stored as `client_id` on every row, and each event is
    /// stored only when this client may post for its application (slo.client_application).
    /// Required unless --insecure-no-auth is given.
    #[arg(long, value_parser = parse_client_id)]
    pub client_id: Option<String>,

    /// Store events without a client and without asking what a client may post (client_id left
    /// NULL). For development only: a warning is logged at start.
    #[arg(long, conflicts_with = "client_id")]
    pub insecure_no_auth: bool,
}

fn parse_client_id(s: &str) -> Result<String, String> {
    slo_core::Identifier::parse(s)
        .map(|id| id.as_str().to_owned())
        .map_err(|(_, message)| format!("client id {message}"))
}

/// Who a bulk writer posts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriterIdentity {
    /// This client, whose applications the extension checks.
    Client(String),
    /// Nobody: authentication is off.
    Anonymous,
}

impl WriterIdentity {
    /// The client id to store and to check, when there is one.
    pub fn client_id(&self) -> Option<&str> {
        match self {
            WriterIdentity::Client(c) => Some(c),
            WriterIdentity::Anonymous => None,
        }
    }
}

impl WriterAuthArgs {
    /// The identity, or why the command cannot start. Logs the warning when authentication is off.
    pub fn identity(&self, command: &str) -> anyhow::Result<WriterIdentity> {
        match (&self.client_id, self.insecure_no_auth) {
            (Some(c), false) => Ok(WriterIdentity::Client(c.clone())),
            (None, true) => {
                tracing::warn!(
                    command,
                    "authentication is OFF (--insecure-no-auth): events are stored without a client and without any authorization check"
                );
                Ok(WriterIdentity::Anonymous)
            }
            (None, false) => anyhow::bail!(
                "{command}: --client-id is required (the client the events are posted as; only \
                 the applications it may post for are stored); --insecure-no-auth turns the check off"
            ),
            (Some(_), true) => {
                anyhow::bail!("{command}: --client-id and --insecure-no-auth cannot be combined")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        auth: WriterAuthArgs,
    }

    fn identity(args: &[&str]) -> anyhow::Result<WriterIdentity> {
        let cli = Cli::try_parse_from(std::iter::once("x").chain(args.iter().copied()))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        cli.auth.identity("x")
    }

    #[test]
    fn a_client_or_the_explicit_flag_is_required() {
        assert_eq!(
            identity(&["--client-id", "scheduler-a"]).unwrap(),
            WriterIdentity::Client("scheduler-a".into())
        );
        assert_eq!(
            identity(&["--insecure-no-auth"]).unwrap(),
            WriterIdentity::Anonymous
        );
        let err = identity(&[]).unwrap_err().to_string();
        assert!(err.contains("--client-id is required"), "{err}");
        assert!(identity(&["--client-id", "a", "--insecure-no-auth"]).is_err());
        let err = identity(&["--client-id", " padded "])
            .unwrap_err()
            .to_string();
        assert!(err.contains("client id"), "{err}");
    }
}
