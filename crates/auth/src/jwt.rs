//! HS256 bearer tokens (RFC 7519) signed with the auth service's shared secret.
//!
//! The JWS itself (segments, header, `alg`, `crit`, the HMAC check in constant time) is the
//! `jsonwebtoken` crate's; only `alg: HS256` is accepted (never `none`, never another algorithm
//! named by the token). The claims policy is this module's, at the time the caller passes in (so
//! it is testable): `exp` is required, `nbf` and `iat` are checked when present, each with
//! [`LEEWAY_SECS`] of clock skew, and `sub` (the user id) must be a non-empty string of at most
//! 255 characters. `email` is read when present (email reminders go there). Every failure is an
//! [`AuthError`]; answer 401.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Map, Value};

/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
pub const LEEWAY_SECS: i64 = 60;
/// Longest accepted token, in bytes.
pub const TOKEN_MAX: usize = 8192;
/// Longest accepted `sub`, in characters (the event schemas' `user_id` limit).
pub const SUB_MAX: usize = 255;

/// The verified claims the API uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// Expiry (seconds since the epoch).
    pub exp: i64,
    /// Not-before, if present.
    pub nbf: Option<i64>,
    /// Issued-at, if present.
    pub iat: Option<i64>,
    /// The user's email address, if the auth service put one in the token.
    pub email: Option<String>,
    /// The roles the auth service granted (`roles`: an array of strings; absent: none).
    /// [`OPERATOR`] may read and re-drive dead letters.
    pub roles: Vec<String>,
}

/// The role of an operator: dead letters (`/api/dead-letters`) are theirs to read and re-drive.
pub const OPERATOR: &str = "operator";

impl Claims {
    /// Whether the token grants `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// Why a request is not authenticated (answer 401 with `WWW-Authenticate`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header.
    #[error("missing Authorization header")]
    Missing,
    /// Not `Bearer <token>`.
    #[error("Authorization must be 'Bearer <token>'")]
    NotBearer,
    /// Not a well-formed JWS compact serialisation with JSON header and claims.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// `alg` is not `HS256` (including `none`), or `crit` is present.
    #[error("unsupported token algorithm")]
    Algorithm,
    /// The signature does not verify with the secret.
    #[error("invalid token signature")]
    Signature,
    /// `exp` is missing or not a number.
    #[error("token has no valid exp claim")]
    NoExpiry,
    /// `exp` has passed.
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future, or `iat` is.
    #[error("token not yet valid")]
    NotYetValid,
    /// `sub` is missing, empty, too long or not a string.
    #[error("token has no valid sub claim")]
    Subject,
    /// No secret is configured.
    #[error("no token secret configured")]
    NoSecret,
}

impl AuthError {
    /// The `WWW-Authenticate` header value to send with the 401.
    pub fn www_authenticate(&self) -> String {
        match self {
            AuthError::Missing => "Bearer".to_owned(),
            other => format!(
                "Bearer error=\"invalid_token\", error_description=\"{}\"",
                other.to_string().replace('"', "'")
            ),
        }
    }
}

/// Verifies an `Authorization` header value (`Bearer <token>`; the scheme is case-insensitive).
pub fn verify_bearer(header: Option<&str>, secret: &[u8], now: i64) -> Result<Claims, AuthError> {
    let header = header.ok_or(AuthError::Missing)?.trim();
    let (scheme, token) = header.split_once(' ').ok_or(AuthError::NotBearer)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::NotBearer);
    }
    verify_token(token.trim(), secret, now)
}

/// A NumericDate claim: a JSON number (fractions floored); `Err` if present but not a number.
fn numeric(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, ()> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.is_finite())
                    .map(|f| f.floor() as i64)
            })
            .map(Some)
            .ok_or(()),
        Some(_) => Err(()),
    }
}

/// The `jsonwebtoken` settings: HS256 only, and no claim checks of its own (it would read the
/// system clock); [`claims_at`] applies the policy at the caller's `now`.
fn hs256_only() -> Validation {
    let mut v = Validation::new(Algorithm::HS256);
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    v
}

/// Verifies a compact JWS `token` at unix time `now`.
pub fn verify_token(token: &str, secret: &[u8], now: i64) -> Result<Claims, AuthError> {
    let claims = verify_jws(token, secret)?;
    claims_at(&claims, now)
}

/// Checks the signature (HS256 with `secret`) and answers the claims object, unchecked.
pub(crate) fn verify_jws(token: &str, secret: &[u8]) -> Result<Map<String, Value>, AuthError> {
    if secret.is_empty() {
        return Err(AuthError::NoSecret);
    }
    if token.is_empty() || token.len() > TOKEN_MAX {
        return Err(AuthError::Malformed("bad length"));
    }
    if token.split('.').count() != 3 {
        return Err(AuthError::Malformed("expected three segments"));
    }
    crate::hs256::install();
    let key = DecodingKey::from_secret(secret).map_err(|_| AuthError::NoSecret)?;
    let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &hs256_only()).map_err(
        |e| match e.kind() {
            ErrorKind::InvalidSignature => AuthError::Signature,
            ErrorKind::InvalidAlgorithm
            | ErrorKind::InvalidAlgorithmName
            | ErrorKind::UnsupportedAlgorithm
            | ErrorKind::MissingAlgorithm => AuthError::Algorithm,
            // Includes a `crit` header, which no token of ours carries.
            ErrorKind::InvalidToken => AuthError::Malformed("not a well-formed JWS"),
            ErrorKind::Base64(_) => AuthError::Malformed("segment is not base64url"),
            ErrorKind::Json(_) | ErrorKind::Utf8(_) => {
                AuthError::Malformed("header or claims are not a JSON object")
            }
            _ => AuthError::Malformed("unreadable token"),
        },
    )?;
    Ok(data.claims)
}

/// Applies the claims policy at unix time `now`.
pub(crate) fn claims_at(claims: &Map<String, Value>, now: i64) -> Result<Claims, AuthError> {
    let exp = numeric(claims, "exp")
        .map_err(|_| AuthError::NoExpiry)?
        .ok_or(AuthError::NoExpiry)?;
    if now >= exp.saturating_add(LEEWAY_SECS) {
        return Err(AuthError::Expired);
    }
    let nbf = numeric(claims, "nbf").map_err(|_| AuthError::Malformed("nbf is not a number"))?;
    if nbf.is_some_and(|nbf| nbf > now.saturating_add(LEEWAY_SECS)) {
        return Err(AuthError::NotYetValid);
    }
    let iat = numeric(claims, "iat").map_err(|_| AuthError::Malformed("iat is not a number"))?;
    if iat.is_some_and(|iat| iat > now.saturating_add(LEEWAY_SECS)) {
        return Err(AuthError::NotYetValid);
    }
    let sub = match claims.get("sub") {
        Some(Value::String(s))
            if !s.trim().is_empty() && s.chars().count() <= SUB_MAX && !s.contains('\0') =>
        {
            s.clone()
        }
        _ => return Err(AuthError::Subject),
    };
    let email = claims
        .get("email")
        .and_then(Value::as_str)
        .filter(|e| e.contains('@') && e.len() <= 254)
        .map(str::to_owned);
    let roles = match claims.get("roles") {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .filter(|r| r.len() <= 64)
            .take(32)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    Ok(Claims {
        sub,
        exp,
        nbf,
        iat,
        email,
        roles,
    })
}

/// Signs `claims` as an HS256 JWT with `secret` (the stream tickets; tests and tools that mint
/// tokens).
pub fn sign_hs256(claims: &Value, secret: &[u8]) -> String {
    crate::hs256::install();
    let key = EncodingKey::from_secret(secret).expect("an HS256 key must not be empty");
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &key)
        .expect("HS256 signing of a JSON value cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use serde_json::json;

    const SECRET: &[u8] = b"test-secret-of-at-least-32-bytes!!";
    const NOW: i64 = 1_780_000_000;

    fn token(claims: Value) -> String {
        sign_hs256(&claims, SECRET)
    }

    fn bearer(t: &str) -> String {
        format!("Bearer {t}")
    }

    #[test]
    fn accepts_a_valid_token() {
        let t = token(json!({"sub": "user-42", "exp": NOW + 600, "iat": NOW, "nbf": NOW}));
        let c = verify_bearer(Some(&bearer(&t)), SECRET, NOW).unwrap();
        assert_eq!(c.sub, "user-42");
        assert_eq!(c.email, None);
        let t = token(json!({"sub": "u", "exp": NOW + 600, "email": "u@example.com"}));
        let c = verify_token(&t, SECRET, NOW).unwrap();
        assert_eq!(c.email.as_deref(), Some("u@example.com"));
        assert!(!c.has_role(OPERATOR));
        let t = token(json!({"sub": "u", "exp": NOW + 600, "roles": ["operator", 3]}));
        let c = verify_token(&t, SECRET, NOW).unwrap();
        assert!(c.has_role(OPERATOR));
        assert_eq!(c.roles, vec!["operator"]);
        assert_eq!(c.exp, NOW + 600);
        assert!(verify_bearer(Some(&format!("bearer  {t} ")), SECRET, NOW).is_ok());
    }

    #[test]
    fn refuses_expired_and_missing_exp() {
        let t = token(json!({"sub": "u", "exp": NOW - LEEWAY_SECS}));
        assert_eq!(verify_token(&t, SECRET, NOW), Err(AuthError::Expired));
        // within the leeway
        let t = token(json!({"sub": "u", "exp": NOW - 10}));
        assert!(verify_token(&t, SECRET, NOW).is_ok());
        let t = token(json!({"sub": "u"}));
        assert_eq!(verify_token(&t, SECRET, NOW), Err(AuthError::NoExpiry));
        let t = token(json!({"sub": "u", "exp": "tomorrow"}));
        assert_eq!(verify_token(&t, SECRET, NOW), Err(AuthError::NoExpiry));
    }

    #[test]
    fn refuses_future_nbf_and_iat() {
        let t = token(json!({"sub": "u", "exp": NOW + 600, "nbf": NOW + 120}));
        assert_eq!(verify_token(&t, SECRET, NOW), Err(AuthError::NotYetValid));
        let t = token(json!({"sub": "u", "exp": NOW + 600, "iat": NOW + 3600}));
        assert_eq!(verify_token(&t, SECRET, NOW), Err(AuthError::NotYetValid));
        let t = token(json!({"sub": "u", "exp": NOW + 600, "nbf": NOW + 30}));
        assert!(verify_token(&t, SECRET, NOW).is_ok());
    }

    #[test]
    fn refuses_wrong_secret_and_tampering() {
        let t = sign_hs256(&json!({"sub": "u", "exp": NOW + 600}), b"another-secret");
        assert_eq!(verify_token(&t, SECRET, NOW), Err(AuthError::Signature));
        let good = token(json!({"sub": "alice", "exp": NOW + 600}));
        let parts: Vec<&str> = good.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(json!({"sub": "bob", "exp": NOW + 600}).to_string());
        let t = format!("{}.{}.{}", parts[0], forged, parts[2]);
        assert_eq!(verify_token(&t, SECRET, NOW), Err(AuthError::Signature));
    }

    #[test]
    fn refuses_alg_none_and_other_algorithms() {
        let claims = URL_SAFE_NO_PAD.encode(json!({"sub": "u", "exp": NOW + 600}).to_string());
        // An algorithm the token names that is not HS256: refused as such.
        for header in [
            r#"{"alg":"HS512"}"#,
            r#"{"alg":"RS256"}"#,
            r#"{"alg":"ES256"}"#,
        ] {
            let h = URL_SAFE_NO_PAD.encode(header);
            assert_eq!(
                verify_token(&format!("{h}.{claims}."), SECRET, NOW),
                Err(AuthError::Algorithm),
                "{header}"
            );
        }
        // `none` (not an algorithm jsonwebtoken knows), no `alg`, a `crit` header: refused
        // before any signature is checked.
        for header in [
            r#"{"alg":"none","typ":"JWT"}"#,
            r#"{"typ":"JWT"}"#,
            r#"{"alg":"HS256","crit":["exp"]}"#,
        ] {
            let h = URL_SAFE_NO_PAD.encode(header);
            let e = verify_token(&format!("{h}.{claims}."), SECRET, NOW).unwrap_err();
            assert!(
                matches!(e, AuthError::Malformed(_) | AuthError::Algorithm),
                "{header}: {e:?}"
            );
        }
        // A correctly signed token whose header says `none` is still refused.
        let h = URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#);
        let good = token(json!({"sub": "u", "exp": NOW + 600}));
        let sig = good.rsplit('.').next().unwrap();
        assert!(verify_token(&format!("{h}.{claims}.{sig}"), SECRET, NOW).is_err());
    }

    #[test]
    fn refuses_malformed_tokens_and_headers() {
        for t in [
            "",
            "abc",
            "a.b",
            "a.b.c.d",
            "!!.!!.!!",
            "e30.e30.",
            "W10.e30.AAAA",
        ] {
            assert!(verify_token(t, SECRET, NOW).is_err(), "{t:?}");
        }
        assert_eq!(verify_bearer(None, SECRET, NOW), Err(AuthError::Missing));
        assert_eq!(
            verify_bearer(Some("Basic abc"), SECRET, NOW),
            Err(AuthError::NotBearer)
        );
        assert_eq!(
            verify_bearer(Some("Bearer"), SECRET, NOW),
            Err(AuthError::NotBearer)
        );
        let t = token(json!({"sub": "u", "exp": NOW + 600}));
        assert_eq!(verify_token(&t, b"", NOW), Err(AuthError::NoSecret));
        assert!(verify_token(&"a".repeat(TOKEN_MAX + 1), SECRET, NOW).is_err());
    }

    #[test]
    fn refuses_bad_subjects() {
        for sub in [
            json!(""),
            json!("  "),
            json!(42),
            json!(null),
            json!("x".repeat(256)),
        ] {
            let t = token(json!({"sub": sub, "exp": NOW + 600}));
            assert_eq!(verify_token(&t, SECRET, NOW), Err(AuthError::Subject));
        }
        let t = token(json!({"exp": NOW + 600}));
        assert_eq!(verify_token(&t, SECRET, NOW), Err(AuthError::Subject));
    }

    #[test]
    fn garbage_never_panics() {
        let mut state: u64 = 0x9e3779b97f4a7c15;
        let alphabet: Vec<char> = "aZ09=.-_+/ \t{}\"éß🚀eyJ".chars().collect();
        for _ in 0..3000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 80) as usize;
            let text: String = (0..len)
                .map(|i| alphabet[((state >> (i % 50)) % alphabet.len() as u64) as usize])
                .collect();
            assert!(verify_bearer(Some(&format!("Bearer {text}")), SECRET, NOW).is_err());
        }
    }

    #[test]
    fn www_authenticate_names_the_problem() {
        assert_eq!(AuthError::Missing.www_authenticate(), "Bearer");
        assert!(AuthError::Expired
            .www_authenticate()
            .contains("error=\"invalid_token\""));
    }
}
