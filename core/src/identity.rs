//! Who signs: an ed25519 key pair, generated once and persisted by the store.
//!
//! Secret material never outlives its use: the signing key is wiped when an
//! [`Identity`] is dropped (ed25519-dalek's `zeroize` feature), and every
//! copy of secret bytes handed out is a [`Zeroizing`] buffer wiped on drop.
//!
//! Every record is signed by its sender, and the sender's public key travels
//! inside the record, so any peer can check it without a directory. Signing
//! always goes through [`Identity::sign`] with a domain tag chosen by the
//! caller, so a signature made for one purpose can never be replayed as
//! another.

use std::fmt;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use zeroize::Zeroizing;

/// An ed25519 public key as 32 bytes, as it appears in records and contact
/// codes. It is not checked to be a valid curve point until it is used to
/// verify (see [`PublicKey::verifying_key`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    /// The key as a verifier, or `None` if the bytes are not a valid point.
    pub fn verifying_key(&self) -> Option<VerifyingKey> {
        VerifyingKey::from_bytes(&self.0).ok()
    }

    /// Lowercase hex of the 32 bytes.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", &self.to_hex()[..16])
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// A user's signing key pair. The secret key is zeroized on drop.
#[derive(Clone)]
pub struct Identity {
    signing: SigningKey,
}

impl Identity {
    /// A new random identity from the operating system's RNG.
    pub fn generate() -> Self {
        let mut secret = Zeroizing::new([0u8; 32]);
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret[..]);
        Self {
            signing: SigningKey::from_bytes(&secret),
        }
    }

    /// The identity whose 32-byte ed25519 secret seed is `secret`.
    pub fn from_secret_bytes(secret: [u8; 32]) -> Self {
        Self {
            signing: SigningKey::from_bytes(&secret),
        }
    }

    /// The 32-byte secret seed, for persistence, wiped when dropped. Keep
    /// it out of logs.
    pub fn secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.signing.to_bytes())
    }

    /// The X25519 secret scalar bytes matching this key (the first half of
    /// SHA-512 of the seed, as RFC 8032 derives the signing scalar), used to
    /// open bodies sealed to the public key. Keep it out of logs.
    pub(crate) fn agreement_secret(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.signing.to_scalar_bytes())
    }

    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.signing.verifying_key().to_bytes())
    }

    /// Signs `domain ‖ 0x00 ‖ message`.
    pub fn sign(&self, domain: &[u8], message: &[u8]) -> [u8; 64] {
        let input = tagged(domain, message);
        self.signing.sign(&input).to_bytes()
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("public_key", &self.public_key())
            .finish_non_exhaustive()
    }
}

/// Checks a signature made by [`Identity::sign`] with `verify_strict`
/// (rejects small-order keys and non-canonical signatures).
pub fn verify(key: &PublicKey, domain: &[u8], message: &[u8], signature: &[u8; 64]) -> bool {
    let Some(verifying) = key.verifying_key() else {
        return false;
    };
    verify_with_key(&verifying, domain, message, signature)
}

/// [`verify`] with the key already decompressed (a batch of records by one
/// sender decompresses it once).
pub(crate) fn verify_with_key(
    verifying: &VerifyingKey,
    domain: &[u8],
    message: &[u8],
    signature: &[u8; 64],
) -> bool {
    let input = tagged(domain, message);
    verifying
        .verify_strict(&input, &Signature::from_bytes(signature))
        .is_ok()
}

/// `domain ‖ 0x00 ‖ message`: the exact bytes that are signed.
pub fn tagged(domain: &[u8], message: &[u8]) -> Vec<u8> {
    let mut input = Vec::with_capacity(domain.len() + 1 + message.len());
    input.extend_from_slice(domain);
    input.push(0);
    input.extend_from_slice(message);
    input
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_under_their_domain_and_key() {
        let alice = Identity::from_secret_bytes([1; 32]);
        let bob = Identity::from_secret_bytes([2; 32]);
        let signature = alice.sign(b"a", b"hello");
        assert!(verify(&alice.public_key(), b"a", b"hello", &signature));
        assert!(!verify(&alice.public_key(), b"b", b"hello", &signature));
        assert!(!verify(&bob.public_key(), b"a", b"hello", &signature));
        assert!(!verify(&alice.public_key(), b"a", b"hellO", &signature));
    }

    #[test]
    fn secret_round_trips() {
        let identity = Identity::generate();
        let again = Identity::from_secret_bytes(*identity.secret_bytes());
        assert_eq!(identity.public_key(), again.public_key());
    }

    /// The seed comes from the OS RNG: never the zero buffer it is drawn
    /// into, never the same twice.
    #[test]
    fn generated_identities_are_random() {
        let (a, b) = (Identity::generate(), Identity::generate());
        assert_ne!(*a.secret_bytes(), [0; 32]);
        assert_ne!(a.public_key(), b.public_key());
    }
}
