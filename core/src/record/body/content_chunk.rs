//! The content chunk body (public, kind 8): one piece of a document version
//! too large to travel inline in its notice (up to [`MAX_CONTENT_BYTES`]).
//!
//! Chunks live in a mailbox derived from the content hash, so the same
//! content is stored once whoever sends it. Their authenticity does not come
//! from their sender but from a hash chain anchored in the (editor-checked)
//! notice: `link_i = H("pigeonhole/doc-chunk/v1" ‖ 0x00 ‖ data_i ‖ next_i)`,
//! where `next_i` is `link_{i+1}` and all zero for the last chunk, and the
//! notice carries `link_0`. A reader follows the chain from the head, so a
//! chunk forged by anyone else in the content mailbox is simply never picked,
//! and the reassembled content is checked against the notice's content hash.

use sha2::{Digest, Sha256};

use super::fields::nonzero_id;
use super::{BodyRules, Content, FormatError, SyntaxError, syntax};
use crate::codec::{Reader, Writer};
use crate::record::{Header, Kind, MailboxId};

const CONTENT_DOMAIN: &[u8] = b"pigeonhole/doc-content/v1";
const CHUNK_DOMAIN: &[u8] = b"pigeonhole/doc-chunk/v1";

/// Largest content of one document version carried by the mailbox.
pub const MAX_CONTENT_BYTES: usize = 256 * 1024;
/// Most content bytes in one chunk (fits a record with room to spare).
pub const MAX_CHUNK_DATA: usize = 7680;
/// Most chunks of one version: `ceil(MAX_CONTENT_BYTES / MAX_CHUNK_DATA)`.
pub const MAX_CHUNKS: usize = MAX_CONTENT_BYTES.div_ceil(MAX_CHUNK_DATA);

/// The mailbox holding the chunks of content with hash `content_hash`.
pub fn content_mailbox(content_hash: &[u8; 32]) -> MailboxId {
    MailboxId::derive(CONTENT_DOMAIN, content_hash)
}

/// SHA-256 of a document's content: what a notice's `content_hash` holds.
pub fn content_hash(content: &[u8]) -> [u8; 32] {
    Sha256::digest(content).into()
}

/// The chain link of a chunk holding `data` and pointing at `next`.
pub fn chunk_link(data: &[u8], next: &[u8; 32]) -> [u8; 32] {
    let mut input = Vec::with_capacity(data.len() + 32);
    input.extend_from_slice(data);
    input.extend_from_slice(next);
    MailboxId::derive(CHUNK_DOMAIN, &input).0
}

/// One piece of a large document version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentChunk {
    /// SHA-256 of the whole content; gives the chunk's mailbox.
    pub content_hash: [u8; 32],
    /// Position, from 0.
    pub index: u16,
    /// Number of chunks of the content (1 to [`MAX_CHUNKS`]).
    pub count: u16,
    /// The bytes (1 to [`MAX_CHUNK_DATA`]).
    pub data: Vec<u8>,
    /// The link of the next chunk; all zero on the last one.
    pub next: [u8; 32],
}

impl ContentChunk {
    /// This chunk's chain link.
    pub fn link(&self) -> [u8; 32] {
        chunk_link(&self.data, &self.next)
    }
}

impl BodyRules for ContentChunk {
    const KIND: Kind = Kind::ContentChunk;

    fn encode_into(&self, writer: &mut Writer) {
        writer
            .raw(&self.content_hash)
            .u16(self.index)
            .u16(self.count)
            .bytes16(&self.data)
            .raw(&self.next);
    }

    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, FormatError> {
        let content_hash = nonzero_id(reader, "content_hash")?;
        let index = reader.u16("index")?;
        let count = reader.u16("count")?;
        if count == 0 || usize::from(count) > MAX_CHUNKS {
            return Err(FormatError::new(
                "count",
                format!("{count} chunks, allowed 1 to {MAX_CHUNKS}"),
            ));
        }
        let data = reader.bytes16("data")?;
        if data.is_empty() || data.len() > MAX_CHUNK_DATA {
            return Err(FormatError::new(
                "data",
                format!("{} bytes, allowed 1 to {MAX_CHUNK_DATA}", data.len()),
            ));
        }
        Ok(Self {
            content_hash,
            index,
            count,
            data: data.to_vec(),
            next: reader.array("next")?,
        })
    }

    fn check_syntax(&self, header: &Header) -> Result<(), SyntaxError> {
        syntax(
            header.mailbox == content_mailbox(&self.content_hash),
            "a chunk lives in its content's mailbox",
        )?;
        syntax(
            self.index < self.count,
            "a chunk's index is below its count",
        )?;
        syntax(
            (self.index + 1 == self.count) == (self.next == [0; 32]),
            "only the last chunk ends the chain",
        )
    }

    fn into_content(self) -> Content {
        Content::ContentChunk(self)
    }
}
