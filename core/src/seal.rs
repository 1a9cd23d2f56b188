//! Sealed bodies: buddy requests and answers are encrypted to their
//! recipient, so storing peers learn nothing of the message or contact
//! details they hold.
//!
//! Scheme 1 is an ECIES construction from well-kept parts: the sender makes
//! an ephemeral X25519 key; the recipient's X25519 key is its ed25519 key
//! mapped to Montgomery form (so a contact code is all a sender needs); the
//! shared secret and both public keys are hashed into a key for
//! XChaCha20-Poly1305 with a random 24-byte nonce. The record's kind,
//! mailbox and sender key are the associated data, so a ciphertext copied
//! into someone else's record, another inbox or another kind fails to open.
//! Layout: `0x01 ‖ ephemeral public (32) ‖ nonce (24) ‖ ciphertext ‖ tag (16)`.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use curve25519_dalek::montgomery::MontgomeryPoint;
use sha2::{Digest, Sha256};

use crate::identity::{Identity, PublicKey};
use crate::record::body::{MIN_SEALED_BYTES, SEALED_SCHEME_V1};
use crate::record::{Kind, MailboxId};

const KEY_DOMAIN: &[u8] = b"pigeonhole/seal/v1";

/// Why a body could not be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The recipient's public key is not a valid ed25519 key.
    #[error("the recipient key is not a valid ed25519 key")]
    BadRecipientKey,
    /// Too short, or an unknown scheme byte.
    #[error("not a sealed body of a known scheme")]
    Malformed,
    /// The ephemeral key is of low order (a forged body).
    #[error("the sealed body's ephemeral key is of low order")]
    LowOrderKey,
    /// Authentication failed: not for us, or altered, or moved.
    #[error("the sealed body does not open with this key and context")]
    DecryptFailed,
}

/// What a sealed body is bound to: the record it travels in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SealContext {
    /// The record kind.
    pub kind: Kind,
    /// The mailbox it is published into.
    pub mailbox: MailboxId,
    /// The record's sender (signer).
    pub sender: PublicKey,
}

impl SealContext {
    fn associated_data(&self) -> [u8; 65] {
        let mut aad = [0u8; 65];
        aad[0] = self.kind as u8;
        aad[1..33].copy_from_slice(&self.mailbox.0);
        aad[33..].copy_from_slice(&self.sender.0);
        aad
    }
}

/// Seals `plaintext` to `recipient` for a record described by `context`.
pub fn seal(
    recipient: &PublicKey,
    context: &SealContext,
    plaintext: &[u8],
) -> Result<Vec<u8>, SealError> {
    seal_with(
        recipient,
        context,
        plaintext,
        rand::random(),
        rand::random(),
    )
}

/// [`seal`] with a chosen ephemeral secret and nonce: for test vectors only;
/// reusing either leaks plaintext.
#[doc(hidden)]
pub fn seal_with(
    recipient: &PublicKey,
    context: &SealContext,
    plaintext: &[u8],
    ephemeral_secret: [u8; 32],
    nonce: [u8; 24],
) -> Result<Vec<u8>, SealError> {
    let recipient_x = recipient
        .verifying_key()
        .ok_or(SealError::BadRecipientKey)?
        .to_montgomery();
    let ephemeral = MontgomeryPoint::mul_base_clamped(ephemeral_secret);
    let shared = recipient_x.mul_clamped(ephemeral_secret);
    let cipher = cipher(&shared, &ephemeral, recipient)?;
    let ciphertext = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &context.associated_data(),
            },
        )
        .map_err(|_| SealError::Malformed)?;
    let mut sealed = Vec::with_capacity(1 + 32 + 24 + ciphertext.len());
    sealed.push(SEALED_SCHEME_V1);
    sealed.extend_from_slice(ephemeral.as_bytes());
    sealed.extend_from_slice(&nonce);
    sealed.extend_from_slice(&ciphertext);
    Ok(sealed)
}

/// Opens a body sealed to `identity` for a record described by `context`.
pub fn open(
    identity: &Identity,
    context: &SealContext,
    sealed: &[u8],
) -> Result<Vec<u8>, SealError> {
    if sealed.len() < MIN_SEALED_BYTES || sealed[0] != SEALED_SCHEME_V1 {
        return Err(SealError::Malformed);
    }
    let ephemeral = MontgomeryPoint(sealed[1..33].try_into().expect("32 bytes"));
    let nonce = XNonce::from_slice(&sealed[33..57]);
    let shared = ephemeral.mul_clamped(*identity.agreement_secret());
    let cipher = cipher(&shared, &ephemeral, &identity.public_key())?;
    cipher
        .decrypt(
            nonce,
            Payload {
                msg: &sealed[57..],
                aad: &context.associated_data(),
            },
        )
        .map_err(|_| SealError::DecryptFailed)
}

fn cipher(
    shared: &MontgomeryPoint,
    ephemeral: &MontgomeryPoint,
    recipient: &PublicKey,
) -> Result<XChaCha20Poly1305, SealError> {
    if shared.as_bytes() == &[0u8; 32] {
        return Err(SealError::LowOrderKey);
    }
    let mut hasher = Sha256::new();
    hasher.update(KEY_DOMAIN);
    hasher.update([0]);
    hasher.update(shared.as_bytes());
    hasher.update(ephemeral.as_bytes());
    hasher.update(recipient.0);
    let key: [u8; 32] = hasher.finalize().into();
    Ok(XChaCha20Poly1305::new(&key.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(sender: &Identity) -> SealContext {
        SealContext {
            kind: Kind::BuddyRequest,
            mailbox: MailboxId([4; 32]),
            sender: sender.public_key(),
        }
    }

    #[test]
    fn only_the_recipient_opens_and_only_in_its_context() {
        let alice = Identity::from_secret_bytes([1; 32]);
        let bob = Identity::from_secret_bytes([2; 32]);
        let eve = Identity::from_secret_bytes([3; 32]);
        let ctx = context(&alice);
        let sealed = seal(&bob.public_key(), &ctx, b"hello bob").unwrap();
        assert_eq!(sealed.len(), MIN_SEALED_BYTES + 9);
        assert_eq!(open(&bob, &ctx, &sealed).unwrap(), b"hello bob");
        assert_eq!(open(&eve, &ctx, &sealed), Err(SealError::DecryptFailed));
        let moved = SealContext {
            mailbox: MailboxId([5; 32]),
            ..ctx
        };
        assert_eq!(open(&bob, &moved, &sealed), Err(SealError::DecryptFailed));
        let stolen = context(&eve);
        assert_eq!(open(&bob, &stolen, &sealed), Err(SealError::DecryptFailed));
        let other_kind = SealContext {
            kind: Kind::BuddyResponse,
            ..ctx
        };
        assert_eq!(
            open(&bob, &other_kind, &sealed),
            Err(SealError::DecryptFailed)
        );
    }

    #[test]
    fn every_flipped_byte_fails_to_open() {
        let alice = Identity::from_secret_bytes([1; 32]);
        let bob = Identity::from_secret_bytes([2; 32]);
        let ctx = context(&alice);
        let sealed = seal(&bob.public_key(), &ctx, b"contact: +4915112345678").unwrap();
        for index in 0..sealed.len() {
            let mut altered = sealed.clone();
            altered[index] ^= 0x01;
            assert!(open(&bob, &ctx, &altered).is_err(), "byte {index}");
        }
    }

    #[test]
    fn short_unknown_and_low_order_bodies_are_refused() {
        let bob = Identity::from_secret_bytes([2; 32]);
        let ctx = context(&bob);
        assert_eq!(open(&bob, &ctx, &[1; 10]), Err(SealError::Malformed));
        let mut unknown = seal(&bob.public_key(), &ctx, b"x").unwrap();
        unknown[0] = 2;
        assert_eq!(open(&bob, &ctx, &unknown), Err(SealError::Malformed));
        let mut low_order = seal(&bob.public_key(), &ctx, b"x").unwrap();
        low_order[1..33].fill(0);
        assert_eq!(open(&bob, &ctx, &low_order), Err(SealError::LowOrderKey));
    }
}
