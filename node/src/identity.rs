//! The node's identity key: an ed25519 keypair kept in the data directory so a restarted node
//! keeps its PeerId. Never logs or prints the secret.

use std::io::Write;
use std::path::Path;

use libp2p::identity::Keypair;
use thiserror::Error;

pub const IDENTITY_FILE: &str = "identity.key";
/// A protobuf-encoded ed25519 keypair is 68 bytes; anything much larger is not ours.
const MAX_KEY_FILE_BYTES: u64 = 1024;

#[derive(Debug, Error)]
pub enum IdentityError {
    #[error("identity file {0}: {1}")]
    Io(String, std::io::Error),
    #[error("identity file {0} is not a valid key: {1}")]
    Invalid(String, String),
}

/// Loads the key from `dir/identity.key`, or creates one (mode 0600) on first start.
pub fn load_or_create(dir: &Path) -> Result<Keypair, IdentityError> {
    let path = dir.join(IDENTITY_FILE);
    let shown = path.display().to_string();
    match std::fs::metadata(&path) {
        Ok(meta) => {
            if meta.len() > MAX_KEY_FILE_BYTES {
                return Err(IdentityError::Invalid(shown, "file too large".into()));
            }
            let bytes = std::fs::read(&path).map_err(|e| IdentityError::Io(shown.clone(), e))?;
            Keypair::from_protobuf_encoding(&bytes).map_err(|e| IdentityError::Invalid(shown, e.to_string()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create(dir, &path, shown),
        Err(e) => Err(IdentityError::Io(shown, e)),
    }
}

fn create(dir: &Path, path: &Path, shown: String) -> Result<Keypair, IdentityError> {
    std::fs::create_dir_all(dir).map_err(|e| IdentityError::Io(shown.clone(), e))?;
    let key = Keypair::generate_ed25519();
    let bytes =
        key.to_protobuf_encoding().map_err(|e| IdentityError::Invalid(shown.clone(), e.to_string()))?;
    // Write to a temporary file and rename, so a crash never leaves half a key behind.
    let tmp = dir.join(format!("{IDENTITY_FILE}.tmp"));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(&tmp).map_err(|e| IdentityError::Io(shown.clone(), e))?;
    f.write_all(&bytes).and_then(|_| f.sync_all()).map_err(|e| IdentityError::Io(shown.clone(), e))?;
    std::fs::rename(&tmp, path).map_err(|e| IdentityError::Io(shown, e))?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_dir_gives_same_peer_id() {
        let dir = std::env::temp_dir().join(format!("argus-id-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let a = load_or_create(&dir).unwrap().public().to_peer_id();
        let b = load_or_create(&dir).unwrap().public().to_peer_id();
        assert_eq!(a, b);
        std::fs::write(dir.join(IDENTITY_FILE), b"garbage").unwrap();
        assert!(matches!(load_or_create(&dir), Err(IdentityError::Invalid(..))));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
