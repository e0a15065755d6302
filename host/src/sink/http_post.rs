//! One HTTP/1.1 POST with a connection timeout and a total timeout: what the webhook and
//! Alertmanager sinks send with.
//!
//! Why hyper's client on a current-thread tokio runtime rather than another HTTP crate: the
//! daemon already builds hyper and tokio for its state endpoint, so the client is one feature of
//! code already compiled and audited, not a second HTTP stack; each sink's worker thread owns its
//! small runtime, so no delivery ever runs on, or waits for, the ingest thread.
//!
//! Invariants: every request ends within its total timeout, success or not; a response body is
//! read only up to [`MAX_ERROR_BODY`] bytes (a hostile receiver cannot make the daemon allocate);
//! only a 2xx status is success, and an error says which status or which step failed.

use super::spec::HttpUrl;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::Request;
use hyper_util::rt::TokioIo;
use std::time::Duration;

/// The most of a failed response's body kept for the error message.
pub const MAX_ERROR_BODY: usize = 512;

/// Sends POST requests from one thread.
pub struct Poster {
    runtime: tokio::runtime::Runtime,
    connect_timeout: Duration,
    timeout: Duration,
}

impl Poster {
    /// A poster with these timeouts.
    pub fn new(connect_timeout: Duration, timeout: Duration) -> std::io::Result<Poster> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()?;
        Ok(Poster {
            runtime,
            connect_timeout,
            timeout,
        })
    }

    /// POSTs `body` as JSON to `url`, with the extra `headers`. `Ok` on a 2xx answer.
    pub fn post(
        &self,
        url: &HttpUrl,
        headers: &[(&str, String)],
        body: &str,
    ) -> Result<(), String> {
        let exchange = self.exchange(url, headers, body.to_string());
        self.runtime
            .block_on(async { tokio::time::timeout(self.timeout, exchange).await })
            .unwrap_or_else(|_| {
                Err(format!(
                    "{}: no answer within {}",
                    url.as_str(),
                    crate::config::format_duration(self.timeout)
                ))
            })
    }

    async fn exchange(
        &self,
        url: &HttpUrl,
        headers: &[(&str, String)],
        body: String,
    ) -> Result<(), String> {
        let at = url.as_str();
        let stream = tokio::time::timeout(
            self.connect_timeout,
            tokio::net::TcpStream::connect(url.authority.as_str()),
        )
        .await
        .map_err(|_| format!("{at}: cannot connect within {:?}", self.connect_timeout))?
        .map_err(|e| format!("{at}: cannot connect: {e}"))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("{at}: {e}"))?;
        // The connection is driven beside the request; it ends with this exchange.
        let driver = tokio::spawn(connection);
        let mut request = Request::post(url.path.as_str())
            .header(hyper::header::HOST, url.authority.as_str())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(
                hyper::header::USER_AGENT,
                concat!("rackwatch/", env!("CARGO_PKG_VERSION")),
            );
        for (name, value) in headers {
            request = request.header(*name, value.as_str());
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| format!("{at}: cannot build the request: {e}"))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("{at}: {e}"))?;
        let status = response.status();
        let result = if status.is_success() {
            Ok(())
        } else {
            let text = match Limited::new(response.into_body(), MAX_ERROR_BODY)
                .collect()
                .await
            {
                Ok(b) => String::from_utf8_lossy(&b.to_bytes()).trim().to_string(),
                Err(_) => String::new(),
            };
            let text: String = text.chars().take(MAX_ERROR_BODY).collect();
            Err(if text.is_empty() {
                format!("{at}: answered {status}")
            } else {
                format!("{at}: answered {status}: {text}")
            })
        };
        driver.abort();
        result
    }
}
