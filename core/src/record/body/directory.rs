//! The key-directory entry body (public): a claim of a directory name by the
//! sender key, in the mailbox derived from the name.

use super::fields::{check_directory_name, text};
use super::{BodyRules, Content, FormatError, MAX_DISPLAY_NAME_CHARS, SyntaxError, syntax};
use crate::codec::{Reader, Writer};
use crate::record::{Header, Kind, MailboxId};

const DIRECTORY_DOMAIN: &[u8] = b"pigeonhole/directory/v1";

/// The mailbox holding every claim to directory name `name`.
pub fn directory_mailbox(name: &str) -> MailboxId {
    MailboxId::derive(DIRECTORY_DOMAIN, name.as_bytes())
}

/// A claim that directory name `name` belongs to the record's sender key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryEntry {
    /// The claimed name (see [`check_directory_name`]).
    pub name: String,
    /// A display name to show with it (1–64 characters).
    pub display_name: String,
}

impl BodyRules for DirectoryEntry {
    const KIND: Kind = Kind::KeyDirectory;

    fn encode_into(&self, writer: &mut Writer) {
        writer.str16(&self.name).str16(&self.display_name);
    }

    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, FormatError> {
        let name = reader.str16("name")?;
        check_directory_name(name)?;
        let display_name = text(
            "display_name",
            reader.str16("display_name")?,
            1,
            MAX_DISPLAY_NAME_CHARS,
            false,
        )?;
        Ok(Self {
            name: name.to_owned(),
            display_name,
        })
    }

    fn check_syntax(&self, header: &Header) -> Result<(), SyntaxError> {
        syntax(
            header.mailbox == directory_mailbox(&self.name),
            "a directory entry lives in its name's mailbox",
        )
    }

    fn into_content(self) -> Content {
        Content::KeyDirectory(self)
    }
}
