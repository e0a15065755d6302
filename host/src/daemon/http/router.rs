//! The endpoint's routes, declared once: method + path → handler, each with its own body limit.
//!
//! Invariants:
//! - [`ROUTES`] is the only list of what is served: a new route (a `POST` with a body, say) is one
//!   entry there, and the `404` and `405` answers are derived from it.
//! - A body is read only up to its route's `max_body` (at most [`MAX_BODY`]): a declared
//!   `Content-Length` beyond it is refused before reading, a longer stream is cut off; both `413`.
//! - A route that accepts data is guarded (`guard: Guard::Token`, or `Guard::Job` for a job's
//!   check-in, [`super::auth`]): the client is checked before its body is read.
//! - A route path ending in `/` is a prefix: `/ping/` serves `/ping/NAME/...` ([`super::jobs`]).
//! - `HEAD` is served wherever `GET` is (hyper sends the head without the body).
//! - A known path asked with another method gets `405` and an `Allow` header; an unknown path gets
//!   `404` naming the paths that exist.
//! - The operator routes (`/api/acks`, `/api/silences`, `/api/maintenance`: acks, silences and
//!   maintenance windows) are guarded like `/push`: open on a loopback listener without a token,
//!   the token required once one is set, refused beyond loopback without one. They write the history database's operator tables,
//!   which the daemon's gate reads every few seconds.

use super::auth::{Access, Guard};
use super::jobs::JobDoor;
use super::push::{PushDoor, MAX_PUSH_BODY};
use crate::jobs::MAX_MESSAGE;
use crate::operator::store::{OperatorError, OperatorStore};
use crate::operator::{
    AckRequest, ExpireRequest, RemoveWindowRequest, SilenceRequest, UnackRequest, WindowRequest,
};
use crate::state::Snapshot;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderMap, HeaderValue, ALLOW, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use hyper::{Method, Request, Response, StatusCode};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

/// The most any route accepts as a body, in bytes.
pub const MAX_BODY: usize = 64 * 1024;
/// The most an operator request (an ack, a silence) may be, in bytes.
const OPERATOR_BODY: usize = 16 * 1024;
/// How many audit rows `GET /api/audit` answers with at most.
const AUDIT_ROWS: u64 = 1000;

/// What every request shares: the snapshot, who may send data, where pushes and operator changes
/// go.
pub struct Shared {
    /// The latest snapshot.
    pub snapshot: Arc<Mutex<Snapshot>>,
    /// The token rules of guarded routes.
    pub access: Access,
    /// Where `POST /push` hands its values; `None`: pushes are not accepted.
    pub push: Option<PushDoor>,
    /// The history database the operator routes change; `None`: the daemon keeps no history.
    pub operator_store: Option<std::path::PathBuf>,
    /// Where job check-ins (`/ping/...`) go; `None`: no jobs.
    pub jobs: Option<JobDoor>,
}

/// What a handler sees.
struct Context<'a> {
    shared: &'a Shared,
    headers: HeaderMap,
    /// The request's path (a prefix route's handler reads the rest of it).
    path: String,
}

/// One route.
struct Route {
    method: Method,
    /// The path; one ending in `/` is a prefix (`/ping/` serves `/ping/NAME/...`).
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
    Route {
        method: Method::POST,
        path: "/api/acks",
        max_body: OPERATOR_BODY,
        guard: Guard::Token,
        handler: ack,
    },
    Route {
        method: Method::DELETE,
        path: "/api/acks",
        max_body: OPERATOR_BODY,
        guard: Guard::Token,
        handler: unack,
    },
    Route {
        method: Method::POST,
        path: "/api/silences",
        max_body: OPERATOR_BODY,
        guard: Guard::Token,
        handler: add_silence,
    },
    Route {
        method: Method::DELETE,
        path: "/api/silences",
        max_body: OPERATOR_BODY,
        guard: Guard::Token,
        handler: expire_silence,
    },
    Route {
        method: Method::POST,
        path: "/api/maintenance",
        max_body: OPERATOR_BODY,
        guard: Guard::Token,
        handler: add_window,
    },
    Route {
        method: Method::DELETE,
        path: "/api/maintenance",
        max_body: OPERATOR_BODY,
        guard: Guard::Token,
        handler: remove_window,
    },
    Route {
        method: Method::GET,
        path: "/api/audit",
        max_body: 0,
        guard: Guard::Open,
        handler: audit,
    },
    // healthchecks.io's check-in URLs take GET as well as POST, so existing cron lines port over.
    Route {
        method: Method::GET,
        path: super::jobs::PREFIX,
        max_body: MAX_MESSAGE,
        guard: Guard::Job,
        handler: ping,
    },
    Route {
        method: Method::POST,
        path: super::jobs::PREFIX,
        max_body: MAX_MESSAGE,
        guard: Guard::Job,
        handler: ping,
    },
];

/// Whether `route_path` serves `path`: equal, or a prefix route (ending in `/`) with more after it.
fn serves(route_path: &str, path: &str) -> bool {
    route_path == path
        || (route_path.ends_with('/')
            && path.len() > route_path.len()
            && path.starts_with(route_path))
}

/// A job's check-in ([`super::jobs`]).
fn ping(context: &Context, body: Bytes) -> Response<Full<Bytes>> {
    let (status, answer) = super::jobs::ping(context.shared.jobs.as_ref(), &context.path, &body);
    let mut response = text(status, answer);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

/// The operator store, when this daemon has one; else the answer saying why. (Who may change it
/// is the route's guard.)
fn operator_store(context: &Context) -> Result<OperatorStore, (StatusCode, String)> {
    let Some(path) = &context.shared.operator_store else {
        return Err((
            StatusCode::NOT_FOUND,
            "this daemon keeps no history (run without --no-store), so it has no acks or silences\n".into(),
        ));
    };
    OperatorStore::open(path).map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")))
}

/// Runs one operator change: the body parsed as `T`, then `change` on the store.
fn operator_change<T: serde::de::DeserializeOwned, R: serde::Serialize>(
    context: &Context,
    body: Bytes,
    change: impl FnOnce(&mut OperatorStore, T, u64) -> Result<R, OperatorError>,
) -> Response<Full<Bytes>> {
    let mut store = match operator_store(context) {
        Ok(store) => store,
        Err((status, why)) => return text(status, why),
    };
    let request: T = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            return text(
                StatusCode::BAD_REQUEST,
                format!("not a valid request: {e}\n"),
            )
        }
    };
    match change(&mut store, request, crate::source::now_ms()) {
        Ok(result) => json(serde_json::to_string(&result).unwrap_or_default()),
        Err(OperatorError::Refused(why)) => text(StatusCode::BAD_REQUEST, format!("{why}\n")),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")),
    }
}

fn ack(context: &Context, body: Bytes) -> Response<Full<Bytes>> {
    operator_change(context, body, |s, r: AckRequest, now| s.ack(&r, now))
}

fn unack(context: &Context, body: Bytes) -> Response<Full<Bytes>> {
    operator_change(context, body, |s, r: UnackRequest, now| s.unack(&r, now))
}

fn add_silence(context: &Context, body: Bytes) -> Response<Full<Bytes>> {
    operator_change(context, body, |s, r: SilenceRequest, now| {
        s.add_silence(&r, now)
    })
}

fn expire_silence(context: &Context, body: Bytes) -> Response<Full<Bytes>> {
    operator_change(context, body, |s, r: ExpireRequest, now| {
        s.expire_silence(&r, now)
    })
}

fn add_window(context: &Context, body: Bytes) -> Response<Full<Bytes>> {
    operator_change(context, body, |s, r: WindowRequest, now| {
        s.add_window(&r, now)
    })
}

fn remove_window(context: &Context, body: Bytes) -> Response<Full<Bytes>> {
    operator_change(context, body, |s, r: RemoveWindowRequest, now| {
        s.remove_window(&r, now)
    })
}

/// The newest [`AUDIT_ROWS`] audit rows, oldest first (reading is allowed on any listener, as
/// `/state` is).
fn audit(context: &Context, _: Bytes) -> Response<Full<Bytes>> {
    let store = match operator_store(context) {
        Ok(store) => store,
        Err((status, why)) => return text(status, why),
    };
    match store.audit(AUDIT_ROWS) {
        Ok(rows) => json(serde_json::to_string(&rows).unwrap_or_default()),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")),
    }
}

fn json(body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

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
    let path = request.uri().path().to_string();
    let on_path: Vec<&Route> = ROUTES.iter().filter(|r| serves(r.path, &path)).collect();
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
    let allowed = match route.guard {
        Guard::Job => {
            let own = shared.jobs.as_ref().and_then(|j| j.token_for(&path));
            shared.access.check_job(route.guard, own, request.headers())
        }
        guard => shared.access.check(guard, request.headers()),
    };
    if let Err(refusal) = allowed {
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
        path,
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
    let mut paths: Vec<String> = ROUTES
        .iter()
        .map(|r| match r.path.ends_with('/') {
            true => format!("{}NAME", r.path),
            false => r.path.to_string(),
        })
        .collect();
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
