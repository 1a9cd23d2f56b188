//! The values the feed layer hands to apps: posts, fetch results, followed
//! feeds and events.

use crate::feed::FeedRef;

/// A post as apps show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Post {
    /// This version's record id.
    pub id: [u8; 32],
    /// The stable id: the record id of the post's first version.
    pub guid: [u8; 32],
    /// The feed.
    pub feed: FeedRef,
    /// The author's number for this version.
    pub number: u64,
    /// Title.
    pub title: String,
    /// Link.
    pub link: Option<String>,
    /// Summary.
    pub summary: String,
    /// The author's publication date, else the signing time (unix seconds).
    pub published_at: u64,
    /// When this version was signed.
    pub created_at: u64,
    /// The record id of the version this one replaces, for an edit.
    pub replaces: Option<[u8; 32]>,
}

/// What one [`FeedBook::fetch_new`] delivered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FeedUpdate {
    /// New posts and edits, in order.
    pub posts: Vec<Post>,
    /// Ids of posts the author deleted (that this follower had).
    pub deleted: Vec<[u8; 32]>,
    /// Posts that expired before this follower read them.
    pub missed: u64,
    /// Values in the feed's slots that failed validation (a post signed by
    /// another key, a forged record) and were dropped.
    pub rejected: u32,
}

/// A followed feed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Following {
    /// The feed.
    pub feed: FeedRef,
    /// The highest post number delivered.
    pub last_number: u64,
    /// Posts missed so far, in total.
    pub missed: u64,
}

/// Something apps show or react to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FeedEvent {
    /// A new post.
    Posted(Post),
    /// A post was edited: `post.replaces` names the version replaced.
    Edited(Post),
    /// A post was deleted by its author.
    Deleted {
        /// The feed.
        feed: FeedRef,
        /// The deleted version's id.
        post_id: [u8; 32],
    },
    /// Posts expired before this follower read them.
    Missed {
        /// The feed.
        feed: FeedRef,
        /// How many.
        count: u64,
    },
}
