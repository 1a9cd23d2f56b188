//! The editor list body (public, kind 7): the document owner names the keys
//! allowed to publish update notices for one of its documents.
//!
//! The list lives in the document's mailbox (derived from the owner's key and
//! the document name, so only the owner can put it there), and an editor
//! carries a copy of the whole signed record inside each notice it publishes
//! (`DocNotice::editor_grant`): a storing peer that holds nothing else can
//! still check, with the one validator, that a notice's sender was named by
//! the owner. A later list (higher `list_version`) supersedes earlier ones
//! for readers, which is how an editor is removed.

use super::fields::text;
use super::{BodyRules, Content, FormatError, SyntaxError, doc_mailbox, syntax};
use crate::codec::{Reader, Writer};
use crate::identity::PublicKey;
use crate::record::{Header, Kind, RecordError, decode, signature_valid};

/// Most editors one list may name.
pub const MAX_EDITORS: usize = 32;
/// Longest document name, in characters.
pub const MAX_DOC_NAME_CHARS: usize = 64;

/// The owner's list of editors of one document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EditorList {
    /// The document's name (1–64 characters, one line).
    pub doc_name: String,
    /// Increases with every new list the owner publishes, from 1.
    pub list_version: u64,
    /// The keys allowed to publish notices besides the owner (distinct, at
    /// most [`MAX_EDITORS`], never the owner itself).
    pub editors: Vec<PublicKey>,
}

impl EditorList {
    /// Whether `key` is named as an editor.
    pub fn names(&self, key: &PublicKey) -> bool {
        self.editors.contains(key)
    }
}

/// Checks a document name's format (1–64 characters, one line).
pub fn check_doc_name(name: &str) -> Result<(), FormatError> {
    text("doc_name", name, 1, MAX_DOC_NAME_CHARS, false).map(drop)
}

impl BodyRules for EditorList {
    const KIND: Kind = Kind::EditorList;

    fn encode_into(&self, writer: &mut Writer) {
        writer
            .str16(&self.doc_name)
            .u64(self.list_version)
            .u8(self.editors.len() as u8);
        for editor in &self.editors {
            writer.raw(&editor.0);
        }
    }

    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, FormatError> {
        let doc_name = text(
            "doc_name",
            reader.str16("doc_name")?,
            1,
            MAX_DOC_NAME_CHARS,
            false,
        )?;
        let list_version = reader.u64("list_version")?;
        if list_version == 0 {
            return Err(FormatError::new("list_version", "list versions start at 1"));
        }
        let count = usize::from(reader.u8("editors")?);
        if count > MAX_EDITORS {
            return Err(FormatError::new(
                "editors",
                format!("{count} editors, at most {MAX_EDITORS}"),
            ));
        }
        let editors = (0..count)
            .map(|_| reader.array("editors").map(PublicKey))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            doc_name,
            list_version,
            editors,
        })
    }

    fn check_syntax(&self, header: &Header) -> Result<(), SyntaxError> {
        syntax(
            header.mailbox == doc_mailbox(&header.sender, &self.doc_name),
            "an editor list lives in its owner's document mailbox",
        )?;
        let mut seen = std::collections::HashSet::new();
        syntax(
            self.editors.iter().all(|editor| seen.insert(editor.0)),
            "each editor is named once",
        )?;
        syntax(
            !self.names(&header.sender),
            "the owner is not named as its own editor",
        )
    }

    fn into_content(self) -> Content {
        Content::EditorList(self)
    }
}

/// An editor list carried inside a notice, checked on its own: decoded,
/// signed by its sender, of the right kind, its body valid. Time is not
/// checked here (the caller relates it to the notice).
pub fn open_grant(bytes: &[u8]) -> Result<(Header, EditorList), RecordError> {
    let decoded = decode(bytes)?;
    if decoded.header.kind != Kind::EditorList {
        return Err(SyntaxError {
            rule: "an editor grant is an editor-list record",
        }
        .into());
    }
    if !signature_valid(&decoded) {
        return Err(RecordError::BadSignature);
    }
    let mut reader = Reader::new(decoded.body);
    let list = EditorList::decode_from(&mut reader)?;
    reader.finish().map_err(FormatError::from)?;
    list.check_syntax(&decoded.header)?;
    Ok((decoded.header, list))
}
