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

/// Seconds a recovery token is valid for: Pushpin's link back to a held stream (a fresh token
/// comes with every answer to it, at least every link timeout).
pub const RECOVERY_TTL: i64 = 24 * 3600;

/// The recovery token's audience.
pub const RECOVERY_AUDIENCE: &str = "todo-stream-recovery";

/// The key tickets are signed with: HMAC-SHA256(secret, label), never the secret itself.
fn ticket_key(secret: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(b"todo-events stream ticket v1");
    mac.finalize().into_bytes().to_vec()
}

fn issue_for(secret: &[u8], user: &str, now: i64, aud: &str, ttl: i64) -> String {
    let claims = json!({ "sub": user, "aud": aud, "iat": now, "exp": now + ttl });
    sign_hs256(&claims, &ticket_key(secret))
}

fn verify_for(token: &str, secret: &[u8], now: i64, aud: &str) -> Result<Claims, AuthError> {
    if secret.is_empty() {
        return Err(AuthError::NoSecret);
    }
    let claims = verify_jws(token, &ticket_key(secret))?;
    if claims.get("aud").and_then(Value::as_str) != Some(aud) {
        return Err(AuthError::Malformed("not a stream ticket"));
    }
    claims_at(&claims, now)
}

/// A ticket for `user` issued at unix time `now`.
pub fn issue(secret: &[u8], user: &str, now: i64) -> String {
    issue_for(secret, user, now, AUDIENCE, TICKET_TTL)
}

/// The user a ticket was issued to, if it is valid at `now`. The leeway of API tokens applies
/// to `exp` ([`crate::jwt::LEEWAY_SECS`]).
pub fn verify(ticket: &str, secret: &[u8], now: i64) -> Result<Claims, AuthError> {
    verify_for(ticket, secret, now, AUDIENCE)
}

/// The token in the recovery link of `user`'s held stream ([`RECOVERY_TTL`]). Only Pushpin ever
/// sees it (it is a GRIP instruction, never sent to the browser); it is not a ticket.
pub fn issue_recovery(secret: &[u8], user: &str, now: i64) -> String {
    issue_for(secret, user, now, RECOVERY_AUDIENCE, RECOVERY_TTL)
}

/// The user of a recovery token valid at `now`.
pub fn verify_recovery(token: &str, secret: &[u8], now: i64) -> Result<Claims, AuthError> {
    verify_for(token, secret, now, RECOVERY_AUDIENCE)
}

/// Whether a request came through Pushpin: its `Grip-Sig` header is an HS256 JWT with
/// `iss: "pushpin"` and a future `exp`, signed with Pushpin's `sig_key`. Pushpin removes any
/// `Grip-Sig` a client sends, so only Pushpin can produce a valid one.
pub fn verify_grip_sig(sig: &str, key: &[u8], now: i64) -> Result<(), AuthError> {
    let claims = verify_jws(sig, key)?;
    if claims.get("iss").and_then(Value::as_str) != Some("pushpin") {
        return Err(AuthError::Malformed("Grip-Sig is not Pushpin's"));
    }
    match claims.get("exp").and_then(Value::as_i64) {
        Some(exp) if now < exp.saturating_add(crate::jwt::LEEWAY_SECS) => Ok(()),
        Some(_) => Err(AuthError::Expired),
        None => Err(AuthError::NoExpiry),
    }
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
    fn recovery_tokens_are_not_tickets() {
        let r = issue_recovery(SECRET, "u", NOW);
        assert_eq!(verify_recovery(&r, SECRET, NOW + 3600).unwrap().sub, "u");
        assert!(
            verify(&r, SECRET, NOW).is_err(),
            "a recovery token opens no stream"
        );
        assert!(verify_recovery(&issue(SECRET, "u", NOW), SECRET, NOW).is_err());
        assert_eq!(
            verify_recovery(&r, SECRET, NOW + RECOVERY_TTL + LEEWAY_SECS),
            Err(AuthError::Expired)
        );
    }

    #[test]
    fn only_pushpins_signature_passes() {
        let key = b"pushpin-sig-key";
        let sig = sign_hs256(&json!({"iss": "pushpin", "exp": NOW + 3600}), key);
        assert_eq!(verify_grip_sig(&sig, key, NOW), Ok(()));
        assert_eq!(
            verify_grip_sig(&sig, b"other", NOW),
            Err(AuthError::Signature)
        );
        assert_eq!(
            verify_grip_sig(&sig, key, NOW + 3600 + LEEWAY_SECS),
            Err(AuthError::Expired)
        );
        let other = sign_hs256(&json!({"iss": "someone", "exp": NOW + 3600}), key);
        assert!(verify_grip_sig(&other, key, NOW).is_err());
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
