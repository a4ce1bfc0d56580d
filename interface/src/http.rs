//! The one HTTP/1.1 client of argus, over Unix sockets or TCP: `argus query`, the scenario
//! runner and the tests talk to nodes with it. hyper's HTTP/1 connection does the protocol
//! (request writing, response parsing, `Content-Length`, chunked and read-to-close bodies);
//! this file only adds argus's rules: one request per connection (`Connection: close`), an
//! overall timeout, and a cap on the response body. Never retries and never follows
//! redirects; callers decide what a failure means.

use std::path::PathBuf;
use std::time::Duration;

use http::header::{ACCEPT, AUTHORIZATION, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HOST};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

/// Largest response body accepted. A page of 1,000 results of 100 boxes each is about 12 MiB.
/// (The head has hyper's own limit, about 400 KiB.)
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("connect to {0}: {1}")]
    Connect(String, std::io::Error),
    #[error("i/o with {0}: {1}")]
    Io(String, std::io::Error),
    #[error("no answer from {0} within {1:?}")]
    Timeout(String, Duration),
    #[error("response from {0} over {MAX_RESPONSE_BYTES} bytes")]
    TooLarge(String),
    #[error("malformed response from {0}: {1}")]
    Malformed(String, &'static str),
    /// The caller's method, path or header is not valid HTTP (nothing was sent).
    #[error("invalid request to {0}: {1}")]
    Request(String, String),
}

/// Where a node's HTTP API listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Unix(PathBuf),
    Tcp(String),
}

impl Endpoint {
    /// Parses the node's `--http` syntax: `unix:/path` or `IP:PORT`.
    pub fn parse(s: &str) -> Endpoint {
        match s.strip_prefix("unix:") {
            Some(path) => Endpoint::Unix(PathBuf::from(path)),
            None => Endpoint::Tcp(s.to_string()),
        }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Unix(p) => write!(f, "unix:{}", p.display()),
            Endpoint::Tcp(a) => write!(f, "{a}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Response {
    /// The body as JSON, when it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// A request body and its media type.
#[derive(Debug, Clone, Copy)]
pub struct Body<'a> {
    pub content_type: &'a str,
    pub bytes: &'a [u8],
}

impl<'a> Body<'a> {
    pub fn json(bytes: &'a [u8]) -> Body<'a> {
        Body { content_type: "application/json", bytes }
    }
}

/// `GET path` within `timeout`.
pub async fn get(ep: &Endpoint, path_and_query: &str, timeout: Duration) -> Result<Response, HttpError> {
    request(ep, "GET", path_and_query, None, timeout).await
}

/// Sends one request and reads the whole response, all within `timeout`.
pub async fn request(
    ep: &Endpoint,
    method: &str,
    path_and_query: &str,
    body: Option<Body<'_>>,
    timeout: Duration,
) -> Result<Response, HttpError> {
    request_as(ep, method, path_and_query, body, timeout, None).await
}

/// `request` with `Authorization: Bearer TOKEN` when a token is given (one the node was
/// started with: `--admin-token`, `--upload-token`). A token with characters outside visible
/// ASCII is not sent (it could not be a node's token, and could split the header).
pub async fn request_as(
    ep: &Endpoint,
    method: &str,
    path_and_query: &str,
    body: Option<Body<'_>>,
    timeout: Duration,
    bearer: Option<&str>,
) -> Result<Response, HttpError> {
    let bearer = bearer.filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic()));
    let who = ep.to_string();
    let req = build(method, path_and_query, body, bearer)
        .map_err(|e| HttpError::Request(who.clone(), e.to_string()))?;
    let fut = async {
        match ep {
            Endpoint::Unix(p) => {
                let s = tokio::net::UnixStream::connect(p)
                    .await
                    .map_err(|e| HttpError::Connect(who.clone(), e))?;
                exchange(s, &who, req, MAX_RESPONSE_BYTES).await
            }
            Endpoint::Tcp(a) => {
                let s = tokio::net::TcpStream::connect(a)
                    .await
                    .map_err(|e| HttpError::Connect(who.clone(), e))?;
                exchange(s, &who, req, MAX_RESPONSE_BYTES).await
            }
        }
    };
    tokio::time::timeout(timeout, fut).await.map_err(|_| HttpError::Timeout(who.clone(), timeout))?
}

/// The request, with argus's fixed headers: one request per connection, JSON wanted.
fn build(
    method: &str,
    path_and_query: &str,
    body: Option<Body<'_>>,
    bearer: Option<&str>,
) -> Result<http::Request<Full<Bytes>>, http::Error> {
    let mut b = http::Request::builder()
        .method(method)
        .uri(path_and_query)
        .header(HOST, "argus")
        .header(CONNECTION, "close")
        .header(ACCEPT, "application/json");
    if let Some(body) = body {
        b = b.header(CONTENT_TYPE, body.content_type);
    }
    if let Some(t) = bearer {
        b = b.header(AUTHORIZATION, format!("Bearer {t}"));
    }
    // hyper sends `Content-Length` for a body of known size.
    b.body(Full::new(Bytes::copy_from_slice(body.map_or(&[][..], |b| b.bytes))))
}

/// One request over a fresh connection, its body at most `max_body` bytes. The connection is
/// driven here (no spawned task), so it ends with this call, also when the caller's timeout
/// drops it.
async fn exchange<S>(
    stream: S,
    who: &str,
    req: http::Request<Full<Bytes>>,
    max_body: usize,
) -> Result<Response, HttpError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| failed(who, e))?;
    let work = async {
        let resp = sender.send_request(req).await.map_err(|e| failed(who, e))?;
        let status = resp.status().as_u16();
        // A declared length over the cap fails before reading; `Limited` stops the rest
        // (chunked and read-to-close bodies) once they pass it.
        let declared = resp.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|n| n > max_body as u64) {
            return Err(HttpError::TooLarge(who.to_string()));
        }
        let body = Limited::new(resp.into_body(), max_body).collect().await.map_err(|e| match e
            .downcast::<hyper::Error>()
        {
            Ok(e) => failed(who, *e),
            Err(e) if e.is::<LengthLimitError>() => HttpError::TooLarge(who.to_string()),
            Err(e) => HttpError::Io(who.to_string(), std::io::Error::other(e)),
        })?;
        Ok(Response { status, body: body.to_bytes().to_vec() })
    };
    let mut conn = std::pin::pin!(conn);
    let mut work = std::pin::pin!(work);
    tokio::select! {
        r = &mut work => r,
        // The connection ended first (closed after the response, or failed): the request's own
        // future then reports which, with the body or hyper's error.
        _ = &mut conn => work.await,
    }
}

/// Whether the connection closed in the middle of a body (hyper reports it as a body read
/// error caused by an unexpected end of file).
fn cut_off(e: &hyper::Error) -> bool {
    let source = std::error::Error::source(e).and_then(|s| s.downcast_ref::<std::io::Error>());
    source.is_some_and(|io| io.kind() == std::io::ErrorKind::UnexpectedEof)
}

/// hyper's error as ours: an unparsable or cut-off response is malformed, the rest is I/O.
fn failed(who: &str, e: hyper::Error) -> HttpError {
    let who = who.to_string();
    // (hyper's `is_parse_too_large` exists only with its server feature: a response head over
    // hyper's limit is reported as malformed.)
    if e.is_parse() || e.is_parse_status() {
        HttpError::Malformed(who, "not a valid HTTP/1.x response head, or one over hyper's size limit")
    } else if e.is_incomplete_message() || cut_off(&e) {
        HttpError::Malformed(who, "connection closed before the response was complete")
    } else {
        HttpError::Io(who, std::io::Error::other(e))
    }
}

/// Percent-encodes a query-string value (RFC 3986 unreserved characters pass through).
pub fn encode_query_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests;
