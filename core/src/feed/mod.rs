//! Feeds: the seed's RSS use of the sequenced mailbox.
//!
//! A feed is its author's key plus a feed name; its posts live in the feed
//! mailbox, which the validator binds to the sender, so only the author can
//! post, edit (a new post naming the one it replaces) or delete (a
//! tombstone). A follower reads the mailbox after a cursor persisted in
//! SQLite, in listing order (instance id, record id), so every post is
//! delivered once and in order across restarts; the author's post numbers
//! tell it how many posts expired before it read them (*missed*). A local
//! copy of the posts answers [`FeedBook::posts`] and [`FeedBook::rss`]
//! without the network.
//!
//! * [`FeedBook`] — the operations an app calls;
//! * `reference` — the shareable feed reference text;
//! * `rss` — RSS 2.0 out.

mod model;
mod reference;
mod rss;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tokio::sync::broadcast;
use tracing::{debug, info};

pub use model::{FeedEvent, FeedUpdate, Following, Post};
pub use reference::{FEED_REF_PREFIX, FEED_REF_VERSION, FeedRef, FeedRefError};
pub use rss::rfc2822;

use crate::clock::Clock;
use crate::codec::Reader;
use crate::identity::Identity;
use crate::mailbox::{Dht, Draft, Fetched, ListCursor, Mailbox, MailboxError};
use crate::record::body::{BodyRules, FeedPost, FormatError};
use crate::record::{Content, Header, InstanceId, Kind, Record, RecordError, Validator};
use crate::store::feeds::{FollowRow, PostRow};
use crate::store::{Store, StoreError};

/// Lifetimes of the feed layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedConfig {
    /// How long a post stays on the DHT (one value per book, so instance
    /// order is publish order).
    pub post_lifetime_secs: u64,
}

impl Default for FeedConfig {
    fn default() -> Self {
        Self {
            post_lifetime_secs: 30 * 86_400,
        }
    }
}

/// Why a feed operation failed.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The feed reference could not be read.
    #[error("bad feed reference: {0}")]
    Reference(#[from] FeedRefError),
    /// The DHT or mailbox failed.
    #[error(transparent)]
    Mailbox(#[from] MailboxError),
    /// The local database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An input does not have the shape the protocol requires.
    #[error("invalid input: {0}")]
    InvalidInput(#[from] RecordError),
    /// The feed is not followed (follow it first).
    #[error("this feed is not followed")]
    NotFollowed,
    /// No post with this id in the local copy (or it expired on the DHT).
    #[error("no live post with this id")]
    UnknownPost,
    /// Only the author can edit or delete a post.
    #[error("only the author of a post can edit or delete it")]
    NotAuthor,
}

impl From<FormatError> for FeedError {
    fn from(error: FormatError) -> Self {
        FeedError::InvalidInput(RecordError::Format(error))
    }
}

/// The feed layer of one user over one DHT and one store.
pub struct FeedBook<D> {
    identity: Identity,
    store: Arc<Store>,
    mailbox: Mailbox<D>,
    validator: Validator,
    clock: Arc<dyn Clock>,
    config: FeedConfig,
    events: broadcast::Sender<FeedEvent>,
    post_lock: tokio::sync::Mutex<()>,
    fetch_lock: tokio::sync::Mutex<()>,
}

impl<D: Dht> FeedBook<D> {
    /// The feed layer for the identity kept in `store`.
    pub fn new(
        store: Arc<Store>,
        mailbox: Mailbox<D>,
        clock: Arc<dyn Clock>,
        config: FeedConfig,
    ) -> Result<Self, FeedError> {
        let (identity, _) = store.load_or_create_identity()?;
        let validator = mailbox.validator().clone();
        let (events, _) = broadcast::channel(256);
        Ok(Self {
            identity,
            store,
            mailbox,
            validator,
            clock,
            config,
            events,
            post_lock: tokio::sync::Mutex::new(()),
            fetch_lock: tokio::sync::Mutex::new(()),
        })
    }

    /// Feed events from now on (a receiver 256 events behind loses the oldest).
    pub fn subscribe(&self) -> broadcast::Receiver<FeedEvent> {
        self.events.subscribe()
    }

    /// The reference of this user's feed `name`, to share.
    pub fn own_feed(&self, name: &str) -> Result<FeedRef, FeedError> {
        Ok(FeedRef::new(self.identity.public_key(), name)?)
    }

    /// Publishes a post to this user's feed `feed_name`.
    pub async fn post(
        &self,
        feed_name: &str,
        title: &str,
        link: Option<&str>,
        summary: &str,
        published_at: Option<u64>,
    ) -> Result<Post, FeedError> {
        let feed = self.own_feed(feed_name)?;
        self.publish(&feed, title, link, summary, published_at, None)
            .await
    }

    /// Replaces post `post_id` (this user's) with a new version; followers
    /// see an edit.
    pub async fn edit(
        &self,
        post_id: &[u8; 32],
        title: &str,
        link: Option<&str>,
        summary: &str,
        published_at: Option<u64>,
    ) -> Result<Post, FeedError> {
        let (record, body) = self.own_live_post(post_id)?;
        let feed = self.own_feed(&body.feed_name)?;
        debug_assert_eq!(feed.mailbox(), record.header.mailbox);
        self.publish(&feed, title, link, summary, published_at, Some(*post_id))
            .await
    }

    /// Deletes post `post_id` (this user's) with a tombstone.
    pub async fn delete(&self, post_id: &[u8; 32]) -> Result<(), FeedError> {
        let (record, _) = self.own_live_post(post_id)?;
        self.mailbox.delete(&self.identity, &record).await?;
        self.store.mark_post_deleted(post_id)?;
        info!(post = %hex::encode(&post_id[..8]), "post deleted");
        Ok(())
    }

    /// Starts following `feed` from its beginning; false if already followed.
    pub fn follow(&self, feed: &FeedRef) -> Result<bool, FeedError> {
        Ok(self
            .store
            .add_follow(&feed.mailbox(), &feed.author, &feed.name)?)
    }

    /// Stops following `feed`; false if it was not followed.
    pub fn unfollow(&self, feed: &FeedRef) -> Result<bool, FeedError> {
        Ok(self.store.remove_follow(&feed.mailbox())?)
    }

    /// The feeds followed.
    pub fn following(&self) -> Result<Vec<Following>, FeedError> {
        self.store
            .follows()?
            .into_iter()
            .map(|row| {
                Ok(Following {
                    feed: FeedRef::new(row.author, &row.name)?,
                    last_number: row.last_number,
                    missed: row.missed,
                })
            })
            .collect()
    }

    /// Up to `limit` current posts of `feed` from the local copy (no
    /// network), newest first; edits shown in place, deletions left out.
    pub fn posts(&self, feed: &FeedRef, limit: u32) -> Result<Vec<Post>, FeedError> {
        Ok(self
            .store
            .current_posts(&feed.mailbox(), limit)?
            .into_iter()
            .map(|row| post_from_row(feed, row))
            .collect())
    }

    /// The local copy of `feed` as an RSS 2.0 document.
    pub fn rss(&self, feed: &FeedRef) -> Result<String, FeedError> {
        Ok(rss::render(feed, &self.posts(feed, u32::MAX)?))
    }

    /// Fetches every followed feed; one report per feed, failures included.
    pub async fn fetch_all_followed(&self) -> Vec<(FeedRef, Result<FeedUpdate, FeedError>)> {
        let mut reports = Vec::new();
        for following in self.following().unwrap_or_default() {
            let update = self.fetch_new(&following.feed).await;
            reports.push((following.feed, update));
        }
        reports
    }

    /// Delivers every post of followed `feed` not delivered before, in
    /// order, and moves the persisted cursor past them.
    pub async fn fetch_new(&self, feed: &FeedRef) -> Result<FeedUpdate, FeedError> {
        let _one_at_a_time = self.fetch_lock.lock().await;
        let mailbox = feed.mailbox();
        let follow = self.store.follow(&mailbox)?.ok_or(FeedError::NotFollowed)?;
        let fetched = self.fetch_after(&follow).await?;
        let mut update = FeedUpdate {
            rejected: fetched.stats.rejected,
            ..FeedUpdate::default()
        };
        let mut events = Vec::new();
        // The author's tombstones, by the id of the post each deletes. A
        // tombstone sits in its post's slot: for a post already delivered it
        // is at or before the cursor, which is why all are fetched.
        let mut tombstones: HashMap<[u8; 32], InstanceId> = fetched
            .tombstones
            .iter()
            .filter(|tombstone| tombstone.header.sender == feed.author)
            .filter_map(|tombstone| match &tombstone.content {
                Content::Tombstone(stone) => Some((stone.replaced, tombstone.header.instance)),
                _ => None,
            })
            .collect();
        let fetched_ids: HashSet<[u8; 32]> = fetched.records.iter().map(Record::id).collect();
        // Posts deleted before this follower saw them, whose record is gone
        // (a single-value DHT replaced it by its tombstone): their numbers
        // are not "missed".
        let mut unseen_deleted: Vec<InstanceId> = Vec::new();
        for (id, instance) in &tombstones {
            if !fetched_ids.contains(id)
                && self.store.has_post(id)?.is_none()
                && follow
                    .cursor
                    .is_none_or(|cursor| *instance > cursor.instance)
            {
                unseen_deleted.push(*instance);
            }
        }
        unseen_deleted.sort();

        let (mut cursor, mut last_number) = (follow.cursor, follow.last_number);
        let mut deleted_unseen = unseen_deleted.into_iter().peekable();
        let mut rows: Vec<(PostRow, Option<[u8; 32]>)> = Vec::new();
        let mut roots: HashMap<[u8; 32], [u8; 32]> = HashMap::new();
        for record in &fetched.records {
            let id = record.id();
            let Content::FeedPost(body) = &record.content else {
                continue;
            };
            cursor = Some(ListCursor {
                instance: record.header.instance,
                record_id: id,
            });
            let mut deleted_before = 0;
            while deleted_unseen
                .next_if(|at| *at < record.header.instance)
                .is_some()
            {
                deleted_before += 1;
            }
            let gap = body.number.saturating_sub(last_number + 1);
            update.missed += gap.saturating_sub(deleted_before);
            last_number = last_number.max(body.number);
            if tombstones.remove(&id).is_some() {
                // Deleted before it was read (both kept by the peers).
                continue;
            }
            if self.store.has_post(&id)?.is_some() {
                // Already in the local copy (the author following itself).
                continue;
            }
            let root_id = match &body.replaces {
                Some(old) => match roots.get(old) {
                    Some(root) => *root,
                    None => self.store.has_post(old)?.map_or(*old, |row| row.root_id),
                },
                None => id,
            };
            roots.insert(id, root_id);
            let row = post_row(record, body, root_id);
            let mut post = post_from_row(feed, row.clone());
            post.replaces = body.replaces;
            events.push(if post.replaces.is_some() {
                FeedEvent::Edited(post.clone())
            } else {
                FeedEvent::Posted(post.clone())
            });
            update.posts.push(post);
            rows.push((row, body.replaces));
        }
        for id in tombstones.keys() {
            if self.store.has_post(id)?.is_some_and(|row| !row.deleted) {
                update.deleted.push(*id);
                events.push(FeedEvent::Deleted {
                    feed: feed.clone(),
                    post_id: *id,
                });
            }
        }
        update.deleted.sort();
        // One transaction: the posts, the deletions and the cursor, so a
        // crash delivers all of them again or none.
        self.store.deliver_posts(
            &FollowRow {
                cursor,
                last_number,
                missed: follow.missed + update.missed,
                ..follow
            },
            &rows,
            &update.deleted,
        )?;
        if update.missed > 0 {
            events.push(FeedEvent::Missed {
                feed: feed.clone(),
                count: update.missed,
            });
        }
        for event in events {
            let _ = self.events.send(event);
        }
        debug!(
            feed = %feed.name,
            new = update.posts.len(),
            deleted = update.deleted.len(),
            missed = update.missed,
            rejected = update.rejected,
            "feed fetched"
        );
        Ok(update)
    }

    /// The one place a feed is read: its records strictly after the cursor
    /// in listing order (instance, record id), and all its tombstones.
    /// Built on `fetch_within` + a filter until `Mailbox::fetch_since`
    /// lands; then the first statement becomes that call.
    async fn fetch_after(&self, follow: &FollowRow) -> Result<Fetched, MailboxError> {
        let longest = self.validator.policy().max_lifetime(Kind::FeedPost);
        let mut fetched = self.mailbox.fetch_within(follow.mailbox, longest).await?;
        fetched
            .records
            .retain(|record| is_after(record, follow.cursor));
        fetched
            .records
            .sort_by_key(|record| (record.header.instance, record.id()));
        Ok(fetched)
    }

    async fn publish(
        &self,
        feed: &FeedRef,
        title: &str,
        link: Option<&str>,
        summary: &str,
        published_at: Option<u64>,
        replaces: Option<[u8; 32]>,
    ) -> Result<Post, FeedError> {
        let _one_at_a_time = self.post_lock.lock().await;
        let number = self.store.next_post_number(&feed.name)?;
        let body = FeedPost {
            feed_name: feed.name.clone(),
            // Text goes on the wire in NFC (PROTOCOL.md §5).
            title: crate::names::nfc(title),
            link: link.map(str::to_owned),
            summary: crate::names::nfc(summary),
            number,
            published_at,
            replaces,
        };
        self.check(feed, &body)?;
        let record = self
            .mailbox
            .publish(
                &self.identity,
                Draft {
                    kind: Kind::FeedPost,
                    mailbox: feed.mailbox(),
                    body: body.encode(),
                    lifetime_secs: self.config.post_lifetime_secs,
                },
            )
            .await?;
        self.store.commit_post_number(&feed.name, number)?;
        let post = self.save(feed, &record, &body)?;
        info!(feed = %feed.name, number, edit = replaces.is_some(), "posted");
        Ok(post)
    }

    /// Format and syntax of a draft body, before it takes a slot.
    fn check(&self, feed: &FeedRef, body: &FeedPost) -> Result<(), FeedError> {
        let encoded = body.encode();
        let mut reader = Reader::new(&encoded);
        FeedPost::decode_from(&mut reader)?;
        let now = self.clock.now();
        let header = Header {
            kind: Kind::FeedPost,
            mailbox: feed.mailbox(),
            instance: InstanceId { bucket: 0, seq: 0 },
            sender: self.identity.public_key(),
            created_at: now,
            expires_at: now + 1,
        };
        body.check_syntax(&header)
            .map_err(|error| FeedError::InvalidInput(error.into()))
    }

    fn save(&self, feed: &FeedRef, record: &Record, body: &FeedPost) -> Result<Post, FeedError> {
        let id = record.id();
        let root_id = match &body.replaces {
            Some(old) => self.store.has_post(old)?.map_or(*old, |row| row.root_id),
            None => id,
        };
        let row = post_row(record, body, root_id);
        self.store.save_post(&row, body.replaces.as_ref())?;
        let mut post = post_from_row(feed, row);
        post.replaces = body.replaces;
        Ok(post)
    }

    fn own_live_post(&self, post_id: &[u8; 32]) -> Result<(Record, FeedPost), FeedError> {
        let row = self
            .store
            .has_post(post_id)?
            .ok_or(FeedError::UnknownPost)?;
        let record = self
            .validator
            .validate(&header_key(&row.record), &row.record, self.clock.now())
            .map_err(|_| FeedError::UnknownPost)?;
        if record.header.sender != self.identity.public_key() {
            return Err(FeedError::NotAuthor);
        }
        match record.content.clone() {
            Content::FeedPost(body) if !row.deleted => Ok((record, body)),
            _ => Err(FeedError::UnknownPost),
        }
    }
}

fn is_after(record: &Record, cursor: Option<ListCursor>) -> bool {
    cursor.is_none_or(|cursor| {
        (record.header.instance, record.id()) > (cursor.instance, cursor.record_id)
    })
}

/// The DHT key a stored record claims (its validation checks the claim).
fn header_key(bytes: &[u8]) -> crate::record::DhtKey {
    crate::record::decode(bytes)
        .map(|decoded| decoded.header.dht_key())
        .unwrap_or(crate::record::DhtKey([0; 32]))
}

fn post_row(record: &Record, body: &FeedPost, root_id: [u8; 32]) -> PostRow {
    PostRow {
        record_id: record.id(),
        mailbox: record.header.mailbox,
        instance: record.header.instance,
        number: body.number,
        root_id,
        replaced: false,
        deleted: false,
        title: body.title.clone(),
        link: body.link.clone(),
        summary: body.summary.clone(),
        published_at: body.published_at.unwrap_or(record.header.created_at),
        created_at: record.header.created_at,
        record: record.bytes().to_vec(),
    }
}

fn post_from_row(feed: &FeedRef, row: PostRow) -> Post {
    Post {
        id: row.record_id,
        guid: row.root_id,
        feed: feed.clone(),
        number: row.number,
        title: row.title,
        link: row.link,
        summary: row.summary,
        published_at: row.published_at,
        created_at: row.created_at,
        replaces: (row.root_id != row.record_id).then_some(row.root_id),
    }
}
