//! `argus send --watch DIR` against a real node: a file in the folder before the sender starts
//! is not sent; files written afterwards (one of them in two steps, as a camera writes) are
//! announced once each, whole, and stored; `--count` ends the run.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use argus_interface::lines::{self, SendLine};
use argus_model::scene::{SceneConfig, encode_png, generate};
use argus_protocol::ids::ImageId;
use argus_tests::*;

#[test]
fn watched_folder_files_are_sent_once_each_when_written() {
    let dir = TempDir::new("watch");
    let node = NodeProc::start(&dir.0.join("n"), &[], &["--backend", "flex"]).expect("node starts");
    let folder = dir.0.join("frames");
    std::fs::create_dir_all(&folder).unwrap();
    let png = |i: u64| encode_png(&generate(5, i, &SceneConfig::default()).image);
    std::fs::write(folder.join("000-before.png"), png(0)).unwrap();
    let mut sender = Command::new(argus_bin())
        .args(["send", "--model", "shapes", "--rate", "20", "--count", "3", "--linger-s", "10"])
        .args(["--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0", "--peer", &node.addr(), "--watch"])
        .arg(&folder)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("argus send starts");
    let mut out = BufReader::new(sender.stdout.take().unwrap()).lines();
    let ready = out.next().expect("a ready line").unwrap();
    assert!(matches!(lines::parse::<SendLine>(&ready), Some(SendLine::Ready { .. })), "{ready}");
    std::thread::sleep(Duration::from_millis(500));
    let frames: Vec<Vec<u8>> = (1..=3).map(png).collect();
    std::fs::write(folder.join("001.png"), &frames[0]).unwrap();
    // Written in two steps, 600 ms apart: only the whole file may be sent.
    let half = frames[1].len() / 2;
    std::fs::write(folder.join("002.png"), &frames[1][..half]).unwrap();
    std::thread::sleep(Duration::from_millis(600));
    std::fs::write(folder.join("002.png"), &frames[1]).unwrap();
    std::fs::write(folder.join("003.png"), &frames[2]).unwrap();
    let mut announced = Vec::new();
    for line in out.map_while(Result::ok) {
        match lines::parse::<SendLine>(&line) {
            Some(SendLine::Announced(a)) => announced.push(a.image_id),
            Some(SendLine::Done(d)) => {
                assert_eq!((d.announced, d.unconfirmed), (3, 0), "{line}");
                break;
            }
            _ => {}
        }
    }
    assert!(sender.wait().unwrap().success());
    let want: Vec<String> = frames.iter().map(|f| ImageId::of_bytes(f).to_string()).collect();
    assert_eq!(announced, want, "the three new files, whole, in name order; not the one from before");
    for id in &want {
        let (status, _) = node.get(&format!("/v1/detections/{id}")).unwrap();
        assert_eq!(status, 200, "{id} stored");
    }
}
