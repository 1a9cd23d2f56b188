//! The records the bindings return, with ids and keys as hex strings.
//!
//! Why strings: a Kotlin `ByteArray` compares by reference and a Swift
//! `Data` reads poorly in logs; a lowercase hex string is equal when the
//! bytes are, works as a map key in every language, and is what the CLI
//! prints. Request ids and public keys are 64 hex characters (32 bytes).

use pigeonhole::buddy;
use pigeonhole::identity::PublicKey;
use pigeonhole::record::body::{ContactField, ContactFieldKind};
use pigeonhole::store::buddies::SentStatus;

use crate::error::PigeonholeError;

/// Parses a 32-byte id or key from 64 hex characters.
pub fn parse_hex32(what: &str, text: &str) -> Result<[u8; 32], PigeonholeError> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut bytes).map_err(|error| {
        PigeonholeError::invalid(format!("{what} must be 64 hex characters: {error}"))
    })?;
    Ok(bytes)
}

/// Parses a public key from 64 hex characters.
pub fn parse_key(text: &str) -> Result<PublicKey, PigeonholeError> {
    parse_hex32("a public key", text).map(PublicKey)
}

/// What kind of contact detail is shared with a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum ContactDetailKind {
    /// `local@domain.tld`.
    Email,
    /// E.164: `+` and 6 to 15 digits.
    Phone,
    /// An http(s) link.
    Url,
    /// A handle in another network: 1 to 64 of `A-Z a-z 0-9 . _ - @ :`.
    Handle,
}

/// One contact detail shared with a request; each kind at most once.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct ContactDetail {
    /// What it is.
    pub kind: ContactDetailKind,
    /// Its value, in the shape its kind requires.
    pub value: String,
}

impl From<ContactDetail> for ContactField {
    fn from(detail: ContactDetail) -> Self {
        let kind = match detail.kind {
            ContactDetailKind::Email => ContactFieldKind::Email,
            ContactDetailKind::Phone => ContactFieldKind::Phone,
            ContactDetailKind::Url => ContactFieldKind::Url,
            ContactDetailKind::Handle => ContactFieldKind::Handle,
        };
        ContactField {
            kind,
            value: detail.value,
        }
    }
}

impl From<ContactField> for ContactDetail {
    fn from(field: ContactField) -> Self {
        let kind = match field.kind {
            ContactFieldKind::Email => ContactDetailKind::Email,
            ContactFieldKind::Phone => ContactDetailKind::Phone,
            ContactFieldKind::Url => ContactDetailKind::Url,
            ContactFieldKind::Handle => ContactDetailKind::Handle,
        };
        ContactDetail {
            kind,
            value: field.value,
        }
    }
}

/// A checked buddy request waiting for this user's answer.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct PendingRequest {
    /// Its id: pass it to `accept` or `decline`.
    pub id: String,
    /// The requester's public key.
    pub from: String,
    /// How the requester wants to be shown.
    pub display_name: String,
    /// Whether that name mixes alphabets or imitates an ASCII name (e.g.
    /// "Аlice" with a Cyrillic А): show a warning next to it.
    pub name_suspicious: bool,
    /// Their note to this user.
    pub message: String,
    /// Their directory name, when the request was verified through the
    /// directory.
    pub directory_name: Option<String>,
    /// Contact details they shared.
    pub contacts: Vec<ContactDetail>,
    /// When it was sent (Unix seconds).
    pub created_at: u64,
    /// When it expires (Unix seconds).
    pub expires_at: u64,
    /// Every claim to `directory_name`, as last looked up (one is the
    /// requester's key); empty when the request gives no directory name.
    pub claims: Vec<DirectoryClaim>,
    /// More than one key claims `directory_name`: anyone can claim any
    /// name, so show the conflict rather than trust the name.
    pub contested: bool,
}

impl From<buddy::PendingRequest> for PendingRequest {
    fn from(request: buddy::PendingRequest) -> Self {
        Self {
            id: hex::encode(request.id),
            from: request.from.to_hex(),
            name_suspicious: request.name_check().suspicious(),
            display_name: request.body.display_name,
            message: request.body.message,
            directory_name: request.body.sender_name,
            contacts: request.body.contacts.into_iter().map(Into::into).collect(),
            created_at: request.created_at,
            expires_at: request.expires_at,
            claims: request.claims.into_iter().map(Into::into).collect(),
            contested: request.contested,
        }
    }
}

/// Where a request this user sent stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum SentRequestStatus {
    /// No answer yet.
    Pending,
    /// The recipient accepted: they are a buddy.
    Accepted,
    /// The recipient declined.
    Declined,
    /// This user withdrew it unanswered; a later answer is ignored.
    Withdrawn,
}

/// A request this user sent.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct SentRequest {
    /// Its id (the `requestId` of the events about it).
    pub id: String,
    /// The recipient's public key.
    pub to: String,
    /// Where it stands.
    pub status: SentRequestStatus,
    /// When it was sent (Unix seconds).
    pub created_at: u64,
    /// When it expires (Unix seconds).
    pub expires_at: u64,
}

impl From<buddy::SentRequest> for SentRequest {
    fn from(request: buddy::SentRequest) -> Self {
        let status = match request.status {
            SentStatus::Pending => SentRequestStatus::Pending,
            SentStatus::Accepted => SentRequestStatus::Accepted,
            SentStatus::Declined => SentRequestStatus::Declined,
            SentStatus::Withdrawn => SentRequestStatus::Withdrawn,
        };
        Self {
            id: hex::encode(request.id),
            to: request.to.to_hex(),
            status,
            created_at: request.created_at,
            expires_at: request.expires_at,
        }
    }
}

/// Someone on the buddy list: allowed to contact this user.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Buddy {
    /// Their public key.
    pub public_key: String,
    /// Their display name.
    pub display_name: String,
    /// Their contact code, when their inbox token is known.
    pub contact_code: Option<String>,
    /// When they were added (Unix seconds).
    pub added_at: u64,
}

impl From<buddy::Buddy> for Buddy {
    fn from(buddy: buddy::Buddy) -> Self {
        Self {
            public_key: buddy.public_key.to_hex(),
            display_name: buddy.display_name,
            contact_code: buddy.contact_code.map(|code| code.to_string()),
            added_at: buddy.added_at,
        }
    }
}

/// One claim to a directory name. Anyone can claim any name: when a
/// lookup returns several claims, show them all and let the user choose.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct DirectoryClaim {
    /// The key that signed the claim.
    pub public_key: String,
    /// The display name it gave.
    pub display_name: String,
    /// Whether that name mixes alphabets or imitates an ASCII name.
    pub name_suspicious: bool,
    /// When the claim was made (Unix seconds).
    pub created_at: u64,
    /// When it expires (Unix seconds).
    pub expires_at: u64,
}

impl From<buddy::DirectoryClaim> for DirectoryClaim {
    fn from(claim: buddy::DirectoryClaim) -> Self {
        Self {
            public_key: claim.public_key.to_hex(),
            name_suspicious: claim.name_check().suspicious(),
            display_name: claim.display_name,
            created_at: claim.created_at,
            expires_at: claim.expires_at,
        }
    }
}

/// What one inbox sync did.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct SyncReport {
    /// New pending requests.
    pub requests_received: u32,
    /// Answers to this user's requests processed.
    pub answers_received: u32,
    /// Requests withdrawn by their senders.
    pub withdrawn: u32,
    /// Records found and dropped (blocked, invalid, replayed, over caps…).
    pub dropped: u32,
    /// Whether this user's directory entry was published again.
    pub directory_republished: bool,
}

impl From<buddy::SyncReport> for SyncReport {
    fn from(report: buddy::SyncReport) -> Self {
        Self {
            requests_received: report.requests_received,
            answers_received: report.answers_received,
            withdrawn: report.withdrawn,
            dropped: report.dropped_total(),
            directory_republished: report.directory_republished,
        }
    }
}

/// Where the node stands on the network.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct NodeStatus {
    /// This node's libp2p peer id.
    pub peer_id: String,
    /// The addresses it listens on, with their bound ports; give one (with
    /// `/p2p/<peer id>`) to another node's `addPeer`.
    pub listen_addresses: Vec<String>,
    /// Peers in the routing table.
    pub routing_peers: u64,
    /// Peers with an open connection.
    pub connected_peers: u64,
    /// Inbound records accepted since start.
    pub records_accepted: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_ids_must_be_32_bytes() {
        let id = [7u8; 32];
        assert_eq!(parse_hex32("id", &hex::encode(id)).expect("valid"), id);
        for bad in ["", "abc", &"zz".repeat(32), &"00".repeat(33)] {
            assert!(matches!(
                parse_hex32("id", bad),
                Err(PigeonholeError::InvalidInput { .. })
            ));
        }
    }

    #[test]
    fn contact_details_round_trip() {
        for kind in [
            ContactDetailKind::Email,
            ContactDetailKind::Phone,
            ContactDetailKind::Url,
            ContactDetailKind::Handle,
        ] {
            let detail = ContactDetail {
                kind,
                value: "v".into(),
            };
            assert_eq!(
                ContactDetail::from(ContactField::from(detail.clone())),
                detail
            );
        }
    }
}
