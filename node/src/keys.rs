//! Conversions between the core's keys and libp2p's, and the node's
//! persisted libp2p key.
//!
//! The peer key is kept in the data directory so that a restarted node has
//! the same peer id: other peers' routing tables and the closest-peer sets
//! stay valid across an app restart.

use std::path::Path;

use libp2p::identity::Keypair;
use libp2p::kad::RecordKey;
use pigeonhole::record::DhtKey;

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
        Ok(bytes) => Keypair::from_protobuf_encoding(&bytes).map_err(|error| {
            NodeError::Store(format!("damaged peer key {}: {error}", path.display()))
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let keypair = Keypair::generate_ed25519();
            let bytes = keypair
                .to_protobuf_encoding()
                .map_err(|error| NodeError::Setup(error.to_string()))?;
            std::fs::write(&path, bytes).map_err(|error| {
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
