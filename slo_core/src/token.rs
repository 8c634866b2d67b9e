//! Client tokens: their text form, their hash, and the shape of an `Authorization` header.
//!
//! A token is `pgslo_` followed by 64 lowercase hex digits: 32 random bytes (256 bits) that the
//! caller draws from the operating system's generator (this crate has no source of randomness
//! of its own). The database stores only [`token_hash`], the SHA-256 of the token's text, which
//! the extension computes the same way (`slo.token_hash(text)`), and a short [`Token::hint`] so
//! that operators can tell tokens apart in lists. A fast hash is enough: the token has 256 bits
//! of entropy, so nothing can be guessed from its hash, and a slow password hash would only
//! make every verification expensive.

use sha2::{Digest, Sha256};
use std::fmt;

/// What every pg_slo token starts with, so that it is recognised (and found by secret scanners).
pub const TOKEN_PREFIX: &str = "pgslo_";

/// Random bytes in a token.
pub const TOKEN_RANDOM_BYTES: usize = 32;

/// Characters of a token kept in the clear as its hint: the prefix and 6 hex digits (24 bits).
pub const TOKEN_HINT_CHARS: usize = TOKEN_PREFIX.len() + 6;

/// The length of a token's text.
pub const TOKEN_LEN: usize = TOKEN_PREFIX.len() + 2 * TOKEN_RANDOM_BYTES;

/// A pg_slo client token. Its `Debug` form hides the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// The token made of these random bytes.
    pub fn from_random_bytes(bytes: &[u8; TOKEN_RANDOM_BYTES]) -> Token {
        let mut s = String::with_capacity(TOKEN_LEN);
        s.push_str(TOKEN_PREFIX);
        for b in bytes {
            s.push(char::from(HEX[usize::from(b >> 4)]));
            s.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
        Token(s)
    }

    /// Accepts the text of a pg_slo token: the prefix and exactly 64 lowercase hex digits.
    pub fn parse(s: &str) -> Result<Token, TokenShapeError> {
        let Some(digits) = s.strip_prefix(TOKEN_PREFIX) else {
            return Err(TokenShapeError::Prefix);
        };
        if digits.len() != 2 * TOKEN_RANDOM_BYTES || !digits.bytes().all(|b| HEX.contains(&b)) {
            return Err(TokenShapeError::Digits);
        }
        Ok(Token(s.to_owned()))
    }

    /// The secret text, to show once at issue and to send as `Authorization: Bearer <token>`.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The SHA-256 of the token's text: what the database stores and looks up.
    pub fn hash(&self) -> [u8; 32] {
        token_hash(&self.0)
    }

    /// The first characters, stored in the clear so that lists can name a token without it.
    pub fn hint(&self) -> &str {
        &self.0[..TOKEN_HINT_CHARS]
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token({}…)", self.hint())
    }
}

/// Why a string is not a pg_slo token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenShapeError {
    #[error("a pg_slo token starts with {TOKEN_PREFIX}")]
    Prefix,
    #[error("a pg_slo token is {TOKEN_PREFIX} followed by 64 lowercase hex digits")]
    Digits,
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// SHA-256 of the UTF-8 text: equals the extension's `slo.token_hash(text)`.
pub fn token_hash(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// The credentials of an `Authorization` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bearer<'a> {
    /// A pg_slo token (`pgslo_...`).
    Token(&'a str),
    /// Three dot-separated base64url parts: a JSON Web Token, to be verified by its signature.
    Jwt(&'a str),
}

/// Why an `Authorization` header carries no usable bearer credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BearerError {
    #[error("the Authorization header is missing")]
    Missing,
    #[error("the Authorization header must be `Bearer <token>`")]
    NotBearer,
    #[error("the bearer token is neither a pg_slo token nor a JSON Web Token")]
    UnknownShape,
}

/// Reads `Bearer <credentials>` (the scheme is case-insensitive, RFC 9110 section 11.1) and
/// tells a pg_slo token from a JSON Web Token by its shape. Nothing is verified here.
pub fn parse_bearer(header: Option<&str>) -> Result<Bearer<'_>, BearerError> {
    let value = header.ok_or(BearerError::Missing)?.trim();
    let (scheme, rest) = value.split_once(' ').ok_or(BearerError::NotBearer)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(BearerError::NotBearer);
    }
    let credentials = rest.trim_start();
    if credentials.is_empty() || credentials.contains(char::is_whitespace) {
        return Err(BearerError::NotBearer);
    }
    if credentials.starts_with(TOKEN_PREFIX) {
        return Ok(Bearer::Token(credentials));
    }
    let parts: Vec<&str> = credentials.split('.').collect();
    let base64url = |p: &str| {
        p.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if parts.len() == 3
        && parts[..2].iter().all(|p| !p.is_empty())
        && parts.iter().all(|p| base64url(p))
    {
        return Ok(Bearer::Jwt(credentials));
    }
    Err(BearerError::UnknownShape)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_token_is_the_prefix_and_the_bytes_in_hex() {
        let mut bytes = [0u8; 32];
        bytes[0] = 0xab;
        bytes[31] = 0x07;
        let t = Token::from_random_bytes(&bytes);
        assert_eq!(t.expose().len(), TOKEN_LEN);
        assert!(t.expose().starts_with("pgslo_ab00"));
        assert!(t.expose().ends_with("0007"));
        assert_eq!(t.hint(), "pgslo_ab0000");
        assert_eq!(Token::parse(t.expose()), Ok(t));
    }

    #[test]
    fn the_hash_is_sha256_of_the_text() {
        // The same value as PostgreSQL's `SELECT sha256(convert_to('abc', 'UTF8'))`.
        assert_eq!(
            token_hash("abc")
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn the_debug_form_does_not_show_the_secret() {
        let t = Token::from_random_bytes(&[0x5a; 32]);
        let shown = format!("{t:?}");
        assert!(!shown.contains(t.expose()), "{shown}");
        assert!(shown.contains("pgslo_5a5a5a"));
    }

    #[test]
    fn malformed_tokens_are_refused_with_the_rule_they_break() {
        assert_eq!(Token::parse("abc"), Err(TokenShapeError::Prefix));
        assert_eq!(Token::parse("pgslo_abc"), Err(TokenShapeError::Digits));
        let upper = format!("pgslo_{}", "A".repeat(64));
        assert_eq!(Token::parse(&upper), Err(TokenShapeError::Digits));
        let long = format!("pgslo_{}", "a".repeat(65));
        assert_eq!(Token::parse(&long), Err(TokenShapeError::Digits));
    }

    #[test]
    fn bearer_headers_are_read_by_scheme_and_shape() {
        assert_eq!(parse_bearer(None), Err(BearerError::Missing));
        assert_eq!(
            parse_bearer(Some("Basic dXNlcjpwdw==")),
            Err(BearerError::NotBearer)
        );
        assert_eq!(parse_bearer(Some("Bearer")), Err(BearerError::NotBearer));
        assert_eq!(parse_bearer(Some("Bearer  ")), Err(BearerError::NotBearer));
        assert_eq!(
            parse_bearer(Some("Bearer a b")),
            Err(BearerError::NotBearer)
        );
        assert_eq!(
            parse_bearer(Some("bearer pgslo_x")),
            Ok(Bearer::Token("pgslo_x"))
        );
        assert_eq!(
            parse_bearer(Some("Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln")),
            Ok(Bearer::Jwt("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"))
        );
        // An unsigned JWT (alg none) has an empty third part: the shape is a JWT, and the
        // verifier refuses it.
        assert_eq!(
            parse_bearer(Some("Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")),
            Ok(Bearer::Jwt("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."))
        );
        assert_eq!(
            parse_bearer(Some("Bearer hello")),
            Err(BearerError::UnknownShape)
        );
        assert_eq!(
            parse_bearer(Some("Bearer a.b+c.d")),
            Err(BearerError::UnknownShape)
        );
    }

    proptest! {
        #[test]
        fn every_token_made_from_bytes_parses_back_and_keeps_its_hash(bytes in proptest::array::uniform32(any::<u8>())) {
            let t = Token::from_random_bytes(&bytes);
            let back = Token::parse(t.expose()).unwrap();
            prop_assert_eq!(back.hash(), t.hash());
            let header = format!("Bearer {}", t.expose());
            prop_assert_eq!(parse_bearer(Some(&header)), Ok(Bearer::Token(t.expose())));
        }
    }
}
