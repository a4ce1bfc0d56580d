//! Tests of the HTTP client against tiny raw servers on Unix sockets: each framing hyper must
//! read (length, chunked, read-to-close), malformed and cut-off answers, the body cap, the
//! timeout, and the request as it goes on the wire.
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

fn socket_path(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("argus-sc-http-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("s.sock")
}

/// Reads one request (head, and a body as long as its `content-length`) from a raw socket.
async fn read_request(s: &mut tokio::net::UnixStream) -> String {
    let mut req = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf).await.unwrap();
        req.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&req).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string())
                })
                .map_or(0, |v| v.parse::<usize>().unwrap());
            if req.len() >= end + 4 + length {
                return text;
            }
        }
        assert!(n > 0, "the client closed before its request was complete: {text:?}");
    }
}

/// A server that answers one request with `raw` and closes; yields the request it read.
fn serve_raw(tag: &str, raw: &'static [u8]) -> (Endpoint, tokio::task::JoinHandle<String>) {
    let path = socket_path(tag);
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    let server = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let req = read_request(&mut s).await;
        s.write_all(raw).await.unwrap();
        req
    });
    (Endpoint::Unix(path), server)
}

async fn get_raw(tag: &str, raw: &'static [u8]) -> Result<Response, HttpError> {
    let (ep, _server) = serve_raw(tag, raw);
    get(&ep, "/v1/status", Duration::from_secs(5)).await
}

#[tokio::test]
async fn content_length_body() {
    let raw = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-type: application/json\r\n\r\nhello";
    let r = get_raw("cl", raw).await.unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));
}

#[tokio::test]
async fn a_short_body_is_malformed() {
    let err = get_raw("short", b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhell").await.unwrap_err();
    assert!(matches!(err, HttpError::Malformed(..)), "{err}");
}

#[tokio::test]
async fn chunked_body() {
    let raw =
        b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
    let r = get_raw("chunked", raw).await.unwrap();
    assert_eq!((r.status, r.body.as_slice()), (404, &b"abcde"[..]));
}

#[tokio::test]
async fn an_unframed_body_runs_to_the_end_of_the_connection() {
    let r = get_raw("eof", b"HTTP/1.0 200 OK\r\n\r\n{}").await.unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"{}"[..]));
}

#[tokio::test]
async fn malformed_heads_are_rejected() {
    let cases: [&'static [u8]; 4] = [
        b"SSH-2.0-x\r\n\r\n",
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nnocolon\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n",
    ];
    for (i, raw) in cases.into_iter().enumerate() {
        let err = get_raw(&format!("bad{i}"), raw).await.unwrap_err();
        assert!(matches!(err, HttpError::Malformed(..)), "{:?}: {err}", String::from_utf8_lossy(raw));
    }
}

#[tokio::test]
async fn a_declared_length_over_the_cap_fails_before_reading() {
    // The server sends no body at all: the declared length alone must end the call.
    let raw = b"HTTP/1.1 200 OK\r\ncontent-length: 999999999999\r\n\r\n";
    let err = get_raw("huge", raw).await.unwrap_err();
    assert!(matches!(err, HttpError::TooLarge(..)), "{err}");
}

#[tokio::test]
async fn a_chunked_body_over_the_cap_is_cut_off() {
    let (ep, _server) =
        serve_raw("cap", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n0\r\n\r\n");
    let Endpoint::Unix(path) = &ep else { unreachable!() };
    let s = tokio::net::UnixStream::connect(path).await.unwrap();
    let req = build("GET", "/", None, None).unwrap();
    let err = exchange(s, "test", req, 4).await.unwrap_err();
    assert!(matches!(err, HttpError::TooLarge(..)), "{err}");
}

#[test]
fn query_values_are_percent_encoded() {
    assert_eq!(encode_query_value("a b/c"), "a%20b%2Fc");
    assert_eq!(encode_query_value("AZaz09-._~"), "AZaz09-._~");
}

#[tokio::test]
async fn round_trip_over_unix_socket() {
    let (ep, server) = serve_raw("rt", b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok");
    let body = Some(Body::json(br#"{"peers":[]}"#));
    let r = request_as(&ep, "POST", "/v1/admin/block", body, Duration::from_secs(5), Some("s3cret"))
        .await
        .unwrap();
    assert_eq!((r.status, r.body.as_slice()), (201, &b"ok"[..]));
    let req = server.await.unwrap();
    let lower = req.to_ascii_lowercase();
    assert!(req.starts_with("POST /v1/admin/block HTTP/1.1\r\n"), "{req}");
    for header in ["content-length: 12\r\n", "connection: close\r\n", "authorization: bearer s3cret\r\n"] {
        assert!(lower.contains(header), "no {header:?} in {req}");
    }
    assert!(req.ends_with(r#"{"peers":[]}"#), "{req}");
}

#[tokio::test]
async fn an_invalid_request_is_refused_before_connecting() {
    let ep = Endpoint::Unix(socket_path("inv").with_file_name("absent.sock"));
    let err = request(&ep, "GET", "/a b", None, Duration::from_secs(1)).await.unwrap_err();
    assert!(matches!(err, HttpError::Request(..)), "{err}");
}

#[tokio::test]
async fn silent_server_times_out() {
    let path = socket_path("to");
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    let _server = tokio::spawn(async move {
        let (s, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(s);
    });
    let ep = Endpoint::Unix(path);
    let err = request(&ep, "GET", "/v1/status", None, Duration::from_millis(200)).await.unwrap_err();
    assert!(matches!(err, HttpError::Timeout(..)), "{err}");
}

#[tokio::test]
async fn missing_socket_is_a_connect_error() {
    let ep = Endpoint::Unix(socket_path("none").with_file_name("absent.sock"));
    let err = request(&ep, "GET", "/", None, Duration::from_secs(1)).await.unwrap_err();
    assert!(matches!(err, HttpError::Connect(..)), "{err}");
}
