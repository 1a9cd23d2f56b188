//! RSS 2.0 out, written by the `rss` crate: a desktop reader or aggregator
//! reads what the peers carry. Items newest first; the guid is the post's
//! stable id (the record id of its first version, so an edit updates the
//! item instead of adding one); pubDate is RFC 2822.

use rss::{Channel, Guid, Item};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;

use crate::feed::{FeedRef, Post};

/// `unix_secs` as an RFC 2822 date (`Fri, 15 Jan 2027 08:00:00 +0000`).
pub fn rfc2822(unix_secs: u64) -> String {
    i64::try_from(unix_secs)
        .ok()
        .and_then(|secs| OffsetDateTime::from_unix_timestamp(secs).ok())
        .and_then(|date| date.format(&Rfc2822).ok())
        .unwrap_or_else(|| "Thu, 01 Jan 1970 00:00:00 +0000".to_owned())
}

/// The RSS 2.0 document of `feed` with `posts` (already newest first).
pub fn render(feed: &FeedRef, posts: &[Post]) -> String {
    let mut channel = Channel::default();
    channel.set_title(feed.name.clone());
    channel.set_link(format!("urn:pigeonhole:{feed}"));
    channel.set_description(format!(
        "Pigeonhole feed \"{}\" by {}",
        feed.name, feed.author
    ));
    channel.set_generator(Some("pigeonhole".to_owned()));
    if let Some(newest) = posts.first() {
        channel.set_pub_date(Some(rfc2822(newest.published_at)));
    }
    let items: Vec<Item> = posts.iter().map(item).collect();
    channel.set_items(items);
    channel.to_string()
}

fn item(post: &Post) -> Item {
    let mut guid = Guid::default();
    guid.set_value(hex::encode(post.guid));
    guid.set_permalink(false);
    let mut item = Item::default();
    item.set_title(Some(post.title.clone()));
    item.set_link(post.link.clone());
    item.set_description(Some(post.summary.clone()));
    item.set_guid(Some(guid));
    item.set_pub_date(Some(rfc2822(post.published_at)));
    item
}
