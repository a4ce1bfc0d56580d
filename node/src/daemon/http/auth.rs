//! Bearer tokens for the HTTP API. `--admin-token FILE` turns the `/v1/admin/*` endpoints on
//! and makes each of them require `Authorization: Bearer <token>`; `--upload-token FILE` makes
//! `POST /v1/images` require its own. Without a token file the admin endpoints do not exist
//! and uploads are open (the API binds loopback by default). A token file holds one line of
//! 16 to 512 visible ASCII characters; a wrong or missing token is 401.

use std::path::Path;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

const MIN_TOKEN: usize = 16;
const MAX_TOKEN: usize = 512;

/// Reads a token file; the error says what is wrong with it.
pub fn load_token(path: &Path) -> Result<Arc<str>, String> {
    let p = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("token file {p}: {e}"))?;
    if meta.len() > MAX_TOKEN as u64 + 2 {
        return Err(format!(
            "token file {p}: {} bytes; a token is at most {MAX_TOKEN} characters",
            meta.len()
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("token file {p}: {e}"))?;
    let token = text.trim_end_matches(['\n', '\r']);
    if token.len() < MIN_TOKEN || token.len() > MAX_TOKEN || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "token file {p}: one line of {MIN_TOKEN} to {MAX_TOKEN} visible ASCII characters (e.g. `openssl rand -hex 32`)"
        ));
    }
    Ok(Arc::from(token))
}

/// Equal tokens, comparing every byte whatever the first difference (no early exit).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Middleware: the request must carry `Authorization: Bearer <token>`.
pub async fn require_bearer(State(token): State<Arc<str>>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if same(given.as_bytes(), token.as_bytes()) {
        return next.run(req).await;
    }
    let mut r =
        (StatusCode::UNAUTHORIZED, "this endpoint needs Authorization: Bearer <token>").into_response();
    r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_files_are_checked_and_tokens_compared_whole() {
        let dir = std::env::temp_dir().join(format!("argus-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, text: &str| {
            let p = dir.join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        assert_eq!(&*load_token(&write("ok", "0123456789abcdef0123\n")).unwrap(), "0123456789abcdef0123");
        for (name, text) in
            [("short", "abc\n"), ("space", "0123456789 abcdef\n"), ("two", "0123456789abcdef\nmore\n")]
        {
            assert!(load_token(&write(name, text)).unwrap_err().contains("visible ASCII"), "{name}");
        }
        assert!(load_token(&write("big", &"a".repeat(600))).unwrap_err().contains("at most"));
        assert!(load_token(&dir.join("missing")).is_err());
        assert!(same(b"secret-token-1234", b"secret-token-1234"));
        assert!(!same(b"secret-token-1234", b"secret-token-1235"));
        assert!(!same(b"secret", b"secret-token"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
