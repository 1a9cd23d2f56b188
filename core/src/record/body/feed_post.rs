//! The feed post body (public): a post lives in the mailbox derived from its
//! author's key and the feed name, so only the author can fill it.

use super::fields::{link, nonzero_id, option_tag, text, write_option};
use super::{
    BodyRules, Content, FormatError, MAX_SUMMARY_CHARS, MAX_TITLE_CHARS, SyntaxError, syntax,
};
use crate::codec::{Reader, Writer};
use crate::identity::PublicKey;
use crate::record::{Header, Kind, MailboxId};

const FEED_DOMAIN: &[u8] = b"pigeonhole/feed/v1";

/// The mailbox of feed `feed_name` by `author`: only the author's posts
/// belong there.
pub fn feed_mailbox(author: &PublicKey, feed_name: &str) -> MailboxId {
    let mut name = author.0.to_vec();
    name.extend_from_slice(feed_name.as_bytes());
    MailboxId::derive(FEED_DOMAIN, &name)
}

/// Longest feed name, in characters.
pub const MAX_FEED_NAME_CHARS: usize = 64;

/// Checks a feed name's format (1–64 characters, one line).
pub fn check_feed_name(name: &str) -> Result<(), FormatError> {
    text("feed_name", name, 1, MAX_FEED_NAME_CHARS, false).map(drop)
}

/// One post of a feed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedPost {
    /// The feed's name; with the sender's key it gives the feed's mailbox.
    pub feed_name: String,
    /// The post's title (1–200 characters, one line).
    pub title: String,
    /// An http(s) link, if any.
    pub link: Option<String>,
    /// The text (0–4000 characters).
    pub summary: String,
    /// The post's number in its feed, from 1, counted by the author over
    /// every post and edit: a follower that sees a number jump knows how
    /// many posts it missed (they expired before it read them).
    pub number: u64,
    /// When the content was published (unix seconds), if the author says;
    /// readers fall back to the record's `created_at`.
    pub published_at: Option<u64>,
    /// The record id of the post this one replaces (an edit), if any.
    pub replaces: Option<[u8; 32]>,
}

impl BodyRules for FeedPost {
    const KIND: Kind = Kind::FeedPost;

    fn encode_into(&self, writer: &mut Writer) {
        writer
            .str16(&self.feed_name)
            .str16(&self.title)
            .opt_str16(self.link.as_deref())
            .str16(&self.summary)
            .u64(self.number);
        write_option(writer, self.published_at.as_ref(), |w, at| {
            w.u64(*at);
        });
        write_option(writer, self.replaces.as_ref(), |w, id| {
            w.raw(id);
        });
    }

    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, FormatError> {
        let feed_name = text(
            "feed_name",
            reader.str16("feed_name")?,
            1,
            MAX_FEED_NAME_CHARS,
            false,
        )?;
        let title = text("title", reader.str16("title")?, 1, MAX_TITLE_CHARS, false)?;
        let link = reader
            .opt_str16("link")?
            .map(|value| link("link", value))
            .transpose()?;
        let summary = text(
            "summary",
            reader.str16("summary")?,
            0,
            MAX_SUMMARY_CHARS,
            true,
        )?;
        let number = reader.u64("number")?;
        if number == 0 {
            return Err(FormatError::new("number", "post numbers start at 1"));
        }
        let published_at = if option_tag(reader, "published_at")? {
            Some(reader.u64("published_at")?)
        } else {
            None
        };
        let replaces = if option_tag(reader, "replaces")? {
            Some(nonzero_id(reader, "replaces")?)
        } else {
            None
        };
        Ok(Self {
            feed_name,
            title,
            link,
            summary,
            number,
            published_at,
            replaces,
        })
    }

    fn check_syntax(&self, header: &Header) -> Result<(), SyntaxError> {
        syntax(
            header.mailbox == feed_mailbox(&header.sender, &self.feed_name),
            "a post lives in its author's feed mailbox",
        )?;
        syntax(
            !self.summary.is_empty() || self.link.is_some(),
            "a post has a summary or a link",
        )?;
        syntax(
            self.published_at.is_none_or(|at| at <= header.created_at),
            "a post is not published after it is signed",
        )
    }

    fn into_content(self) -> Content {
        Content::FeedPost(self)
    }
}
