//! Who may send data: the bearer token of the routes that accept it (`POST /push`, and any later
//! route that changes the daemon's state).
//!
//! Invariants:
//! - A route opts in with one field of its [`super::router`] entry (`guard: Guard::Token`); the
//!   router asks [`Access::check`] before reading the body, so a refused client costs no body read.
//! - The decision is [`decide`], a pure function of where the listener is, what is configured and
//!   what the request presents:
//!   - a token configured: it is required, on loopback too (`401` without it or with another);
//!   - none configured, loopback listener: open (only this machine's users reach it);
//!   - none configured, any other listener: refused (`403`), saying how to configure one.
//! - A job's check-in (`Guard::Job`) is judged against the job's own token when it has one, on
//!   any listener; else as any route that takes data.
//! - The token is compared in time independent of where it differs; it is never logged or echoed.

use hyper::header::{HeaderMap, HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use hyper::StatusCode;

/// What a route asks of a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// Anyone who reaches the listener (read-only routes).
    Open,
    /// The bearer token, by [`decide`]'s rules (routes that accept data).
    Token,
    /// A job's check-in: the job's own token when it has one (`[[job]] token_file`), else as
    /// [`Guard::Token`].
    Job,
}

/// The listener's side of the decision, fixed at start.
#[derive(Debug, Clone)]
pub struct Access {
    /// The listener is on a loopback address.
    pub loopback: bool,
    /// The configured token (`[http] token_file` / `token_env`), read at start.
    pub token: Option<String>,
}

/// The outcome for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Served.
    Allowed,
    /// A token is configured and the request has none.
    Missing,
    /// The request's token is not the configured one.
    Wrong,
    /// The listener is reachable from other machines and no token is configured.
    Unconfigured,
}

/// The decision, from where the listener is, the configured token and the presented one.
pub fn decide(loopback: bool, configured: Option<&str>, presented: Option<&str>) -> Verdict {
    match (configured, presented) {
        (Some(expected), Some(given)) if same(expected.as_bytes(), given.as_bytes()) => {
            Verdict::Allowed
        }
        (Some(_), Some(_)) => Verdict::Wrong,
        (Some(_), None) => Verdict::Missing,
        (None, _) if loopback => Verdict::Allowed,
        (None, _) => Verdict::Unconfigured,
    }
}

/// Equal, in time that depends on the lengths only.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// A refusal: its status, its text and whether it carries `WWW-Authenticate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `401` or `403`.
    pub status: StatusCode,
    /// What to do about it.
    pub text: &'static str,
    /// The `WWW-Authenticate` header to send, if any.
    pub challenge: Option<HeaderValue>,
}

impl Access {
    /// Whether a request with `headers` may use a route guarded by `guard`.
    pub fn check(&self, guard: Guard, headers: &HeaderMap) -> Result<(), Refusal> {
        self.check_job(guard, None, headers)
    }

    /// [`check`](Self::check), where a [`Guard::Job`] route's job has the token `own` (which
    /// then replaces the daemon's).
    pub fn check_job(
        &self,
        guard: Guard,
        own: Option<&str>,
        headers: &HeaderMap,
    ) -> Result<(), Refusal> {
        if guard == Guard::Open {
            return Ok(());
        }
        let challenge = Some(HeaderValue::from_static("Bearer realm=\"rackwatch\""));
        let own = own.filter(|_| guard == Guard::Job);
        if let Some(own) = own {
            return match decide(self.loopback, Some(own), bearer(headers)) {
                Verdict::Allowed => Ok(()),
                _ => Err(Refusal {
                    status: StatusCode::UNAUTHORIZED,
                    text: "this job has a token of its own: send `Authorization: Bearer <token>` \
                           with the one in its [[job]] token_file\n",
                    challenge,
                }),
            };
        }
        match decide(self.loopback, self.token.as_deref(), bearer(headers)) {
            Verdict::Allowed => Ok(()),
            Verdict::Missing => Err(Refusal {
                status: StatusCode::UNAUTHORIZED,
                text: "this route needs `Authorization: Bearer <token>`: the token in the \
                       daemon's [http] token_file or token_env\n",
                challenge,
            }),
            Verdict::Wrong => Err(Refusal {
                status: StatusCode::UNAUTHORIZED,
                text: "the bearer token is not the daemon's; use the one in its [http] \
                       token_file or token_env\n",
                challenge,
            }),
            Verdict::Unconfigured => Err(Refusal {
                status: StatusCode::FORBIDDEN,
                text: "this daemon listens beyond loopback and has no token, so it accepts no \
                       data: set [http] token_file = \"/path/to/token\" (or token_env) in its \
                       configuration and restart it, then send `Authorization: Bearer <token>`\n",
                challenge: None,
            }),
        }
    }

    /// Puts a refusal's header on `headers`.
    pub fn challenge(refusal: &Refusal, headers: &mut HeaderMap) {
        if let Some(value) = &refusal.challenge {
            headers.insert(WWW_AUTHENTICATE, value.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_decision_table() {
        // Loopback without a token: open.
        assert_eq!(decide(true, None, None), Verdict::Allowed);
        assert_eq!(decide(true, None, Some("x")), Verdict::Allowed);
        // Beyond loopback without a token: refused, whatever is presented.
        assert_eq!(decide(false, None, None), Verdict::Unconfigured);
        assert_eq!(decide(false, None, Some("x")), Verdict::Unconfigured);
        // A token configured: required everywhere.
        for loopback in [true, false] {
            assert_eq!(decide(loopback, Some("s3"), None), Verdict::Missing);
            assert_eq!(decide(loopback, Some("s3"), Some("s4")), Verdict::Wrong);
            assert_eq!(decide(loopback, Some("s3"), Some("s3x")), Verdict::Wrong);
            assert_eq!(decide(loopback, Some("s3"), Some("s3")), Verdict::Allowed);
        }
    }

    #[test]
    fn the_header_is_read_as_a_bearer_token() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer(&headers), None);
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer  abc "));
        assert_eq!(bearer(&headers), Some("abc"));
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&headers), None);
        let refused = Access {
            loopback: false,
            token: None,
        }
        .check(Guard::Token, &headers)
        .unwrap_err();
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        assert!(refused.text.contains("token_file"));
        assert!(Access {
            loopback: false,
            token: None
        }
        .check(Guard::Open, &headers)
        .is_ok());
    }
}
