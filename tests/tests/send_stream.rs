//! `argus send --stream` (issue 15) against real nodes, with ffmpeg from the system: frames
//! sampled from a video file ffmpeg made in the test (`testsrc`) end with the file; frames
//! from an HTTP MJPEG stream survive the stream dying and coming back on the same address,
//! and nothing announced is lost. Without ffmpeg the tests say they skip, unless
//! `ARGUS_REQUIRE_FFMPEG` is set (CI sets it when it could install ffmpeg).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use argus_interface::lines::SendLine;
use argus_tests::*;

fn have_ffmpeg() -> bool {
    let ok = Command::new("ffmpeg").arg("-version").stdout(Stdio::null()).status().is_ok_and(|s| s.success());
    if !ok {
        assert!(std::env::var_os("ARGUS_REQUIRE_FFMPEG").is_none(), "ffmpeg is required here and missing");
        eprintln!("SKIPPED: no ffmpeg on the PATH (apt install ffmpeg)");
    }
    ok
}

fn ffmpeg(args: &[&str]) -> Command {
    let mut c = Command::new("ffmpeg");
    c.args(["-hide_banner", "-loglevel", "error", "-nostdin"]).args(args);
    c.stdout(Stdio::null()).stderr(Stdio::null());
    c
}

/// An HTTP MJPEG camera on `port` for `secs` seconds (ffmpeg serving one client).
fn camera(port: u16, secs: u32) -> Child {
    let url = format!("http://127.0.0.1:{port}/cam");
    let t = secs.to_string();
    let args = ["-re", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10", "-t", &t, "-c:v", "mjpeg"];
    ffmpeg(&args).args(["-q:v", "5", "-f", "mpjpeg", "-listen", "1", &url]).spawn().expect("ffmpeg serves")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Runs `argus send` with `args` to the nodes; returns its lines and its stderr.
fn send(nodes: &[&NodeProc], args: &[&str]) -> (Vec<SendLine>, String) {
    let mut cmd = Command::new(argus_bin());
    cmd.arg("send").args(["--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0", "--linger-s", "30"]).args(args);
    for n in nodes {
        cmd.args(["--peer", &n.addr()]);
    }
    let out = cmd.output().expect("argus send runs");
    assert!(out.status.success(), "argus send failed: {}", String::from_utf8_lossy(&out.stderr));
    let lines =
        String::from_utf8_lossy(&out.stdout).lines().filter_map(argus_interface::lines::parse).collect();
    (lines, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn announced(lines: &[SendLine]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| if let SendLine::Announced(a) = l { Some(a.image_id.clone()) } else { None })
        .collect()
}

fn all_stored(nodes: &[&NodeProc], ids: &[String]) -> bool {
    let stored =
        |n: &NodeProc, id: &String| n.get(&format!("/v1/detections/{id}")).is_ok_and(|(s, _)| s == 200);
    wait_until(Duration::from_secs(30), || nodes.iter().all(|n| ids.iter().all(|id| stored(n, id))))
}

#[test]
fn a_video_file_is_sampled_at_the_rate_and_ends_with_the_file() {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new("stream-file");
    let video = dir.0.join("clip.avi");
    let made = ffmpeg(&["-f", "lavfi", "-i", "testsrc=size=160x120:rate=10", "-t", "4", "-c:v", "mjpeg"])
        .arg(&video)
        .status()
        .unwrap();
    assert!(made.success(), "ffmpeg makes the clip");
    let a = NodeProc::start(&dir.0.join("a"), &[], &["--backend", "flex"]).expect("a starts");
    let (lines, _) = send(&[&a], &["--stream", video.to_str().unwrap(), "--rate", "5"]);
    let ids = announced(&lines);
    // 4 s at 5 frames a second, read at the file's own speed.
    assert!((18..=22).contains(&ids.len()), "{} frames", ids.len());
    let distinct: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len(), "testsrc frames differ");
    assert!(matches!(lines.last(), Some(SendLine::Done(d)) if d.confirmed == ids.len() as u64), "{lines:?}");
    assert!(all_stored(&[&a], &ids));
}

#[test]
fn a_camera_stream_that_drops_is_reopened_and_nothing_announced_is_lost() {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new("stream-drop");
    let flags = ["--backend", "flex"];
    let a = NodeProc::start(&dir.0.join("a"), &[], &flags).expect("a starts");
    let b = NodeProc::start(&dir.0.join("b"), &[a.addr()], &flags).expect("b starts");
    let c = NodeProc::start(&dir.0.join("c"), &[a.addr(), b.addr()], &flags).expect("c starts");
    let port = free_port();
    // The camera serves 3 s, is gone, and is back 2 s later for long enough.
    let mut first = camera(port, 3);
    let url = format!("http://127.0.0.1:{port}/cam");
    let sender = std::thread::spawn({
        let (a, b, c) = (a.addr(), b.addr(), c.addr());
        move || {
            let mut cmd = Command::new(argus_bin());
            cmd.args(["send", "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0", "--linger-s", "30"]);
            cmd.args([
                "--stream",
                &url,
                "--rate",
                "5",
                "--count",
                "25",
                "--min-peers",
                "3",
                "--name",
                "cam-2",
            ]);
            for p in [a, b, c] {
                cmd.args(["--peer", &p]);
            }
            cmd.output().expect("argus send runs")
        }
    });
    let _ = first.wait();
    std::thread::sleep(Duration::from_secs(2));
    let mut second = camera(port, 30);
    let out = sender.join().unwrap();
    let _ = second.kill();
    let _ = second.wait();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("the stream dropped"), "the drop is seen and logged: {err}");
    let lines: Vec<SendLine> =
        String::from_utf8_lossy(&out.stdout).lines().filter_map(argus_interface::lines::parse).collect();
    let ids = announced(&lines);
    assert_eq!(ids.len(), 25, "frames from before and after the drop");
    assert!(matches!(lines.last(), Some(SendLine::Done(d)) if d.confirmed == 25), "{lines:?}");
    assert!(all_stored(&[&a, &b, &c], &ids), "every frame is stored on every node");
}
