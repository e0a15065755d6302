//! The endpoint's routes, declared once: method + path → handler, each with its own body limit.
//!
//! Invariants:
//! - [`ROUTES`] is the only list of what is served: a new route (a `POST` with a body, say) is one
//!   entry there, and the `404` and `405` answers are derived from it.
//! - A body is read only up to its route's `max_body` (at most [`MAX_BODY`]): a declared
//!   `Content-Length` beyond it is refused before reading, a longer stream is cut off; both `413`.
//! - A route that accepts data is guarded (`guard: Guard::Token`, [`super::auth`]): the client is
//!   checked before its body is read.
//! - `HEAD` is served wherever `GET` is (hyper sends the head without the body).
//! - A known path asked with another method gets `405` and an `Allow` header; an unknown path gets
//!   `404` naming the paths that exist.

use super::auth::{Access, Guard};
use super::push::{PushDoor, MAX_PUSH_BODY};
use crate::state::Snapshot;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderMap, HeaderValue, ALLOW, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use hyper::{Method, Request, Response, StatusCode};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

/// The most any route accepts as a body, in bytes.
pub const MAX_BODY: usize = 64 * 1024;

/// What every request shares: the snapshot, who may send data, where pushes go.
pub struct Shared {
    /// The latest snapshot.
    pub snapshot: Arc<Mutex<Snapshot>>,
    /// The token rules of guarded routes.
    pub access: Access,
    /// Where `POST /push` hands its values; `None`: pushes are not accepted.
    pub push: Option<PushDoor>,
}

/// What a handler sees.
struct Context<'a> {
    shared: &'a Shared,
    headers: HeaderMap,
}

/// One route.
struct Route {
    method: Method,
    path: &'static str,
    /// Body bytes accepted; 0 for routes that take none.
    max_body: usize,
    /// Who may use it.
    guard: Guard,
    handler: fn(&Context, Bytes) -> Response<Full<Bytes>>,
}

/// Everything served.
const ROUTES: &[Route] = &[
    Route {
        method: Method::GET,
        path: "/healthz",
        max_body: 0,
        guard: Guard::Open,
        handler: healthz,
    },
    Route {
        method: Method::GET,
        path: "/state",
        max_body: 0,
        guard: Guard::Open,
        handler: state,
    },
    Route {
        method: Method::GET,
        path: "/metrics",
        max_body: 0,
        guard: Guard::Open,
        handler: metrics,
    },
    Route {
        method: Method::POST,
        path: "/push",
        max_body: MAX_PUSH_BODY,
        guard: Guard::Token,
        handler: push,
    },
];

fn healthz(_: &Context, _: Bytes) -> Response<Full<Bytes>> {
    text(StatusCode::OK, "ok\n".into())
}

fn state(context: &Context, _: Bytes) -> Response<Full<Bytes>> {
    let body = context
        .shared
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
    let Ok(body) = crate::metrics::render(&context.shared.snapshot) else {
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

/// Values pushed by a script or a tool ([`super::push`]).
fn push(context: &Context, body: Bytes) -> Response<Full<Bytes>> {
    let (status, answer) =
        super::push::accept(context.shared.push.as_ref(), &context.headers, &body);
    let mut response = text(status, answer);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

/// Answers one request.
pub async fn handle(
    request: Request<Incoming>,
    shared: Arc<Shared>,
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
    if let Err(refusal) = shared.access.check(route.guard, request.headers()) {
        let mut response = text(refusal.status, refusal.text.into());
        Access::challenge(&refusal, response.headers_mut());
        return Ok(response);
    }
    let limit = route.max_body.min(MAX_BODY);
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Ok(too_large(limit));
    }
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, limit).collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => return Ok(too_large(limit)),
    };
    let context = Context {
        shared: &shared,
        headers: parts.headers,
    };
    Ok((route.handler)(&context, body))
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
