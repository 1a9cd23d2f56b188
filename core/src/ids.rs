//! The ids that both contact codes and records name: mailbox ids and inbox
//! tokens.
//!
//! They live here, below both [`crate::contact`] and [`crate::record`], so
//! that the layers import one way only: `contact` builds codes and inbox
//! ids from these, `record` carries them in headers and bodies, and neither
//! imports the other. Both re-export what they use so their public paths
//! (`record::MailboxId`, `contact::InboxToken`) keep working.

use std::fmt;

use sha2::{Digest, Sha256};

/// The 32-byte primary id of a mailbox (an inbox, a feed, a directory name).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MailboxId(pub [u8; 32]);

impl MailboxId {
    /// `SHA-256(domain ‖ 0x00 ‖ name)`: how every mailbox id is derived from
    /// something people can name.
    pub fn derive(domain: &[u8], name: &[u8]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(domain);
        hasher.update([0]);
        hasher.update(name);
        Self(hasher.finalize().into())
    }
}

impl fmt::Debug for MailboxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MailboxId({})", &hex::encode(self.0)[..16])
    }
}

/// Bytes of an inbox token (contact code version 2, protocol version 3).
pub const INBOX_TOKEN_LEN: usize = 16;
/// Bytes of a version-1 inbox token (contact code version 1, retired).
pub const LEGACY_TOKEN_LEN: usize = 4;
/// Leading zero bytes that mark a [`InboxToken::from_legacy`] token.
const LEGACY_MARK: usize = INBOX_TOKEN_LEN - LEGACY_TOKEN_LEN;

/// Sixteen random bytes that select which inbox a contact code points to.
///
/// 128 bits, so that nobody can recover the token from the public key and
/// the slot keys they see (a 4-byte token fell to ~2^33 hashes). A token
/// whose first 12 bytes are zero stands for a version-1 token (its last 4
/// bytes): only the store's upgrade makes those, to keep reading answers
/// to requests sent before the upgrade; [`InboxToken::random`] never does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct InboxToken(pub [u8; INBOX_TOKEN_LEN]);

impl InboxToken {
    /// A fresh random token (never of the version-1 form).
    pub fn random() -> Self {
        let mut bytes: [u8; INBOX_TOKEN_LEN] = rand::random();
        // 2^-96 odds, but a new token must never address a version-1 inbox.
        if bytes[..LEGACY_MARK] == [0; LEGACY_MARK] {
            bytes[0] = 1;
        }
        Self(bytes)
    }

    /// The stand-in for version-1 token `legacy` (12 zero bytes, then it).
    pub fn from_legacy(legacy: [u8; LEGACY_TOKEN_LEN]) -> Self {
        let mut bytes = [0u8; INBOX_TOKEN_LEN];
        bytes[LEGACY_MARK..].copy_from_slice(&legacy);
        Self(bytes)
    }

    /// The version-1 token this stands for, if it is of that form.
    pub fn legacy(&self) -> Option<[u8; LEGACY_TOKEN_LEN]> {
        (self.0[..LEGACY_MARK] == [0; LEGACY_MARK])
            .then(|| self.0[LEGACY_MARK..].try_into().expect("4 bytes"))
    }

    /// The bytes hashed into the inbox id: the 4 version-1 bytes for a
    /// version-1 stand-in (so it names the very inbox it used to), all 16
    /// otherwise.
    pub fn inbox_bytes(&self) -> &[u8] {
        match self.legacy() {
            Some(_) => &self.0[LEGACY_MARK..],
            None => &self.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_tokens_are_never_legacy_and_legacy_round_trips() {
        for _ in 0..64 {
            assert_eq!(InboxToken::random().legacy(), None);
        }
        let old = InboxToken::from_legacy([1, 2, 3, 4]);
        assert_eq!(old.legacy(), Some([1, 2, 3, 4]));
        assert_eq!(old.inbox_bytes(), &[1, 2, 3, 4]);
        let new = InboxToken([7; 16]);
        assert_eq!(new.inbox_bytes(), &[7; 16]);
    }
}
