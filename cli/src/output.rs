//! What commands print: one stable JSON schema (`--json`, documented in
//! the README under "JSON output") and the human text for the same data.
//!
//! Keys are bytes shown as lower-case hex, times as Unix seconds, and every
//! document is one JSON object on stdout with a `schema` field naming its
//! shape (`pigeonhole.<name>/1`); fields are only ever added within a
//! version. Human text and progress go elsewhere (progress to stderr).

use std::collections::BTreeMap;

use pigeonhole::buddy::{Buddy, DirectoryClaim, PendingRequest, SentRequest, SyncReport};
use pigeonhole::feed::{FeedRef, Post};
use pigeonhole::notice::{DocRef, Notice};
use pigeonhole::record::body::{ContactField, ContactFieldKind, DocNotice};
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
    /// Every claim to `sender_name` as last looked up (empty without one).
    pub claims: Vec<ClaimOut>,
    /// Whether more than one key claims `sender_name`.
    pub contested: bool,
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
            claims: request.claims.iter().map(ClaimOut::from).collect(),
            contested: request.contested,
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
            if self.contested {
                text.push_str(&format!(
                    ", directory name {name} (CONTESTED: {} keys claim it)",
                    self.claims.len()
                ));
            } else {
                text.push_str(&format!(", directory name {name} (verified)"));
            }
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
    /// `pending`, `accepted`, `declined` or `withdrawn`.
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
                SentStatus::Withdrawn => "withdrawn",
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

/// A feed post (`feed post`, `feed read`).
#[derive(Clone, Debug, Serialize)]
pub struct PostOut {
    /// This version's record id.
    pub id: String,
    /// The stable id (the first version's record id; the RSS guid).
    pub guid: String,
    /// The author's number for this version.
    pub number: u64,
    /// Title.
    pub title: String,
    /// Link, if any.
    pub link: Option<String>,
    /// Text.
    pub summary: String,
    /// Publication time.
    pub published_at: u64,
    /// When this version was signed.
    pub created_at: u64,
    /// Whether this version replaced an earlier one (an edit).
    pub edited: bool,
}

impl From<&Post> for PostOut {
    fn from(post: &Post) -> Self {
        Self {
            id: hex::encode(post.id),
            guid: hex::encode(post.guid),
            number: post.number,
            title: post.title.clone(),
            link: post.link.clone(),
            summary: post.summary.clone(),
            published_at: post.published_at,
            created_at: post.created_at,
            edited: post.replaces.is_some(),
        }
    }
}

impl PostOut {
    /// A few lines per post.
    pub fn human(&self) -> String {
        let mut text = format!(
            "#{}  {}  {}",
            self.number,
            pigeonhole::feed::rfc2822(self.published_at),
            self.title
        );
        if self.edited {
            text.push_str("  (edited)");
        }
        for line in self.summary.lines() {
            text.push_str(&format!("\n    {line}"));
        }
        if let Some(link) = &self.link {
            text.push_str(&format!("\n    {link}"));
        }
        text
    }
}

/// A feed: its reference and what it is made of.
#[derive(Clone, Debug, Serialize)]
pub struct FeedOut {
    /// The reference text (PHF-…).
    pub feed: String,
    /// The feed's name.
    pub name: String,
    /// The author's key.
    pub author: String,
}

impl From<&FeedRef> for FeedOut {
    fn from(feed: &FeedRef) -> Self {
        Self {
            feed: feed.to_string(),
            name: feed.name.clone(),
            author: feed.author.to_hex(),
        }
    }
}

/// A document: its owner and name.
#[derive(Clone, Debug, Serialize)]
pub struct DocOut {
    /// The owner's key.
    pub owner: String,
    /// The document's name.
    pub name: String,
}

impl From<&DocRef> for DocOut {
    fn from(doc: &DocRef) -> Self {
        Self {
            owner: doc.owner.to_hex(),
            name: doc.name.clone(),
        }
    }
}

/// How a notice carries its content: `inline`, `chain` or `announced`.
pub fn carried(notice: &DocNotice) -> &'static str {
    match (&notice.inline, &notice.chain_head) {
        (Some(_), _) => "inline",
        (None, Some(_)) => "chain",
        (None, None) => "announced",
    }
}

/// A delivered document notice with its content (`doc updates`).
#[derive(Clone, Debug, Serialize)]
pub struct NoticeOut {
    /// The notice's record id.
    pub id: String,
    /// The version it announces.
    pub version: u64,
    /// Who sent it (the owner or an editor).
    pub sender: String,
    /// When signed.
    pub created_at: u64,
    /// What changed.
    pub change_summary: String,
    /// SHA-256 of the content.
    pub content_hash: String,
    /// Content size in bytes.
    pub size: u64,
    /// `inline`, `chain` or `announced`.
    pub carried: &'static str,
    /// Arrived after later versions.
    pub late: bool,
    /// The content as text, when it is UTF-8.
    pub content_text: Option<String>,
    /// The content in standard base64 (whenever it was had).
    pub content_base64: Option<String>,
    /// Why the content could not be had, if so.
    pub content_error: Option<String>,
}

impl NoticeOut {
    /// The notice, with its content or why it could not be had.
    pub fn new(notice: &Notice, content: Result<Vec<u8>, String>) -> Self {
        let (text, base64, error) = match content {
            Ok(data) => (
                String::from_utf8(data.clone()).ok(),
                Some(data_encoding::BASE64.encode(&data)),
                None,
            ),
            Err(error) => (None, None, Some(error)),
        };
        Self {
            id: hex::encode(notice.id),
            version: notice.body.version,
            sender: notice.sender.to_hex(),
            created_at: notice.created_at,
            change_summary: notice.body.change_summary.clone(),
            content_hash: hex::encode(notice.body.content_hash),
            size: notice.body.size,
            carried: carried(&notice.body),
            late: notice.late,
            content_text: text,
            content_base64: base64,
            content_error: error,
        }
    }
}
