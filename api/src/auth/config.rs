//! The settings of authentication: flags of `pg-slo serve`, each with an environment variable.
//! Touches nothing but the process arguments and environment.

use clap::Args;
use std::path::PathBuf;

/// Seconds a verified pg_slo token is trusted before it is checked again: the bound on how long
/// a revoked token keeps working on one instance.
pub const DEFAULT_AUTH_CACHE_SECS: u64 = 10;
/// Seconds between two reports of token use (`slo.client_token.last_used_at`).
pub const DEFAULT_TOKEN_USE_FLUSH_SECS: u64 = 60;
/// Seconds of clock skew allowed on `exp` and `nbf` of a JWT.
pub const DEFAULT_JWT_LEEWAY_SECS: u64 = 30;
/// The JWT claim that carries the client id.
pub const DEFAULT_JWT_CLIENT_CLAIM: &str = "sub";

/// How `POST /v1/job-status` authenticates its callers.
#[derive(Debug, Clone, Args)]
pub struct AuthConfig {
    /// Accept events without any token (client_id left NULL). For development only: a warning
    /// is logged at start. Authentication is on unless this is given.
    #[arg(long, env = "PG_SLO_INSECURE_NO_AUTH")]
    pub insecure_no_auth: bool,

    /// Seconds a verified pg_slo token is trusted without asking the database again; a revoked
    /// or expired token is refused at most this long after the change (0: ask on every request).
    #[arg(long, env = "PG_SLO_AUTH_CACHE_SECS", default_value_t = DEFAULT_AUTH_CACHE_SECS,
          value_parser = clap::value_parser!(u64).range(0..=300))]
    pub auth_cache_secs: u64,

    /// Seconds between two reports of token use to the database (slo.client_token.last_used_at).
    #[arg(long, env = "PG_SLO_TOKEN_USE_FLUSH_SECS", default_value_t = DEFAULT_TOKEN_USE_FLUSH_SECS,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub token_use_flush_secs: u64,

    /// File holding the HS256 shared secret (at least 32 bytes; a trailing newline is ignored).
    #[arg(long, env = "PG_SLO_JWT_HS256_SECRET_FILE")]
    pub jwt_hs256_secret_file: Option<PathBuf>,

    /// PEM file of the RSA public key that verifies RS256 tokens.
    #[arg(long, env = "PG_SLO_JWT_RS256_PUBLIC_KEY_FILE")]
    pub jwt_rs256_public_key_file: Option<PathBuf>,

    /// JWKS file (JSON Web Key Set) whose RSA keys verify RS256 tokens, chosen by the token's `kid`.
    #[arg(long, env = "PG_SLO_JWT_JWKS_FILE")]
    pub jwt_jwks_file: Option<PathBuf>,

    /// The audience (`aud`) a JWT must name; required when any JWT key is configured.
    #[arg(long, env = "PG_SLO_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,

    /// The issuer (`iss`) a JWT must name, when given.
    #[arg(long, env = "PG_SLO_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,

    /// The JWT claim whose value is the client id (slo.client.client_id).
    #[arg(long, env = "PG_SLO_JWT_CLIENT_CLAIM", default_value = DEFAULT_JWT_CLIENT_CLAIM)]
    pub jwt_client_claim: String,

    /// Seconds of clock skew allowed when checking a JWT's `exp` and `nbf`.
    #[arg(long, env = "PG_SLO_JWT_LEEWAY_SECS", default_value_t = DEFAULT_JWT_LEEWAY_SECS,
          value_parser = clap::value_parser!(u64).range(0..=300))]
    pub jwt_leeway_secs: u64,
}

impl AuthConfig {
    /// Whether any JWT key is configured.
    pub fn jwt_enabled(&self) -> bool {
        self.jwt_hs256_secret_file.is_some()
            || self.jwt_rs256_public_key_file.is_some()
            || self.jwt_jwks_file.is_some()
    }
}

impl Default for AuthConfig {
    /// The same values as the flags' defaults: authentication on, pg_slo tokens only.
    fn default() -> Self {
        AuthConfig {
            insecure_no_auth: false,
            auth_cache_secs: DEFAULT_AUTH_CACHE_SECS,
            token_use_flush_secs: DEFAULT_TOKEN_USE_FLUSH_SECS,
            jwt_hs256_secret_file: None,
            jwt_rs256_public_key_file: None,
            jwt_jwks_file: None,
            jwt_audience: None,
            jwt_issuer: None,
            jwt_client_claim: DEFAULT_JWT_CLIENT_CLAIM.to_owned(),
            jwt_leeway_secs: DEFAULT_JWT_LEEWAY_SECS,
        }
    }
}
