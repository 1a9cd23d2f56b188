//! The buddy response body (sealed): which request, accept or decline, and
//! the responder's name only on accept.

use super::fields::text;
use super::{BodyRules, Content, FormatError, MAX_DISPLAY_NAME_CHARS, SyntaxError, syntax};
use crate::codec::{Reader, Writer};
use crate::record::{Header, Kind};

/// Accept or decline. Wire values fixed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Decision {
    /// The requester becomes a buddy.
    Accept = 1,
    /// The request is turned down.
    Decline = 2,
}

/// The decrypted body of a buddy response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuddyResponse {
    /// The id ([`crate::record::Record::id`]) of the request answered.
    pub request_id: [u8; 32],
    /// The answer.
    pub decision: Decision,
    /// The responder's display name: required on accept, empty on decline
    /// (a decline reveals nothing about the decliner).
    pub display_name: String,
}

impl BodyRules for BuddyResponse {
    const KIND: Kind = Kind::BuddyResponse;

    fn encode_into(&self, writer: &mut Writer) {
        writer
            .raw(&self.request_id)
            .u8(self.decision as u8)
            .str16(&self.display_name);
    }

    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, FormatError> {
        let request_id = reader.array("request_id")?;
        let decision = match reader.u8("decision")? {
            1 => Decision::Accept,
            2 => Decision::Decline,
            other => {
                return Err(FormatError::new(
                    "decision",
                    format!("unknown value {other}"),
                ));
            }
        };
        let display_name = text(
            "display_name",
            reader.str16("display_name")?,
            0,
            MAX_DISPLAY_NAME_CHARS,
            false,
        )?;
        Ok(Self {
            request_id,
            decision,
            display_name,
        })
    }

    fn check_syntax(&self, _header: &Header) -> Result<(), SyntaxError> {
        syntax(
            self.request_id != [0; 32],
            "a response names the request it answers",
        )?;
        match self.decision {
            Decision::Accept => syntax(
                !self.display_name.is_empty(),
                "an accept carries the responder's display name",
            ),
            Decision::Decline => syntax(
                self.display_name.is_empty(),
                "a decline carries no display name",
            ),
        }
    }

    fn into_content(self) -> Content {
        Content::BuddyResponse(self)
    }
}
