//! Authentication of the services' users.
//!
//! - [`jwt`]: HS256 bearer tokens issued by the auth service with the shared secret (the Spin
//!   variable `jwt_secret`): `verify_bearer` answers the user's [`Claims`] or an [`AuthError`]
//!   (answer 401 with its `WWW-Authenticate`).
//! - [`ticket`]: short-lived stream tickets. A browser's `EventSource` cannot send an
//!   `Authorization` header, so the page exchanges its JWT for a ticket (valid seconds, bound to
//!   the user) and puts that in the stream URL; no long-lived JWT ever appears in a URL.

mod hs256;
pub mod jwt;
pub mod ticket;

pub use jwt::{sign_hs256, verify_bearer, verify_token, AuthError, Claims, OPERATOR};
