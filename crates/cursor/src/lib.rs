//! Paged lists: the query string's parameters ([`Params`]) and opaque, tamper-evident keyset
//! cursors.
//!
//! A cursor is `base64url(JSON [sort_key, id]) "." base64url(HMAC-SHA256(secret, context, payload)[..16])`.
//! The context binds it to the user, the list and its filters and sort, so a cursor that was
//! edited, or replayed with other filters or by another user, is refused (400).

pub mod query;

pub use query::Params;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Longest accepted cursor.
pub const CURSOR_MAX: usize = 2048;

const TAG_LEN: usize = 16;

/// A keyset position: the sort key as text (as the SQL casts it back) and the row id as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// Sort key value, e.g. `2026-05-01T08:00:00.000000Z`, `3`, `infinity`, `buy milk`.
    pub key: String,
    /// Tiebreaker: the row's id.
    pub id: String,
}

fn mac(secret: &[u8], context: &str, payload: &[u8]) -> Hmac<Sha256> {
    let mut m = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    m.update(context.as_bytes());
    m.update(&[0]);
    m.update(payload);
    m
}

/// The cursor of `pos` in `context`.
pub fn encode(secret: &[u8], context: &str, pos: &Position) -> String {
    let payload = serde_json::to_vec(&[&pos.key, &pos.id]).unwrap_or_default();
    let tag = mac(secret, context, &payload).finalize().into_bytes();
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(&payload),
        URL_SAFE_NO_PAD.encode(&tag[..TAG_LEN])
    )
}

/// The position in a cursor made by [`encode`] with the same secret and context.
pub fn decode(secret: &[u8], context: &str, cursor: &str) -> Result<Position, &'static str> {
    if cursor.len() > CURSOR_MAX {
        return Err("is too long");
    }
    let (payload, tag) = cursor.split_once('.').ok_or("is not a valid cursor")?;
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| "is not a valid cursor")?;
    let tag = URL_SAFE_NO_PAD
        .decode(tag)
        .map_err(|_| "is not a valid cursor")?;
    if tag.len() != TAG_LEN {
        return Err("is not a valid cursor");
    }
    mac(secret, context, &payload)
        .verify_truncated_left(&tag)
        .map_err(|_| "was altered or belongs to another query")?;
    let [key, id]: [String; 2] =
        serde_json::from_slice(&payload).map_err(|_| "is not a valid cursor")?;
    Ok(Position { key, id })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos() -> Position {
        Position {
            key: "2026-05-01T08:00:00.000000Z".into(),
            id: "5d1f7c1a-3b7e-4f43-a5f4-0d9f6d8a2b10".into(),
        }
    }

    #[test]
    fn round_trips() {
        let c = encode(b"k", "ctx", &pos());
        assert!(!c.contains('=') && !c.contains('+') && !c.contains('/'));
        assert_eq!(decode(b"k", "ctx", &c).unwrap(), pos());
    }

    #[test]
    fn refuses_other_context_secret_and_edits() {
        let c = encode(b"k", "ctx", &pos());
        assert!(decode(b"k", "other", &c).is_err());
        assert!(decode(b"other", "ctx", &c).is_err());
        let (p, t) = c.split_once('.').unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(p).unwrap();
        bytes[3] ^= 1;
        let edited = format!("{}.{t}", URL_SAFE_NO_PAD.encode(bytes));
        assert!(decode(b"k", "ctx", &edited).is_err());
        assert!(decode(b"k", "ctx", "garbage").is_err());
        assert!(decode(b"k", "ctx", "").is_err());
        assert!(decode(b"k", "ctx", &format!("{p}.")).is_err());
    }
}
