//! Feeds through the bindings: post, edit, delete, follow, fetch, read, RSS.
//!
//! Why its own module: the feed layer ([`pigeonhole::feed::FeedBook`]) has
//! its own values (posts, fetch results, followed feeds) and its own
//! reference text (`PHF-…`), which cross the boundary here. A feed is named
//! across the boundary by that reference string, exactly as users share it;
//! post ids are 64 hex characters like every other id. The methods are
//! extra `PigeonholeNode` methods (one object for the app), forwarded like
//! the buddy methods: every call is a task on the bindings' runtime that
//! awaits the SDK's [`pigeonhole_sdk::Feeds`], which runs the SQLite and
//! crypto work on the runtime's blocking pool.

use pigeonhole::feed::{self, FeedRef};

use crate::error::PigeonholeError;
use crate::node::PigeonholeNode;
use crate::runtime::run;
use crate::types::parse_hex32;

/// Reads a feed reference (`PHF-…`); `BadFeedReference` if it does not read.
pub fn parse_feed_ref(text: &str) -> Result<FeedRef, PigeonholeError> {
    FeedRef::parse(text.trim()).map_err(|error| PigeonholeError::BadFeedReference {
        reason: error.to_string(),
    })
}

/// One version of a post, as an app shows it.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct FeedPost {
    /// This version's id (64 hex characters): pass it to `editPost` or
    /// `deletePost`.
    pub id: String,
    /// The post's stable id: the id of its first version (an edit keeps it).
    pub guid: String,
    /// The feed's reference (`PHF-…`).
    pub feed: String,
    /// The author's public key.
    pub author: String,
    /// The feed's name.
    pub feed_name: String,
    /// The author's number for this version (1, 2, …).
    pub number: u64,
    /// Title.
    pub title: String,
    /// Link, if any.
    pub link: Option<String>,
    /// Summary.
    pub summary: String,
    /// The author's publication date, else the signing time (unix seconds).
    pub published_at: u64,
    /// When this version was signed (unix seconds).
    pub created_at: u64,
    /// For an edit: the id of the version it replaces.
    pub replaces: Option<String>,
}

impl From<feed::Post> for FeedPost {
    fn from(post: feed::Post) -> Self {
        Self {
            id: hex::encode(post.id),
            guid: hex::encode(post.guid),
            feed: post.feed.to_string(),
            author: post.feed.author.to_hex(),
            feed_name: post.feed.name,
            number: post.number,
            title: post.title,
            link: post.link,
            summary: post.summary,
            published_at: post.published_at,
            created_at: post.created_at,
            replaces: post.replaces.map(hex::encode),
        }
    }
}

/// What one `fetchFeed` delivered.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct FeedUpdate {
    /// New posts and edits, in order.
    pub posts: Vec<FeedPost>,
    /// Ids of posts the author deleted (that this follower had).
    pub deleted: Vec<String>,
    /// Posts that expired before this follower read them.
    pub missed: u64,
    /// Values in the feed's slots that failed validation and were dropped.
    pub rejected: u32,
}

impl From<feed::FeedUpdate> for FeedUpdate {
    fn from(update: feed::FeedUpdate) -> Self {
        Self {
            posts: update.posts.into_iter().map(Into::into).collect(),
            deleted: update.deleted.into_iter().map(hex::encode).collect(),
            missed: update.missed,
            rejected: update.rejected,
        }
    }
}

/// A feed this user follows.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct FollowedFeed {
    /// The feed's reference (`PHF-…`).
    pub feed: String,
    /// The author's public key.
    pub author: String,
    /// The feed's name.
    pub name: String,
    /// The highest post number delivered so far.
    pub last_number: u64,
    /// Posts missed so far, in total.
    pub missed: u64,
}

impl From<feed::Following> for FollowedFeed {
    fn from(following: feed::Following) -> Self {
        Self {
            feed: following.feed.to_string(),
            author: following.feed.author.to_hex(),
            name: following.feed.name,
            last_number: following.last_number,
            missed: following.missed,
        }
    }
}

#[uniffi::export]
impl PigeonholeNode {
    /// The reference (`PHF-…`) of this user's feed `name`, to share: others
    /// pass it to `followFeed`. `InvalidInput` on a bad name.
    pub fn own_feed(&self, name: String) -> Result<String, PigeonholeError> {
        let node = self.live()?;
        Ok(node.feeds().own_feed(&name)?.to_string())
    }

    /// Publishes a post to this user's feed `feedName` (created by its first
    /// post). `publishedAt` (unix seconds) defaults to now.
    #[uniffi::method(default(link = None, summary = "", published_at = None))]
    pub async fn post_to_feed(
        &self,
        feed_name: String,
        title: String,
        link: Option<String>,
        summary: String,
        published_at: Option<u64>,
    ) -> Result<FeedPost, PigeonholeError> {
        let node = self.live()?;
        run(async move {
            let post = node
                .feeds()
                .post(&feed_name, &title, link.as_deref(), &summary, published_at)
                .await?;
            Ok(post.into())
        })
        .await
    }

    /// Replaces this user's post `postId` with a new version; followers see
    /// an edit. `UnknownPost` if there is no such live post, `NotPermitted`
    /// if it is someone else's.
    #[uniffi::method(default(link = None, summary = "", published_at = None))]
    pub async fn edit_post(
        &self,
        post_id: String,
        title: String,
        link: Option<String>,
        summary: String,
        published_at: Option<u64>,
    ) -> Result<FeedPost, PigeonholeError> {
        let node = self.live()?;
        let id = parse_hex32("a post id", &post_id)?;
        run(async move {
            let post = node
                .feeds()
                .edit(&id, &title, link.as_deref(), &summary, published_at)
                .await?;
            Ok(post.into())
        })
        .await
    }

    /// Deletes this user's post `postId`; followers see a deletion.
    pub async fn delete_post(&self, post_id: String) -> Result<(), PigeonholeError> {
        let node = self.live()?;
        let id = parse_hex32("a post id", &post_id)?;
        run(async move { Ok(node.feeds().delete(&id).await?) }).await
    }

    /// Follows the feed `feed` (`PHF-…`) from its first post; false if it
    /// was followed already. `BadFeedReference` if the reference does not read.
    pub async fn follow_feed(&self, feed: String) -> Result<bool, PigeonholeError> {
        let node = self.live()?;
        let feed = parse_feed_ref(&feed)?;
        run(async move { Ok(node.feeds().follow(&feed).await?) }).await
    }

    /// Stops following `feed`; false if it was not followed.
    pub async fn unfollow_feed(&self, feed: String) -> Result<bool, PigeonholeError> {
        let node = self.live()?;
        let feed = parse_feed_ref(&feed)?;
        run(async move { Ok(node.feeds().unfollow(&feed).await?) }).await
    }

    /// The feeds this user follows.
    pub async fn followed_feeds(&self) -> Result<Vec<FollowedFeed>, PigeonholeError> {
        let node = self.live()?;
        run(async move {
            let following = node.feeds().following().await?;
            Ok(following.into_iter().map(Into::into).collect())
        })
        .await
    }

    /// Fetches the posts of followed `feed` not delivered before, in order
    /// (each also reaches the listeners as a feed event). `NotFollowed` if
    /// the feed is not followed.
    pub async fn fetch_feed(&self, feed: String) -> Result<FeedUpdate, PigeonholeError> {
        let node = self.live()?;
        let feed = parse_feed_ref(&feed)?;
        run(async move { Ok(node.feeds().fetch_new(&feed).await?.into()) }).await
    }

    /// Up to `limit` current posts of `feed` from the local copy (no
    /// network), newest first: edits shown in place, deletions left out.
    #[uniffi::method(default(limit = 100))]
    pub async fn feed_posts(
        &self,
        feed: String,
        limit: u32,
    ) -> Result<Vec<FeedPost>, PigeonholeError> {
        let node = self.live()?;
        let feed = parse_feed_ref(&feed)?;
        run(async move {
            let posts = node.feeds().posts(&feed, limit).await?;
            Ok(posts.into_iter().map(Into::into).collect())
        })
        .await
    }

    /// The local copy of `feed` as an RSS 2.0 document.
    pub async fn feed_rss(&self, feed: String) -> Result<String, PigeonholeError> {
        let node = self.live()?;
        let feed = parse_feed_ref(&feed)?;
        run(async move { Ok(node.feeds().rss(&feed).await?) }).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pigeonhole::identity::PublicKey;

    fn post(replaces: Option<[u8; 32]>) -> feed::Post {
        feed::Post {
            id: [1; 32],
            guid: [2; 32],
            feed: FeedRef::new(PublicKey([3; 32]), "news").expect("feed"),
            number: 4,
            title: "Title".into(),
            link: Some("https://example.org/4".into()),
            summary: "Summary".into(),
            published_at: 5,
            created_at: 6,
            replaces,
        }
    }

    #[test]
    fn a_post_crosses_with_hex_ids_and_its_reference() {
        let crossed = FeedPost::from(post(Some([7; 32])));
        assert_eq!(crossed.id, "01".repeat(32));
        assert_eq!(crossed.guid, "02".repeat(32));
        assert_eq!(crossed.author, "03".repeat(32));
        assert_eq!(crossed.feed_name, "news");
        assert_eq!(crossed.replaces, Some("07".repeat(32)));
        let reference = parse_feed_ref(&crossed.feed).expect("reads back");
        assert_eq!(reference, post(None).feed);
        assert_eq!(FeedPost::from(post(None)).replaces, None);
    }

    #[test]
    fn an_update_and_a_followed_feed_cross() {
        let update = FeedUpdate::from(feed::FeedUpdate {
            posts: vec![post(None)],
            deleted: vec![[9; 32]],
            missed: 2,
            rejected: 1,
        });
        assert_eq!(update.posts.len(), 1);
        assert_eq!(update.deleted, vec!["09".repeat(32)]);
        assert_eq!((update.missed, update.rejected), (2, 1));
        let followed = FollowedFeed::from(feed::Following {
            feed: post(None).feed,
            last_number: 8,
            missed: 3,
        });
        assert_eq!(followed.name, "news");
        assert_eq!(followed.author, "03".repeat(32));
        assert_eq!((followed.last_number, followed.missed), (8, 3));
        assert!(followed.feed.starts_with("PHF-"));
    }

    #[test]
    fn a_bad_reference_is_its_own_kind() {
        for text in ["", "PH-AAAA", "PHF-!!", "PHF-AAAAAAAA"] {
            assert!(
                matches!(
                    parse_feed_ref(text),
                    Err(PigeonholeError::BadFeedReference { .. })
                ),
                "{text:?}"
            );
        }
    }
}
