//! The document-update notice body (public, kind 4; layout 2).
//!
//! A document is owned: its mailbox is derived from the owner's key and the
//! document name, so a notice names both and the validator checks that the
//! record sits in that mailbox. The owner may publish directly; anyone else
//! must carry the owner's signed editor list naming them
//! ([`DocNotice::editor_grant`]) — checked here, by every storing peer and
//! reader, with nothing but the notice in hand. The new content travels
//! inline when small (verified against `content_hash` here too) or as a
//! chain of [`super::ContentChunk`] records anchored by `chain_head`.

use super::content_chunk::{MAX_CHUNK_DATA, MAX_CHUNKS, MAX_CONTENT_BYTES, content_hash};
use super::editor_list::{MAX_DOC_NAME_CHARS, open_grant};
use super::fields::{nonzero_id, option_tag, text, write_option};
use super::{BodyRules, Content, FormatError, MAX_SUMMARY_CHARS, SyntaxError, syntax};
use crate::codec::{Reader, Writer};
use crate::identity::PublicKey;
use crate::record::{Header, Kind, MailboxId};

const DOC_DOMAIN: &[u8] = b"pigeonhole/doc/v2";

/// Largest content carried inline in a notice.
pub const MAX_INLINE_BYTES: usize = 4096;

/// The mailbox of document `doc_name` owned by `owner`: its notices and
/// editor lists live there.
pub fn doc_mailbox(owner: &PublicKey, doc_name: &str) -> MailboxId {
    let mut name = owner.0.to_vec();
    name.extend_from_slice(doc_name.as_bytes());
    MailboxId::derive(DOC_DOMAIN, &name)
}

/// A notice that a document has a new version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocNotice {
    /// The document's owner.
    pub owner: PublicKey,
    /// The document's name (1–64 characters, one line).
    pub doc_name: String,
    /// The new version number, from 1.
    pub version: u64,
    /// SHA-256 of the new content.
    pub content_hash: [u8; 32],
    /// Size of the new content in bytes (at most 256 KiB when it travels
    /// through the mailbox; any size when it only is announced).
    pub size: u64,
    /// What changed (0–4000 characters, multi-line).
    pub change_summary: String,
    /// The whole new content, when it fits ([`MAX_INLINE_BYTES`]).
    pub inline: Option<Vec<u8>>,
    /// The link of the first chunk when the content travels as a chain.
    pub chain_head: Option<[u8; 32]>,
    /// How many chunks the chain has (0 without a chain).
    pub chunks: u16,
    /// For an editor (not the owner): the owner's editor-list record, as
    /// signed, naming the sender.
    pub editor_grant: Option<Vec<u8>>,
}

impl BodyRules for DocNotice {
    const KIND: Kind = Kind::DocNotice;

    fn encode_into(&self, writer: &mut Writer) {
        writer
            .raw(&self.owner.0)
            .str16(&self.doc_name)
            .u64(self.version)
            .raw(&self.content_hash)
            .u64(self.size)
            .str16(&self.change_summary);
        write_option(writer, self.inline.as_ref(), |w, data| {
            w.bytes16(data);
        });
        write_option(writer, self.chain_head.as_ref(), |w, head| {
            w.raw(head);
        });
        writer.u16(self.chunks);
        write_option(writer, self.editor_grant.as_ref(), |w, grant| {
            w.bytes16(grant);
        });
    }

    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, FormatError> {
        let owner = PublicKey(reader.array("owner")?);
        let doc_name = text(
            "doc_name",
            reader.str16("doc_name")?,
            1,
            MAX_DOC_NAME_CHARS,
            false,
        )?;
        let version = reader.u64("version")?;
        if version == 0 {
            return Err(FormatError::new("version", "versions start at 1"));
        }
        let content_hash = reader.array("content_hash")?;
        let size = reader.u64("size")?;
        let change_summary = text(
            "change_summary",
            reader.str16("change_summary")?,
            0,
            MAX_SUMMARY_CHARS,
            true,
        )?;
        let inline = if option_tag(reader, "inline")? {
            let data = reader.bytes16("inline")?;
            if data.len() > MAX_INLINE_BYTES {
                return Err(FormatError::new(
                    "inline",
                    format!("{} bytes, at most {MAX_INLINE_BYTES}", data.len()),
                ));
            }
            Some(data.to_vec())
        } else {
            None
        };
        let chain_head = if option_tag(reader, "chain_head")? {
            Some(nonzero_id(reader, "chain_head")?)
        } else {
            None
        };
        let chunks = reader.u16("chunks")?;
        if usize::from(chunks) > MAX_CHUNKS {
            return Err(FormatError::new(
                "chunks",
                format!("{chunks} chunks, at most {MAX_CHUNKS}"),
            ));
        }
        let editor_grant = if option_tag(reader, "editor_grant")? {
            Some(reader.bytes16("editor_grant")?.to_vec())
        } else {
            None
        };
        Ok(Self {
            owner,
            doc_name,
            version,
            content_hash,
            size,
            change_summary,
            inline,
            chain_head,
            chunks,
            editor_grant,
        })
    }

    fn check_syntax(&self, header: &Header) -> Result<(), SyntaxError> {
        syntax(
            header.mailbox == doc_mailbox(&self.owner, &self.doc_name),
            "a notice lives in its owner's document mailbox",
        )?;
        if let Some(data) = &self.inline {
            syntax(
                data.len() as u64 == self.size && content_hash(data) == self.content_hash,
                "inline content matches the notice's size and content hash",
            )?;
        }
        syntax(
            self.chain_head.is_some() == (self.chunks > 0),
            "a chain has a head and at least one chunk",
        )?;
        syntax(
            !(self.inline.is_some() && self.chain_head.is_some()),
            "content travels inline or as a chain, not both",
        )?;
        if self.chain_head.is_some() {
            let chunks = u64::from(self.chunks);
            let max_data = MAX_CHUNK_DATA as u64;
            syntax(
                self.size <= MAX_CONTENT_BYTES as u64
                    && self.size > (chunks - 1) * max_data
                    && self.size <= chunks * max_data,
                "the chunk count fits the content size",
            )?;
        }
        self.check_editor(header)
    }

    fn into_content(self) -> Content {
        Content::DocNotice(self)
    }
}

impl DocNotice {
    /// The owner needs no grant; anyone else carries the owner's editor
    /// list, for this document, naming them, signed before the notice and
    /// still valid when the notice was made.
    fn check_editor(&self, header: &Header) -> Result<(), SyntaxError> {
        if header.sender == self.owner {
            return syntax(
                self.editor_grant.is_none(),
                "the owner's notice carries no editor grant",
            );
        }
        let rule = "a notice not from the owner carries the owner's editor list naming its sender";
        let Some(grant) = &self.editor_grant else {
            return Err(SyntaxError { rule });
        };
        let Ok((list_header, list)) = open_grant(grant) else {
            return Err(SyntaxError { rule });
        };
        syntax(
            list_header.sender == self.owner
                && list_header.mailbox == header.mailbox
                && list.names(&header.sender),
            rule,
        )?;
        syntax(
            list_header.created_at <= header.created_at
                && header.created_at < list_header.expires_at,
            "the editor grant was in force when the notice was made",
        )
    }
}
