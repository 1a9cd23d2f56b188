//! The buddy request body (sealed): who asks, a note, the reply token and
//! the contact details shared, each kind at most once.

use super::fields::{check_directory_name, link, text};
use super::{
    BodyRules, Content, FormatError, MAX_CONTACT_FIELDS, MAX_DISPLAY_NAME_CHARS, MAX_MESSAGE_CHARS,
    SyntaxError, syntax,
};
use crate::codec::{Reader, Writer};
use crate::ids::InboxToken;
use crate::record::{Header, Kind};

/// What kind of contact detail a [`ContactField`] holds. Wire values fixed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ContactFieldKind {
    /// `local@domain.tld`.
    Email = 1,
    /// E.164: `+` and 6 to 15 digits.
    Phone = 2,
    /// An http(s) link.
    Url = 3,
    /// A handle in another network: 1 to 64 of `A-Z a-z 0-9 . _ - @ :`.
    Handle = 4,
}

/// One contact detail shared with a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContactField {
    /// What it is.
    pub kind: ContactFieldKind,
    /// Its value, in the shape its kind requires.
    pub value: String,
}

impl ContactField {
    /// Checks a contact field's kind and value shape.
    pub fn check(kind_byte: u8, value: &str) -> Result<Self, FormatError> {
        let field = "contact";
        let kind = match kind_byte {
            1 => ContactFieldKind::Email,
            2 => ContactFieldKind::Phone,
            3 => ContactFieldKind::Url,
            4 => ContactFieldKind::Handle,
            other => return Err(FormatError::new(field, format!("unknown kind {other}"))),
        };
        let shaped = match kind {
            ContactFieldKind::Email => is_email(value),
            ContactFieldKind::Phone => value.strip_prefix('+').is_some_and(|digits| {
                (6..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
            }),
            ContactFieldKind::Url => link(field, value).is_ok(),
            ContactFieldKind::Handle => {
                (1..=64).contains(&value.len())
                    && value
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b".-_@:".contains(&b))
            }
        };
        if !shaped {
            return Err(FormatError::new(
                field,
                format!("not a valid {kind:?} value"),
            ));
        }
        Ok(Self {
            kind,
            value: value.to_owned(),
        })
    }
}

fn is_email(value: &str) -> bool {
    let Some((local, domain)) = value.split_once('@') else {
        return false;
    };
    value.len() <= 254
        && !local.is_empty()
        && local.len() <= 64
        && local.bytes().all(|b| b.is_ascii_graphic() && b != b'@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

/// The decrypted body of a buddy request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuddyRequest {
    /// How the requester wants to be shown (1–64 characters, one line).
    pub display_name: String,
    /// A note to the recipient (0–1000 characters).
    pub message: String,
    /// The requester's current inbox token: the answer goes to the inbox of
    /// the envelope's sender key with this token.
    pub reply_token: InboxToken,
    /// The requester's public-key directory name, when the request is to be
    /// checked through the directory.
    pub sender_name: Option<String>,
    /// Contact details shared with the request, each kind at most once.
    pub contacts: Vec<ContactField>,
    /// The proof-of-work stamp nonce (protocol version 3, see
    /// [`crate::stamp`]): recipients require it from senders they do not
    /// know. Absent in a request only a buddy would accept.
    pub stamp: Option<u64>,
}

impl BodyRules for BuddyRequest {
    const KIND: Kind = Kind::BuddyRequest;

    fn encode_into(&self, writer: &mut Writer) {
        writer
            .str16(&self.display_name)
            .str16(&self.message)
            .raw(&self.reply_token.0)
            .opt_str16(self.sender_name.as_deref())
            .u8(self.contacts.len() as u8);
        for contact in &self.contacts {
            writer.u8(contact.kind as u8).str16(&contact.value);
        }
        match self.stamp {
            Some(nonce) => writer.u8(1).u64(nonce),
            None => writer.u8(0),
        };
    }

    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, FormatError> {
        let display_name = text(
            "display_name",
            reader.str16("display_name")?,
            1,
            MAX_DISPLAY_NAME_CHARS,
            false,
        )?;
        let message = text(
            "message",
            reader.str16("message")?,
            0,
            MAX_MESSAGE_CHARS,
            true,
        )?;
        let reply_token = InboxToken(reader.array("reply_token")?);
        let sender_name = match reader.opt_str16("sender_name")? {
            Some(name) => {
                check_directory_name(name)?;
                Some(name.to_owned())
            }
            None => None,
        };
        let count = usize::from(reader.u8("contacts")?);
        if count > MAX_CONTACT_FIELDS {
            return Err(FormatError::new(
                "contacts",
                format!("{count} fields, at most 8"),
            ));
        }
        let contacts = (0..count)
            .map(|_| {
                let kind = reader.u8("contact")?;
                ContactField::check(kind, reader.str16("contact")?)
            })
            .collect::<Result<_, _>>()?;
        let stamp = match reader.u8("stamp")? {
            0 => None,
            1 => Some(reader.u64("stamp")?),
            tag => {
                return Err(crate::codec::DecodeError::BadOptionTag {
                    field: "stamp",
                    tag,
                }
                .into());
            }
        };
        Ok(Self {
            display_name,
            message,
            reply_token,
            sender_name,
            contacts,
            stamp,
        })
    }

    fn check_syntax(&self, _header: &Header) -> Result<(), SyntaxError> {
        let mut seen = std::collections::HashSet::new();
        syntax(
            self.contacts.iter().all(|field| seen.insert(field.kind)),
            "each contact field kind appears at most once",
        )
    }

    fn into_content(self) -> Content {
        Content::BuddyRequest(self)
    }
}
