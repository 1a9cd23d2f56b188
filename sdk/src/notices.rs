//! The document-notice layer as an app holds it: [`Notices`], the core's
//! [`NoticeBoard`] behind async methods that run off the caller's thread
//! and off the async workers (see the `offload` module).
//!
//! Why a wrapper and not the board itself: the board's reads and local
//! writes (`watching`, `watch`, `unwatch`) are synchronous SQLite calls
//! (with busy waits of up to 5 s) and its async calls do SQLite, record
//! validation and content hashing inline; handed out as is, they ran on an
//! app's UI thread or stalled the runtime's workers (issue 12). Every
//! method here has the board's name, arguments and result, and is `async`,
//! except the two that touch neither the database nor crypto (`own_doc`,
//! `subscribe`).

use std::sync::Arc;

use pigeonhole::identity::PublicKey;
use pigeonhole::notice::{
    DocRef, DocUpdates, NoticeBoard, NoticeError, NoticeEvent, UpdateContent,
};
use pigeonhole::record::Record;
use pigeonhole::record::body::DocNotice;
use tokio::sync::broadcast;

use crate::Peer;
use crate::offload::{blocking, offload};

/// Document notices: editors, notify, watch, fetch updates, content.
/// Cheap to clone (one shared board).
#[derive(Clone)]
pub struct Notices {
    board: Arc<NoticeBoard<Peer>>,
}

impl Notices {
    pub(crate) fn new(board: Arc<NoticeBoard<Peer>>) -> Self {
        Self { board }
    }

    /// Runs the synchronous board call `call` on the blocking pool.
    async fn read<T: Send + 'static>(
        &self,
        call: impl FnOnce(&NoticeBoard<Peer>) -> T + Send + 'static,
    ) -> T {
        let board = self.board.clone();
        blocking(move || call(&board)).await
    }

    /// Notice events from now on ([`NoticeBoard::subscribe`]).
    pub fn subscribe(&self) -> broadcast::Receiver<NoticeEvent> {
        self.board.subscribe()
    }

    /// This user's document `name` ([`NoticeBoard::own_doc`]; the key is
    /// held in memory: no database access).
    pub fn own_doc(&self, name: &str) -> Result<DocRef, NoticeError> {
        self.board.own_doc(name)
    }

    /// Publishes a new editor list of this user's document `doc_name`
    /// ([`NoticeBoard::set_editors`]).
    pub async fn set_editors(
        &self,
        doc_name: &str,
        editors: &[PublicKey],
    ) -> Result<Record, NoticeError> {
        let (board, doc_name, editors) =
            (self.board.clone(), doc_name.to_owned(), editors.to_vec());
        offload(move || async move { board.set_editors(&doc_name, &editors).await }).await
    }

    /// Announces version `version` of `doc` with its content
    /// ([`NoticeBoard::notify_update`]). Dropping the returned future does
    /// not stop the announcement: it finishes on its blocking thread.
    pub async fn notify_update(
        &self,
        doc: &DocRef,
        version: u64,
        change_summary: &str,
        content: UpdateContent,
    ) -> Result<Record, NoticeError> {
        let (board, doc, summary) = (self.board.clone(), doc.clone(), change_summary.to_owned());
        offload(move || async move { board.notify_update(&doc, version, &summary, content).await })
            .await
    }

    /// Starts watching `doc`; false if already watched
    /// ([`NoticeBoard::watch`]).
    pub async fn watch(&self, doc: &DocRef) -> Result<bool, NoticeError> {
        let doc = doc.clone();
        self.read(move |board| board.watch(&doc)).await
    }

    /// Stops watching `doc`; false if it was not watched
    /// ([`NoticeBoard::unwatch`]).
    pub async fn unwatch(&self, doc: &DocRef) -> Result<bool, NoticeError> {
        let doc = doc.clone();
        self.read(move |board| board.unwatch(&doc)).await
    }

    /// The documents watched, with the last version delivered
    /// ([`NoticeBoard::watching`]).
    pub async fn watching(&self) -> Result<Vec<(DocRef, u64)>, NoticeError> {
        self.read(|board| board.watching()).await
    }

    /// Fetches every watched document ([`NoticeBoard::fetch_all_watched`]).
    pub async fn fetch_all_watched(&self) -> Vec<(DocRef, Result<DocUpdates, NoticeError>)> {
        let board = self.board.clone();
        offload(move || async move { board.fetch_all_watched().await }).await
    }

    /// Delivers the notices of watched `doc` not delivered before
    /// ([`NoticeBoard::fetch_updates`]).
    pub async fn fetch_updates(&self, doc: &DocRef) -> Result<DocUpdates, NoticeError> {
        let (board, doc) = (self.board.clone(), doc.clone());
        offload(move || async move { board.fetch_updates(&doc).await }).await
    }

    /// The new version's content carried by `notice`, inline or fetched and
    /// verified ([`NoticeBoard::content`]).
    pub async fn content(&self, notice: &DocNotice) -> Result<Vec<u8>, NoticeError> {
        let (board, notice) = (self.board.clone(), notice.clone());
        offload(move || async move { board.content(&notice).await }).await
    }
}
