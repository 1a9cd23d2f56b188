//! Per-kind body rules: the *format* of each field and the *syntax* that ties
//! fields together (and to the envelope).
//!
//! Following the seed, a record that passes its signature check is further
//! checked for an expected format (each field has an allowed shape) and an
//! expected syntax (relations between fields), because a message forged to
//! match a signature would be unlikely to also have a sensible layout.
//! Each kind's rules are written once, in its own file here, as a
//! [`BodyRules`] impl; the field formats they share live in `fields`. Public
//! kinds are checked while validating the envelope; sealed kinds (buddy
//! request and response) are checked the same way by the reader once it has
//! decrypted them (see [`crate::record::Validator::open_sealed`]).

mod buddy_request;
mod buddy_response;
mod content_chunk;
mod directory;
mod doc_notice;
mod editor_list;
mod feed_post;
mod fields;
mod tombstone;

use crate::codec::{DecodeError, Reader, Writer};
use crate::record::{Header, Kind, RecordError};

pub use buddy_request::{BuddyRequest, ContactField, ContactFieldKind};
pub use buddy_response::{BuddyResponse, Decision};
pub use content_chunk::{
    ContentChunk, MAX_CHUNK_DATA, MAX_CHUNKS, MAX_CONTENT_BYTES, chunk_link, content_hash,
    content_mailbox,
};
pub use directory::{DirectoryEntry, directory_mailbox};
pub use doc_notice::{DocNotice, MAX_INLINE_BYTES, doc_mailbox};
pub use editor_list::{EditorList, MAX_DOC_NAME_CHARS, MAX_EDITORS, check_doc_name, open_grant};
pub use feed_post::{FeedPost, MAX_FEED_NAME_CHARS, check_feed_name, feed_mailbox};
pub use fields::{check_directory_name, check_display_name, check_message};
pub use tombstone::Tombstone;

/// Longest display name, in characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 64;
/// Longest buddy-request message, in characters.
pub const MAX_MESSAGE_CHARS: usize = 1000;
/// Most contact fields in one request.
pub const MAX_CONTACT_FIELDS: usize = 8;
/// Longest title of a feed post or document, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest feed-post summary or change description, in characters.
pub const MAX_SUMMARY_CHARS: usize = 4000;
/// Longest link, in bytes.
pub const MAX_LINK_BYTES: usize = 512;
/// Sealed-body scheme 1: X25519 ephemeral key, 24-byte nonce, AEAD output.
pub const SEALED_SCHEME_V1: u8 = 1;
/// Smallest sealed body: scheme, ephemeral key, nonce and a 16-byte tag.
pub const MIN_SEALED_BYTES: usize = 1 + 32 + 24 + 16;

/// A field that does not have its required shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}`: {problem}")]
pub struct FormatError {
    /// The field.
    pub field: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

impl FormatError {
    pub(crate) fn new(field: &'static str, problem: impl Into<String>) -> Self {
        Self {
            field,
            problem: problem.into(),
        }
    }
}

impl From<DecodeError> for FormatError {
    fn from(error: DecodeError) -> Self {
        let field = match &error {
            DecodeError::Truncated { field }
            | DecodeError::NotUtf8 { field }
            | DecodeError::BadOptionTag { field, .. } => field,
            DecodeError::TrailingBytes { .. } => "body",
        };
        Self::new(field, error.to_string())
    }
}

/// Fields that each have a valid shape but do not fit together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("syntax: {rule}")]
pub struct SyntaxError {
    /// The rule that was broken, in words.
    pub rule: &'static str,
}

pub(crate) fn syntax(holds: bool, rule: &'static str) -> Result<(), SyntaxError> {
    if holds {
        Ok(())
    } else {
        Err(SyntaxError { rule })
    }
}

/// The checked content of a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    /// A sealed body whose outer shape is valid; decrypt it and call
    /// [`crate::record::Validator::open_sealed`] to check the rest.
    Sealed,
    /// A buddy request (after decryption).
    BuddyRequest(BuddyRequest),
    /// A buddy response (after decryption).
    BuddyResponse(BuddyResponse),
    /// A feed post.
    FeedPost(FeedPost),
    /// A document-update notice.
    DocNotice(DocNotice),
    /// A public-key directory entry.
    KeyDirectory(DirectoryEntry),
    /// A deletion marker.
    Tombstone(Tombstone),
    /// A document owner's list of editors.
    EditorList(EditorList),
    /// One chunk of a large document version.
    ContentChunk(ContentChunk),
}

/// One kind's body: how it is encoded, its format and its syntax.
pub trait BodyRules: Sized {
    /// The kind this body belongs to.
    const KIND: Kind;
    /// Writes the canonical encoding.
    fn encode_into(&self, writer: &mut Writer);
    /// Reads the fields and checks each one's format.
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, FormatError>;
    /// Checks relations between fields and with the envelope `header`.
    fn check_syntax(&self, header: &Header) -> Result<(), SyntaxError>;
    /// Wraps the body as [`Content`].
    fn into_content(self) -> Content;

    /// The canonical encoding.
    fn encode(&self) -> Vec<u8> {
        let mut writer = Writer::default();
        self.encode_into(&mut writer);
        writer.into_bytes()
    }
}

/// Format then syntax for one kind: the only path from body bytes to content.
fn parse<T: BodyRules>(header: &Header, bytes: &[u8]) -> Result<Content, RecordError> {
    let mut reader = Reader::new(bytes);
    let body = T::decode_from(&mut reader)?;
    reader.finish().map_err(FormatError::from)?;
    body.check_syntax(header)?;
    Ok(body.into_content())
}

/// Stage one, run by storing nodes and readers: public bodies fully, sealed
/// bodies by their outer shape only.
pub(crate) fn check_carried(header: &Header, body: &[u8]) -> Result<Content, RecordError> {
    match header.kind {
        Kind::BuddyRequest | Kind::BuddyResponse => check_sealed_shape(body),
        Kind::FeedPost => parse::<FeedPost>(header, body),
        Kind::DocNotice => parse::<DocNotice>(header, body),
        Kind::KeyDirectory => parse::<DirectoryEntry>(header, body),
        Kind::Tombstone => parse::<Tombstone>(header, body),
        Kind::EditorList => parse::<EditorList>(header, body),
        Kind::ContentChunk => parse::<ContentChunk>(header, body),
    }
}

/// Stage two, run by the reader on a decrypted sealed body: the same rules.
pub(crate) fn check_plaintext(header: &Header, plaintext: &[u8]) -> Result<Content, RecordError> {
    match header.kind {
        Kind::BuddyRequest => parse::<BuddyRequest>(header, plaintext),
        Kind::BuddyResponse => parse::<BuddyResponse>(header, plaintext),
        other => Err(RecordError::NotSealed(other)),
    }
}

fn check_sealed_shape(body: &[u8]) -> Result<Content, RecordError> {
    if body.len() < MIN_SEALED_BYTES {
        return Err(FormatError::new(
            "sealed",
            format!(
                "{} bytes, a sealed body has at least {MIN_SEALED_BYTES}",
                body.len()
            ),
        )
        .into());
    }
    if body[0] != SEALED_SCHEME_V1 {
        return Err(FormatError::new("sealed", format!("unknown scheme {}", body[0])).into());
    }
    Ok(Content::Sealed)
}
