//! Per-kind body rules: the *format* of each field and the *syntax* that ties
//! fields together (and to the envelope).
//!
//! Following the seed, a record that passes its signature check is further
//! checked for an expected format (each field has an allowed shape) and an
//! expected syntax (relations between fields), because a message forged to
//! match a signature would be unlikely to also have a sensible layout.
//! Each kind's rules are written once, here, as a [`BodyRules`] impl. Public
//! kinds are checked while validating the envelope; sealed kinds (buddy
//! request and response) are checked the same way by the reader once it has
//! decrypted them (see [`crate::record::Validator::open_sealed`]).

use crate::codec::{DecodeError, Reader, Writer};
use crate::contact::InboxToken;
use crate::identity::PublicKey;
use crate::record::{Header, Kind, MailboxId, RecordError};

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

const FEED_DOMAIN: &[u8] = b"pigeonhole/feed/v1";
const DIRECTORY_DOMAIN: &[u8] = b"pigeonhole/directory/v1";
const DOC_DOMAIN: &[u8] = b"pigeonhole/doc/v1";

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
    fn new(field: &'static str, problem: impl Into<String>) -> Self {
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

fn syntax(holds: bool, rule: &'static str) -> Result<(), SyntaxError> {
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

/// The mailbox of feed `feed_name` by `author`: only the author's posts
/// belong there.
pub fn feed_mailbox(author: &PublicKey, feed_name: &str) -> MailboxId {
    let mut name = author.0.to_vec();
    name.extend_from_slice(feed_name.as_bytes());
    MailboxId::derive(FEED_DOMAIN, &name)
}

/// The mailbox holding every claim to directory name `name`.
pub fn directory_mailbox(name: &str) -> MailboxId {
    MailboxId::derive(DIRECTORY_DOMAIN, name.as_bytes())
}

/// The mailbox holding update notices for document `doc_id`.
pub fn doc_mailbox(doc_id: &[u8; 32]) -> MailboxId {
    MailboxId::derive(DOC_DOMAIN, doc_id)
}

// ---- field formats -------------------------------------------------------

fn text(
    field: &'static str,
    value: &str,
    min_chars: usize,
    max_chars: usize,
    multi_line: bool,
) -> Result<String, FormatError> {
    let chars = value.chars().count();
    if chars < min_chars || chars > max_chars {
        return Err(FormatError::new(
            field,
            format!("{chars} characters, allowed {min_chars} to {max_chars}"),
        ));
    }
    if let Some(bad) = value
        .chars()
        .find(|c| c.is_control() && !(multi_line && *c == '\n'))
    {
        return Err(FormatError::new(
            field,
            format!("control character U+{:04X}", bad as u32),
        ));
    }
    if value.trim() != value {
        return Err(FormatError::new(field, "leading or trailing white space"));
    }
    Ok(value.to_owned())
}

fn link(field: &'static str, value: &str) -> Result<String, FormatError> {
    if value.len() > MAX_LINK_BYTES {
        return Err(FormatError::new(field, "longer than 512 bytes"));
    }
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"))
        .ok_or_else(|| FormatError::new(field, "must start with https:// or http://"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(FormatError::new(field, "no host, or white space in link"));
    }
    Ok(value.to_owned())
}

/// Whether `name` is a valid display name (1–64 characters, one line, no
/// control characters, no surrounding white space).
pub fn check_display_name(name: &str) -> Result<(), FormatError> {
    text("display_name", name, 1, MAX_DISPLAY_NAME_CHARS, false).map(drop)
}

/// Whether `message` is a valid buddy-request message (0–1000 characters,
/// newlines allowed, no other control characters).
pub fn check_message(message: &str) -> Result<(), FormatError> {
    text("message", message, 0, MAX_MESSAGE_CHARS, true).map(drop)
}

/// Whether `name` is a valid directory name: 3 to 32 of `a-z 0-9 . _ -`,
/// starting with a letter or digit.
pub fn check_directory_name(name: &str) -> Result<(), FormatError> {
    let ok_len = (3..=32).contains(&name.len());
    let ok_chars = name
        .bytes()
        .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-'));
    let ok_start = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric());
    if ok_len && ok_chars && ok_start {
        Ok(())
    } else {
        Err(FormatError::new(
            "name",
            "3 to 32 of a-z 0-9 . _ -, starting with a letter or digit",
        ))
    }
}

// ---- buddy request -------------------------------------------------------

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
        Ok(Self {
            display_name,
            message,
            reply_token,
            sender_name,
            contacts,
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

// ---- buddy response ------------------------------------------------------

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

// ---- feed post -----------------------------------------------------------

/// One post of a feed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedPost {
    /// The feed's name; with the sender's key it gives the feed's mailbox.
    pub feed_name: String,
    /// The post's title (1–200 characters, one line).
    pub title: String,
    /// An http(s) link, if any.
    pub link: Option<String>,
    /// The text (0–4000 characters).
    pub summary: String,
}

impl BodyRules for FeedPost {
    const KIND: Kind = Kind::FeedPost;

    fn encode_into(&self, writer: &mut Writer) {
        writer
            .str16(&self.feed_name)
            .str16(&self.title)
            .opt_str16(self.link.as_deref())
            .str16(&self.summary);
    }

    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, FormatError> {
        let feed_name = text("feed_name", reader.str16("feed_name")?, 1, 64, false)?;
        let title = text("title", reader.str16("title")?, 1, MAX_TITLE_CHARS, false)?;
        let link = reader
            .opt_str16("link")?
            .map(|value| link("link", value))
            .transpose()?;
        let summary = text(
            "summary",
            reader.str16("summary")?,
            0,
            MAX_SUMMARY_CHARS,
            true,
        )?;
        Ok(Self {
            feed_name,
            title,
            link,
            summary,
        })
    }

    fn check_syntax(&self, header: &Header) -> Result<(), SyntaxError> {
        syntax(
            header.mailbox == feed_mailbox(&header.sender, &self.feed_name),
            "a post lives in its author's feed mailbox",
        )?;
        syntax(
            !self.summary.is_empty() || self.link.is_some(),
            "a post has a summary or a link",
        )
    }

    fn into_content(self) -> Content {
        Content::FeedPost(self)
    }
}

// ---- document notice -----------------------------------------------------

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

// ---- key directory -------------------------------------------------------

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

// ---- tombstone -----------------------------------------------------------

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
