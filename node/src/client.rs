//! A small HTTP/1.1 client for the node's own API, over TCP (`IP:PORT`) or a Unix socket
//! (`unix:/path`). Used by `argus query`, the monitor and the tests. One request per
//! connection, a timeout on the whole exchange and a cap on the response size.

use std::time::Duration;

use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest response body accepted (a page of 1,000 results is well under it).
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

#[derive(Debug, Error)]
pub enum ClientError {
    #[error("cannot connect to {addr}: {source}")]
    Connect { addr: String, source: std::io::Error },
    #[error("I/O with {0}: {1}")]
    Io(String, std::io::Error),
    #[error("request to {0} timed out")]
    Timeout(String),
    #[error("malformed HTTP response from {0}")]
    Malformed(String),
    #[error("response from {0} exceeds {MAX_RESPONSE_BYTES} bytes")]
    TooLarge(String),
}

#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// Sends one request and reads the whole response.
pub async fn request(
    addr: &str,
    method: &str,
    path: &str,
    body: Option<(&str, &[u8])>,
    timeout: Duration,
) -> Result<HttpResponse, ClientError> {
    match tokio::time::timeout(timeout, exchange(addr, method, path, body)).await {
        Ok(r) => r,
        Err(_) => Err(ClientError::Timeout(addr.to_string())),
    }
}

pub async fn get(addr: &str, path: &str, timeout: Duration) -> Result<HttpResponse, ClientError> {
    request(addr, "GET", path, None, timeout).await
}

async fn exchange(
    addr: &str,
    method: &str,
    path: &str,
    body: Option<(&str, &[u8])>,
) -> Result<HttpResponse, ClientError> {
    let connect = |source| ClientError::Connect { addr: addr.to_string(), source };
    if let Some(sock) = addr.strip_prefix("unix:") {
        let s = tokio::net::UnixStream::connect(sock).await.map_err(connect)?;
        talk(s, addr, method, path, body).await
    } else {
        let s = tokio::net::TcpStream::connect(addr).await.map_err(connect)?;
        talk(s, addr, method, path, body).await
    }
}

async fn talk<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    addr: &str,
    method: &str,
    path: &str,
    body: Option<(&str, &[u8])>,
) -> Result<HttpResponse, ClientError> {
    let io = |e| ClientError::Io(addr.to_string(), e);
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: argus\r\nConnection: close\r\n");
    if let Some((ctype, b)) = body {
        head.push_str(&format!("Content-Type: {ctype}\r\nContent-Length: {}\r\n", b.len()));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).await.map_err(io)?;
    if let Some((_, b)) = body {
        s.write_all(b).await.map_err(io)?;
    }
    let mut raw = Vec::new();
    (&mut s).take(MAX_RESPONSE_BYTES as u64 + 64 * 1024).read_to_end(&mut raw).await.map_err(io)?;
    parse(&raw, addr)
}

fn parse(raw: &[u8], addr: &str) -> Result<HttpResponse, ClientError> {
    let bad = || ClientError::Malformed(addr.to_string());
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(bad)?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| bad())?;
    let status: u16 = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    let mut body = raw[split + 4..].to_vec();
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    if chunked {
        body = dechunk(&body).ok_or_else(bad)?;
    }
    if body.len() > MAX_RESPONSE_BYTES {
        return Err(ClientError::TooLarge(addr.to_string()));
    }
    Ok(HttpResponse { status, body })
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = b.windows(2).position(|w| w == b"\r\n")?;
        let size_str = std::str::from_utf8(&b[..line_end]).ok()?;
        let size = usize::from_str_radix(size_str.split(';').next()?.trim(), 16).ok()?;
        b = &b[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        if b.len() < size + 2 {
            return None;
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_chunked_bodies() {
        let r = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", "x").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"{}"[..]));
        let r =
            parse(b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", "x")
                .unwrap();
        assert_eq!((r.status, r.body.as_slice()), (404, &b"abc"[..]));
        assert!(parse(b"garbage", "x").is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "x").is_err());
    }
}
