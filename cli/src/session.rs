//! Opening what a command needs, and no more: the local database alone for
//! commands that read or change it (they work with no network and next to a
//! running `serve`), or a full peer for commands that talk to the network.

use std::fs::File;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pigeonhole::buddy::{BuddyBook, BuddyConfig};
use pigeonhole::clock::{Clock, SystemClock};
use pigeonhole::feed::{FeedBook, FeedConfig};
use pigeonhole::mailbox::{Dht, DhtError, Mailbox, MailboxConfig};
use pigeonhole::notice::{NoticeBoard, NoticeConfig};
use pigeonhole::record::{DhtKey, Policy, Validator};
use pigeonhole::store::Store;
use pigeonhole_sdk::{Config, Multiaddr, Node, PeerConfig};

use crate::args::Global;
use crate::datadir::{Create, DataDir};
use crate::error::CliError;
use crate::progress::Progress;

/// How long stopping the peer may take before the process exits anyway
/// (the database is safe either way: SQLite in WAL mode).
const STOP_BOUND: Duration = Duration::from_secs(2);
/// Longest wait for more peers once one is connected.
const MORE_PEERS_GRACE: Duration = Duration::from_secs(2);
/// A routing table that gained no peer for this long has settled.
const SETTLE_QUIET: Duration = Duration::from_millis(300);

/// The DHT of a command that must not touch the network.
struct Offline;

#[async_trait]
impl Dht for Offline {
    async fn get(&self, _key: DhtKey) -> Result<Option<Vec<u8>>, DhtError> {
        Err(DhtError::Unavailable("this command works offline".into()))
    }

    async fn put(&self, _key: DhtKey, _value: Vec<u8>) -> Result<(), DhtError> {
        Err(DhtError::Unavailable("this command works offline".into()))
    }
}

/// The user's database with the buddy layer on top, and no network.
pub struct Local {
    /// The data directory.
    pub dir: DataDir,
    /// The database.
    pub store: Arc<Store>,
    /// The buddy layer (its publishing operations fail: use [`Online`]).
    pub book: BuddyBook<Arc<dyn Dht>>,
    /// The feed layer: follows and the local copy of posts.
    pub feeds: FeedBook<Arc<dyn Dht>>,
    /// The notice layer: watched documents.
    pub notices: NoticeBoard<Arc<dyn Dht>>,
}

impl Local {
    /// Opens the database in the data directory the user chose.
    pub fn open(global: &Global, create: Create) -> Result<Local, CliError> {
        let dir = DataDir::open(global.data_dir.as_deref(), create)?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let validator = Validator::new(Policy::default());
        let store = Arc::new(Store::open(
            dir.db_file(),
            validator.clone(),
            clock.clone(),
        )?);
        let offline: Arc<dyn Dht> = Arc::new(Offline);
        let mailbox = || {
            Mailbox::new(
                offline.clone(),
                validator.clone(),
                clock.clone(),
                MailboxConfig::default(),
            )
        };
        let book = BuddyBook::new(
            store.clone(),
            mailbox(),
            clock.clone(),
            BuddyConfig::default(),
        )?;
        let feeds = FeedBook::new(
            store.clone(),
            mailbox(),
            clock.clone(),
            FeedConfig::default(),
        )?;
        let notices = NoticeBoard::new(store.clone(), mailbox(), NoticeConfig::default())?;
        Ok(Local {
            dir,
            store,
            book,
            feeds,
            notices,
        })
    }
}

/// A running peer for this command, holding the data directory's lock.
pub struct Online {
    /// The data directory.
    pub dir: DataDir,
    /// The node.
    pub node: Node,
    /// Peers given with --peer plus saved ones.
    pub known_peers: Vec<Multiaddr>,
    mdns: bool,
    _lock: File,
}

impl Online {
    /// Checks the listen addresses, opens and locks the data directory and
    /// starts the peer (with sync only if `sync_every` is set).
    pub async fn start(
        global: &Global,
        create: Create,
        sync_every: Option<Duration>,
    ) -> Result<Online, CliError> {
        let listen = if global.listen.is_empty() {
            vec!["/ip4/0.0.0.0/tcp/0".parse().expect("a valid multiaddr")]
        } else {
            global.listen.clone()
        };
        for addr in &listen {
            check_port_free(addr)?;
        }
        let dir = DataDir::open(global.data_dir.as_deref(), create)?;
        let lock = dir.lock()?;
        let mut known_peers = dir.saved_peers();
        for addr in &global.peers {
            if !known_peers.contains(addr) {
                known_peers.push(addr.clone());
            }
        }
        let mut config = Config::in_dir(dir.path());
        config.peer = PeerConfig {
            listen_addrs: listen,
            data_dir: Some(dir.path().to_path_buf()),
            mdns: !global.no_mdns,
            bootstrap_peers: known_peers.clone(),
            ..PeerConfig::default()
        };
        config.sync_interval = sync_every;
        let node = Node::start(config).await?;
        Ok(Online {
            dir,
            node,
            known_peers,
            mdns: !global.no_mdns,
            _lock: lock,
        })
    }

    /// Waits until at least one peer is in the routing table, then briefly
    /// for the others (the rest of the given peers; with mDNS, any more
    /// that answer); returns how many there are.
    pub async fn connect(&self, progress: &Progress, timeout: Duration) -> Result<usize, CliError> {
        let peer = self.node.peer();
        let how = match (self.known_peers.is_empty(), self.mdns) {
            (true, false) => "a peer (mDNS is off and no peer was given)",
            (true, true) => {
                "a peer (found by mDNS; use --peer or add-peer where multicast is blocked)"
            }
            (false, true) => "a peer (given with --peer or saved with add-peer, or found by mDNS)",
            (false, false) => "a peer (given with --peer or saved with add-peer)",
        };
        progress
            .wait(how, timeout, async {
                peer.wait_for_peers(1, timeout + Duration::from_secs(1))
                    .await;
                Ok(())
            })
            .await?;
        // The first peer found is rarely the only one: replies to one mDNS
        // query arrive together, and given peers connect in parallel. Let
        // the table settle so a publish reaches every replica there is.
        let wanted = if self.mdns {
            self.known_peers.len().max(2)
        } else {
            self.known_peers.len().max(1)
        };
        let grace = tokio::time::Instant::now() + MORE_PEERS_GRACE;
        let mut found = peer.status().routing_peers;
        while found < wanted && tokio::time::Instant::now() < grace {
            let now = peer
                .wait_for_status(|s| s.routing_peers > found, SETTLE_QUIET)
                .await
                .routing_peers;
            if now <= found {
                break;
            }
            found = now;
        }
        if found == 0 {
            return Err(CliError::Failed(format!("no peer found: waited for {how}")));
        }
        Ok(found)
    }

    /// Fails with bad input, before anything is opened, when a command
    /// that needs peers has no way to find one.
    pub fn check_reachable(global: &Global) -> Result<(), CliError> {
        if global.no_mdns
            && global.peers.is_empty()
            && DataDir::peek_saved_peers(global.data_dir.as_deref())?.is_empty()
        {
            return Err(CliError::BadInput(
                "--no-mdns with no --peer and no saved peer: there is no way to find a peer \
                 (give --peer MULTIADDR, or save one with `pigeonhole add-peer`)"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Stops the peer (bounded) and releases the data directory.
    pub async fn stop(self) {
        if tokio::time::timeout(STOP_BOUND, self.node.stop())
            .await
            .is_err()
        {
            tracing::warn!("the peer did not stop within {STOP_BOUND:?}; exiting anyway");
        }
    }
}

/// Fails with bad input if a TCP listen address names a port another
/// process holds, before anything is created (libp2p would say so only
/// after the data directory is opened).
fn check_port_free(addr: &Multiaddr) -> Result<(), CliError> {
    use libp2p::multiaddr::Protocol;
    use std::net::{IpAddr, SocketAddr, TcpListener};
    let mut ip: Option<IpAddr> = None;
    let mut port: Option<u16> = None;
    for part in addr.iter() {
        match part {
            Protocol::Ip4(v4) => ip = Some(v4.into()),
            Protocol::Ip6(v6) => ip = Some(v6.into()),
            Protocol::Tcp(p) => port = Some(p),
            _ => {}
        }
    }
    let (Some(ip), Some(port)) = (ip, port) else {
        return Ok(());
    };
    if port == 0 {
        return Ok(());
    }
    match TcpListener::bind(SocketAddr::new(ip, port)) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => Err(CliError::BadInput(
            format!("cannot listen on {addr}: port {port} is in use by another program"),
        )),
        Err(error) => Err(CliError::BadInput(format!(
            "cannot listen on {addr}: {error}"
        ))),
    }
}
