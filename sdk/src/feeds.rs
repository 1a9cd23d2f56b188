//! The feed layer as an app holds it: [`Feeds`], the core's [`FeedBook`]
//! behind async methods that run off the caller's thread and off the async
//! workers (see the `offload` module).
//!
//! Why a wrapper and not the book itself: the book's reads and local
//! writes (`following`, `posts`, `rss`, `follow`…) are synchronous SQLite
//! calls (with busy waits of up to 5 s) and its async calls do SQLite and
//! record validation inline; handed out as is, they ran on an app's UI
//! thread or stalled the runtime's workers (issue 12). Every method here
//! has the book's name, arguments and result, and is `async`, except the
//! two that touch neither the database nor crypto (`own_feed`,
//! `subscribe`).

use std::sync::Arc;

use pigeonhole::feed::{FeedBook, FeedError, FeedEvent, FeedRef, FeedUpdate, Following, Post};
use tokio::sync::broadcast;

use crate::Peer;
use crate::offload::{blocking, offload};

/// Feeds: post, edit, delete, follow, fetch new posts, RSS out. Cheap to
/// clone (one shared book).
#[derive(Clone)]
pub struct Feeds {
    book: Arc<FeedBook<Peer>>,
}

impl Feeds {
    pub(crate) fn new(book: Arc<FeedBook<Peer>>) -> Self {
        Self { book }
    }

    /// Runs the synchronous book call `call` on the blocking pool.
    async fn read<T: Send + 'static>(
        &self,
        call: impl FnOnce(&FeedBook<Peer>) -> T + Send + 'static,
    ) -> T {
        let book = self.book.clone();
        blocking(move || call(&book)).await
    }

    /// Feed events from now on ([`FeedBook::subscribe`]).
    pub fn subscribe(&self) -> broadcast::Receiver<FeedEvent> {
        self.book.subscribe()
    }

    /// The reference of this user's feed `name`, to share
    /// ([`FeedBook::own_feed`]; the key is held in memory: no database
    /// access).
    pub fn own_feed(&self, name: &str) -> Result<FeedRef, FeedError> {
        self.book.own_feed(name)
    }

    /// Publishes a post to this user's feed `feed_name` ([`FeedBook::post`]).
    /// Dropping the returned future does not stop the post: it finishes and
    /// is recorded.
    pub async fn post(
        &self,
        feed_name: &str,
        title: &str,
        link: Option<&str>,
        summary: &str,
        published_at: Option<u64>,
    ) -> Result<Post, FeedError> {
        let book = self.book.clone();
        let (feed_name, title, link, summary) = (
            feed_name.to_owned(),
            title.to_owned(),
            link.map(str::to_owned),
            summary.to_owned(),
        );
        offload(move || async move {
            book.post(&feed_name, &title, link.as_deref(), &summary, published_at)
                .await
        })
        .await
    }

    /// Replaces this user's post `post_id` with a new version
    /// ([`FeedBook::edit`]).
    pub async fn edit(
        &self,
        post_id: &[u8; 32],
        title: &str,
        link: Option<&str>,
        summary: &str,
        published_at: Option<u64>,
    ) -> Result<Post, FeedError> {
        let (book, id) = (self.book.clone(), *post_id);
        let (title, link, summary) = (
            title.to_owned(),
            link.map(str::to_owned),
            summary.to_owned(),
        );
        offload(move || async move {
            book.edit(&id, &title, link.as_deref(), &summary, published_at)
                .await
        })
        .await
    }

    /// Deletes this user's post `post_id` with a tombstone
    /// ([`FeedBook::delete`]).
    pub async fn delete(&self, post_id: &[u8; 32]) -> Result<(), FeedError> {
        let (book, id) = (self.book.clone(), *post_id);
        offload(move || async move { book.delete(&id).await }).await
    }

    /// Starts following `feed`; false if already followed
    /// ([`FeedBook::follow`]).
    pub async fn follow(&self, feed: &FeedRef) -> Result<bool, FeedError> {
        let feed = feed.clone();
        self.read(move |book| book.follow(&feed)).await
    }

    /// Stops following `feed`; false if it was not followed
    /// ([`FeedBook::unfollow`]).
    pub async fn unfollow(&self, feed: &FeedRef) -> Result<bool, FeedError> {
        let feed = feed.clone();
        self.read(move |book| book.unfollow(&feed)).await
    }

    /// The feeds followed ([`FeedBook::following`]).
    pub async fn following(&self) -> Result<Vec<Following>, FeedError> {
        self.read(|book| book.following()).await
    }

    /// Up to `limit` current posts of `feed` from the local copy, newest
    /// first ([`FeedBook::posts`]).
    pub async fn posts(&self, feed: &FeedRef, limit: u32) -> Result<Vec<Post>, FeedError> {
        let feed = feed.clone();
        self.read(move |book| book.posts(&feed, limit)).await
    }

    /// The local copy of `feed` as an RSS 2.0 document ([`FeedBook::rss`]).
    pub async fn rss(&self, feed: &FeedRef) -> Result<String, FeedError> {
        let feed = feed.clone();
        self.read(move |book| book.rss(&feed)).await
    }

    /// Fetches every followed feed; one report per feed
    /// ([`FeedBook::fetch_all_followed`]).
    pub async fn fetch_all_followed(&self) -> Vec<(FeedRef, Result<FeedUpdate, FeedError>)> {
        let book = self.book.clone();
        offload(move || async move { book.fetch_all_followed().await }).await
    }

    /// Delivers every post of followed `feed` not delivered before, in
    /// order ([`FeedBook::fetch_new`]).
    pub async fn fetch_new(&self, feed: &FeedRef) -> Result<FeedUpdate, FeedError> {
        let (book, feed) = (self.book.clone(), feed.clone());
        offload(move || async move { book.fetch_new(&feed).await }).await
    }
}
