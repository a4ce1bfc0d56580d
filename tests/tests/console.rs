//! The operator's console (issue 15) in real headless Chromium (Debian's `chromium`): the page
//! of a running 3-node cluster lists every node and draws at least one detection, an image's
//! page shows its register, and neither logs a console error. Without Chromium the test says
//! it skips, unless `ARGUS_REQUIRE_CHROMIUM` is set (CI sets it when it could install it).
//! With `ARGUS_CONSOLE_SCREENSHOT=FILE` it also saves a screenshot of the console there.

use std::process::{Command, Stdio};
use std::time::Duration;

use argus_tests::*;

fn chromium() -> Option<&'static str> {
    let found = ["chromium", "chromium-browser", "google-chrome"].into_iter().find(|b| {
        Command::new(b).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
    });
    if found.is_none() {
        assert!(
            std::env::var_os("ARGUS_REQUIRE_CHROMIUM").is_none(),
            "Chromium is required here and missing"
        );
        eprintln!("SKIPPED: no chromium on the PATH (apt install chromium)");
    }
    found
}

/// Loads `url` headless; returns the DOM after load and Chromium's log (console messages).
fn load(browser: &str, url: &str, extra: &[String]) -> (String, String) {
    let out = Command::new(browser)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            // Containers give /dev/shm 64 MB; Chromium then uses /tmp instead of crashing.
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--enable-logging=stderr",
        ])
        .args(["--v=0", "--window-size=1280,1000", "--virtual-time-budget=3000"])
        .args(extra)
        .arg(url)
        .output()
        .expect("chromium runs");
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn console_errors(log: &str) -> Vec<&str> {
    log.lines().filter(|l| l.contains("CONSOLE") && (l.contains("ERROR") || l.contains("Uncaught"))).collect()
}

#[test]
fn the_console_lists_the_nodes_and_draws_detections_in_chromium() {
    let Some(browser) = chromium() else { return };
    let dir = TempDir::new("console");
    let flags = ["--backend", "flex", "--model", "shapes"];
    let a = NodeProc::start(&dir.0.join("a"), &[], &flags).expect("a starts");
    let b = NodeProc::start(&dir.0.join("b"), &[a.addr()], &flags).expect("b starts");
    let c = NodeProc::start(&dir.0.join("c"), &[a.addr(), b.addr()], &flags).expect("c starts");
    let ids = send_synthetic(&[a.addr(), b.addr(), c.addr()], 8, 21, 20.0, 3).expect("the sender runs");
    let stored = |id: &String| a.get(&format!("/v1/detections/{id}")).is_ok_and(|(s, _)| s == 200);
    assert!(wait_until(Duration::from_secs(30), || ids.iter().all(stored)), "results stored on a");
    // Every node heard by a (its heartbeats carry what the table shows).
    assert!(wait_until(Duration::from_secs(10), || status_ids(&a, "live_nodes").len() == 2));

    let url = format!("http://{}/", a.http);
    let (dom, log) = load(browser, &url, &["--dump-dom".into()]);
    assert!(dom.contains("id=\"cluster\""), "no cluster table: {dom}");
    for n in [&a, &b, &c] {
        let tail: String = n.peer_id.chars().skip(n.peer_id.len() - 8).collect();
        assert!(dom.contains(&tail), "node …{tail} not listed");
    }
    assert!(dom.matches("class=\"up\"").count() >= 3, "all three up");
    assert!(dom.contains("<rect class=\"box\""), "no detection drawn: {dom}");
    // Drawn over its thumbnail, which the node serves from the register.
    assert!(dom.contains("<image class=\"thumb\""), "no thumbnail drawn: {dom}");
    let endpoint = argus_interface::http::Endpoint::parse(&b.http);
    let path = format!("/images/{}/thumbnail.jpg", ids[0]);
    let thumb =
        block_on(argus_interface::http::get(&endpoint, &path, Duration::from_secs(10))).unwrap().unwrap();
    assert_eq!(thumb.status, 200, "every replica serves the thumbnail");
    let img = argus_model::decode_image(&thumb.body).expect("a decodable JPEG");
    assert!(
        img.width().max(img.height()) <= 160 && thumb.body.len() <= 16 * 1024,
        "{}x{}",
        img.width(),
        img.height()
    );
    assert!(console_errors(&log).is_empty(), "console errors: {:?}", console_errors(&log));

    let (page, log) = load(browser, &format!("http://{}/images/{}", a.http, ids[0]), &["--dump-dom".into()]);
    assert!(page.contains("id=\"register\"") && page.contains(&ids[0]), "{page}");
    assert!(console_errors(&log).is_empty(), "console errors: {:?}", console_errors(&log));

    if let Some(shot) = std::env::var_os("ARGUS_CONSOLE_SCREENSHOT") {
        let arg = format!("--screenshot={}", std::path::Path::new(&shot).display());
        load(browser, &url, &[arg]);
        assert!(std::path::Path::new(&shot).exists(), "screenshot written");
    }
}
