//! Tests of the HTTP client: framing, malformed input, timeouts, a real Unix socket.
use super::*;

#[test]
fn content_length_body() {
    let raw = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-type: application/json\r\n\r\nhello";
    let r = parse_response(raw, false).unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));
    assert!(parse_response(&raw[..raw.len() - 1], false).is_err(), "short body is incomplete");
}

#[test]
fn chunked_body() {
    let raw =
        b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
    let r = parse_response(raw, false).unwrap();
    assert_eq!((r.status, r.body.as_slice()), (404, &b"abcde"[..]));
    assert!(parse_response(&raw[..20 + raw.len() / 2], false).is_err());
}

#[test]
fn unframed_body_needs_eof() {
    let raw = b"HTTP/1.0 200 OK\r\n\r\n{}";
    assert!(parse_response(raw, false).is_err());
    assert_eq!(parse_response(raw, true).unwrap().body, b"{}");
}

#[test]
fn malformed_heads_are_rejected() {
    for raw in [
        &b"SSH-2.0-x\r\n\r\n"[..],
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nnocolon\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n",
    ] {
        assert!(parse_response(raw, true).is_err(), "{:?}", String::from_utf8_lossy(raw));
    }
}

#[test]
fn query_values_are_percent_encoded() {
    assert_eq!(encode_query_value("a b/c"), "a%20b%2Fc");
    assert_eq!(encode_query_value("AZaz09-._~"), "AZaz09-._~");
}

fn socket_path(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("argus-sc-http-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("s.sock")
}

#[tokio::test]
async fn round_trip_over_unix_socket() {
    let path = socket_path("rt");
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    let server = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut req = vec![0u8; 4096];
        let n = s.read(&mut req).await.unwrap();
        let req = String::from_utf8_lossy(&req[..n]).to_string();
        s.write_all(b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok").await.unwrap();
        req
    });
    let ep = Endpoint::parse(&format!("unix:{}", path.display()));
    let r =
        request(&ep, "POST", "/v1/admin/block", Some(Body::json(br#"{"peers":[]}"#)), Duration::from_secs(5))
            .await
            .unwrap();
    assert_eq!((r.status, r.body.as_slice()), (201, &b"ok"[..]));
    let req = server.await.unwrap();
    assert!(req.starts_with("POST /v1/admin/block HTTP/1.1\r\n"), "{req}");
    assert!(req.contains("Content-Length: 12\r\n") && req.ends_with(r#"{"peers":[]}"#), "{req}");
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
