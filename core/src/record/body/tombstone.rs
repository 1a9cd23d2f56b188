//! The tombstone body: names the record its sender deletes.

use super::{BodyRules, Content, FormatError, SyntaxError, syntax};
use crate::codec::{Reader, Writer};
use crate::record::{Header, Kind};

/// Marks the slot's earlier record as deleted by its sender.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tombstone {
    /// The id of the record deleted.
    pub replaced: [u8; 32],
}

impl BodyRules for Tombstone {
    const KIND: Kind = Kind::Tombstone;

    fn encode_into(&self, writer: &mut Writer) {
        writer.raw(&self.replaced);
    }

    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, FormatError> {
        Ok(Self {
            replaced: reader.array("replaced")?,
        })
    }

    fn check_syntax(&self, _header: &Header) -> Result<(), SyntaxError> {
        syntax(
            self.replaced != [0; 32],
            "a tombstone names the record it deletes",
        )
    }

    fn into_content(self) -> Content {
        Content::Tombstone(self)
    }
}
