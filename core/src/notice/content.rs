//! Content that travels with a notice: inline when small, otherwise as a
//! hash chain of content-chunk records (see `docs/PROTOCOL.md` §11), split
//! here for the writer and followed, reassembled and verified here for the
//! reader.

use std::collections::HashMap;

use crate::record::body::{
    ContentChunk, MAX_CHUNK_DATA, MAX_CONTENT_BYTES, chunk_link, content_hash,
};

/// Why the content of a notice could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    /// The notice only announces the version; the content is elsewhere.
    #[error("the notice carries no content")]
    NotCarried,
    /// No chunk with this position is on the DHT (expired or never sent).
    #[error("chunk {index} of the content is missing")]
    Missing {
        /// Position of the chunk.
        index: u16,
    },
    /// Chunks with this position are there but none matches the chain:
    /// damaged or forged.
    #[error("chunk {index} of the content does not match its chain link")]
    Corrupt {
        /// Position of the chunk.
        index: u16,
    },
    /// The reassembled content does not match the notice's size or hash.
    #[error("the content does not match the notice's size and content hash")]
    HashMismatch,
    /// More than 256 KiB: cannot travel through the mailbox.
    #[error("{size} bytes of content, at most {MAX_CONTENT_BYTES} travel through the mailbox")]
    TooLarge {
        /// The size offered.
        size: usize,
    },
}

/// `content` split into chained chunks, and the chain head.
pub fn split(content: &[u8]) -> Result<(Vec<ContentChunk>, [u8; 32]), ContentError> {
    if content.is_empty() || content.len() > MAX_CONTENT_BYTES {
        return Err(ContentError::TooLarge {
            size: content.len(),
        });
    }
    let hash = content_hash(content);
    let pieces: Vec<&[u8]> = content.chunks(MAX_CHUNK_DATA).collect();
    let count = pieces.len() as u16;
    let mut next = [0u8; 32];
    let mut chunks = Vec::with_capacity(pieces.len());
    for (index, data) in pieces.iter().enumerate().rev() {
        let chunk = ContentChunk {
            content_hash: hash,
            index: index as u16,
            count,
            data: data.to_vec(),
            next,
        };
        next = chunk.link();
        chunks.push(chunk);
    }
    chunks.reverse();
    Ok((chunks, next))
}

/// Follows the chain from `head` through `candidates` (any chunks found in
/// the content mailbox, forged ones included) and checks the result.
pub fn reassemble(
    head: [u8; 32],
    count: u16,
    size: u64,
    hash: [u8; 32],
    candidates: &[ContentChunk],
) -> Result<Vec<u8>, ContentError> {
    let by_link: HashMap<[u8; 32], &ContentChunk> = candidates
        .iter()
        .map(|chunk| (chunk_link(&chunk.data, &chunk.next), chunk))
        .collect();
    let mut content = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    let mut expected = head;
    for index in 0..count {
        let Some(chunk) = by_link
            .get(&expected)
            .filter(|chunk| chunk.index == index && chunk.count == count)
        else {
            return Err(if candidates.iter().any(|chunk| chunk.index == index) {
                ContentError::Corrupt { index }
            } else {
                ContentError::Missing { index }
            });
        };
        content.extend_from_slice(&chunk.data);
        expected = chunk.next;
    }
    if content.len() as u64 != size || content_hash(&content) != hash {
        return Err(ContentError::HashMismatch);
    }
    Ok(content)
}
