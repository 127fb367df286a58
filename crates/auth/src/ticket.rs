//! Stream tickets: how a browser opens a live connection without putting its JWT in a URL.
//!
//! The page sends its JWT (`Authorization: Bearer`) to `POST /realtime/tickets` and gets a
//! ticket: an HS256 JWT with `aud: "todo-stream"`, the user's `sub`, and an `exp` [`TICKET_TTL`]
//! seconds ahead, signed with a key derived from the shared secret (HMAC-SHA256 of the secret
//! and a fixed label). The stream URL carries the ticket (`?ticket=`). Because the key differs,
//! a ticket is never accepted as an API bearer token and an API token never as a ticket; because
//! it expires within a minute, a ticket that leaks through a log is useless soon after.

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::jwt::{claims_at, sign_hs256, verify_jws, AuthError, Claims};

/// Seconds a ticket is valid for (a reconnecting page fetches a new one).
pub const TICKET_TTL: i64 = 60;

/// The ticket's audience.
pub const AUDIENCE: &str = "todo-stream";

/// The key tickets are signed with: HMAC-SHA256(secret, label), never the secret itself.
fn ticket_key(secret: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(b"todo-events stream ticket v1");
    mac.finalize().into_bytes().to_vec()
}

/// A ticket for `user` issued at unix time `now`.
pub fn issue(secret: &[u8], user: &str, now: i64) -> String {
    let claims = json!({ "sub": user, "aud": AUDIENCE, "iat": now, "exp": now + TICKET_TTL });
    sign_hs256(&claims, &ticket_key(secret))
}

/// The user a ticket was issued to, if it is valid at `now`. The leeway of API tokens applies
/// to `exp` ([`crate::jwt::LEEWAY_SECS`]).
pub fn verify(ticket: &str, secret: &[u8], now: i64) -> Result<Claims, AuthError> {
    if secret.is_empty() {
        return Err(AuthError::NoSecret);
    }
    let claims = verify_jws(ticket, &ticket_key(secret))?;
    if claims.get("aud").and_then(Value::as_str) != Some(AUDIENCE) {
        return Err(AuthError::Malformed("not a stream ticket"));
    }
    claims_at(&claims, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::{verify_token, LEEWAY_SECS};

    const SECRET: &[u8] = b"test-secret-of-at-least-32-bytes!!";
    const NOW: i64 = 1_780_000_000;

    #[test]
    fn a_ticket_names_its_user_until_it_expires() {
        let t = issue(SECRET, "user-42", NOW);
        assert_eq!(verify(&t, SECRET, NOW).unwrap().sub, "user-42");
        assert_eq!(
            verify(&t, SECRET, NOW + TICKET_TTL - 1).unwrap().sub,
            "user-42"
        );
        assert_eq!(
            verify(&t, SECRET, NOW + TICKET_TTL + LEEWAY_SECS),
            Err(AuthError::Expired)
        );
        assert_eq!(
            verify(&t, b"another-secret", NOW),
            Err(AuthError::Signature)
        );
        assert!(!t.is_empty() && t.len() < 400, "fits a URL");
    }

    #[test]
    fn tickets_and_api_tokens_are_not_interchangeable() {
        let ticket = issue(SECRET, "u", NOW);
        assert_eq!(
            verify_token(&ticket, SECRET, NOW),
            Err(AuthError::Signature)
        );
        let api = sign_hs256(
            &json!({"sub": "u", "exp": NOW + 600, "aud": AUDIENCE}),
            SECRET,
        );
        assert_eq!(verify(&api, SECRET, NOW), Err(AuthError::Signature));
        // Signed with the ticket key but without the audience: refused too.
        let other = sign_hs256(&json!({"sub": "u", "exp": NOW + 600}), &ticket_key(SECRET));
        assert_eq!(
            verify(&other, SECRET, NOW),
            Err(AuthError::Malformed("not a stream ticket"))
        );
        assert!(verify("garbage", SECRET, NOW).is_err());
    }
}
