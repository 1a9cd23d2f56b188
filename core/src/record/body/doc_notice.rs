//! The document-update notice body (public).

use super::fields::text;
use super::{
    BodyRules, Content, FormatError, MAX_SUMMARY_CHARS, MAX_TITLE_CHARS, SyntaxError, syntax,
};
use crate::codec::{Reader, Writer};
use crate::record::{Header, Kind, MailboxId};

const DOC_DOMAIN: &[u8] = b"pigeonhole/doc/v1";

/// The mailbox holding update notices for document `doc_id`.
pub fn doc_mailbox(doc_id: &[u8; 32]) -> MailboxId {
    MailboxId::derive(DOC_DOMAIN, doc_id)
}

/// A notice that a document changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocNotice {
    /// The document's id; it gives the notice's mailbox.
    pub doc_id: [u8; 32],
    /// The new version number, from 1.
    pub version: u64,
    /// The document's title (1–200 characters).
    pub title: String,
    /// What changed (0–4000 characters).
    pub change: String,
}

impl BodyRules for DocNotice {
    const KIND: Kind = Kind::DocNotice;

    fn encode_into(&self, writer: &mut Writer) {
        writer
            .raw(&self.doc_id)
            .u64(self.version)
            .str16(&self.title)
            .str16(&self.change);
    }

    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, FormatError> {
        let doc_id = reader.array("doc_id")?;
        let version = reader.u64("version")?;
        if version == 0 {
            return Err(FormatError::new("version", "versions start at 1"));
        }
        let title = text("title", reader.str16("title")?, 1, MAX_TITLE_CHARS, false)?;
        let change = text(
            "change",
            reader.str16("change")?,
            0,
            MAX_SUMMARY_CHARS,
            true,
        )?;
        Ok(Self {
            doc_id,
            version,
            title,
            change,
        })
    }

    fn check_syntax(&self, header: &Header) -> Result<(), SyntaxError> {
        syntax(
            header.mailbox == doc_mailbox(&self.doc_id),
            "a notice lives in its document's mailbox",
        )
    }

    fn into_content(self) -> Content {
        Content::DocNotice(self)
    }
}
