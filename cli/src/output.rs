//! What commands print: one stable JSON schema (`--json`, documented in
//! the README under "JSON output") and the human text for the same data.
//!
//! Keys are bytes shown as lower-case hex, times as Unix seconds, and every
//! document is one JSON object on stdout with a `schema` field naming its
//! shape (`pigeonhole.<name>/1`); fields are only ever added within a
//! version. Human text and progress go elsewhere (progress to stderr).

use std::collections::BTreeMap;

use pigeonhole::buddy::{Buddy, DirectoryClaim, PendingRequest, SentRequest, SyncReport};
use pigeonhole::record::body::{ContactField, ContactFieldKind};
use pigeonhole::store::buddies::SentStatus;
use serde::Serialize;

/// Prints `document` as JSON or `human` as text.
pub fn emit<T: Serialize>(json: bool, schema: &str, document: &T, human: impl FnOnce() -> String) {
    if json {
        let mut value = serde_json::to_value(document).expect("output types serialize");
        if let serde_json::Value::Object(map) = &mut value {
            map.insert(
                "schema".into(),
                serde_json::Value::String(format!("pigeonhole.{schema}/1")),
            );
        }
        println!("{value}");
    } else {
        let text = human();
        if !text.is_empty() {
            println!("{text}");
        }
    }
}

/// A contact detail.
#[derive(Clone, Debug, Serialize)]
pub struct ContactOut {
    /// `email`, `phone`, `url` or `handle`.
    pub kind: &'static str,
    /// The value.
    pub value: String,
}

impl From<&ContactField> for ContactOut {
    fn from(field: &ContactField) -> Self {
        let kind = match field.kind {
            ContactFieldKind::Email => "email",
            ContactFieldKind::Phone => "phone",
            ContactFieldKind::Url => "url",
            ContactFieldKind::Handle => "handle",
        };
        Self {
            kind,
            value: field.value.clone(),
        }
    }
}

/// A pending request (`requests`).
#[derive(Clone, Debug, Serialize)]
pub struct RequestOut {
    /// The request id (64 hex digits).
    pub id: String,
    /// The sender's public key.
    pub from: String,
    /// The name they gave.
    pub display_name: String,
    /// Their message.
    pub message: String,
    /// Their directory name, when the request was checked against it.
    pub sender_name: Option<String>,
    /// Contact details they shared.
    pub contacts: Vec<ContactOut>,
    /// When sent.
    pub created_at: u64,
    /// When it expires.
    pub expires_at: u64,
}

impl From<&PendingRequest> for RequestOut {
    fn from(request: &PendingRequest) -> Self {
        Self {
            id: hex::encode(request.id),
            from: request.from.to_hex(),
            display_name: request.body.display_name.clone(),
            message: request.body.message.clone(),
            sender_name: request.body.sender_name.clone(),
            contacts: request.body.contacts.iter().map(ContactOut::from).collect(),
            created_at: request.created_at,
            expires_at: request.expires_at,
        }
    }
}

impl RequestOut {
    /// One block of text per request.
    pub fn human(&self) -> String {
        let mut text = format!(
            "{}  from {} ({}…)",
            &self.id[..12],
            self.display_name,
            &self.from[..12]
        );
        if let Some(name) = &self.sender_name {
            text.push_str(&format!(", directory name {name} (verified)"));
        }
        if !self.message.is_empty() {
            text.push_str(&format!("\n    \"{}\"", self.message));
        }
        for contact in &self.contacts {
            text.push_str(&format!("\n    {}: {}", contact.kind, contact.value));
        }
        text
    }
}

/// A request this user sent (`sent`, `request send`).
#[derive(Clone, Debug, Serialize)]
pub struct SentOut {
    /// The request id.
    pub id: String,
    /// The recipient's key.
    pub to: String,
    /// `pending`, `accepted` or `declined`.
    pub status: &'static str,
    /// When sent.
    pub created_at: u64,
    /// When it expires.
    pub expires_at: u64,
}

impl From<&SentRequest> for SentOut {
    fn from(sent: &SentRequest) -> Self {
        Self {
            id: hex::encode(sent.id),
            to: sent.to.to_hex(),
            status: match sent.status {
                SentStatus::Pending => "pending",
                SentStatus::Accepted => "accepted",
                SentStatus::Declined => "declined",
            },
            created_at: sent.created_at,
            expires_at: sent.expires_at,
        }
    }
}

/// A buddy (`buddies`, `accept`).
#[derive(Clone, Debug, Serialize)]
pub struct BuddyOut {
    /// Their key.
    pub public_key: String,
    /// Their display name.
    pub display_name: String,
    /// Their contact code, when known.
    pub contact_code: Option<String>,
    /// When added.
    pub added_at: u64,
}

impl From<&Buddy> for BuddyOut {
    fn from(buddy: &Buddy) -> Self {
        Self {
            public_key: buddy.public_key.to_hex(),
            display_name: buddy.display_name.clone(),
            contact_code: buddy.contact_code.map(|code| code.to_string()),
            added_at: buddy.added_at,
        }
    }
}

/// What a sync did (`sync`).
#[derive(Clone, Debug, Serialize)]
pub struct SyncOut {
    /// New pending requests.
    pub requests_received: u32,
    /// Answers to this user's requests.
    pub answers_received: u32,
    /// Requests withdrawn by their senders.
    pub withdrawn: u32,
    /// Records not shown, by reason (`Blocked`, `Undecryptable`, …).
    pub dropped: BTreeMap<String, u32>,
    /// Whether the directory entry was published again.
    pub directory_republished: bool,
}

impl From<&SyncReport> for SyncOut {
    fn from(report: &SyncReport) -> Self {
        Self {
            requests_received: report.requests_received,
            answers_received: report.answers_received,
            withdrawn: report.withdrawn,
            dropped: report
                .dropped
                .iter()
                .map(|(reason, n)| (format!("{reason:?}"), *n))
                .collect(),
            directory_republished: report.directory_republished,
        }
    }
}

/// A directory claim (`directory claim|lookup`).
#[derive(Clone, Debug, Serialize)]
pub struct ClaimOut {
    /// The claiming key.
    pub public_key: String,
    /// The display name it gave.
    pub display_name: String,
    /// When claimed.
    pub created_at: u64,
    /// When the claim expires.
    pub expires_at: u64,
}

impl From<&DirectoryClaim> for ClaimOut {
    fn from(claim: &DirectoryClaim) -> Self {
        Self {
            public_key: claim.public_key.to_hex(),
            display_name: claim.display_name.clone(),
            created_at: claim.created_at,
            expires_at: claim.expires_at,
        }
    }
}
