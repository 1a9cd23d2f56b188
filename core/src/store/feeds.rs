//! Tables of the feed layer: feeds this user posts to (the post counter),
//! feeds followed (with the persisted read cursor, the last post number and
//! the missed count) and the local copy of posts that `posts()` and `rss()`
//! read without the network.
//!
//! A post row keeps the checked fields next to the record bytes: the local
//! copy is the user's archive and outlives the record's expiry on the DHT.

use rusqlite::{OptionalExtension, Row, params};

use crate::identity::PublicKey;
use crate::mailbox::ListCursor;
use crate::record::{InstanceId, MailboxId};
use crate::store::{Store, StoreError};

/// A followed feed and where reading it stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FollowRow {
    /// The feed's mailbox.
    pub mailbox: MailboxId,
    /// The author.
    pub author: PublicKey,
    /// The feed name.
    pub name: String,
    /// Everything up to here (inclusive) was delivered.
    pub cursor: Option<ListCursor>,
    /// The highest post number delivered.
    pub last_number: u64,
    /// Posts reported missed so far.
    pub missed: u64,
}

/// One post in the local copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostRow {
    /// The record id.
    pub record_id: [u8; 32],
    /// The feed's mailbox.
    pub mailbox: MailboxId,
    /// The slot it was read from.
    pub instance: InstanceId,
    /// The author's number for it.
    pub number: u64,
    /// The id of the first version of this post (itself unless an edit).
    pub root_id: [u8; 32],
    /// Replaced by a later edit.
    pub replaced: bool,
    /// Deleted by its author.
    pub deleted: bool,
    /// Title.
    pub title: String,
    /// Link.
    pub link: Option<String>,
    /// Summary.
    pub summary: String,
    /// The date shown: the author's `published_at`, else `created_at`.
    pub published_at: u64,
    /// When the record was signed.
    pub created_at: u64,
    /// The record bytes.
    pub record: Vec<u8>,
}

pub(super) fn id32(bytes: Vec<u8>) -> rusqlite::Result<[u8; 32]> {
    bytes.try_into().map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            32,
            rusqlite::types::Type::Blob,
            "an id column does not hold 32 bytes".into(),
        )
    })
}

fn post_row(row: &Row<'_>) -> rusqlite::Result<PostRow> {
    Ok(PostRow {
        record_id: id32(row.get(0)?)?,
        mailbox: MailboxId(id32(row.get(1)?)?),
        instance: InstanceId::from_u64(row.get::<_, i64>(2)? as u64),
        number: row.get::<_, i64>(3)? as u64,
        root_id: id32(row.get(4)?)?,
        replaced: row.get(5)?,
        deleted: row.get(6)?,
        title: row.get(7)?,
        link: row.get(8)?,
        summary: row.get(9)?,
        published_at: row.get::<_, i64>(10)? as u64,
        created_at: row.get::<_, i64>(11)? as u64,
        record: row.get(12)?,
    })
}

const POST_COLUMNS: &str = "record_id, mailbox, instance, number, root_id, replaced, deleted, \
     title, link, summary, published_at, created_at, record";

impl Store {
    /// The number the next post of own feed `name` gets (1 for the first).
    /// Taken for good by [`Store::commit_post_number`] once the post is out,
    /// so a failed publish leaves no gap that followers would count missed.
    pub fn next_post_number(&self, name: &str) -> Result<u64, StoreError> {
        let last: Option<i64> = self
            .conn()
            .query_row(
                "SELECT last_number FROM feed_own WHERE name = ?1",
                params![name],
                |row| row.get(0),
            )
            .optional()?;
        Ok(last.unwrap_or(0) as u64 + 1)
    }

    /// Records that post `number` of own feed `name` was published.
    pub fn commit_post_number(&self, name: &str, number: u64) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO feed_own (name, last_number) VALUES (?1, ?2)
             ON CONFLICT (name) DO UPDATE SET last_number = max(last_number, ?2)",
            params![name, number as i64],
        )?;
        Ok(())
    }

    /// Starts following a feed (from its beginning); false if already followed.
    pub fn add_follow(
        &self,
        mailbox: &MailboxId,
        author: &PublicKey,
        name: &str,
    ) -> Result<bool, StoreError> {
        let now = self.clock.now() as i64;
        Ok(self.conn().execute(
            "INSERT OR IGNORE INTO feed_follows (mailbox, author, name, followed_at)
             VALUES (?1, ?2, ?3, ?4)",
            params![mailbox.0, author.0, name, now],
        )? == 1)
    }

    /// Stops following; false if it was not followed. The local copy stays.
    pub fn remove_follow(&self, mailbox: &MailboxId) -> Result<bool, StoreError> {
        Ok(self.conn().execute(
            "DELETE FROM feed_follows WHERE mailbox = ?1",
            params![mailbox.0],
        )? == 1)
    }

    /// One followed feed.
    pub fn follow(&self, mailbox: &MailboxId) -> Result<Option<FollowRow>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT mailbox, author, name, cursor_instance, cursor_record, last_number, missed
                 FROM feed_follows WHERE mailbox = ?1",
                params![mailbox.0],
                follow_row,
            )
            .optional()?)
    }

    /// Every followed feed, by name then author.
    pub fn follows(&self) -> Result<Vec<FollowRow>, StoreError> {
        let conn = self.conn();
        let mut statement = conn.prepare(
            "SELECT mailbox, author, name, cursor_instance, cursor_record, last_number, missed
             FROM feed_follows ORDER BY name, author",
        )?;
        let rows = statement
            .query_map([], follow_row)?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Whether the local copy has the post with this id.
    pub fn has_post(&self, record_id: &[u8; 32]) -> Result<Option<PostRow>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {POST_COLUMNS} FROM feed_posts WHERE record_id = ?1"),
                params![record_id],
                post_row,
            )
            .optional()?)
    }

    /// Saves a post (and marks the one it replaces), in one transaction;
    /// false if it was already saved.
    pub fn save_post(
        &self,
        post: &PostRow,
        replaces: Option<&[u8; 32]>,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = super::write_tx(&mut conn)?;
        let inserted = insert_post(&tx, post, replaces)?;
        tx.commit()?;
        Ok(inserted)
    }

    /// One fetch of a followed feed, atomically: saves `posts` (each with
    /// the id it replaces), marks `deleted`, and stores the follow's new
    /// cursor and counters.
    pub fn deliver_posts(
        &self,
        follow: &FollowRow,
        posts: &[(PostRow, Option<[u8; 32]>)],
        deleted: &[[u8; 32]],
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = super::write_tx(&mut conn)?;
        for (post, replaces) in posts {
            insert_post(&tx, post, replaces.as_ref())?;
        }
        for id in deleted {
            tx.execute(
                "UPDATE feed_posts SET deleted = 1 WHERE record_id = ?1",
                params![id],
            )?;
        }
        tx.execute(
            "UPDATE feed_follows SET cursor_instance = ?2, cursor_record = ?3,
             last_number = ?4, missed = ?5 WHERE mailbox = ?1",
            params![
                follow.mailbox.0,
                follow.cursor.map(|c| c.instance.to_u64() as i64),
                follow.cursor.map(|c| c.record_id.to_vec()),
                follow.last_number as i64,
                follow.missed as i64
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Marks a post deleted; true if it was there and not yet deleted.
    pub fn mark_post_deleted(&self, record_id: &[u8; 32]) -> Result<bool, StoreError> {
        Ok(self.conn().execute(
            "UPDATE feed_posts SET deleted = 1 WHERE record_id = ?1 AND deleted = 0",
            params![record_id],
        )? == 1)
    }

    /// The current posts of a feed in the local copy (no replaced or deleted
    /// versions), the newest `limit`, newest first.
    pub fn current_posts(
        &self,
        mailbox: &MailboxId,
        limit: u32,
    ) -> Result<Vec<PostRow>, StoreError> {
        let conn = self.conn();
        let mut statement = conn.prepare(&format!(
            "SELECT {POST_COLUMNS} FROM feed_posts
             WHERE mailbox = ?1 AND replaced = 0 AND deleted = 0
             ORDER BY instance DESC, record_id DESC LIMIT ?2"
        ))?;
        let rows = statement
            .query_map(params![mailbox.0, i64::from(limit)], post_row)?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }
}

fn insert_post(
    tx: &rusqlite::Transaction<'_>,
    post: &PostRow,
    replaces: Option<&[u8; 32]>,
) -> Result<bool, StoreError> {
    let inserted = tx.execute(
        &format!(
            "INSERT OR IGNORE INTO feed_posts ({POST_COLUMNS})
             VALUES (?1, ?2, ?3, ?4, ?5, 0, 0, ?6, ?7, ?8, ?9, ?10, ?11)"
        ),
        params![
            post.record_id,
            post.mailbox.0,
            post.instance.to_u64() as i64,
            post.number as i64,
            post.root_id,
            post.title,
            post.link,
            post.summary,
            post.published_at as i64,
            post.created_at as i64,
            post.record
        ],
    )? == 1;
    if let (true, Some(old)) = (inserted, replaces) {
        tx.execute(
            "UPDATE feed_posts SET replaced = 1 WHERE record_id = ?1",
            params![old],
        )?;
    }
    Ok(inserted)
}

fn follow_row(row: &Row<'_>) -> rusqlite::Result<FollowRow> {
    let instance: Option<i64> = row.get(3)?;
    let record: Option<Vec<u8>> = row.get(4)?;
    let cursor = match (instance, record) {
        (Some(instance), Some(record)) => Some(ListCursor {
            instance: InstanceId::from_u64(instance as u64),
            record_id: id32(record)?,
        }),
        _ => None,
    };
    Ok(FollowRow {
        mailbox: MailboxId(id32(row.get(0)?)?),
        author: PublicKey(id32(row.get(1)?)?),
        name: row.get(2)?,
        cursor,
        last_number: row.get::<_, i64>(5)? as u64,
        missed: row.get::<_, i64>(6)? as u64,
    })
}
