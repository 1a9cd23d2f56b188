//! Feed references: the text a user shares so others can follow a feed.
//!
//! Like a contact code ([`crate::contact`]): a prefix, RFC 4648 base32 in
//! capitals, a version and a checksum, with one error per mistake a person
//! can make while typing or scanning one. It holds the author's key and the
//! feed name, which together give the feed's mailbox.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::identity::PublicKey;
use crate::record::MailboxId;
use crate::record::body::{check_feed_name, feed_mailbox};

/// The only feed reference version this build reads and writes.
pub const FEED_REF_VERSION: u8 = 1;
/// The text prefix of every feed reference.
pub const FEED_REF_PREFIX: &str = "PHF-";
const CHECKSUM_DOMAIN: &[u8] = b"pigeonhole/feed-ref/v1";

/// Why a feed reference could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedRefError {
    /// The text does not start with `PHF-`.
    #[error("a feed reference starts with \"PHF-\"")]
    MissingPrefix,
    /// A character outside A–Z and 2–7.
    #[error("character {character:?} at position {position} is not allowed in a feed reference")]
    Alphabet {
        /// Position in the text after the prefix, from 0.
        position: usize,
        /// The offending character.
        character: char,
    },
    /// Too few or too many characters for the name length it declares.
    #[error("the feed reference has the wrong length (a character missing or extra)")]
    Length,
    /// A version this build does not know.
    #[error("feed reference version {0} is not supported (this build reads version 1)")]
    Version(u8),
    /// The checksum does not match: a typo or a damaged scan.
    #[error("the feed reference's checksum does not match: check for a typo")]
    Checksum,
    /// The key is not a valid ed25519 key.
    #[error("the feed reference's public key is not a valid ed25519 key")]
    BadKey,
    /// The feed name is not a valid feed name.
    #[error("the feed reference's name is not a valid feed name")]
    BadName,
}

/// A feed: its author and its name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FeedRef {
    /// The author's key: the only key that can post.
    pub author: PublicKey,
    /// The feed's name (1–64 characters, one line).
    pub name: String,
}

impl FeedRef {
    /// The feed `name` of `author`, normalised to NFC; the name must be a
    /// valid feed name.
    pub fn new(author: PublicKey, name: &str) -> Result<Self, FeedRefError> {
        let name = &crate::names::nfc(name);
        check_feed_name(name).map_err(|_| FeedRefError::BadName)?;
        if name.len() > usize::from(u8::MAX) {
            return Err(FeedRefError::BadName);
        }
        Ok(Self {
            author,
            name: name.to_owned(),
        })
    }

    /// The feed's mailbox.
    pub fn mailbox(&self) -> MailboxId {
        feed_mailbox(&self.author, &self.name)
    }

    /// The bytes behind the text: version, key, name length, name, checksum.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = vec![FEED_REF_VERSION];
        bytes.extend_from_slice(&self.author.0);
        bytes.push(self.name.len() as u8);
        bytes.extend_from_slice(self.name.as_bytes());
        let sum = checksum(&bytes);
        bytes.extend_from_slice(&sum);
        bytes
    }

    /// Parses the text form; white space around it and lower case are fine.
    pub fn parse(text: &str) -> Result<Self, FeedRefError> {
        let text = text.trim();
        let body = match text.get(..FEED_REF_PREFIX.len()) {
            Some(prefix) if prefix.eq_ignore_ascii_case(FEED_REF_PREFIX) => {
                &text[FEED_REF_PREFIX.len()..]
            }
            _ => return Err(FeedRefError::MissingPrefix),
        };
        let upper = body.to_ascii_uppercase();
        if let Some((position, character)) = upper
            .chars()
            .enumerate()
            .find(|(_, c)| !matches!(c, 'A'..='Z' | '2'..='7'))
        {
            return Err(FeedRefError::Alphabet {
                position,
                character,
            });
        }
        // The first 56 characters are exactly 35 bytes: version, key and
        // name length, so version and length are known before the rest.
        let head = upper
            .get(..56)
            .and_then(|head| data_encoding::BASE32_NOPAD.decode(head.as_bytes()).ok())
            .ok_or(FeedRefError::Length)?;
        if head[0] != FEED_REF_VERSION {
            return Err(FeedRefError::Version(head[0]));
        }
        let total = 1 + 32 + 1 + usize::from(head[33]) + 4;
        if upper.len() != (total * 8).div_ceil(5) {
            return Err(FeedRefError::Length);
        }
        // Non-canonical trailing bits are covered by no checksum byte: a
        // typo there is a checksum error too.
        let bytes = data_encoding::BASE32_NOPAD
            .decode(upper.as_bytes())
            .map_err(|_| FeedRefError::Checksum)?;
        let (payload, sum) = bytes.split_at(bytes.len() - 4);
        if checksum(payload) != sum {
            return Err(FeedRefError::Checksum);
        }
        let author = PublicKey(bytes[1..33].try_into().expect("32 bytes"));
        match author.verifying_key() {
            Some(key) if !key.is_weak() => {}
            _ => return Err(FeedRefError::BadKey),
        }
        let name = std::str::from_utf8(&payload[34..]).map_err(|_| FeedRefError::BadName)?;
        Self::new(author, name)
    }
}

impl fmt::Display for FeedRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(FEED_REF_PREFIX)?;
        f.write_str(&data_encoding::BASE32_NOPAD.encode(&self.to_bytes()))
    }
}

impl std::str::FromStr for FeedRef {
    type Err = FeedRefError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

fn checksum(payload: &[u8]) -> [u8; 4] {
    let digest = Sha256::new()
        .chain_update(CHECKSUM_DOMAIN)
        .chain_update([0])
        .chain_update(payload)
        .finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}
