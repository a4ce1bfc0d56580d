//! The one HTTP/1.1 client of argus, over Unix sockets or TCP: `argus query`, the scenario
//! runner and the tests talk to nodes with it. One request per connection
//! (`Connection: close`), an overall timeout, and a cap on the response size. Handles
//! `Content-Length`, chunked and read-to-close bodies. Never retries and never follows
//! redirects; callers decide what a failure means.

use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest response accepted. A page of 1,000 results of 100 boxes each is about 12 MiB.
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
    let fut = async {
        let raw = match ep {
            Endpoint::Unix(p) => {
                let s = tokio::net::UnixStream::connect(p)
                    .await
                    .map_err(|e| HttpError::Connect(who.clone(), e))?;
                exchange(s, &who, method, path_and_query, body, bearer).await?
            }
            Endpoint::Tcp(a) => {
                let s = tokio::net::TcpStream::connect(a)
                    .await
                    .map_err(|e| HttpError::Connect(who.clone(), e))?;
                exchange(s, &who, method, path_and_query, body, bearer).await?
            }
        };
        parse_response(&raw, true).map_err(|m| HttpError::Malformed(who.clone(), m))
    };
    tokio::time::timeout(timeout, fut).await.map_err(|_| HttpError::Timeout(ep.to_string(), timeout))?
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    who: &str,
    method: &str,
    path: &str,
    body: Option<Body<'_>>,
    bearer: Option<&str>,
) -> Result<Vec<u8>, HttpError> {
    let io = |e| HttpError::Io(who.to_string(), e);
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: argus\r\nConnection: close\r\nAccept: application/json\r\n"
    );
    if let Some(b) = body {
        head.push_str(&format!("Content-Type: {}\r\nContent-Length: {}\r\n", b.content_type, b.bytes.len()));
    }
    if let Some(t) = bearer {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).await.map_err(io)?;
    if let Some(b) = body {
        s.write_all(b.bytes).await.map_err(io)?;
    }
    s.flush().await.map_err(io)?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = s.read(&mut buf).await.map_err(io)?;
        if n == 0 {
            return Ok(raw);
        }
        if raw.len() + n > MAX_RESPONSE_BYTES {
            return Err(HttpError::TooLarge(who.to_string()));
        }
        raw.extend_from_slice(&buf[..n]);
        // A complete framed response ends the read early even if the server keeps the socket.
        if parse_response(&raw, false).is_ok() {
            return Ok(raw);
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Parses a complete HTTP/1.1 response; an error when it is malformed or incomplete.
/// `at_eof`: the connection has closed, so a body without framing ends here.
pub fn parse_response(raw: &[u8], at_eof: bool) -> Result<Response, &'static str> {
    let head_end = find(raw, b"\r\n\r\n").ok_or("incomplete head")?;
    let head = std::str::from_utf8(&raw[..head_end]).map_err(|_| "head is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or("empty head")?;
    let mut parts = status_line.splitn(3, ' ');
    if !parts.next().is_some_and(|v| v.starts_with("HTTP/1.")) {
        return Err("not an HTTP/1.x status line");
    }
    let status: u16 = parts.next().and_then(|c| c.parse().ok()).ok_or("bad status code")?;
    let mut length = None;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err("bad header line");
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.parse::<usize>().map_err(|_| "bad content-length")?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        }
    }
    let rest = &raw[head_end + 4..];
    let body = if chunked {
        decode_chunked(rest)?
    } else if let Some(n) = length {
        if rest.len() < n {
            return Err("incomplete body");
        }
        rest[..n].to_vec()
    } else if status == 204 || status == 304 {
        Vec::new()
    } else if at_eof {
        rest.to_vec()
    } else {
        // No framing: the body runs to the end of the connection.
        return Err("unframed body before end of connection");
    };
    Ok(Response { status, body })
}

/// Decodes a chunked body (trailers after the last chunk are ignored).
fn decode_chunked(mut rest: &[u8]) -> Result<Vec<u8>, &'static str> {
    let mut body = Vec::new();
    loop {
        let line_end = find(rest, b"\r\n").ok_or("incomplete chunk size")?;
        let size_text = std::str::from_utf8(&rest[..line_end]).map_err(|_| "bad chunk size")?;
        let size_hex = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_hex, 16).map_err(|_| "bad chunk size")?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        if rest.len() < size + 2 {
            return Err("incomplete chunk");
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
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
