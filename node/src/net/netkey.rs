//! The private network's pre-shared key (libp2p `pnet`, the format private IPFS networks use,
//! `swarm.key`): with one, every connection starts with a nonce exchange and is encrypted with
//! the key (XSalsa20) before noise even begins, so a peer without the same key cannot complete
//! a connection, let alone gossip, bid or vote. `argus keygen` writes a key file; every node,
//! sender and monitor of the network is given it with `--network-key FILE`.
//!
//! The file: three lines, `/key/swarm/psk/1.0.0/`, `/base16/` and 64 hex digits (32 bytes).

use std::io::Write;
use std::path::Path;

use libp2p::pnet::PreSharedKey;

/// A key file is three short lines; anything longer is not one.
const MAX_KEY_FILE_BYTES: u64 = 1_024;
const HEADER: &str = "/key/swarm/psk/1.0.0/";
const ENCODING: &str = "/base16/";

/// Reads and checks a key file; the error says what is wrong with it.
pub fn load(path: &Path) -> Result<PreSharedKey, String> {
    let p = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("network key {p}: {e}"))?;
    if meta.len() > MAX_KEY_FILE_BYTES {
        return Err(format!(
            "network key {p}: {} bytes; a key file is under {MAX_KEY_FILE_BYTES}",
            meta.len()
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("network key {p}: {e}"))?;
    parse(&text).map_err(|e| format!("network key {p}: {e} (write one with `argus keygen --out FILE`)"))
}

/// Parses the text of a key file.
pub fn parse(text: &str) -> Result<PreSharedKey, String> {
    let mut lines = text.lines().map(str::trim);
    if lines.next() != Some(HEADER) {
        return Err(format!("the first line must be {HEADER}"));
    }
    if lines.next() != Some(ENCODING) {
        return Err(format!("the second line must be {ENCODING} (the only encoding supported)"));
    }
    let hex = lines.next().unwrap_or("");
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("the third line must be 64 hexadecimal digits (32 bytes)".into());
    }
    if lines.any(|l| !l.is_empty()) {
        return Err("unexpected text after the key".into());
    }
    let mut key = [0u8; 32];
    for (i, byte) in key.iter_mut().enumerate() {
        // Checked above: 64 ASCII hex digits.
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|e| e.to_string())?;
    }
    Ok(PreSharedKey::new(key))
}

/// A new random key as key-file text.
pub fn generate() -> String {
    let key: [u8; 32] = rand::random();
    PreSharedKey::new(key).to_key_file()
}

/// Writes a new key to `path` (owner read/write only); refuses to replace an existing file.
/// Returns the key's fingerprint, which peers can compare without showing the key.
pub fn write_new(path: &Path) -> Result<String, String> {
    let text = generate();
    let key = parse(&text)?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => {
            format!("{}: exists; not replacing a network key", path.display())
        }
        _ => format!("{}: {e}", path.display()),
    })?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(key.fingerprint().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_parses_and_bad_files_are_refused_with_a_reason() {
        let text = generate();
        let key = parse(&text).unwrap();
        assert_eq!(
            parse(&key.to_key_file()).unwrap().fingerprint().to_string(),
            key.fingerprint().to_string()
        );
        assert_ne!(
            parse(&generate()).unwrap().fingerprint().to_string(),
            key.fingerprint().to_string(),
            "keys are random"
        );
        let hex = text.lines().nth(2).unwrap().to_string();
        for (bad, why) in [
            (String::new(), "first line"),
            (format!("{HEADER}\n/base64/\n{hex}\n"), "second line"),
            (format!("{HEADER}\n{ENCODING}\n{}\n", &hex[..62]), "64 hexadecimal"),
            (format!("{HEADER}\n{ENCODING}\n{}zz\n", &hex[..62]), "64 hexadecimal"),
            // 64 bytes, but not 64 ASCII digits: refused, not sliced inside a character.
            (format!("{HEADER}\n{ENCODING}\n{}é\n", &hex[..62]), "64 hexadecimal"),
            (format!("{HEADER}\n{ENCODING}\n{hex}\nmore\n"), "after the key"),
        ] {
            let e = parse(&bad).unwrap_err();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
    }

    #[test]
    fn keygen_refuses_to_replace_a_key_and_writes_it_private() {
        let dir = std::env::temp_dir().join(format!("argus-netkey-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("swarm.key");
        let fp = write_new(&path).unwrap();
        assert_eq!(load(&path).unwrap().fingerprint().to_string(), fp);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let before = std::fs::read(&path).unwrap();
        assert!(write_new(&path).unwrap_err().contains("not replacing"));
        assert_eq!(std::fs::read(&path).unwrap(), before);
        std::fs::write(dir.join("big"), vec![b'a'; 2_000]).unwrap();
        assert!(load(&dir.join("big")).unwrap_err().contains("under"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
