//! `web`: the web board. Static HTML, CSS and JavaScript, embedded in the component at build time
//! (`static/`), served as they are: no Node build step, no Dapr sidecar, no variables.
//!
//! - `GET /`: the board (`index.html`), `cache-control: no-store`;
//! - `GET /ops`: the operators' page of dead letters (`ops.html`, `ops.js`), the same way;
//! - `GET /app/<file>`: its script, style sheet and icon, `cache-control: no-cache` with an `ETag`
//!   (a content hash computed at build time), so a browser revalidates and gets `304` when the
//!   file has not changed;
//! - `HEAD` of either: the same headers, no body;
//! - any other method on those paths: `405` with `Allow: GET, HEAD`; any other path: `404`.
//!
//! Every answer carries a strict `Content-Security-Policy`: scripts, styles, images and
//! connections (the REST API, the realtime stream) from the page's own origin only, no inline
//! script or style, no framing, no form posted anywhere (forms are handled by the script, so a
//! pasted token never ends up in a URL). The board is meant to be loaded through Pushpin, which
//! proxies every path to the Spin app, so the API and the streams are same-origin.

use spin_sdk::http::{Method, Request, Response};

/// The policy every answer carries (`docs/web.md`).
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// One embedded file.
pub struct Asset {
    /// The request path it is served at.
    pub path: &'static str,
    /// Its media type.
    pub content_type: &'static str,
    /// Its `Cache-Control` (the page revalidates, hashed assets are immutable).
    pub cache_control: &'static str,
    /// Its bytes.
    pub body: &'static [u8],
    /// FNV-1a of `body`, computed at build time.
    pub hash: u64,
}

macro_rules! asset {
    ($path:literal, $file:literal, $type:literal, $cache:literal) => {
        Asset {
            path: $path,
            content_type: $type,
            cache_control: $cache,
            body: include_bytes!(concat!("../static/", $file)),
            hash: fnv1a(include_bytes!(concat!("../static/", $file))),
        }
    };
}

/// Every file the board has.
pub const ASSETS: &[Asset] = &[
    asset!("/", "index.html", "text/html; charset=utf-8", "no-store"),
    asset!(
        "/app/board.js",
        "board.js",
        "text/javascript; charset=utf-8",
        "no-cache"
    ),
    asset!(
        "/app/board.css",
        "board.css",
        "text/css; charset=utf-8",
        "no-cache"
    ),
    asset!("/app/icon.svg", "icon.svg", "image/svg+xml", "no-cache"),
    // The operators' page: dead letters and their re-drive (docs/deadletters.md).
    asset!("/ops", "ops.html", "text/html; charset=utf-8", "no-store"),
    asset!(
        "/app/ops.js",
        "ops.js",
        "text/javascript; charset=utf-8",
        "no-cache"
    ),
];

/// 64-bit FNV-1a: a cheap content hash for the `ETag`, evaluated at compile time.
pub const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}

impl Asset {
    /// Its strong `ETag`: the hash of its bytes.
    pub fn etag(&self) -> String {
        format!("\"{:016x}\"", self.hash)
    }
}

/// The embedded file served at `path`, if any.
pub fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

todo_http::export!(handle);

/// The board's files, by path.
async fn handle(req: Request) -> Response {
    let if_none_match = req.header("if-none-match").and_then(|v| v.as_str());
    respond(req.method(), req.path(), if_none_match)
}

/// The answer to `method path` (with the request's `If-None-Match`, if it sent one).
pub fn respond(method: &Method, path: &str, if_none_match: Option<&str>) -> Response {
    let Some(asset) = find(path) else {
        return plain(404, "not found\n");
    };
    let head = match method {
        Method::Get => false,
        Method::Head => true,
        _ => {
            let mut r = plain(405, "method not allowed\n");
            r.set_header("allow", "GET, HEAD");
            return r;
        }
    };
    let etag = asset.etag();
    let fresh = if_none_match.is_some_and(|v| {
        v.split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == "*" || t == etag)
    });
    let (status, body): (u16, &[u8]) = if fresh {
        (304, b"")
    } else if head {
        (200, b"")
    } else {
        (200, asset.body)
    };
    let mut builder = Response::builder();
    builder
        .status(status)
        .header("content-type", asset.content_type)
        .header("cache-control", asset.cache_control)
        .header("etag", etag);
    if head && !fresh {
        builder.header("content-length", asset.body.len().to_string());
    }
    with_security_headers(builder.body(body.to_vec()).build())
}

fn plain(status: u16, text: &str) -> Response {
    let r = Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .header("cache-control", "no-store")
        .body(text.to_owned())
        .build();
    with_security_headers(r)
}

fn with_security_headers(mut r: Response) -> Response {
    r.set_header("content-security-policy", CSP);
    r.set_header("x-content-type-options", "nosniff");
    r.set_header("referrer-policy", "no-referrer");
    r.set_header("cross-origin-opener-policy", "same-origin");
    r.set_header("cross-origin-resource-policy", "same-origin");
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(r: &Response, name: &str) -> Option<String> {
        r.header(name).and_then(|v| v.as_str()).map(str::to_owned)
    }

    fn get(path: &str) -> Response {
        respond(&Method::Get, path, None)
    }

    #[test]
    fn the_board_is_served_at_the_root_and_never_cached() {
        let r = get("/");
        assert_eq!(*r.status(), 200);
        assert_eq!(
            header(&r, "content-type").as_deref(),
            Some("text/html; charset=utf-8")
        );
        assert_eq!(header(&r, "cache-control").as_deref(), Some("no-store"));
        let html = std::str::from_utf8(r.body()).unwrap();
        assert!(html.starts_with("<!doctype html>"), "{html:.40}");
        assert!(html.contains(r#"<script src="/app/board.js" defer></script>"#));
        assert!(html.contains(r#"<link rel="stylesheet" href="/app/board.css">"#));
    }

    #[test]
    fn scripts_styles_and_the_icon_have_their_types() {
        for (path, ty) in [
            ("/app/board.js", "text/javascript; charset=utf-8"),
            ("/app/board.css", "text/css; charset=utf-8"),
            ("/app/icon.svg", "image/svg+xml"),
        ] {
            let r = get(path);
            assert_eq!(*r.status(), 200, "{path}");
            assert_eq!(header(&r, "content-type").as_deref(), Some(ty), "{path}");
            assert_eq!(
                header(&r, "cache-control").as_deref(),
                Some("no-cache"),
                "{path}"
            );
            assert_eq!(r.body(), find(path).unwrap().body, "{path}");
            assert!(!r.body().is_empty(), "{path}");
        }
    }

    #[test]
    fn every_answer_carries_the_security_headers() {
        for r in [
            get("/"),
            get("/app/board.js"),
            get("/app/nope.js"),
            respond(&Method::Post, "/", None),
            respond(
                &Method::Get,
                "/app/board.js",
                Some(&find("/app/board.js").unwrap().etag()),
            ),
        ] {
            assert_eq!(header(&r, "content-security-policy").as_deref(), Some(CSP));
            assert_eq!(
                header(&r, "x-content-type-options").as_deref(),
                Some("nosniff")
            );
            assert_eq!(
                header(&r, "referrer-policy").as_deref(),
                Some("no-referrer")
            );
        }
    }

    #[test]
    fn the_policy_allows_nothing_inline_and_nothing_foreign() {
        assert!(!CSP.contains("unsafe"), "{CSP}");
        assert!(CSP.contains("default-src 'none'"));
        assert!(CSP.contains("script-src 'self'"));
        assert!(CSP.contains("connect-src 'self'"));
        assert!(CSP.contains("frame-ancestors 'none'"));
        // Nothing the page serves needs more: no inline script, style attribute or handler.
        let html = std::str::from_utf8(find("/").unwrap().body).unwrap();
        assert!(!html.contains("<script>"), "inline script in index.html");
        assert!(!html.contains("style="), "inline style in index.html");
        assert!(!html.contains("<style"), "inline style sheet in index.html");
        let handler = html.split(|c: char| c.is_whitespace()).find(|w| {
            w.starts_with("on")
                && w.contains('=')
                && w[2..w.find('=').unwrap()]
                    .chars()
                    .all(|c| c.is_ascii_lowercase())
        });
        assert_eq!(handler, None, "inline event handler in index.html");
        let js = std::str::from_utf8(find("/app/board.js").unwrap().body).unwrap();
        assert!(
            !js.contains("innerHTML"),
            "the script must build the DOM with textContent"
        );
        assert!(!js.contains("eval("), "no eval");
    }

    #[test]
    fn unknown_files_are_404() {
        for path in [
            "/app/",
            "/app/nope.js",
            "/app/board.js/",
            "/app/../static/board.js",
            "/index.html",
            "/app",
            "",
        ] {
            let r = get(path);
            assert_eq!(*r.status(), 404, "{path:?}");
            assert_eq!(
                header(&r, "content-type").as_deref(),
                Some("text/plain; charset=utf-8")
            );
        }
    }

    #[test]
    fn other_methods_are_405_with_allow() {
        for m in [
            Method::Post,
            Method::Put,
            Method::Patch,
            Method::Delete,
            Method::Options,
        ] {
            for path in ["/", "/app/board.css"] {
                let r = respond(&m, path, None);
                assert_eq!(*r.status(), 405, "{m:?} {path}");
                assert_eq!(header(&r, "allow").as_deref(), Some("GET, HEAD"));
            }
        }
        assert_eq!(*respond(&Method::Post, "/app/nope", None).status(), 404);
    }

    #[test]
    fn head_has_the_headers_and_no_body() {
        let r = respond(&Method::Head, "/app/board.js", None);
        assert_eq!(*r.status(), 200);
        assert!(r.body().is_empty());
        assert_eq!(
            header(&r, "content-length"),
            Some(find("/app/board.js").unwrap().body.len().to_string())
        );
        assert_eq!(
            header(&r, "content-type").as_deref(),
            Some("text/javascript; charset=utf-8")
        );
    }

    #[test]
    fn a_current_etag_gets_304_and_a_stale_one_the_file() {
        let asset = find("/app/board.css").unwrap();
        let etag = asset.etag();
        let r = respond(&Method::Get, "/app/board.css", Some(&etag));
        assert_eq!(*r.status(), 304);
        assert!(r.body().is_empty());
        assert_eq!(header(&r, "etag"), Some(etag.clone()));
        let listed = format!("\"0000000000000000\", W/{etag}");
        assert_eq!(
            *respond(&Method::Get, "/app/board.css", Some(&listed)).status(),
            304
        );
        let r = respond(&Method::Get, "/app/board.css", Some("\"0000000000000000\""));
        assert_eq!(*r.status(), 200);
        assert_eq!(r.body(), asset.body);
    }

    #[test]
    fn etags_follow_the_content() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        let tags: std::collections::HashSet<_> = ASSETS.iter().map(|a| a.etag()).collect();
        assert_eq!(tags.len(), ASSETS.len(), "every file its own tag");
    }

    #[test]
    fn every_file_the_page_names_is_served() {
        let html = std::str::from_utf8(find("/").unwrap().body).unwrap();
        for part in html.split("\"/app/").skip(1) {
            let name = part.split('"').next().unwrap();
            assert!(
                find(&format!("/app/{name}")).is_some(),
                "/app/{name} is named by index.html but not served"
            );
        }
    }
}
