//! The daemon's HTTP endpoint: `/state` (the latest [`Snapshot`] as JSON) and `/healthz`.

use crate::state::Snapshot;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Serves `/state` (the snapshot as JSON) and `/healthz` on `addr`, on a thread of its own.
pub fn serve(
    addr: &str,
    snapshot: Arc<Mutex<Snapshot>>,
) -> anyhow::Result<(Arc<tiny_http::Server>, JoinHandle<()>)> {
    let server = tiny_http::Server::http(addr).map_err(|e| {
        anyhow::anyhow!(
            "cannot listen on {addr}: {e}; choose another address with --listen, or --listen none"
        )
    })?;
    let server = Arc::new(server);
    let serving = Arc::clone(&server);
    let handle = std::thread::Builder::new()
        .name("http".into())
        .spawn(move || {
            for request in serving.incoming_requests() {
                let response = match request.url() {
                    "/state" => {
                        let body = snapshot
                            .lock()
                            .map(|s| serde_json::to_string(&*s).unwrap_or_default())
                            .unwrap_or_default();
                        let response = tiny_http::Response::from_string(body);
                        match tiny_http::Header::from_bytes("Content-Type", "application/json") {
                            Ok(header) => response.with_header(header),
                            Err(()) => response,
                        }
                    }
                    "/healthz" => tiny_http::Response::from_string("ok\n"),
                    _ => tiny_http::Response::from_string("not found: try /state or /healthz\n")
                        .with_status_code(404),
                };
                let _ = request.respond(response);
            }
        })?;
    Ok((server, handle))
}
