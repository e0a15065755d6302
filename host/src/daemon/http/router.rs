//! The endpoint's routes, declared once: method + path → handler, each with its own body limit.
//!
//! Invariants:
//! - [`ROUTES`] is the only list of what is served: a new route (a `POST` with a body, say) is one
//!   entry there, and the `404` and `405` answers are derived from it.
//! - A body is read only up to its route's `max_body` (at most [`MAX_BODY`]): a declared
//!   `Content-Length` beyond it is refused before reading, a longer stream is cut off; both `413`.
//! - `HEAD` is served wherever `GET` is (hyper sends the head without the body).
//! - A known path asked with another method gets `405` and an `Allow` header; an unknown path gets
//!   `404` naming the paths that exist.

use crate::state::Snapshot;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, ALLOW, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

/// The most any route accepts as a body, in bytes.
pub const MAX_BODY: usize = 64 * 1024;

/// What a handler sees.
struct Context {
    snapshot: Arc<Mutex<Snapshot>>,
}

/// One route.
struct Route {
    method: Method,
    path: &'static str,
    /// Body bytes accepted; 0 for routes that take none.
    max_body: usize,
    handler: fn(&Context, Bytes) -> Response<Full<Bytes>>,
}

/// Everything served.
const ROUTES: &[Route] = &[
    Route {
        method: Method::GET,
        path: "/healthz",
        max_body: 0,
        handler: healthz,
    },
    Route {
        method: Method::GET,
        path: "/state",
        max_body: 0,
        handler: state,
    },
    Route {
        method: Method::GET,
        path: "/metrics",
        max_body: 0,
        handler: metrics,
    },
];

fn healthz(_: &Context, _: Bytes) -> Response<Full<Bytes>> {
    text(StatusCode::OK, "ok\n".into())
}

fn state(context: &Context, _: Bytes) -> Response<Full<Bytes>> {
    let body = context
        .snapshot
        .lock()
        .map(|s| serde_json::to_string(&*s).unwrap_or_default())
        .unwrap_or_default();
    let mut response = Response::new(Full::new(Bytes::from(body)));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The snapshot and this process in the Prometheus text format ([`crate::metrics`]).
fn metrics(context: &Context, _: Bytes) -> Response<Full<Bytes>> {
    let Ok(body) = crate::metrics::render(&context.snapshot) else {
        return text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the metrics could not be rendered; /state has the same data as JSON\n".into(),
        );
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
    );
    response
}

/// Answers one request.
pub async fn handle(
    request: Request<Incoming>,
    snapshot: Arc<Mutex<Snapshot>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path();
    let on_path: Vec<&Route> = ROUTES.iter().filter(|r| r.path == path).collect();
    if on_path.is_empty() {
        return Ok(not_found());
    }
    let wanted = request.method();
    let route = on_path
        .iter()
        .find(|r| r.method == wanted || (*wanted == Method::HEAD && r.method == Method::GET));
    let Some(route) = route else {
        return Ok(not_allowed(&on_path));
    };
    let limit = route.max_body.min(MAX_BODY);
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Ok(too_large(limit));
    }
    let body = match Limited::new(request.into_body(), limit).collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => return Ok(too_large(limit)),
    };
    Ok((route.handler)(&Context { snapshot }, body))
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn not_found() -> Response<Full<Bytes>> {
    let mut paths: Vec<&str> = ROUTES.iter().map(|r| r.path).collect();
    paths.sort_unstable();
    paths.dedup();
    text(
        StatusCode::NOT_FOUND,
        format!("not found: try {}\n", paths.join(" or ")),
    )
}

fn not_allowed(on_path: &[&Route]) -> Response<Full<Bytes>> {
    let mut methods: Vec<&str> = on_path.iter().map(|r| r.method.as_str()).collect();
    if methods.contains(&"GET") {
        methods.push("HEAD");
    }
    let allow = methods.join(", ");
    let mut response = text(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method not allowed: use {allow}\n"),
    );
    if let Ok(value) = HeaderValue::from_str(&allow) {
        response.headers_mut().insert(ALLOW, value);
    }
    response
}

fn too_large(limit: usize) -> Response<Full<Bytes>> {
    text(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("request body too large: at most {limit} bytes here\n"),
    )
}
