//! Conversions between the core's keys and libp2p's, and the node's
//! persisted libp2p key.
//!
//! The peer key is kept in the data directory so that a restarted node has
//! the same peer id: other peers' routing tables and the closest-peer sets
//! stay valid across an app restart.
//!
//! The file is a secret: it is created with mode 0600 (owner read/write
//! only) before any byte is written, a looser mode found on an existing
//! file is tightened, and the encoded key is wiped from memory once used.

use std::io::Write;
use std::path::Path;

use libp2p::identity::Keypair;
use libp2p::kad::RecordKey;
use pigeonhole::record::DhtKey;

use tracing::warn;
use zeroize::Zeroizing;

use crate::error::NodeError;

/// File name of the libp2p key inside the data directory.
const PEER_KEY_FILE: &str = "peer.key";

/// The libp2p record key for a slot.
pub fn record_key(key: &DhtKey) -> RecordKey {
    RecordKey::from(key.0.to_vec())
}

/// The slot key of a libp2p record key, if it has the right length.
pub fn dht_key(key: &RecordKey) -> Option<DhtKey> {
    let bytes: [u8; 32] = key.as_ref().try_into().ok()?;
    Some(DhtKey(bytes))
}

/// Loads the peer key from `dir`, creating and saving one on first use.
pub fn load_or_create_keypair(dir: Option<&Path>) -> Result<Keypair, NodeError> {
    let Some(dir) = dir else {
        return Ok(Keypair::generate_ed25519());
    };
    let path = dir.join(PEER_KEY_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => {
            let bytes = Zeroizing::new(bytes);
            restrict_permissions(&path)?;
            Keypair::from_protobuf_encoding(&bytes).map_err(|error| {
                NodeError::Store(format!("damaged peer key {}: {error}", path.display()))
            })
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let keypair = Keypair::generate_ed25519();
            let bytes = Zeroizing::new(
                keypair
                    .to_protobuf_encoding()
                    .map_err(|error| NodeError::Setup(error.to_string()))?,
            );
            write_secret_file(&path, &bytes).map_err(|error| {
                NodeError::Store(format!("cannot write {}: {error}", path.display()))
            })?;
            Ok(keypair)
        }
        Err(error) => Err(NodeError::Store(format!(
            "cannot read {}: {error}",
            path.display()
        ))),
    }
}

/// Writes `bytes` to a new file readable by its owner only, and syncs it
/// (a key reported saved survives a power cut).
fn write_secret_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Tightens a key file another tool left readable by others to 0600.
fn restrict_permissions(path: &Path) -> Result<(), NodeError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|error| NodeError::Store(format!("cannot stat {}: {error}", path.display())))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            warn!(path = %path.display(), mode = format!("{mode:o}"), "peer key readable by others: setting 0600");
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(
                |error| NodeError::Store(format!("cannot chmod {}: {error}", path.display())),
            )?;
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[cfg(unix)]
    #[test]
    fn key_file_is_created_0600_and_a_loose_one_is_tightened() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let created = load_or_create_keypair(Some(dir.path())).unwrap();
        let path = dir.path().join(PEER_KEY_FILE);
        assert_eq!(mode(&path), 0o600);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let loaded = load_or_create_keypair(Some(dir.path())).unwrap();
        assert_eq!(created.public(), loaded.public(), "same key after restart");
        assert_eq!(mode(&path), 0o600);
    }
}
