//! The buddy layer as an app holds it: [`Buddies`], the core's
//! [`BuddyBook`] behind async methods that run off the caller's thread and
//! off the async workers (see the `offload` module).
//!
//! Why a wrapper and not the book itself: the book's reads
//! (`pending_requests`, `buddies`, `contact_code`…) are synchronous SQLite
//! calls and its async calls do SQLite and crypto inline. Every method
//! here has the book's name, arguments and result, and is `async`.

use std::sync::Arc;

use pigeonhole::buddy::{
    Buddy, BuddyBook, BuddyError, BuddyEvent, DirectoryClaim, IntentsResumed, PendingRequest,
    SentRequest,
};
use pigeonhole::contact::ContactCode;
use pigeonhole::identity::PublicKey;
use pigeonhole::mailbox::Mailbox;
use pigeonhole::record::body::ContactField;
use tokio::sync::broadcast;

use crate::Peer;
use crate::offload::{blocking, offload};

/// The buddy layer: contact code, requests, answers, the buddy list,
/// blocking, the directory. Cheap to clone (one shared book).
#[derive(Clone)]
pub struct Buddies {
    book: Arc<BuddyBook<Peer>>,
}

impl Buddies {
    pub(crate) fn new(book: Arc<BuddyBook<Peer>>) -> Self {
        Self { book }
    }

    /// Runs the synchronous book call `call` on the blocking pool.
    async fn read<T: Send + 'static>(
        &self,
        call: impl FnOnce(&BuddyBook<Peer>) -> T + Send + 'static,
    ) -> T {
        let book = self.book.clone();
        blocking(move || call(&book)).await
    }

    /// This user's key (held in memory: no database access).
    pub fn public_key(&self) -> PublicKey {
        self.book.public_key()
    }

    /// Buddy events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<BuddyEvent> {
        self.book.subscribe()
    }

    /// The mailbox client underneath, for raw mailbox reads. Lower level
    /// than the rest of this type: its calls validate records on the
    /// calling task.
    pub fn mailbox(&self) -> &Mailbox<Peer> {
        self.book.mailbox()
    }

    /// This user's current contact code ([`BuddyBook::contact_code`]).
    pub async fn contact_code(&self) -> Result<ContactCode, BuddyError> {
        self.read(|book| book.contact_code()).await
    }

    /// Sets the display name and directory name ([`BuddyBook::set_profile`]).
    pub async fn set_profile(
        &self,
        display_name: &str,
        directory_name: Option<&str>,
    ) -> Result<(), BuddyError> {
        let (display_name, directory_name) =
            (display_name.to_owned(), directory_name.map(str::to_owned));
        self.read(move |book| book.set_profile(&display_name, directory_name.as_deref()))
            .await
    }

    /// Sends a buddy request ([`BuddyBook::send_request`]). Dropping the
    /// returned future does not stop the send: it finishes and is recorded.
    pub async fn send_request(
        &self,
        contact_code: &str,
        message: &str,
        contacts: Vec<ContactField>,
    ) -> Result<SentRequest, BuddyError> {
        let book = self.book.clone();
        let (code, message) = (contact_code.to_owned(), message.to_owned());
        offload(move || async move { book.send_request(&code, &message, contacts).await }).await
    }

    /// Requests waiting for an answer ([`BuddyBook::pending_requests`]).
    pub async fn pending_requests(&self) -> Result<Vec<PendingRequest>, BuddyError> {
        self.read(|book| book.pending_requests()).await
    }

    /// Accepts a pending request ([`BuddyBook::accept`]).
    pub async fn accept(&self, request_id: &[u8; 32]) -> Result<Buddy, BuddyError> {
        let (book, id) = (self.book.clone(), *request_id);
        offload(move || async move { book.accept(&id).await }).await
    }

    /// Declines a pending request ([`BuddyBook::decline`]).
    pub async fn decline(&self, request_id: &[u8; 32]) -> Result<(), BuddyError> {
        let (book, id) = (self.book.clone(), *request_id);
        offload(move || async move { book.decline(&id).await }).await
    }

    /// Withdraws a sent request ([`BuddyBook::withdraw`]).
    pub async fn withdraw(&self, request_id: &[u8; 32]) -> Result<(), BuddyError> {
        let (book, id) = (self.book.clone(), *request_id);
        offload(move || async move { book.withdraw(&id).await }).await
    }

    /// The buddy list ([`BuddyBook::buddies`]).
    pub async fn buddies(&self) -> Result<Vec<Buddy>, BuddyError> {
        self.read(|book| book.buddies()).await
    }

    /// Removes a buddy; whether it was one ([`BuddyBook::remove_buddy`]).
    pub async fn remove_buddy(&self, key: &PublicKey) -> Result<bool, BuddyError> {
        let key = *key;
        self.read(move |book| book.remove_buddy(&key)).await
    }

    /// Requests this user sent ([`BuddyBook::sent_requests`]).
    pub async fn sent_requests(&self) -> Result<Vec<SentRequest>, BuddyError> {
        self.read(|book| book.sent_requests()).await
    }

    /// Blocks a key ([`BuddyBook::block`]).
    pub async fn block(&self, key: &PublicKey) -> Result<(), BuddyError> {
        let key = *key;
        self.read(move |book| book.block(&key)).await
    }

    /// Unblocks a key; whether it was blocked ([`BuddyBook::unblock`]).
    pub async fn unblock(&self, key: &PublicKey) -> Result<bool, BuddyError> {
        let key = *key;
        self.read(move |book| book.unblock(&key)).await
    }

    /// A new inbox token and contact code ([`BuddyBook::rotate_inbox_token`]).
    pub async fn rotate_inbox_token(&self) -> Result<ContactCode, BuddyError> {
        self.read(|book| book.rotate_inbox_token()).await
    }

    /// Publishes this user's directory entry
    /// ([`BuddyBook::publish_directory_entry`]).
    pub async fn publish_directory_entry(&self) -> Result<DirectoryClaim, BuddyError> {
        let book = self.book.clone();
        offload(move || async move { book.publish_directory_entry().await }).await
    }

    /// Who claims a directory name ([`BuddyBook::lookup_directory`]).
    pub async fn lookup_directory(&self, name: &str) -> Result<Vec<DirectoryClaim>, BuddyError> {
        let (book, name) = (self.book.clone(), name.to_owned());
        offload(move || async move { book.lookup_directory(&name).await }).await
    }

    /// Finishes requests and answers a crash interrupted
    /// ([`BuddyBook::resume_intents`]; the node also runs it after start).
    pub async fn resume_intents(&self) -> Result<IntentsResumed, BuddyError> {
        let book = self.book.clone();
        offload(move || async move { book.resume_intents().await }).await
    }

    /// Syncs the inbox now ([`BuddyBook::sync_now`]).
    pub async fn sync_now(&self) -> Result<pigeonhole::buddy::SyncReport, BuddyError> {
        let book = self.book.clone();
        offload(move || async move { book.sync_now().await }).await
    }
}
