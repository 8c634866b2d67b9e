//! JSON Web Tokens: verification of a bearer JWT against the configured keys, and the client
//! id it carries. Touches the key files once, at start; nothing at request time but the token.
//!
//! Accepted: HS256 with the configured shared secret, and RS256 with the configured RSA public
//! key or a key of the configured JWKS file (chosen by the token's `kid`). A token must be
//! signed with an accepted algorithm by a configured key, name the configured audience (and
//! issuer, when one is configured), carry `exp` and not be expired (nor before its `nbf`),
//! allowing the configured clock skew. Unsigned tokens (`alg: none`) and every other algorithm
//! are refused. The caller may keep a verified token's answer until its `exp` at the latest
//! (nothing else can make a verified signature invalid). A JWT only says who the client is: what it may post for is decided by the
//! extension from `slo.client_application`, as for pg_slo tokens.

use super::config::AuthConfig;
use anyhow::{bail, Context};
use base64::Engine;
use chrono::{DateTime, Utc};
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{errors::ErrorKind, Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use slo_core::Identifier;
use std::path::Path;

/// The shortest HS256 secret accepted: the hash's output size (RFC 7518 section 3.2).
pub const MIN_HS256_SECRET_BYTES: usize = 32;

/// Why a JWT is refused. Each sentence is safe to return to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtRejection {
    #[error("its header is not base64url-encoded JSON with an `alg`")]
    MalformedHeader,
    #[error("it is unsigned (alg \"none\")")]
    Unsigned,
    #[error("its algorithm {0:?} is not accepted here")]
    Algorithm(String),
    #[error("no configured key has its key id {0:?}")]
    UnknownKeyId(String),
    #[error("it names no key id (kid), and several keys are configured")]
    NoKeyId,
    #[error("its signature does not verify")]
    Signature,
    #[error("it has expired")]
    Expired,
    #[error("it is not valid yet (nbf)")]
    NotYetValid,
    #[error("its audience (aud) is not the one this service accepts")]
    Audience,
    #[error("its issuer (iss) is not the one this service accepts")]
    Issuer,
    #[error("it has no {0:?} claim")]
    MissingClaim(String),
    #[error("its {claim:?} claim is not a valid client id ({reason})")]
    ClientClaim { claim: String, reason: String },
    #[error("it is malformed")]
    Malformed,
}

/// What a verified JWT says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedJwt {
    /// The client id, from the configured claim.
    pub client_id: Identifier,
    /// Its `exp`.
    pub expires_at: DateTime<Utc>,
}

/// A configured RS256 key, with the key id it answers to (`None`: a PEM key, which has none).
struct RsaKey {
    kid: Option<String>,
    key: DecodingKey,
}

/// See the module documentation.
pub struct JwtVerifier {
    hs256: Option<DecodingKey>,
    rs256: Vec<RsaKey>,
    audience: String,
    issuer: Option<String>,
    client_claim: String,
    leeway: u64,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("hs256", &self.hs256.is_some())
            .field("rs256_keys", &self.rs256.len())
            .field("audience", &self.audience)
            .field("issuer", &self.issuer)
            .field("client_claim", &self.client_claim)
            .finish()
    }
}

impl JwtVerifier {
    /// Reads the configured keys; `None` when no JWT key is configured. Errors name the flag.
    pub fn from_config(config: &AuthConfig) -> anyhow::Result<Option<JwtVerifier>> {
        if !config.jwt_enabled() {
            return Ok(None);
        }
        let audience = match config.jwt_audience.as_deref().map(str::trim) {
            Some(a) if !a.is_empty() => a.to_owned(),
            _ => bail!(
                "--jwt-audience is required when a JWT key is configured: without it, tokens \
                 issued for other services would be accepted"
            ),
        };
        let client_claim = config.jwt_client_claim.trim();
        if client_claim.is_empty() {
            bail!("--jwt-client-claim: must not be empty");
        }
        let hs256 = match &config.jwt_hs256_secret_file {
            Some(path) => Some(read_hs256_secret(path)?),
            None => None,
        };
        let mut rs256 = Vec::new();
        if let Some(path) = &config.jwt_rs256_public_key_file {
            let pem = std::fs::read(path).with_context(|| {
                format!(
                    "--jwt-rs256-public-key-file: cannot read {}",
                    path.display()
                )
            })?;
            let key = DecodingKey::from_rsa_pem(&pem).map_err(|e| {
                anyhow::anyhow!(
                    "--jwt-rs256-public-key-file: {} is not a PEM RSA public key ({e})",
                    path.display()
                )
            })?;
            rs256.push(RsaKey { kid: None, key });
        }
        if let Some(path) = &config.jwt_jwks_file {
            rs256.extend(read_jwks(path)?);
        }
        Ok(Some(JwtVerifier {
            hs256,
            rs256,
            audience,
            issuer: config
                .jwt_issuer
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
            client_claim: client_claim.to_owned(),
            leeway: config.jwt_leeway_secs,
        }))
    }

    /// Verifies `token` and returns the client id of its configured claim, and its expiry.
    pub fn verify(&self, token: &str) -> Result<VerifiedJwt, JwtRejection> {
        let header = read_header(token)?;
        let alg = header
            .get("alg")
            .and_then(Value::as_str)
            .ok_or(JwtRejection::MalformedHeader)?;
        let kid = header.get("kid").and_then(Value::as_str);
        let (algorithm, key) = match alg {
            a if a.eq_ignore_ascii_case("none") => return Err(JwtRejection::Unsigned),
            "HS256" => match &self.hs256 {
                Some(key) => (Algorithm::HS256, key),
                None => return Err(JwtRejection::Algorithm(alg.to_owned())),
            },
            "RS256" if !self.rs256.is_empty() => (Algorithm::RS256, self.rs256_key(kid)?),
            other => return Err(JwtRejection::Algorithm(other.to_owned())),
        };
        let mut validation = Validation::new(algorithm);
        validation.leeway = self.leeway;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_audience(&[&self.audience]);
        let mut required = vec!["exp", "aud"];
        if let Some(issuer) = &self.issuer {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        validation.set_required_spec_claims(&required);
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation)
            .map_err(|e| rejection(e.kind()))?;
        let claim = data
            .claims
            .get(&self.client_claim)
            .ok_or_else(|| JwtRejection::MissingClaim(self.client_claim.clone()))?;
        let text = claim.as_str().ok_or_else(|| JwtRejection::ClientClaim {
            claim: self.client_claim.clone(),
            reason: "not a string".into(),
        })?;
        let client_id =
            Identifier::parse(text).map_err(|(_, reason)| JwtRejection::ClientClaim {
                claim: self.client_claim.clone(),
                reason,
            })?;
        // `exp` is required and was checked above, so it is a number of seconds.
        let expires_at = data
            .claims
            .get("exp")
            .and_then(Value::as_u64)
            .and_then(|secs| i64::try_from(secs).ok())
            .and_then(|secs| DateTime::<Utc>::from_timestamp(secs, 0))
            .ok_or_else(|| JwtRejection::MissingClaim("exp".into()))?;
        Ok(VerifiedJwt {
            client_id,
            expires_at,
        })
    }

    /// The RS256 key for a token's `kid`: the JWKS key with that id, else the PEM key; without a
    /// `kid`, the PEM key, else the only key.
    fn rs256_key(&self, kid: Option<&str>) -> Result<&DecodingKey, JwtRejection> {
        let pem = self.rs256.iter().find(|k| k.kid.is_none());
        match kid {
            Some(kid) => self
                .rs256
                .iter()
                .find(|k| k.kid.as_deref() == Some(kid))
                .or(pem)
                .map(|k| &k.key)
                .ok_or_else(|| JwtRejection::UnknownKeyId(kid.to_owned())),
            None => match (pem, self.rs256.as_slice()) {
                (Some(k), _) => Ok(&k.key),
                (None, [only]) => Ok(&only.key),
                _ => Err(JwtRejection::NoKeyId),
            },
        }
    }
}

/// The decoded JSON header of a JWT, read before its signature is checked (to pick the key).
fn read_header(token: &str) -> Result<Map<String, Value>, JwtRejection> {
    let first = token.split('.').next().unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(first.trim_end_matches('='))
        .map_err(|_| JwtRejection::MalformedHeader)?;
    serde_json::from_slice(&bytes).map_err(|_| JwtRejection::MalformedHeader)
}

fn rejection(kind: &ErrorKind) -> JwtRejection {
    match kind {
        ErrorKind::InvalidSignature => JwtRejection::Signature,
        ErrorKind::ExpiredSignature => JwtRejection::Expired,
        ErrorKind::ImmatureSignature => JwtRejection::NotYetValid,
        ErrorKind::InvalidAudience => JwtRejection::Audience,
        ErrorKind::InvalidIssuer => JwtRejection::Issuer,
        ErrorKind::MissingRequiredClaim(c) => JwtRejection::MissingClaim(c.clone()),
        ErrorKind::InvalidAlgorithm => JwtRejection::Algorithm("for this key".into()),
        _ => JwtRejection::Malformed,
    }
}

fn read_hs256_secret(path: &Path) -> anyhow::Result<DecodingKey> {
    let mut secret = std::fs::read(path)
        .with_context(|| format!("--jwt-hs256-secret-file: cannot read {}", path.display()))?;
    while secret.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        secret.pop();
    }
    if secret.len() < MIN_HS256_SECRET_BYTES {
        bail!(
            "--jwt-hs256-secret-file: the secret in {} must be at least {MIN_HS256_SECRET_BYTES} bytes \
             (got {})",
            path.display(),
            secret.len()
        );
    }
    Ok(DecodingKey::from_secret(&secret))
}

/// The RS256 signing keys of a JWKS file: RSA keys meant for signatures (`use` absent or
/// `sig`) with `alg` absent or RS256. Other keys are skipped; a file with none is an error.
fn read_jwks(path: &Path) -> anyhow::Result<Vec<RsaKey>> {
    let text = std::fs::read(path)
        .with_context(|| format!("--jwt-jwks-file: cannot read {}", path.display()))?;
    let set: Value = serde_json::from_slice(&text)
        .with_context(|| format!("--jwt-jwks-file: {} is not JSON", path.display()))?;
    let Some(keys) = set.get("keys").and_then(Value::as_array) else {
        bail!(
            "--jwt-jwks-file: {} has no \"keys\" array (RFC 7517 section 5)",
            path.display()
        );
    };
    let mut out = Vec::new();
    for (i, value) in keys.iter().enumerate() {
        let Ok(jwk) = serde_json::from_value::<Jwk>(value.clone()) else {
            tracing::warn!(file = %path.display(), index = i, "JWKS key skipped: not a key this service reads");
            continue;
        };
        let rsa = matches!(jwk.algorithm, AlgorithmParameters::RSA(_));
        let for_signing = matches!(
            jwk.common.public_key_use,
            None | Some(PublicKeyUse::Signature)
        );
        let rs256 = matches!(jwk.common.key_algorithm, None | Some(KeyAlgorithm::RS256));
        if !(rsa && for_signing && rs256) {
            tracing::warn!(file = %path.display(), index = i, "JWKS key skipped: not an RS256 signing key");
            continue;
        }
        let key = DecodingKey::from_jwk(&jwk).map_err(|e| {
            anyhow::anyhow!(
                "--jwt-jwks-file: key {i} of {} is not usable ({e})",
                path.display()
            )
        })?;
        out.push(RsaKey {
            kid: jwk.common.key_id.clone(),
            key,
        });
    }
    if out.is_empty() {
        bail!(
            "--jwt-jwks-file: {} holds no RSA key for RS256 signatures",
            path.display()
        );
    }
    Ok(out)
}
