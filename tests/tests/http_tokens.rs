//! Bearer tokens on a real node's HTTP API: the admin endpoints exist only with
//! `--admin-token` and answer 401 without that token; uploads need `--upload-token`'s token
//! when one is set; reads stay open.

use std::time::Duration;

use argus_interface::http::{self, Body, Endpoint};
use argus_tests::*;

fn call(node: &NodeProc, method: &str, path: &str, body: &[u8], token: Option<&str>) -> u16 {
    let ep = Endpoint::parse(&node.http);
    let body = (!body.is_empty()).then(|| Body::json(body));
    block_on(http::request_as(&ep, method, path, body, Duration::from_secs(10), token))
        .expect("runtime")
        .expect("the node answers")
        .status
}

#[test]
fn admin_and_upload_endpoints_need_their_bearer_tokens() {
    let dir = TempDir::new("tokens");
    std::fs::create_dir_all(&dir.0).unwrap();
    let (admin, upload) = ("admin-0123456789abcdef", "upload-0123456789abcdef");
    let (admin_file, upload_file) = (dir.0.join("admin.token"), dir.0.join("upload.token"));
    std::fs::write(&admin_file, format!("{admin}\n")).unwrap();
    std::fs::write(&upload_file, format!("{upload}\n")).unwrap();
    let args = [
        "--backend",
        "flex",
        "--admin-token",
        admin_file.to_str().unwrap(),
        "--upload-token",
        upload_file.to_str().unwrap(),
    ];
    let node = NodeProc::start(&dir.0.join("n"), &[], &args).expect("node starts");
    let fault = br#"{"anomalous":0}"#;
    assert_eq!(call(&node, "POST", "/v1/admin/fault", fault, None), 401);
    assert_eq!(call(&node, "POST", "/v1/admin/fault", fault, Some(upload)), 401, "another token");
    assert_eq!(call(&node, "POST", "/v1/admin/fault", fault, Some(admin)), 200);
    // Not an image: with the right token the upload gets past the gate and is refused for
    // what it is (4xx, not 401).
    assert_eq!(call(&node, "POST", "/v1/images", b"not an image", None), 401);
    assert_eq!(call(&node, "POST", "/v1/images", b"not an image", Some(admin)), 401, "the admin token");
    let s = call(&node, "POST", "/v1/images", b"not an image", Some(upload));
    assert!((400..500).contains(&s) && s != 401, "upload with its token: {s}");
    assert_eq!(call(&node, "GET", "/v1/status", b"", None), 200, "reads stay open");

    // Without --admin-token the admin endpoints do not exist; without --upload-token uploads
    // are open.
    let plain = NodeProc::start(&dir.0.join("p"), &[], &["--backend", "flex"]).expect("node starts");
    assert_eq!(call(&plain, "POST", "/v1/admin/fault", fault, Some(admin)), 404);
    let s = call(&plain, "POST", "/v1/images", b"not an image", None);
    assert!((400..500).contains(&s) && s != 401, "open upload: {s}");

    // A malformed token file stops the node at start.
    std::fs::write(dir.0.join("bad.token"), "short\n").unwrap();
    let bad = dir.0.join("bad.token");
    let err = NodeProc::start(&dir.0.join("b"), &[], &["--admin-token", bad.to_str().unwrap()]).err();
    assert!(err.is_some(), "a node with a malformed token file must not start");
}
