//! [`PigeonholeNode`]: the object an app holds.
//!
//! It wraps one [`pigeonhole_sdk::Node`] and forwards each call to it on the
//! bindings' runtime (see [`crate::runtime`]) as a task that awaits the
//! SDK, which runs SQLite and crypto work on the blocking pool, so no
//! method does work on the caller's thread. Ids and keys cross as hex strings (see
//! [`crate::types`]). After `stop` every method fails with
//! [`PigeonholeError::Stopped`]; dropping the object (Kotlin `close()`,
//! Swift `deinit`, Python `del`) stops the node and waits, bounded, until
//! its port and database are released.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use pigeonhole_sdk::Node;
use tracing::warn;

use crate::error::PigeonholeError;
use crate::events::{EventListener, EventSubscription, subscribe};
use crate::options::{NodeOptions, parse_address};
use crate::runtime::{self, run};
use crate::types::{
    Buddy, ContactDetail, DirectoryClaim, NodeStatus, PendingRequest, SentRequest, SyncReport,
    parse_hex32, parse_key,
};

/// Longest a drop waits for the node to stop.
const DROP_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// A running Pigeonhole node: a peer on the local network plus the buddy
/// layer (requests, answers, the buddy list, the directory), feeds and
/// document notices, syncing in the background.
#[derive(uniffi::Object)]
pub struct PigeonholeNode {
    node: Arc<Node>,
    public_key: String,
    stopped: Arc<AtomicBool>,
}

impl PigeonholeNode {
    /// The node, unless it was stopped.
    pub(crate) fn live(&self) -> Result<Arc<Node>, PigeonholeError> {
        if self.stopped.load(Ordering::SeqCst) {
            return Err(PigeonholeError::Stopped);
        }
        Ok(self.node.clone())
    }
}

#[uniffi::export]
impl PigeonholeNode {
    /// Starts a node: opens (or creates) the identity and database in
    /// `options.dataDir`, binds the listen addresses, connects to the
    /// bootstrap peers and starts the background sync. The same directory
    /// gives the same identity on every start.
    #[uniffi::constructor]
    pub async fn start(options: NodeOptions) -> Result<Arc<Self>, PigeonholeError> {
        let config = options.to_config()?;
        let node = run(async move { Ok(Node::start(config).await?) }).await?;
        let public_key = node.buddies().public_key().to_hex();
        Ok(Arc::new(Self {
            node: Arc::new(node),
            public_key,
            stopped: Arc::new(AtomicBool::new(false)),
        }))
    }

    /// This user's public key (64 hex characters): their identity.
    pub fn public_key(&self) -> String {
        self.public_key.clone()
    }

    /// Where the node stands on the network (peer id, addresses, peers).
    pub fn status(&self) -> NodeStatus {
        let peer = self.node.peer();
        let status = peer.status();
        NodeStatus {
            peer_id: peer.peer_id().to_string(),
            listen_addresses: peer
                .listen_addrs()
                .iter()
                .map(ToString::to_string)
                .collect(),
            routing_peers: status.routing_peers as u64,
            connected_peers: status.connected_peers as u64,
            records_accepted: status.records_accepted,
        }
    }

    /// Whether `stop` was called.
    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    /// Returns once the node's runtime has run a task: a liveness check
    /// (and the cheapest call across the boundary, which the benchmark times).
    pub async fn ping(&self) -> Result<(), PigeonholeError> {
        self.live()?;
        run(async { Ok(()) }).await
    }

    /// This user's contact code (`PH-…`): what others type or scan to send
    /// a request. Draw it with `contactCodeQr` or `contactCodeSvg`.
    pub async fn contact_code(&self) -> Result<String, PigeonholeError> {
        let node = self.live()?;
        run(async move { Ok(node.buddies().contact_code().await?.to_string()) }).await
    }

    /// Sets the display name shown with requests and answers and, if given,
    /// the directory name others can look this user up by. Required before
    /// sending or accepting requests.
    #[uniffi::method(default(directory_name = None))]
    pub async fn set_profile(
        &self,
        display_name: String,
        directory_name: Option<String>,
    ) -> Result<(), PigeonholeError> {
        let node = self.live()?;
        run(async move {
            Ok(node
                .buddies()
                .set_profile(&display_name, directory_name.as_deref())
                .await?)
        })
        .await
    }

    /// Sends a buddy request to the owner of `contact_code`, with a note
    /// and the contact details to share. Fails with `BadContactCode` on a
    /// code that does not read, `OwnCode` on this user's own code, and
    /// `ProfileMissing` before `setProfile`.
    #[uniffi::method(default(message = "", contacts = []))]
    pub async fn send_request(
        &self,
        contact_code: String,
        message: String,
        contacts: Vec<ContactDetail>,
    ) -> Result<SentRequest, PigeonholeError> {
        let node = self.live()?;
        run(async move {
            let contacts = contacts.into_iter().map(Into::into).collect();
            let sent = node
                .buddies()
                .send_request(&contact_code, &message, contacts)
                .await?;
            Ok(sent.into())
        })
        .await
    }

    /// Requests waiting for this user's answer, oldest first, each checked
    /// again (expired, blocked or rotated-away requests are dropped).
    pub async fn pending_requests(&self) -> Result<Vec<PendingRequest>, PigeonholeError> {
        let node = self.live()?;
        run(async move {
            let pending = node.buddies().pending_requests().await?;
            Ok(pending.into_iter().map(Into::into).collect())
        })
        .await
    }

    /// Requests this user sent and where they stand, newest first.
    pub async fn sent_requests(&self) -> Result<Vec<SentRequest>, PigeonholeError> {
        let node = self.live()?;
        run(async move {
            let sent = node.buddies().sent_requests().await?;
            Ok(sent.into_iter().map(Into::into).collect())
        })
        .await
    }

    /// Accepts a pending request: answers the requester and adds them to
    /// the buddy list. `UnknownRequest` if it is not pending.
    pub async fn accept(&self, request_id: String) -> Result<Buddy, PigeonholeError> {
        let node = self.live()?;
        let id = parse_hex32("a request id", &request_id)?;
        run(async move { Ok(node.buddies().accept(&id).await?.into()) }).await
    }

    /// Declines a pending request; the answer reveals no name.
    pub async fn decline(&self, request_id: String) -> Result<(), PigeonholeError> {
        let node = self.live()?;
        let id = parse_hex32("a request id", &request_id)?;
        run(async move { Ok(node.buddies().decline(&id).await?) }).await
    }

    /// Withdraws a request this user sent that is still unanswered: it is
    /// tombstoned (the recipient's next sync forgets it) and marked
    /// `Withdrawn`; a later answer adds no buddy. `UnknownRequest` if this
    /// user sent no such request, `NotPending` if it was already answered
    /// or withdrawn.
    pub async fn withdraw_request(&self, request_id: String) -> Result<(), PigeonholeError> {
        let node = self.live()?;
        let id = parse_hex32("a request id", &request_id)?;
        run(async move { Ok(node.buddies().withdraw(&id).await?) }).await
    }

    /// The buddy list, by display name.
    pub async fn buddies(&self) -> Result<Vec<Buddy>, PigeonholeError> {
        let node = self.live()?;
        run(async move {
            let buddies = node.buddies().buddies().await?;
            Ok(buddies.into_iter().map(Into::into).collect())
        })
        .await
    }

    /// Removes a buddy by public key; whether they were on the list.
    pub async fn remove_buddy(&self, public_key: String) -> Result<bool, PigeonholeError> {
        let node = self.live()?;
        let key = parse_key(&public_key)?;
        run(async move { Ok(node.buddies().remove_buddy(&key).await?) }).await
    }

    /// Blocks a public key: its requests are dropped unread.
    pub async fn block(&self, public_key: String) -> Result<(), PigeonholeError> {
        let node = self.live()?;
        let key = parse_key(&public_key)?;
        run(async move { Ok(node.buddies().block(&key).await?) }).await
    }

    /// Unblocks a public key; whether it was blocked.
    pub async fn unblock(&self, public_key: String) -> Result<bool, PigeonholeError> {
        let node = self.live()?;
        let key = parse_key(&public_key)?;
        run(async move { Ok(node.buddies().unblock(&key).await?) }).await
    }

    /// Makes a new inbox token and returns the new contact code; requests
    /// sent to the old code are no longer fetched or shown.
    pub async fn rotate_inbox_token(&self) -> Result<String, PigeonholeError> {
        let node = self.live()?;
        run(async move { Ok(node.buddies().rotate_inbox_token().await?.to_string()) }).await
    }

    /// Publishes this user's directory entry (the profile's directory name
    /// → this key). The background sync keeps it fresh afterwards.
    pub async fn publish_directory_entry(&self) -> Result<DirectoryClaim, PigeonholeError> {
        let node = self.live()?;
        run(async move { Ok(node.buddies().publish_directory_entry().await?.into()) }).await
    }

    /// Every live claim to a directory name, one per key. More than one
    /// means the name is contested: show them all, never pick one.
    pub async fn lookup_directory(
        &self,
        name: String,
    ) -> Result<Vec<DirectoryClaim>, PigeonholeError> {
        let node = self.live()?;
        run(async move {
            let claims = node.buddies().lookup_directory(&name).await?;
            Ok(claims.into_iter().map(Into::into).collect())
        })
        .await
    }

    /// Connects to a peer at `address` (`/ip4/…/tcp/…/p2p/<peer id>`): for
    /// peers found without mDNS (iOS `NWBrowser`, a scanned QR code).
    pub async fn add_peer(&self, address: String) -> Result<(), PigeonholeError> {
        let node = self.live()?;
        let address = parse_address(&address)?;
        run(async move { Ok(node.peer().add_peer(address).await?) }).await
    }

    /// Waits until at least `peers` peers are in the routing table or
    /// `timeout_ms` has passed, and returns the status then (check
    /// `routingPeers`: a timeout is not an error).
    pub async fn wait_for_peers(
        &self,
        peers: u32,
        timeout_ms: u64,
    ) -> Result<NodeStatus, PigeonholeError> {
        let node = self.live()?;
        let timeout = Duration::from_millis(timeout_ms);
        run(async move {
            node.peer().wait_for_peers(peers as usize, timeout).await;
            Ok(())
        })
        .await?;
        Ok(self.status())
    }

    /// Syncs the inbox now (call it when the app comes to the foreground).
    pub async fn sync_now(&self) -> Result<SyncReport, PigeonholeError> {
        let node = self.live()?;
        run(async move { Ok(node.sync_now().await?.into()) }).await
    }

    /// Registers a listener for this node's events (buddy, feed and
    /// document events, in the order each layer emits them). Delivery stops when
    /// the returned subscription is cancelled or dropped, or the node stops.
    pub fn add_listener(
        &self,
        listener: Arc<dyn EventListener>,
    ) -> Result<Arc<EventSubscription>, PigeonholeError> {
        let node = self.live()?;
        subscribe(node.events(), listener)
    }

    /// Stops the background sync and the peer; when it returns the port
    /// and the database are released. Calling it again does nothing.
    pub async fn stop(&self) -> Result<(), PigeonholeError> {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let node = self.node.clone();
        run(async move {
            node.stop().await;
            Ok(())
        })
        .await
    }
}

impl Drop for PigeonholeNode {
    fn drop(&mut self) {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        let Ok(handle) = runtime::handle() else {
            return;
        };
        let node = self.node.clone();
        let (done, stopped) = std::sync::mpsc::channel();
        handle.spawn(async move {
            node.stop().await;
            let _ = done.send(());
        });
        // Waiting blocks; never do it on a runtime thread.
        if tokio::runtime::Handle::try_current().is_err()
            && stopped.recv_timeout(DROP_STOP_TIMEOUT).is_err()
        {
            warn!("a dropped node did not stop in time");
        }
    }
}
