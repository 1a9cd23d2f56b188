//! Document notices through the bindings: editors, notify, watch, fetch,
//! content.
//!
//! Why its own module: the notice layer ([`pigeonhole::notice::NoticeBoard`])
//! has its own values (documents, notices, gaps, conflicts) that cross the
//! boundary here. A document has no shareable text form, so it crosses as a
//! [`DocumentRef`] record (owner key in hex + name); ids and hashes are 64
//! hex characters like every other id, content is bytes. The methods are
//! extra `PigeonholeNode` methods, forwarded like the others: every call is
//! a task on the bindings' runtime that awaits the SDK's
//! [`pigeonhole_sdk::Notices`], which runs the SQLite and crypto work on
//! the runtime's blocking pool.

use pigeonhole::notice::{self, DocRef, UpdateContent};
use pigeonhole::record::body::DocNotice;

use crate::error::PigeonholeError;
use crate::node::PigeonholeNode;
use crate::runtime::run;
use crate::types::{parse_hex32, parse_key};

/// A document: its owner and its name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, uniffi::Record)]
pub struct DocumentRef {
    /// The owner's public key (64 hex characters).
    pub owner: String,
    /// The document's name (1–64 characters, one line).
    pub name: String,
}

impl From<DocRef> for DocumentRef {
    fn from(doc: DocRef) -> Self {
        Self {
            owner: doc.owner.to_hex(),
            name: doc.name,
        }
    }
}

impl DocumentRef {
    /// The core's document; `InvalidInput` on a bad key or name.
    pub fn to_core(&self) -> Result<DocRef, PigeonholeError> {
        Ok(DocRef::new(parse_key(&self.owner)?, &self.name)?)
    }
}

/// What an update says about the new version's content.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum DocumentContent {
    /// Carry the content (up to 256 KiB): inline up to 4 KiB, else as a
    /// chain of chunks that `documentContent` fetches and verifies.
    Carry {
        /// The new version's bytes.
        data: Vec<u8>,
    },
    /// Announce only: the content travels some other way.
    Announce {
        /// SHA-256 of the content (64 hex characters).
        content_hash: String,
        /// Its size in bytes.
        size: u64,
    },
}

impl DocumentContent {
    fn to_core(&self) -> Result<UpdateContent, PigeonholeError> {
        Ok(match self {
            Self::Carry { data } => UpdateContent::Carry(data.clone()),
            Self::Announce { content_hash, size } => UpdateContent::Announce {
                content_hash: parse_hex32("a content hash", content_hash)?,
                size: *size,
            },
        })
    }
}

/// A delivered notice: a new version of a watched document.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct DocumentNotice {
    /// The notice's id.
    pub id: String,
    /// The document.
    pub doc: DocumentRef,
    /// Who published it: the owner or an editor (public key).
    pub sender: String,
    /// When it was signed (unix seconds).
    pub created_at: u64,
    /// The new version number, from 1.
    pub version: u64,
    /// SHA-256 of the new content (64 hex characters).
    pub content_hash: String,
    /// Size of the new content in bytes.
    pub size: u64,
    /// What changed.
    pub change_summary: String,
    /// The whole content when it rode inline (up to 4 KiB).
    pub inline_content: Option<Vec<u8>>,
    /// The id of the first chunk when the content travels as a chain.
    pub chain_head: Option<String>,
    /// How many chunks the chain has (0 without a chain).
    pub chunks: u16,
    /// Arrived after later versions were delivered (not a conflict).
    pub late: bool,
}

impl From<notice::Notice> for DocumentNotice {
    fn from(notice: notice::Notice) -> Self {
        let body = notice.body;
        Self {
            id: hex::encode(notice.id),
            doc: notice.doc.into(),
            sender: notice.sender.to_hex(),
            created_at: notice.created_at,
            version: body.version,
            content_hash: hex::encode(body.content_hash),
            size: body.size,
            change_summary: body.change_summary,
            inline_content: body.inline,
            chain_head: body.chain_head.map(hex::encode),
            chunks: body.chunks,
            late: notice.late,
        }
    }
}

impl DocumentNotice {
    /// The body fields `content` reads (the editor grant is not needed to
    /// find or verify content, so it does not cross the boundary).
    fn to_body(&self) -> Result<DocNotice, PigeonholeError> {
        let doc = self.doc.to_core()?;
        let chain_head = match &self.chain_head {
            Some(head) => Some(parse_hex32("a chain head", head)?),
            None => None,
        };
        Ok(DocNotice {
            owner: doc.owner,
            doc_name: doc.name,
            version: self.version,
            content_hash: parse_hex32("a content hash", &self.content_hash)?,
            size: self.size,
            change_summary: self.change_summary.clone(),
            inline: self.inline_content.clone(),
            chain_head,
            chunks: self.chunks,
            editor_grant: None,
        })
    }
}

/// Versions never seen: `fromVersion..=toVersion`.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct VersionGap {
    /// First missing version.
    pub from_version: u64,
    /// Last missing version.
    pub to_version: u64,
}

/// Two or more different notices for one version.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct DocumentConflict {
    /// The version.
    pub version: u64,
    /// The notice ids, lowest first; the first is the one delivered.
    pub notice_ids: Vec<String>,
    /// Who sent them (public keys), in the same order.
    pub senders: Vec<String>,
}

impl From<notice::Conflict> for DocumentConflict {
    fn from(conflict: notice::Conflict) -> Self {
        Self {
            version: conflict.version,
            notice_ids: conflict.notice_ids.into_iter().map(hex::encode).collect(),
            senders: conflict.senders.iter().map(|key| key.to_hex()).collect(),
        }
    }
}

/// What one `fetchDocumentUpdates` found.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct DocumentUpdates {
    /// New notices, in version order.
    pub notices: Vec<DocumentNotice>,
    /// Versions skipped.
    pub gaps: Vec<VersionGap>,
    /// Versions with more than one notice.
    pub conflicts: Vec<DocumentConflict>,
    /// Notices rejected as from non-editors (or failing validation).
    pub rejected: u64,
}

impl From<notice::DocUpdates> for DocumentUpdates {
    fn from(updates: notice::DocUpdates) -> Self {
        Self {
            notices: updates.notices.into_iter().map(Into::into).collect(),
            gaps: updates
                .gaps
                .into_iter()
                .map(|(from_version, to_version)| VersionGap {
                    from_version,
                    to_version,
                })
                .collect(),
            conflicts: updates.conflicts.into_iter().map(Into::into).collect(),
            rejected: updates.rejected,
        }
    }
}

/// A document this user watches.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct WatchedDocument {
    /// The document.
    pub doc: DocumentRef,
    /// The last version delivered (0 before any).
    pub last_version: u64,
}

#[uniffi::export]
impl PigeonholeNode {
    /// This user's document `name` (share the owner key and name with
    /// watchers). `InvalidInput` on a bad name.
    pub fn own_document(&self, name: String) -> Result<DocumentRef, PigeonholeError> {
        let node = self.live()?;
        Ok(node.notices().own_doc(&name)?.into())
    }

    /// Names the editors (public keys) of this user's document `docName`,
    /// replacing the earlier list for readers. Returns the list's record id.
    pub async fn set_document_editors(
        &self,
        doc_name: String,
        editors: Vec<String>,
    ) -> Result<String, PigeonholeError> {
        let node = self.live()?;
        let editors = editors
            .iter()
            .map(|key| parse_key(key))
            .collect::<Result<Vec<_>, _>>()?;
        run(async move {
            let record = node.notices().set_editors(&doc_name, &editors).await?;
            Ok(hex::encode(record.id()))
        })
        .await
    }

    /// Announces version `version` of `doc` (this user's, or one they edit
    /// under the owner's editor list) with `content`. Returns the notice's
    /// id. `NotPermitted` if this user may not edit it.
    #[uniffi::method(default(change_summary = ""))]
    pub async fn notify_document_update(
        &self,
        doc: DocumentRef,
        version: u64,
        content: DocumentContent,
        change_summary: String,
    ) -> Result<String, PigeonholeError> {
        let node = self.live()?;
        let doc = doc.to_core()?;
        let content = content.to_core()?;
        run(async move {
            let record = node
                .notices()
                .notify_update(&doc, version, &change_summary, content)
                .await?;
            Ok(hex::encode(record.id()))
        })
        .await
    }

    /// Watches `doc` from its first version; false if watched already.
    pub async fn watch_document(&self, doc: DocumentRef) -> Result<bool, PigeonholeError> {
        let node = self.live()?;
        let doc = doc.to_core()?;
        run(async move { Ok(node.notices().watch(&doc).await?) }).await
    }

    /// Stops watching `doc`; false if it was not watched.
    pub async fn unwatch_document(&self, doc: DocumentRef) -> Result<bool, PigeonholeError> {
        let node = self.live()?;
        let doc = doc.to_core()?;
        run(async move { Ok(node.notices().unwatch(&doc).await?) }).await
    }

    /// The documents this user watches.
    pub async fn watched_documents(&self) -> Result<Vec<WatchedDocument>, PigeonholeError> {
        let node = self.live()?;
        run(async move {
            let watching = node.notices().watching().await?;
            Ok(watching
                .into_iter()
                .map(|(doc, last_version)| WatchedDocument {
                    doc: doc.into(),
                    last_version,
                })
                .collect())
        })
        .await
    }

    /// Fetches the notices of watched `doc` not delivered before, in version
    /// order, with gaps, conflicts and rejected notices (each also reaches
    /// the listeners as a document event). `NotWatched` if it is not watched.
    pub async fn fetch_document_updates(
        &self,
        doc: DocumentRef,
    ) -> Result<DocumentUpdates, PigeonholeError> {
        let node = self.live()?;
        let doc = doc.to_core()?;
        run(async move { Ok(node.notices().fetch_updates(&doc).await?.into()) }).await
    }

    /// The content `notice` carries: inline at once, or fetched chunk by
    /// chunk and verified. `Rejected` if it was only announced or does not
    /// verify.
    pub async fn document_content(
        &self,
        notice: DocumentNotice,
    ) -> Result<Vec<u8>, PigeonholeError> {
        let node = self.live()?;
        let body = notice.to_body()?;
        run(async move { Ok(node.notices().content(&body).await?) }).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pigeonhole::identity::PublicKey;

    fn core_notice(inline: Option<Vec<u8>>, chain_head: Option<[u8; 32]>) -> notice::Notice {
        let doc = DocRef::new(PublicKey([1; 32]), "plan").expect("doc");
        notice::Notice {
            id: [2; 32],
            doc: doc.clone(),
            sender: PublicKey([3; 32]),
            created_at: 4,
            body: DocNotice {
                owner: doc.owner,
                doc_name: doc.name,
                version: 5,
                content_hash: [6; 32],
                size: 7,
                change_summary: "what changed".into(),
                inline,
                chain_head,
                chunks: if chain_head.is_some() { 2 } else { 0 },
                editor_grant: None,
            },
            late: true,
        }
    }

    #[test]
    fn a_notice_crosses_and_its_body_comes_back() {
        for (inline, head) in [(Some(b"hello".to_vec()), None), (None, Some([8; 32]))] {
            let original = core_notice(inline, head);
            let crossed = DocumentNotice::from(original.clone());
            assert_eq!(crossed.id, "02".repeat(32));
            assert_eq!(crossed.doc.owner, "01".repeat(32));
            assert_eq!(crossed.sender, "03".repeat(32));
            assert_eq!((crossed.version, crossed.size), (5, 7));
            assert!(crossed.late);
            assert_eq!(crossed.to_body().expect("body"), original.body);
        }
    }

    #[test]
    fn updates_cross_with_gaps_and_conflicts() {
        let updates = DocumentUpdates::from(notice::DocUpdates {
            notices: vec![core_notice(None, None)],
            gaps: vec![(2, 3)],
            conflicts: vec![notice::Conflict {
                version: 4,
                notice_ids: vec![[5; 32], [6; 32]],
                senders: vec![PublicKey([7; 32]), PublicKey([8; 32])],
            }],
            rejected: 1,
        });
        assert_eq!(updates.notices.len(), 1);
        assert_eq!(
            updates.gaps,
            vec![VersionGap {
                from_version: 2,
                to_version: 3
            }]
        );
        let conflict = &updates.conflicts[0];
        assert_eq!(conflict.notice_ids, vec!["05".repeat(32), "06".repeat(32)]);
        assert_eq!(conflict.senders, vec!["07".repeat(32), "08".repeat(32)]);
        assert_eq!(updates.rejected, 1);
    }

    #[test]
    fn bad_documents_and_content_are_invalid_input() {
        let bad_key = DocumentRef {
            owner: "zz".into(),
            name: "plan".into(),
        };
        assert!(matches!(
            bad_key.to_core(),
            Err(PigeonholeError::InvalidInput { .. })
        ));
        let bad_name = DocumentRef {
            owner: "01".repeat(32),
            name: "two\nlines".into(),
        };
        assert!(matches!(
            bad_name.to_core(),
            Err(PigeonholeError::InvalidInput { .. })
        ));
        let bad_hash = DocumentContent::Announce {
            content_hash: "00".into(),
            size: 1,
        };
        assert!(matches!(
            bad_hash.to_core(),
            Err(PigeonholeError::InvalidInput { .. })
        ));
        assert_eq!(
            DocumentContent::Carry { data: vec![1, 2] }
                .to_core()
                .expect("carry"),
            UpdateContent::Carry(vec![1, 2])
        );
    }
}
