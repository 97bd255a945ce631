//! The web dashboard, served at `/` from files embedded at build time (see `build.rs`).
//!
//! `GET /assets/…` are Vite's content-hashed files: cached for a year. Any other path outside
//! `/v1` that names no file is a client-side route and gets `index.html` (never cached, so a new
//! binary's dashboard takes effect on the next load). The API keeps its problem+json 404s.

use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/dashboard_assets.rs"));
}

/// The files of the built dashboard, when it was built before the server was compiled.
fn asset(path: &str) -> Option<&'static [u8]> {
    embedded::ASSETS
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, bytes)| *bytes)
}

/// Whether the dashboard was embedded.
pub(crate) fn is_built() -> bool {
    asset("index.html").is_some()
}

/// The media type of a file by extension (the few kinds a Vite build emits).
pub(crate) fn content_type(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map_or("", |(_, e)| e);
    match ext.to_ascii_lowercase().as_str() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "txt" => "text/plain; charset=utf-8",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

/// What a dashboard path resolves to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Resolved {
    /// An embedded file.
    File(&'static str),
    /// A client-side route: the app's `index.html`.
    App,
    /// A file name that is not there (a stale or mistyped asset URL): 404, not the app, so a
    /// script tag never receives HTML.
    Missing,
}

/// Resolve a request path (outside `/v1`) against the embedded files.
pub(crate) fn resolve(path: &str) -> Resolved {
    let rel = path.trim_start_matches('/');
    if rel.is_empty() || rel == "index.html" {
        return Resolved::App;
    }
    if let Some((p, _)) = embedded::ASSETS.iter().find(|(p, _)| *p == rel) {
        return Resolved::File(p);
    }
    let last = rel.rsplit('/').next().unwrap_or(rel);
    if last.contains('.') || rel.starts_with("assets/") {
        Resolved::Missing
    } else {
        Resolved::App
    }
}

/// Whether `path` belongs to the API (or the service endpoints), whose misses stay problems.
fn is_api(path: &str) -> bool {
    path == "/v1" || path.starts_with("/v1/") || path == "/healthz" || path == "/metrics"
}

// The page only talks to its own origin; styles may be set inline (charts size their canvas).
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; object-src 'none'; \
    base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn html(status: StatusCode, body: &'static [u8]) -> Response {
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

/// Shown at `/` by a binary compiled before the dashboard was built.
const NOT_BUILT: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>MicroLearn — dashboard not built</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:4rem auto;padding:0 1rem;color:#1a202c}
code,pre{background:#f1f3f7;border-radius:4px;padding:.1rem .3rem}pre{padding:.8rem}</style></head>
<body><h1>The dashboard was not built into this binary</h1>
<p>The REST API works (see <a href="/v1/openapi.json">/v1/openapi.json</a>), but the web dashboard's
files were missing when <code>microlearn</code> was compiled. Build them (Node.js 20+ and npm), then the binary:</p>
<pre>./scripts/build-dashboard.sh
cargo build --release -p microlearn</pre>
<p><code>./scripts/demo.sh</code> and <code>./scripts/test.sh</code> do both.</p></body></html>
"#;

/// The router's fallback: dashboard files and client routes for GET/HEAD outside the API,
/// problem+json for everything else.
pub(crate) async fn serve(req: Request) -> Response {
    let path = req.uri().path();
    if is_api(path) || !(req.method() == Method::GET || req.method() == Method::HEAD) {
        return super::no_route(req).await.into_response();
    }
    if !is_built() {
        return match resolve(path) {
            Resolved::App => html(StatusCode::OK, NOT_BUILT.as_bytes()),
            _ => super::no_route(req).await.into_response(),
        };
    }
    match resolve(path) {
        Resolved::App => match asset("index.html") {
            Some(body) => html(StatusCode::OK, body),
            None => html(StatusCode::OK, NOT_BUILT.as_bytes()),
        },
        Resolved::File(p) => {
            let Some(body) = asset(p) else {
                return super::no_route(req).await.into_response();
            };
            if p.ends_with(".html") {
                return html(StatusCode::OK, body);
            }
            // Vite puts a content hash in every name under assets/; other files (favicon)
            // keep their name across builds, so they are revalidated.
            let cache = if p.starts_with("assets/") {
                "public, max-age=31536000, immutable"
            } else {
                "no-cache"
            };
            (
                [
                    (header::CONTENT_TYPE, content_type(p)),
                    (header::CACHE_CONTROL, cache),
                    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                ],
                body,
            )
                .into_response()
        }
        Resolved::Missing => super::no_route(req).await.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_cover_what_vite_emits() {
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(
            content_type("assets/index-AbC123.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            content_type("assets/index-x.CSS"),
            "text/css; charset=utf-8"
        );
        assert_eq!(content_type("favicon.svg"), "image/svg+xml");
        assert_eq!(content_type("noext"), "application/octet-stream");
    }

    #[test]
    fn client_routes_get_the_app_and_missing_files_do_not() {
        assert_eq!(resolve("/"), Resolved::App);
        assert_eq!(resolve("/pipelines/pl_123"), Resolved::App);
        assert_eq!(resolve("/deployments"), Resolved::App);
        assert_eq!(resolve("/assets/gone-1234.js"), Resolved::Missing);
        assert_eq!(resolve("/robots.txt"), Resolved::Missing);
        assert_eq!(resolve("/assets/no-extension"), Resolved::Missing);
    }

    #[test]
    fn the_api_is_never_the_dashboards() {
        assert!(is_api("/v1"));
        assert!(is_api("/v1/nothing"));
        assert!(is_api("/healthz"));
        assert!(!is_api("/v1x"));
        assert!(!is_api("/pipelines/v1"));
    }
}
