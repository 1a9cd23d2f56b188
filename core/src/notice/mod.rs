//! Document-update notices: the seed's document-management and
//! file-replication use of the sequenced mailbox.
//!
//! A document is its owner's key plus a document name; its mailbox is
//! derived from both, so nobody else can create notices for it. The owner
//! names editors in a signed editor list; an editor's notice carries that
//! list, so storing peers and readers check it with the one validator. A
//! watcher delivers notices in version order from a persisted cursor and
//! reports gaps, conflicts (two notices for one version) and notices
//! rejected as from non-editors. Content up to 4 KiB rides inline; up to
//! 256 KiB travels as a verified chain of chunk records (`content`).

pub mod content;
mod editors;
mod model;

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::broadcast;
use tracing::{debug, info};

pub use content::ContentError;
pub use model::{Conflict, DocRef, DocUpdates, Notice, NoticeEvent, UpdateContent};

use crate::identity::{Identity, PublicKey};
use crate::mailbox::{Dht, Draft, Mailbox, MailboxError};
use crate::record::body::{
    BodyRules, DocNotice, EditorList, FormatError, MAX_INLINE_BYTES, content_hash, content_mailbox,
};
use crate::record::{Content, Kind, Record, RecordError, Validator};
use crate::store::{Store, StoreError};

/// Lifetimes of the notice layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoticeConfig {
    /// How long a notice (and its content chunks) stays on the DHT.
    pub notice_lifetime_secs: u64,
    /// How long an editor list stays on the DHT (and an editor's grant is
    /// accepted by storing peers).
    pub editor_list_lifetime_secs: u64,
}

impl Default for NoticeConfig {
    fn default() -> Self {
        Self {
            notice_lifetime_secs: 7 * 86_400,
            editor_list_lifetime_secs: 30 * 86_400,
        }
    }
}

/// Why a notice operation failed.
#[derive(Debug, thiserror::Error)]
pub enum NoticeError {
    /// The DHT or mailbox failed.
    #[error(transparent)]
    Mailbox(#[from] MailboxError),
    /// The local database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An input does not have the shape the protocol requires.
    #[error("invalid input: {0}")]
    InvalidInput(#[from] RecordError),
    /// Only the owner names editors.
    #[error("only the document's owner can name editors")]
    NotOwner,
    /// This user is neither the owner nor named in the owner's editor list.
    #[error("not an editor of this document (no editor list of the owner names this key)")]
    NotEditor,
    /// The document is not watched (watch it first).
    #[error("this document is not watched")]
    NotWatched,
    /// The content could not be had or did not verify.
    #[error(transparent)]
    Content(#[from] ContentError),
}

impl From<FormatError> for NoticeError {
    fn from(error: FormatError) -> Self {
        NoticeError::InvalidInput(RecordError::Format(error))
    }
}

/// The notice layer of one user over one DHT and one store.
pub struct NoticeBoard<D> {
    identity: Identity,
    store: Arc<Store>,
    mailbox: Mailbox<D>,
    validator: Validator,
    config: NoticeConfig,
    events: broadcast::Sender<NoticeEvent>,
    fetch_lock: tokio::sync::Mutex<()>,
}

impl<D: Dht> NoticeBoard<D> {
    /// The notice layer for the identity kept in `store`.
    pub fn new(
        store: Arc<Store>,
        mailbox: Mailbox<D>,
        config: NoticeConfig,
    ) -> Result<Self, NoticeError> {
        let (identity, _) = store.load_or_create_identity()?;
        let validator = mailbox.validator().clone();
        let (events, _) = broadcast::channel(256);
        Ok(Self {
            identity,
            store,
            mailbox,
            validator,
            config,
            events,
            fetch_lock: tokio::sync::Mutex::new(()),
        })
    }

    /// Notice events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<NoticeEvent> {
        self.events.subscribe()
    }

    /// This user's document `name`.
    pub fn own_doc(&self, name: &str) -> Result<DocRef, NoticeError> {
        DocRef::new(self.identity.public_key(), name)
    }

    /// Publishes a new editor list of this user's document `doc_name`,
    /// replacing earlier ones for readers. Returns the signed record.
    pub async fn set_editors(
        &self,
        doc_name: &str,
        editors: &[PublicKey],
    ) -> Result<Record, NoticeError> {
        let doc = self.own_doc(doc_name)?;
        let list = EditorList {
            doc_name: doc.name.clone(),
            list_version: self.store.next_list_version(&doc.name)?,
            editors: editors.to_vec(),
        };
        let record = self
            .mailbox
            .publish(
                &self.identity,
                Draft {
                    kind: Kind::EditorList,
                    mailbox: doc.mailbox(),
                    body: list.encode(),
                    lifetime_secs: self.config.editor_list_lifetime_secs,
                },
            )
            .await?;
        info!(doc = %doc.name, version = list.list_version, editors = editors.len(), "editor list published");
        Ok(record)
    }

    /// Announces version `version` of `doc` (owned, or edited by this user
    /// under the owner's editor list), carrying or announcing its content.
    pub async fn notify_update(
        &self,
        doc: &DocRef,
        version: u64,
        change_summary: &str,
        content: UpdateContent,
    ) -> Result<Record, NoticeError> {
        let editor_grant = if doc.owner == self.identity.public_key() {
            None
        } else {
            Some(self.find_grant(doc).await?)
        };
        let mut notice = DocNotice {
            owner: doc.owner,
            doc_name: doc.name.clone(),
            version,
            content_hash: [0; 32],
            size: 0,
            change_summary: crate::names::nfc(change_summary),
            inline: None,
            chain_head: None,
            chunks: 0,
            editor_grant,
        };
        let mut chunks = Vec::new();
        match content {
            UpdateContent::Announce { content_hash, size } => {
                notice.content_hash = content_hash;
                notice.size = size;
            }
            UpdateContent::Carry(data) => {
                notice.content_hash = content_hash(&data);
                notice.size = data.len() as u64;
                if data.len() <= MAX_INLINE_BYTES {
                    notice.inline = Some(data);
                } else {
                    let (chain, head) = content::split(&data)?;
                    notice.chain_head = Some(head);
                    notice.chunks = chain.len() as u16;
                    chunks = chain;
                }
            }
        }
        // Chunks first: a reader that sees the notice finds its content.
        for chunk in &chunks {
            self.mailbox
                .publish(
                    &self.identity,
                    Draft {
                        kind: Kind::ContentChunk,
                        mailbox: content_mailbox(&chunk.content_hash),
                        body: chunk.encode(),
                        lifetime_secs: self.config.notice_lifetime_secs,
                    },
                )
                .await?;
        }
        let record = self
            .mailbox
            .publish(
                &self.identity,
                Draft {
                    kind: Kind::DocNotice,
                    mailbox: doc.mailbox(),
                    body: notice.encode(),
                    lifetime_secs: self.config.notice_lifetime_secs,
                },
            )
            .await?;
        info!(doc = %doc.name, version, chunks = chunks.len(), "update notified");
        Ok(record)
    }

    /// Starts watching `doc` from its first version; false if already watched.
    pub fn watch(&self, doc: &DocRef) -> Result<bool, NoticeError> {
        Ok(self
            .store
            .add_watch(&doc.mailbox(), &doc.owner, &doc.name)?)
    }

    /// Stops watching `doc`; false if it was not watched.
    pub fn unwatch(&self, doc: &DocRef) -> Result<bool, NoticeError> {
        Ok(self.store.remove_watch(&doc.mailbox())?)
    }

    /// The documents watched, with the last version delivered.
    pub fn watching(&self) -> Result<Vec<(DocRef, u64)>, NoticeError> {
        self.store
            .watches()?
            .into_iter()
            .map(|row| Ok((DocRef::new(row.owner, &row.name)?, row.last_version)))
            .collect()
    }

    /// Fetches every watched document.
    pub async fn fetch_all_watched(&self) -> Vec<(DocRef, Result<DocUpdates, NoticeError>)> {
        let mut reports = Vec::new();
        for (doc, _) in self.watching().unwrap_or_default() {
            let updates = self.fetch_updates(&doc).await;
            reports.push((doc, updates));
        }
        reports
    }

    /// Delivers the notices of watched `doc` not delivered before, in
    /// version order, and reports gaps, conflicts and rejected notices.
    pub async fn fetch_updates(&self, doc: &DocRef) -> Result<DocUpdates, NoticeError> {
        let _one_at_a_time = self.fetch_lock.lock().await;
        let mailbox = doc.mailbox();
        let mut watch = self.store.watch(&mailbox)?.ok_or(NoticeError::NotWatched)?;
        let policy = self.validator.policy();
        let longest = policy
            .max_lifetime(Kind::DocNotice)
            .max(policy.max_lifetime(Kind::EditorList));
        let fetched = self.mailbox.fetch_within(mailbox, longest).await?;
        let fetched_invalid = fetched.stats.rejected;
        let mut updates = DocUpdates {
            rejected: u64::from(fetched_invalid),
            ..DocUpdates::default()
        };
        let newest = editors::newest_list(&watch, &fetched.records);
        let mut rejected_ids = Vec::new();
        let mut by_version: BTreeMap<u64, Vec<(Record, DocNotice)>> = BTreeMap::new();
        for record in fetched.records {
            let Content::DocNotice(notice) = record.content.clone() else {
                continue;
            };
            if self.store.has_notice(&record.id())? {
                continue;
            }
            if !editors::still_editor(&record, &notice, newest.as_ref()) {
                // Remembered under version 0 so it is counted once.
                updates.rejected += 1;
                rejected_ids.push((record.id(), 0, record.bytes().to_vec()));
                continue;
            }
            by_version
                .entry(notice.version)
                .or_default()
                .push((record, notice));
        }
        let mut delivered = rejected_ids;
        for (version, mut group) in by_version {
            group.sort_by_key(|(record, _)| record.id());
            let already = self.store.delivered_at_version(&mailbox, version)?;
            if version <= watch.last_version && already > 0 {
                // Another notice of this version was delivered before.
                updates.conflicts.push(conflict(version, &group));
                delivered.extend(group.iter().map(|(record, notice)| {
                    (record.id(), notice.version, record.bytes().to_vec())
                }));
                continue;
            }
            let late = version <= watch.last_version;
            if !late && version > watch.last_version + 1 {
                updates.gaps.push((watch.last_version + 1, version - 1));
            }
            if group.len() > 1 {
                updates.conflicts.push(conflict(version, &group));
            }
            for (record, _) in &group {
                delivered.push((record.id(), version, record.bytes().to_vec()));
            }
            let (record, body) = group.swap_remove(0);
            updates.notices.push(Notice {
                id: record.id(),
                doc: doc.clone(),
                sender: record.header.sender,
                created_at: record.header.created_at,
                body,
                late,
            });
            watch.last_version = watch.last_version.max(version);
        }
        // Invalid values have no id to remember and are met again by every
        // fetch; only revoked editors' notices (remembered) add up here.
        watch.rejected += updates.rejected - u64::from(fetched_invalid);
        watch.editor_list = newest.map(|(bytes, _, _)| bytes);
        self.store.record_delivery(&watch, &delivered)?;
        self.emit(doc, &updates);
        debug!(doc = %doc.name, new = updates.notices.len(), gaps = updates.gaps.len(),
            conflicts = updates.conflicts.len(), rejected = updates.rejected, "document fetched");
        Ok(updates)
    }

    /// The new version's content carried by `notice`: inline, or fetched
    /// chunk by chunk along its chain and verified.
    pub async fn content(&self, notice: &DocNotice) -> Result<Vec<u8>, NoticeError> {
        if let Some(data) = &notice.inline {
            return Ok(data.clone());
        }
        let head = notice.chain_head.ok_or(ContentError::NotCarried)?;
        let longest = self.validator.policy().max_lifetime(Kind::ContentChunk);
        let fetched = self
            .mailbox
            .fetch_within(content_mailbox(&notice.content_hash), longest)
            .await?;
        let candidates: Vec<_> = fetched
            .records
            .into_iter()
            .filter_map(|record| match record.content {
                Content::ContentChunk(chunk) if chunk.content_hash == notice.content_hash => {
                    Some(chunk)
                }
                _ => None,
            })
            .collect();
        Ok(content::reassemble(
            head,
            notice.chunks,
            notice.size,
            notice.content_hash,
            &candidates,
        )?)
    }

    /// The newest editor list of `doc` naming this user, as signed.
    async fn find_grant(&self, doc: &DocRef) -> Result<Vec<u8>, NoticeError> {
        let longest = self.validator.policy().max_lifetime(Kind::EditorList);
        let fetched = self.mailbox.fetch_within(doc.mailbox(), longest).await?;
        let me = self.identity.public_key();
        fetched
            .records
            .iter()
            .filter_map(|record| match &record.content {
                Content::EditorList(list) if record.header.sender == doc.owner => {
                    Some((list.list_version, record))
                }
                _ => None,
            })
            .max_by_key(|(version, _)| *version)
            .filter(|(_, record)| matches!(&record.content, Content::EditorList(list) if list.names(&me)))
            .map(|(_, record)| record.bytes().to_vec())
            .ok_or(NoticeError::NotEditor)
    }

    fn emit(&self, doc: &DocRef, updates: &DocUpdates) {
        let mut events = Vec::new();
        for &(from, to) in &updates.gaps {
            events.push(NoticeEvent::Gap {
                doc: doc.clone(),
                from,
                to,
            });
        }
        for conflict in &updates.conflicts {
            events.push(NoticeEvent::Conflict {
                doc: doc.clone(),
                conflict: conflict.clone(),
            });
        }
        events.extend(
            updates
                .notices
                .iter()
                .map(|notice| NoticeEvent::Updated(Box::new(notice.clone()))),
        );
        if updates.rejected > 0 {
            events.push(NoticeEvent::Rejected {
                doc: doc.clone(),
                count: updates.rejected,
            });
        }
        for event in events {
            let _ = self.events.send(event);
        }
    }
}

fn conflict(version: u64, group: &[(Record, DocNotice)]) -> Conflict {
    Conflict {
        version,
        notice_ids: group.iter().map(|(record, _)| record.id()).collect(),
        senders: group
            .iter()
            .map(|(record, _)| record.header.sender)
            .collect(),
    }
}
