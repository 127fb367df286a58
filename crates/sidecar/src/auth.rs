//! The sidecar-to-app token: with `APP_API_TOKEN` set on the sidecar, every call it makes to the app
//! carries `dapr-api-token`, and the app refuses calls without the right one.

use subtle::ConstantTimeEq;

/// The header Dapr uses for both the app token and the API token.
pub const TOKEN_HEADER: &str = "dapr-api-token";

/// Whether `presented` (the request's `dapr-api-token`) equals `expected`, compared in constant
/// time. An empty expected token never matches: a missing secret refuses everything.
pub fn token_matches(presented: Option<&[u8]>, expected: &str) -> bool {
    match presented {
        Some(p) if !expected.is_empty() => p.ct_eq(expected.as_bytes()).into(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_token_matches() {
        assert!(token_matches(Some(b"s3cret"), "s3cret"));
        assert!(!token_matches(Some(b"s3cre"), "s3cret"));
        assert!(!token_matches(Some(b"s3cretx"), "s3cret"));
        assert!(!token_matches(None, "s3cret"));
        assert!(!token_matches(Some(b""), ""));
    }
}
