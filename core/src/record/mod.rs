//! The signed record: one envelope for every kind of message in Pigeonhole.
//!
//! A record is a fixed 92-byte header, a body of at most a few kilobytes and
//! an ed25519 signature over `"pigeonhole/record/v1" ‖ 0x00 ‖ header ‖ body`.
//! The header names the *slot* the record lives in (mailbox id + instance
//! id); the DHT key is a hash of that slot, recomputed by everyone who
//! receives the record, so a record cannot be moved to another slot or
//! another recipient without breaking either the key binding or the
//! signature. `docs/PROTOCOL.md` is the byte-level authority.

pub mod body;
mod many;
pub mod validate;

use std::fmt;

use sha2::{Digest, Sha256};

use crate::codec::{Reader, Writer};
use crate::identity::{Identity, PublicKey};

pub use crate::ids::MailboxId;

pub use body::Content;
pub use validate::{ErrorKind, Policy, RecordError, Validator};

/// The envelope version this build writes and reads.
pub const RECORD_VERSION: u8 = 1;
/// Bytes before the body: version, kind, mailbox, instance, sender,
/// created_at, expires_at, body length.
pub const HEADER_LEN: usize = 1 + 1 + 32 + 8 + 32 + 8 + 8 + 2;
/// Bytes of the trailing ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;
/// The protocol's hard cap on an encoded record; a [`Policy`] may set a
/// lower one, never a higher one.
pub const MAX_RECORD_BYTES: usize = 8192;
/// Largest body that fits in [`MAX_RECORD_BYTES`].
pub const MAX_BODY_BYTES: usize = MAX_RECORD_BYTES - HEADER_LEN - SIGNATURE_LEN;
/// Length of a time bucket: instance ids are grouped by the UTC day in which
/// the record expires.
pub const BUCKET_SECS: u64 = 86_400;

const SIGN_DOMAIN: &[u8] = b"pigeonhole/record/v1";
const SLOT_DOMAIN: &[u8] = b"pigeonhole/slot/v1";
const RECORD_ID_DOMAIN: &[u8] = b"pigeonhole/record-id/v1";

/// What a record carries. The numeric values are part of the wire format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Kind {
    /// A request to become buddies; body sealed to the recipient.
    BuddyRequest = 1,
    /// The answer to a buddy request; body sealed to the requester.
    BuddyResponse = 2,
    /// One post of an RSS-style feed; public body.
    FeedPost = 3,
    /// A notification that a document changed; public body.
    DocNotice = 4,
    /// A public-key directory entry (display name → key); public body.
    KeyDirectory = 5,
    /// Marks a slot's earlier record as deleted by its sender.
    Tombstone = 6,
    /// A document owner's list of editors; public body.
    EditorList = 7,
    /// One chunk of a document version too large for its notice; public body.
    ContentChunk = 8,
}

impl Kind {
    /// Every kind, in wire order.
    pub const ALL: [Kind; 8] = [
        Kind::BuddyRequest,
        Kind::BuddyResponse,
        Kind::FeedPost,
        Kind::DocNotice,
        Kind::KeyDirectory,
        Kind::Tombstone,
        Kind::EditorList,
        Kind::ContentChunk,
    ];

    /// The kind with wire value `value`, if any.
    pub fn from_u8(value: u8) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| *kind as u8 == value)
    }

    /// Whether the body is encrypted to the recipient, so that its content
    /// can only be checked by the reader after decryption.
    pub fn is_sealed(self) -> bool {
        matches!(self, Kind::BuddyRequest | Kind::BuddyResponse)
    }

    /// The kind's name as written in the protocol document.
    pub fn name(self) -> &'static str {
        match self {
            Kind::BuddyRequest => "buddy-request",
            Kind::BuddyResponse => "buddy-response",
            Kind::FeedPost => "feed-post",
            Kind::DocNotice => "doc-notice",
            Kind::KeyDirectory => "key-directory",
            Kind::Tombstone => "tombstone",
            Kind::EditorList => "editor-list",
            Kind::ContentChunk => "content-chunk",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The instance id: which slot of a mailbox. `bucket` is the UTC day number
/// (`expires_at / 86400`) in which the record expires, `seq` counts slots
/// inside that bucket from 0. Ordered by bucket, then seq.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstanceId {
    /// Day of expiry, days since 1970-01-01 UTC.
    pub bucket: u32,
    /// Slot number inside the bucket.
    pub seq: u32,
}

impl InstanceId {
    /// The instance id in its 8-byte wire form: bucket then seq, big-endian.
    pub fn to_u64(self) -> u64 {
        (u64::from(self.bucket) << 32) | u64::from(self.seq)
    }

    /// The inverse of [`InstanceId::to_u64`].
    pub fn from_u64(value: u64) -> Self {
        Self {
            bucket: (value >> 32) as u32,
            seq: value as u32,
        }
    }

    /// The bucket a record expiring at `expires_at` (unix seconds) belongs to.
    pub fn bucket_of(expires_at: u64) -> u32 {
        u32::try_from(expires_at / BUCKET_SECS).unwrap_or(u32::MAX)
    }
}

/// The DHT key of a slot: `SHA-256("pigeonhole/slot/v1" ‖ 0x00 ‖ mailbox ‖ instance)`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DhtKey(pub [u8; 32]);

impl DhtKey {
    /// The key of slot `instance` in `mailbox`.
    pub fn for_slot(mailbox: &MailboxId, instance: InstanceId) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(SLOT_DOMAIN);
        hasher.update([0]);
        hasher.update(mailbox.0);
        hasher.update(instance.to_u64().to_be_bytes());
        Self(hasher.finalize().into())
    }
}

impl fmt::Debug for DhtKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DhtKey({})", &hex::encode(self.0)[..16])
    }
}

/// The signed header fields of a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// What the record carries.
    pub kind: Kind,
    /// The mailbox (primary id) the record belongs to.
    pub mailbox: MailboxId,
    /// The slot inside the mailbox.
    pub instance: InstanceId,
    /// The signer.
    pub sender: PublicKey,
    /// When it was made, unix seconds.
    pub created_at: u64,
    /// When it stops being valid, unix seconds (absolute, signed).
    pub expires_at: u64,
}

impl Header {
    /// The DHT key this header binds the record to.
    pub fn dht_key(&self) -> DhtKey {
        DhtKey::for_slot(&self.mailbox, self.instance)
    }

    /// Encodes header and body and signs them as `identity`. The header's
    /// `sender` must be `identity`'s key and the body must fit the protocol
    /// cap; both are programming errors otherwise.
    pub fn sign(&self, identity: &Identity, body: &[u8]) -> Vec<u8> {
        assert_eq!(
            self.sender,
            identity.public_key(),
            "sender must be the signer"
        );
        assert!(body.len() <= MAX_BODY_BYTES, "body above the protocol cap");
        let mut writer = Writer::with_capacity(HEADER_LEN + body.len() + SIGNATURE_LEN);
        writer
            .u8(RECORD_VERSION)
            .u8(self.kind as u8)
            .raw(&self.mailbox.0)
            .u64(self.instance.to_u64())
            .raw(&self.sender.0)
            .u64(self.created_at)
            .u64(self.expires_at)
            .bytes16(body);
        let mut bytes = writer.into_bytes();
        let signature = identity.sign(SIGN_DOMAIN, &bytes);
        bytes.extend_from_slice(&signature);
        bytes
    }
}

/// A record that passed validation: its fields, its checked content and the
/// exact bytes it arrived as (what is stored and forwarded).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The signed header.
    pub header: Header,
    /// The body as carried (ciphertext for sealed kinds).
    pub body: Vec<u8>,
    /// The checked content; [`Content::Sealed`] for sealed kinds until the
    /// reader decrypts it and runs [`Validator::open_sealed`].
    pub content: Content,
    bytes: Vec<u8>,
    /// [`record_id`] of `bytes`, hashed once at validation: a read sorts,
    /// deduplicates and filters by it (a fetch of 1,000 records asked for
    /// it several thousand times, each a SHA-256 of the whole record).
    id: [u8; 32],
}

impl Record {
    /// The exact encoded bytes, signature included.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The DHT key of the record's slot.
    pub fn dht_key(&self) -> DhtKey {
        self.header.dht_key()
    }

    /// The record's id: `SHA-256("pigeonhole/record-id/v1" ‖ 0x00 ‖ bytes)`,
    /// how responses and tombstones name the record they refer to.
    pub fn id(&self) -> [u8; 32] {
        self.id
    }
}

/// The id of an encoded record (see [`Record::id`]).
pub fn record_id(bytes: &[u8]) -> [u8; 32] {
    MailboxId::derive(RECORD_ID_DOMAIN, bytes).0
}

/// Envelope fields decoded from bytes, before any check beyond the layout.
pub(crate) struct Decoded<'a> {
    pub header: Header,
    pub body: &'a [u8],
    pub signed: &'a [u8],
    pub signature: [u8; 64],
}

/// Splits `bytes` into its fields. Errors name the layout problem.
pub(crate) fn decode(bytes: &[u8]) -> Result<Decoded<'_>, RecordError> {
    let mut reader = Reader::new(bytes);
    let version = reader.u8("version")?;
    if version != RECORD_VERSION {
        return Err(RecordError::UnknownVersion(version));
    }
    let kind_byte = reader.u8("kind")?;
    let kind = Kind::from_u8(kind_byte).ok_or(RecordError::UnknownKind(kind_byte))?;
    let mailbox = MailboxId(reader.array("mailbox")?);
    let instance = InstanceId::from_u64(reader.u64("instance")?);
    let sender = PublicKey(reader.array("sender")?);
    let created_at = reader.u64("created_at")?;
    let expires_at = reader.u64("expires_at")?;
    let body = reader.bytes16("body")?;
    let signed_len = bytes.len() - reader.remaining();
    let signature = reader.array("signature")?;
    reader.finish()?;
    Ok(Decoded {
        header: Header {
            kind,
            mailbox,
            instance,
            sender,
            created_at,
            expires_at,
        },
        body,
        signed: &bytes[..signed_len],
        signature,
    })
}

impl Record {
    pub(crate) fn from_parts(header: Header, body: &[u8], content: Content, bytes: &[u8]) -> Self {
        Self {
            header,
            body: body.to_vec(),
            content,
            bytes: bytes.to_vec(),
            id: record_id(bytes),
        }
    }
}

pub(crate) fn signature_valid(decoded: &Decoded<'_>) -> bool {
    crate::identity::verify(
        &decoded.header.sender,
        SIGN_DOMAIN,
        decoded.signed,
        &decoded.signature,
    )
}

/// [`signature_valid`] with the sender's key already decompressed (`None`:
/// the key bytes are not a valid point, as [`crate::identity::verify`] sees it).
pub(crate) fn signature_valid_with(
    decoded: &Decoded<'_>,
    key: Option<&ed25519_dalek::VerifyingKey>,
) -> bool {
    key.is_some_and(|key| {
        crate::identity::verify_with_key(key, SIGN_DOMAIN, decoded.signed, &decoded.signature)
    })
}
