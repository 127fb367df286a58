//! `p3-probe`: the WASIp3 twin of `components/parity-probe` for the instance-reuse benchmark
//! (`tools/bench/spin_instance_reuse.sh`, issue 18). `GET /` answers `200 ok`; `GET /?fetch=<url>`
//! first makes one outbound `GET <url>` and answers `200 <its status>` (or `502` with the error):
//! the shape of a consumer delivery, one inbound request and one call to its sidecar.

use spin_sdk::http::{IntoResponse, Request, StatusCode};
use spin_sdk::http_service;

/// The one route.
#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    let query = req.uri().query().unwrap_or("").to_owned();
    let fetch = form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "fetch")
        .map(|(_, v)| v.into_owned());
    match fetch {
        None => (StatusCode::OK, "ok".to_owned()),
        Some(url) => match spin_sdk::http::get(&url).await {
            Ok(resp) => (StatusCode::OK, resp.status().as_u16().to_string()),
            Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()),
        },
    }
}
