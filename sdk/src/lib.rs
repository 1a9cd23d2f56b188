//! The one object an app holds: [`Node`] — a Pigeonhole DHT peer on the local
//! network plus the buddy, feed and document-notice layers on top of it, a
//! background sync, and one event stream ([`Event`]). The bindings (Kotlin,
//! Swift) and the CLI wrap this.
//!
//! Why a crate of its own: `pigeonhole` (core) has the rules and algorithms
//! and no networking; `pigeonhole-node` is the libp2p peer and knows nothing
//! of buddies. The facade is where the two meet: it starts the peer, opens
//! the user's database next to the peer's, gives the buddy layer the peer as
//! its DHT, and runs the sync timer. Nothing here re-implements either side.

#![deny(missing_docs)]

mod buddies;
mod events;
mod feeds;
mod notices;
mod offload;
mod recovery;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pigeonhole::buddy::{BuddyBook, BuddyConfig, BuddyError, BuddyEvent, SyncReport};
use pigeonhole::feed::{FeedBook, FeedConfig};
use pigeonhole::mailbox::{Mailbox, MailboxConfig};
use pigeonhole::notice::{NoticeBoard, NoticeConfig};
use pigeonhole::record::Validator;
use pigeonhole::store::{Store, StoreError};
use pigeonhole_node::node::DB_FILE;
use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;
use tracing::{debug, info};

pub use buddies::Buddies;
pub use events::Event;
pub use feeds::Feeds;
pub use notices::Notices;
pub use pigeonhole_node::{
    Multiaddr, Node as Peer, NodeConfig as PeerConfig, NodeError as PeerError,
};

/// Everything a [`Node`] is started with.
#[derive(Clone, Debug)]
pub struct Config {
    /// The DHT peer: listen addresses, data directory, mDNS, replication,
    /// quotas, validation policy and clock.
    pub peer: PeerConfig,
    /// Lifetimes and abuse limits of the buddy layer. Its `expiry_grace`
    /// is overridden by the peer's [`PeerConfig::expiry_grace`]: one grace
    /// period applies to every expiring row of the node.
    pub buddy: BuddyConfig,
    /// Slot search and scan tuning of the mailbox.
    pub mailbox: MailboxConfig,
    /// Post lifetime of the feed layer.
    pub feed: FeedConfig,
    /// Notice and editor-list lifetimes of the document layer.
    pub notice: NoticeConfig,
    /// How often the inbox is synced in the background; `None` syncs only
    /// when the app calls [`Node::sync_now`].
    pub sync_interval: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            peer: PeerConfig::default(),
            buddy: BuddyConfig::default(),
            mailbox: MailboxConfig::default(),
            feed: FeedConfig::default(),
            notice: NoticeConfig::default(),
            sync_interval: Some(Duration::from_secs(30)),
        }
    }
}

impl Config {
    /// The default configuration keeping its files in `dir`.
    pub fn in_dir(dir: impl Into<PathBuf>) -> Self {
        let mut config = Self::default();
        config.peer.data_dir = Some(dir.into());
        config
    }
}

/// Why the facade failed.
#[derive(Debug, thiserror::Error)]
pub enum SdkError {
    /// The DHT peer failed (listen, store, network).
    #[error(transparent)]
    Peer(#[from] PeerError),
    /// The user's database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A buddy operation failed.
    #[error(transparent)]
    Buddy(#[from] BuddyError),
    /// A feed operation failed.
    #[error(transparent)]
    Feed(#[from] pigeonhole::feed::FeedError),
    /// A document-notice operation failed.
    #[error(transparent)]
    Notice(#[from] pigeonhole::notice::NoticeError),
}

struct Background {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// A task aborted when its owner is dropped (a node dropped without
/// `stop` leaves no task behind).
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A running Pigeonhole node: the peer, the buddy layer, the sync timer.
pub struct Node {
    peer: Peer,
    book: Arc<BuddyBook<Peer>>,
    buddies: Buddies,
    feed_book: Arc<FeedBook<Peer>>,
    feeds: Feeds,
    notice_board: Arc<NoticeBoard<Peer>>,
    notices: Notices,
    events: events::Merged,
    background: Mutex<Option<Background>>,
    /// The start-up resume of interrupted requests and answers.
    recovery: Mutex<Option<AbortOnDrop>>,
}

impl Node {
    /// Starts the peer, opens the user's database (the same SQLite file as
    /// the peer's, in the data directory; in memory without one) and, if
    /// configured, the background sync. Requests and answers a crash
    /// interrupted are finished in the background as soon as a peer is
    /// reachable (not only at the first sync); `start` does not wait for
    /// it. Must be called inside a tokio runtime.
    pub async fn start(config: Config) -> Result<Node, SdkError> {
        let peer = Peer::start(config.peer.clone()).await?;
        let validator = Validator::new(config.peer.policy.clone());
        let clock = config.peer.clock.clone();
        // Opening the database (migrations) and the books (the identity
        // row, the caches) is blocking SQLite work: on the blocking pool.
        let (store, book, feeds, notices) = {
            let (peer, validator, clock) = (peer.clone(), validator.clone(), clock.clone());
            let data_dir = config.peer.data_dir.clone();
            let mailbox_config = config.mailbox.clone();
            // One grace period for every expiring row of the node: the peer's.
            let buddy = BuddyConfig {
                expiry_grace: config.peer.expiry_grace,
                ..config.buddy.clone()
            };
            let (feed, notice) = (config.feed.clone(), config.notice.clone());
            offload::blocking(move || -> Result<_, SdkError> {
                let store = match &data_dir {
                    Some(dir) => Store::open(dir.join(DB_FILE), validator.clone(), clock.clone())?,
                    None => Store::open_in_memory(validator.clone(), clock.clone())?,
                };
                let store = Arc::new(store);
                let mailbox = || {
                    Mailbox::new(
                        peer.clone(),
                        validator.clone(),
                        clock.clone(),
                        mailbox_config.clone(),
                    )
                };
                let book = Arc::new(BuddyBook::new(
                    store.clone(),
                    mailbox(),
                    clock.clone(),
                    buddy,
                )?);
                let feeds = Arc::new(FeedBook::new(
                    store.clone(),
                    mailbox(),
                    clock.clone(),
                    feed,
                )?);
                let notices = Arc::new(NoticeBoard::new(store.clone(), mailbox(), notice)?);
                Ok((store, book, feeds, notices))
            })
            .await?
        };
        let recovery = recovery::spawn_resume(book.clone(), store, peer.clone());
        let events =
            events::Merged::start(book.subscribe(), feeds.subscribe(), notices.subscribe());
        let background = config.sync_interval.map(|interval| {
            spawn_sync(
                peer.clone(),
                Layers {
                    book: book.clone(),
                    feeds: feeds.clone(),
                    notices: notices.clone(),
                },
                interval,
            )
        });
        protect(
            &peer,
            &Layers {
                book: book.clone(),
                feeds: feeds.clone(),
                notices: notices.clone(),
            },
        )
        .await;
        info!(key = %book.public_key(), peer = %peer.peer_id(), "pigeonhole node started");
        Ok(Node {
            peer,
            buddies: Buddies::new(book.clone()),
            book,
            feeds: Feeds::new(feeds.clone()),
            feed_book: feeds,
            notices: Notices::new(notices.clone()),
            notice_board: notices,
            events,
            background: Mutex::new(background),
            recovery: Mutex::new(Some(AbortOnDrop(recovery))),
        })
    }

    /// The DHT peer (addresses, status, `add_peer`).
    pub fn peer(&self) -> &Peer {
        &self.peer
    }

    /// The buddy layer: contact code, requests, answers, the buddy list,
    /// blocking, the directory. Its methods are async and run their
    /// database and crypto work on tokio's blocking pool, never on the
    /// caller's thread or an async worker.
    pub fn buddies(&self) -> &Buddies {
        &self.buddies
    }

    /// Feeds: post, edit, delete, follow, fetch new posts, RSS out. Like
    /// [`Node::buddies`], its methods are async and run their database and
    /// crypto work on tokio's blocking pool.
    pub fn feeds(&self) -> &Feeds {
        &self.feeds
    }

    /// Document notices: editors, notify, watch, fetch updates, content.
    /// Like [`Node::buddies`], its methods are async and run their database
    /// and crypto work on tokio's blocking pool.
    pub fn notices(&self) -> &Notices {
        &self.notices
    }

    /// Every event of every layer (buddy, feed, document) on one stream.
    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.events.sender.subscribe()
    }

    /// Syncs the inbox now (an app that just woke up calls this), and
    /// refreshes the mailboxes the peer protects (see [`protect`]). Runs
    /// off the async workers, like every [`Buddies`] call.
    pub async fn sync_now(&self) -> Result<SyncReport, SdkError> {
        let report = self.buddies.sync_now().await;
        protect(
            &self.peer,
            &Layers {
                book: self.book.clone(),
                feeds: self.feed_book.clone(),
                notices: self.notice_board.clone(),
            },
        )
        .await;
        Ok(report?)
    }

    /// Buddy events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<BuddyEvent> {
        self.book.subscribe()
    }

    /// Stops the background sync, then the peer; when it returns no task of
    /// this node is running and the peer's database is closed.
    pub async fn stop(&self) {
        let background = self
            .background
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(background) = background {
            let _ = background.stop.send(());
            let _ = background.task.await;
        }
        // Safe to cut anywhere: the intent log converges like after a crash.
        let recovery = self
            .recovery
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(mut recovery) = recovery {
            recovery.0.abort();
            let _ = (&mut recovery.0).await;
        }
        self.events.stop();
        self.peer.stop().await;
        info!("pigeonhole node stopped");
    }
}

/// The layers the background sync keeps fresh.
#[derive(Clone)]
struct Layers {
    book: Arc<BuddyBook<Peer>>,
    feeds: Arc<FeedBook<Peer>>,
    notices: Arc<NoticeBoard<Peer>>,
}

/// Tells the peer which mailboxes are this user's own business, so that
/// fair storage never lets other mailboxes' records displace them (issue
/// 11): the user's inbox, the buddies' inboxes, the feeds followed and the
/// documents watched. Called at start, after every sync and every
/// background tick (follows and buddies change); a failure only leaves the
/// previous set in place.
async fn protect(peer: &Peer, layers: &Layers) {
    let layers = layers.clone();
    let mailboxes = offload::blocking(move || protected_mailboxes(&layers)).await;
    if let Err(error) = peer.protect_mailboxes(mailboxes).await {
        debug!(%error, "protected mailboxes not updated");
    }
}

/// The mailboxes [`protect`] hands the peer (SQLite reads: call it off the
/// async workers).
fn protected_mailboxes(layers: &Layers) -> Vec<pigeonhole::record::MailboxId> {
    let mut mailboxes = Vec::new();
    match layers.book.contact_code() {
        Ok(code) => mailboxes.push(code.inbox_id()),
        Err(error) => debug!(%error, "no contact code to protect"),
    }
    if let Ok(buddies) = layers.book.buddies() {
        mailboxes.extend(
            buddies
                .iter()
                .filter_map(|buddy| buddy.contact_code.as_ref())
                .map(|code| code.inbox_id()),
        );
    }
    if let Ok(following) = layers.feeds.following() {
        mailboxes.extend(following.iter().map(|follow| follow.feed.mailbox()));
    }
    if let Ok(watching) = layers.notices.watching() {
        mailboxes.extend(watching.iter().map(|(doc, _)| doc.mailbox()));
    }
    mailboxes
}

impl Layers {
    /// One background round: the inbox, then followed feeds and watched
    /// documents.
    async fn sync_round(&self) {
        // Failures are reported to subscribers as SyncFailed.
        if let Ok(report) = self.book.sync_now().await {
            debug!(?report, "background sync");
        }
        // Followed feeds and watched documents: their events carry the
        // news; failures wait for the next tick.
        for (feed, update) in self.feeds.fetch_all_followed().await {
            if let Err(error) = update {
                debug!(feed = %feed.name, %error, "feed fetch failed");
            }
        }
        for (doc, updates) in self.notices.fetch_all_watched().await {
            if let Err(error) = updates {
                debug!(doc = %doc.name, %error, "document fetch failed");
            }
        }
    }
}

fn spawn_sync(peer: Peer, layers: Layers, interval: Duration) -> Background {
    let (stop, mut stopped) = oneshot::channel();
    let task = tokio::spawn(async move {
        // Ticks every `interval` from the start of one sync to the next
        // (a sync longer than the interval delays the next tick).
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                _ = ticks.tick() => {
                    // Off the async workers: the round does SQLite and crypto.
                    let round = layers.clone();
                    offload::offload(move || async move { round.sync_round().await }).await;
                    protect(&peer, &layers).await;
                }
            }
        }
    });
    Background { stop, task }
}
