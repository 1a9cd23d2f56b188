//! [`NodeOptions`]: what a node is started with, as a plain record.
//!
//! The SDK's `Config` holds a clock trait object, multiaddrs and durations;
//! none of that crosses the boundary, and an app should not need to know
//! them. This record has strings and numbers with defaults, and is turned
//! into the SDK's config here, where a bad address becomes
//! [`PigeonholeError::BadAddress`] instead of a panic. The data directory is
//! required: a phone keeps its identity, its buddies and its pending
//! requests across launches.

use std::path::PathBuf;
use std::time::Duration;

use pigeonhole_sdk::{Config, Multiaddr};

use crate::error::PigeonholeError;

/// The address listened on when none is given: every interface, a free port.
pub const DEFAULT_LISTEN_ADDRESS: &str = "/ip4/0.0.0.0/tcp/0";

/// What a node is started with. Only `data_dir` has no default.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct NodeOptions {
    /// Directory for the database and the keys (created if missing). Use
    /// the app's private files directory: the identity lives here.
    pub data_dir: String,
    /// Multiaddrs to listen on, e.g. `/ip4/0.0.0.0/tcp/0`; empty listens on
    /// every interface on a free port.
    #[uniffi(default = [])]
    pub listen_addresses: Vec<String>,
    /// Find peers on the local network with mDNS. Needs a `MulticastLock`
    /// on Android and the multicast entitlement on iOS; without them, turn
    /// it off and pass peers to `addPeer`.
    #[uniffi(default = true)]
    pub mdns: bool,
    /// Peers to connect to at start (`/ip4/…/tcp/…/p2p/<peer id>`).
    #[uniffi(default = [])]
    pub bootstrap_peers: Vec<String>,
    /// Seconds between background inbox syncs; 0 syncs only on `syncNow`.
    #[uniffi(default = 30)]
    pub sync_interval_secs: u64,
}

impl NodeOptions {
    /// Options with every default, keeping files in `data_dir`.
    pub fn in_dir(data_dir: impl Into<String>) -> Self {
        Self {
            data_dir: data_dir.into(),
            listen_addresses: Vec::new(),
            mdns: true,
            bootstrap_peers: Vec::new(),
            sync_interval_secs: 30,
        }
    }

    /// The SDK configuration these options describe.
    pub fn to_config(&self) -> Result<Config, PigeonholeError> {
        if self.data_dir.trim().is_empty() {
            return Err(PigeonholeError::invalid(
                "a data directory is required (the identity is kept there)",
            ));
        }
        let mut config = Config::in_dir(PathBuf::from(&self.data_dir));
        config.peer.listen_addrs = if self.listen_addresses.is_empty() {
            vec![parse_address(DEFAULT_LISTEN_ADDRESS)?]
        } else {
            parse_addresses(&self.listen_addresses)?
        };
        config.peer.bootstrap_peers = parse_addresses(&self.bootstrap_peers)?;
        config.peer.mdns = self.mdns;
        config.sync_interval =
            (self.sync_interval_secs > 0).then(|| Duration::from_secs(self.sync_interval_secs));
        Ok(config)
    }
}

/// Parses one multiaddr; a bad one is [`PigeonholeError::BadAddress`].
pub fn parse_address(text: &str) -> Result<Multiaddr, PigeonholeError> {
    text.parse().map_err(|error| PigeonholeError::BadAddress {
        reason: format!("{text:?}: {error}"),
    })
}

fn parse_addresses(texts: &[String]) -> Result<Vec<Multiaddr>, PigeonholeError> {
    texts.iter().map(|text| parse_address(text)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_listen_everywhere_and_sync_every_30s() {
        let config = NodeOptions::in_dir("/tmp/x").to_config().expect("valid");
        assert_eq!(
            config.peer.listen_addrs,
            vec![parse_address(DEFAULT_LISTEN_ADDRESS).unwrap()]
        );
        assert_eq!(config.peer.data_dir, Some(PathBuf::from("/tmp/x")));
        assert!(config.peer.mdns);
        assert_eq!(config.sync_interval, Some(Duration::from_secs(30)));
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert!(matches!(
            NodeOptions::in_dir("  ").to_config(),
            Err(PigeonholeError::InvalidInput { .. })
        ));
        let mut options = NodeOptions::in_dir("/tmp/x");
        options.listen_addresses = vec!["not an address".into()];
        assert!(matches!(
            options.to_config(),
            Err(PigeonholeError::BadAddress { .. })
        ));
        options.listen_addresses = vec!["/ip4/999.1.1.1/tcp/0".into()];
        assert!(matches!(
            options.to_config(),
            Err(PigeonholeError::BadAddress { .. })
        ));
        let mut options = NodeOptions::in_dir("/tmp/x");
        options.sync_interval_secs = 0;
        assert_eq!(options.to_config().expect("valid").sync_interval, None);
    }
}
