//! The webhook sink: one JSON POST per transition (the document of `docs/webhook.md`), signed
//! with HMAC-SHA256 when a secret is configured.
//!
//! Invariants:
//! - The body sent is byte for byte the body queued, so a signature computed over it holds across
//!   retries and restarts; the `X-Rackwatch-Id` header repeats the document's `id`.
//! - The signature header is `X-Rackwatch-Signature: sha256=<64 lowercase hex digits>`, the
//!   HMAC-SHA256 of the raw body under the secret's bytes.
//! - The secret is read once, at start: a missing file or variable stops the start with its name.

use super::delivery::{Render, Rendered, Transport};
use super::http_post::Poster;
use super::message::TransitionMessage;
use super::outbox::Queued;
use super::spec::{HttpUrl, WebhookSettings};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::Duration;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "X-Rackwatch-Signature";
/// The header carrying the message's id.
pub const ID_HEADER: &str = "X-Rackwatch-Id";

/// Transitions as documents: what the webhook and command sinks queue.
pub struct Documents;

impl Render for Documents {
    fn render(&mut self, message: &TransitionMessage) -> Rendered {
        // Serialising a struct of strings and numbers cannot fail.
        let body = serde_json::to_string(message).unwrap_or_default();
        (vec![(message.id.clone(), body)], Vec::new())
    }
}

/// `sha256=<hex>`: the HMAC-SHA256 of `body` under `key`.
pub fn signature(key: &[u8], body: &[u8]) -> String {
    // HMAC takes a key of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// Posts documents to one URL.
pub struct Webhook {
    poster: Poster,
    url: HttpUrl,
    key: Option<Vec<u8>>,
}

impl Webhook {
    /// A webhook as configured; reads the secret now.
    pub fn new(settings: &WebhookSettings, timeout: Duration) -> Result<Webhook, String> {
        let key = settings.secret.as_ref().map(|s| s.read()).transpose()?;
        let poster = Poster::new(settings.connect_timeout, timeout)
            .map_err(|e| format!("cannot start its HTTP client: {e}"))?;
        Ok(Webhook {
            poster,
            url: settings.url.clone(),
            key,
        })
    }
}

impl Transport for Webhook {
    fn send(&mut self, message: &Queued) -> Result<(), String> {
        let mut headers = vec![(ID_HEADER, message.id.clone())];
        if let Some(key) = &self.key {
            headers.push((SIGNATURE_HEADER, signature(key, message.body.as_bytes())));
        }
        self.poster.post(&self.url, &headers, &message.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_the_known_vectors() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // RFC 4231, test case 6: a key longer than the block is hashed first.
        assert_eq!(
            signature(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            ),
            "sha256=60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }
}
