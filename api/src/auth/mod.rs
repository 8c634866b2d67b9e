//! Authentication of `POST /v1/job-status`: who is posting (CONTRACT section 7, "Auth").
//!
//! A caller sends `Authorization: Bearer <token>`, with a pg_slo token (`pgslo_...`, issued by
//! `pg-slo token issue`) or a signed JWT (when keys are configured). This module says who the
//! client is, or answers `401`, and carries the extension's recent answer to what the client may
//! post for (`slo.allowed_applications`). It never decides that itself: a batch whose
//! applications are all in that answer is stored; any other batch is checked by the extension
//! (`slo.denied_applications`) in the statement that inserts it, which refuses it or stores it.
//! So the API, the ingest adapters and any later service give the same answer, and the only
//! difference caching makes is how late a revocation is seen (at most `--auth-cache-secs`).
//!
//! May touch: the request's `Authorization` header; the database through [`repo`] only
//! (`slo.authenticate`, `slo.allowed_applications`, `slo.record_token_use`); memory ([`cache`],
//! [`usage`]).
//!
//! Costs: a pg_slo token is hashed (SHA-256) and looked up in the database once per
//! `--auth-cache-secs` per instance; in between it costs a hash and a map look-up. A JWT is
//! verified locally once per `--auth-cache-secs` (never kept past its `exp`), and its client's
//! applications are looked up in the database as often. Token use is reported once per `--token-use-flush-secs`, never by the
//! request.

pub mod cache;
pub mod config;
pub mod jwt;
pub mod repo;
pub mod usage;
pub mod writer;

use crate::error::{ApiError, AuthFailure};
use crate::startup::AppState;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::HeaderValue;
use cache::{time_left, Allowed, TokenIdentity, TtlCache};
use chrono::Utc;
use config::AuthConfig;
use deadpool_postgres::Pool;
use jwt::JwtVerifier;
use slo_core::token::{parse_bearer, token_hash, Bearer, BearerError, Token};
use std::sync::Arc;
use std::time::{Duration, Instant};
use usage::UsageRecorder;

/// How a client proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// A pg_slo token, by its id.
    Token(i64),
    /// A signed JWT.
    Jwt,
}

/// The caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// An authenticated client, with the applications the extension said (at most
    /// `--auth-cache-secs` ago) that it may post for.
    Client {
        client_id: Arc<str>,
        method: Method,
        allowed: Allowed,
    },
    /// Nobody in particular: authentication is off (`--insecure-no-auth`).
    Anonymous,
}

impl Caller {
    /// The client id to store on the events and to authorize, when there is one.
    pub fn client_id(&self) -> Option<&str> {
        match self {
            Caller::Client { client_id, .. } => Some(client_id),
            Caller::Anonymous => None,
        }
    }

    /// Whose share of the rate limit a request uses: its client's, or one shared by all when
    /// authentication is off.
    pub fn rate_key(&self) -> &str {
        self.client_id().unwrap_or("")
    }

    /// Whether the extension said, recently, that the client may post for every one of
    /// `app_ids`. When it did not, the insert asks the extension again, in its own statement.
    pub fn recently_allowed<'a>(&self, mut app_ids: impl Iterator<Item = &'a str>) -> bool {
        match self {
            Caller::Client { allowed, .. } => app_ids.all(|a| allowed.contains(a)),
            Caller::Anonymous => true,
        }
    }
}

/// Says who a request comes from. Built once per service.
#[derive(Debug)]
pub struct Authenticator {
    enabled: bool,
    pool: Pool,
    /// Token hash → who it is (`None`: not valid).
    tokens: TtlCache<[u8; 32], Option<TokenIdentity>>,
    /// Client id (authenticated by a JWT) → what it may post for.
    grants: TtlCache<Arc<str>, Allowed>,
    /// SHA-256 of a verified JWT → its client id, kept until its `exp` at the latest.
    jwts: TtlCache<[u8; 32], Arc<str>>,
    jwt: Option<JwtVerifier>,
    usage: Arc<UsageRecorder>,
}

impl Authenticator {
    /// Reads the JWT keys, if any; errors name the flag at fault.
    pub fn from_config(config: &AuthConfig, pool: Pool) -> anyhow::Result<Authenticator> {
        if config.insecure_no_auth && config.jwt_enabled() {
            anyhow::bail!("--insecure-no-auth cannot be combined with JWT settings: choose one");
        }
        let jwt = JwtVerifier::from_config(config)?;
        let ttl = Duration::from_secs(config.auth_cache_secs);
        Ok(Authenticator {
            enabled: !config.insecure_no_auth,
            pool,
            tokens: TtlCache::new(ttl),
            grants: TtlCache::new(ttl),
            jwts: TtlCache::new(ttl),
            jwt,
            usage: Arc::new(UsageRecorder::default()),
        })
    }

    /// Whether requests must authenticate.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Whether signed JWTs are accepted.
    pub fn accepts_jwt(&self) -> bool {
        self.jwt.is_some()
    }

    /// The recorder of token use, for the task that reports it.
    pub fn usage(&self) -> Arc<UsageRecorder> {
        self.usage.clone()
    }

    /// The caller of a request with this `Authorization` header, or `401`.
    pub async fn authenticate(&self, header: Option<&HeaderValue>) -> Result<Caller, ApiError> {
        if !self.enabled {
            return Ok(Caller::Anonymous);
        }
        let result = self.identify(header).await;
        match &result {
            Ok(Caller::Client {
                client_id, method, ..
            }) => {
                tracing::Span::current().record("client_id", &**client_id);
                if let Method::Token(token_id) = method {
                    self.usage.record(*token_id, Utc::now());
                }
            }
            Ok(Caller::Anonymous) => {}
            Err(ApiError::Unauthenticated(failure)) => {
                tracing::warn!(reason = failure.code(), detail = %failure, "authentication failed");
            }
            Err(_) => {}
        }
        result
    }

    async fn identify(&self, header: Option<&HeaderValue>) -> Result<Caller, ApiError> {
        let text = match header {
            None => None,
            Some(v) => Some(
                v.to_str()
                    .map_err(|_| ApiError::Unauthenticated(AuthFailure::NotBearer))?,
            ),
        };
        let bearer = parse_bearer(text).map_err(|e| {
            ApiError::Unauthenticated(match e {
                BearerError::Missing => AuthFailure::Missing,
                BearerError::NotBearer => AuthFailure::NotBearer,
                BearerError::UnknownShape => AuthFailure::UnknownShape,
            })
        })?;
        match bearer {
            Bearer::Token(text) => {
                let token = Token::parse(text)
                    .map_err(|_| ApiError::Unauthenticated(AuthFailure::InvalidToken))?;
                let identity = self.token_identity(&token).await?;
                Ok(Caller::Client {
                    client_id: identity.client_id,
                    method: Method::Token(identity.token_id),
                    allowed: identity.allowed,
                })
            }
            Bearer::Jwt(text) => {
                let verifier = self
                    .jwt
                    .as_ref()
                    .ok_or(ApiError::Unauthenticated(AuthFailure::JwtNotAccepted))?;
                let key = token_hash(text);
                let client_id = match self.jwts.get(&key, Instant::now()) {
                    Some(client_id) => client_id,
                    None => {
                        let verified = verifier.verify(text).map_err(|rejection| {
                            ApiError::Unauthenticated(AuthFailure::Jwt(rejection.to_string()))
                        })?;
                        let client_id: Arc<str> = verified.client_id.as_str().into();
                        let left = time_left(Some(verified.expires_at), Utc::now());
                        self.jwts.put(key, client_id.clone(), Instant::now(), left);
                        client_id
                    }
                };
                let allowed = self.client_grants(&client_id).await?;
                Ok(Caller::Client {
                    client_id,
                    method: Method::Jwt,
                    allowed,
                })
            }
        }
    }

    /// Who a pg_slo token is: from the cache, or from the database (and then cached).
    async fn token_identity(&self, token: &Token) -> Result<TokenIdentity, ApiError> {
        let hash = token.hash();
        match self.tokens.get(&hash, Instant::now()) {
            Some(Some(identity)) => return Ok(identity),
            Some(None) => return Err(ApiError::Unauthenticated(AuthFailure::InvalidToken)),
            None => {}
        }
        let answer = repo::authenticate(&self.pool, &hash).await?;
        let (now, now_utc) = (Instant::now(), Utc::now());
        match answer {
            Some(found) => {
                let identity = TokenIdentity {
                    client_id: found.client_id.into(),
                    token_id: found.token_id,
                    allowed: Arc::new(found.allowed.into_iter().collect()),
                };
                let left = time_left(found.expires_at, now_utc);
                self.tokens.put(hash, Some(identity.clone()), now, left);
                Ok(identity)
            }
            None => {
                tracing::info!(
                    token = token.hint(),
                    "a pg_slo token that is not valid was presented"
                );
                self.tokens.put(hash, None, now, None);
                Err(ApiError::Unauthenticated(AuthFailure::InvalidToken))
            }
        }
    }

    /// What a client authenticated by a JWT may post for: from the cache, or from the database.
    async fn client_grants(&self, client_id: &Arc<str>) -> Result<Allowed, ApiError> {
        if let Some(allowed) = self.grants.get(client_id, Instant::now()) {
            return Ok(allowed);
        }
        let allowed: Allowed = Arc::new(
            repo::allowed_applications(&self.pool, client_id)
                .await?
                .into_iter()
                .collect(),
        );
        self.grants
            .put(client_id.clone(), allowed.clone(), Instant::now(), None);
        Ok(allowed)
    }
}

/// The caller of a request, as an extractor: a handler that takes a `Caller` answers `401`
/// before it reads the body when the request does not authenticate.
impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        state
            .auth
            .authenticate(parts.headers.get(AUTHORIZATION))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(apps: &[&str]) -> Caller {
        Caller::Client {
            client_id: "sched".into(),
            method: Method::Jwt,
            allowed: Arc::new(apps.iter().map(|a| a.to_string()).collect()),
        }
    }

    #[test]
    fn a_batch_is_recently_allowed_only_when_every_application_was_allowed() {
        let c = client(&["overdrafts", "deposits"]);
        assert!(c.recently_allowed(["overdrafts", "deposits", "overdrafts"].into_iter()));
        assert!(!c.recently_allowed(["overdrafts", "payments"].into_iter()));
        assert!(!client(&[]).recently_allowed(["overdrafts"].into_iter()));
        assert!(Caller::Anonymous.recently_allowed(["anything"].into_iter()));
        assert_eq!(Caller::Anonymous.client_id(), None);
        assert_eq!(Caller::Anonymous.rate_key(), "");
        assert_eq!(c.rate_key(), "sched");
    }
}
