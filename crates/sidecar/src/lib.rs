//! What a Spin component of this project needs to work behind its Dapr sidecar:
//! its variables ([`vars`]), the check of the sidecar's `dapr-api-token` ([`auth`]), and a client
//! of the sidecar's HTTP API ([`Sidecar`]). Only standard WASI imports are used, so the same
//! `.wasm` runs under `spin up`, SpinKube and the project's wasmtime host.

pub mod auth;
mod client;
pub mod vars;

pub use client::{Sidecar, SidecarError};
