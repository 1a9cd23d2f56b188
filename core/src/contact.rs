//! Contact codes: the text a user shares (or shows as a QR code) so that
//! others can send them buddy requests.
//!
//! A code holds a version, the public key, an *inbox token* and a checksum.
//! The inbox token works like Tox's "nospam": requests go to a mailbox derived
//! from key *and* token, so rotating the token (a new code) silences everyone
//! who only has the old code, without changing the key. The text form is
//! `PH-` followed by RFC 4648 base32 in capitals, which QR codes encode in
//! their compact alphanumeric mode.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::identity::PublicKey;
use crate::record::MailboxId;

/// The only contact code version this build reads and writes.
pub const CONTACT_CODE_VERSION: u8 = 1;
/// The text prefix of every contact code.
pub const CONTACT_CODE_PREFIX: &str = "PH-";
const PAYLOAD_LEN: usize = 1 + 32 + 4;
const CODE_LEN: usize = PAYLOAD_LEN + 4;
const CHECKSUM_DOMAIN: &[u8] = b"pigeonhole/contact/v1";
const INBOX_DOMAIN: &[u8] = b"pigeonhole/inbox/v1";

/// Four random bytes that select which inbox a contact code points to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct InboxToken(pub [u8; 4]);

impl InboxToken {
    /// A fresh random token.
    pub fn random() -> Self {
        Self(rand::random())
    }
}

/// Why a contact code could not be read. Each problem a user can make when
/// typing or scanning a code has its own variant, so apps can say which.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContactCodeError {
    /// The text does not start with `PH-`.
    #[error("a contact code starts with \"PH-\"")]
    MissingPrefix,
    /// A character outside A–Z and 2–7.
    #[error("character {character:?} at position {position} is not allowed in a contact code")]
    Alphabet {
        /// Position in the text after the prefix, from 0.
        position: usize,
        /// The offending character.
        character: char,
    },
    /// The code decodes to the wrong number of bytes (a character missing or extra).
    #[error("a contact code holds {expected} bytes, this one holds {found}")]
    Length {
        /// Bytes in a valid code.
        expected: usize,
        /// Bytes in this one.
        found: usize,
    },
    /// A version this build does not know (made by a newer app).
    #[error("contact code version {0} is not supported (this build reads version 1)")]
    Version(u8),
    /// The checksum does not match: a typo or a damaged scan.
    #[error("the contact code's checksum does not match: check for a typo")]
    Checksum,
    /// The public key is not a valid ed25519 key.
    #[error("the contact code's public key is not a valid ed25519 key")]
    BadKey,
}

/// A parsed contact code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ContactCode {
    /// The owner's public key.
    pub public_key: PublicKey,
    /// The inbox token the owner currently accepts requests on.
    pub inbox_token: InboxToken,
}

impl ContactCode {
    /// The code for `public_key` and `inbox_token`.
    pub fn new(public_key: PublicKey, inbox_token: InboxToken) -> Self {
        Self {
            public_key,
            inbox_token,
        }
    }

    /// The 41 bytes behind the text: version, key, token, checksum.
    pub fn to_bytes(&self) -> [u8; CODE_LEN] {
        let mut bytes = [0u8; CODE_LEN];
        bytes[0] = CONTACT_CODE_VERSION;
        bytes[1..33].copy_from_slice(&self.public_key.0);
        bytes[33..37].copy_from_slice(&self.inbox_token.0);
        let sum = checksum(&bytes[..PAYLOAD_LEN]);
        bytes[PAYLOAD_LEN..].copy_from_slice(&sum);
        bytes
    }

    /// Parses the text form. Surrounding white space is ignored and lowercase
    /// letters are accepted, since people retype codes.
    pub fn parse(text: &str) -> Result<Self, ContactCodeError> {
        let text = text.trim();
        let body = match text.get(..CONTACT_CODE_PREFIX.len()) {
            Some(prefix) if prefix.eq_ignore_ascii_case(CONTACT_CODE_PREFIX) => {
                &text[CONTACT_CODE_PREFIX.len()..]
            }
            _ => return Err(ContactCodeError::MissingPrefix),
        };
        let upper = body.to_ascii_uppercase();
        if let Some((position, character)) = upper
            .chars()
            .enumerate()
            .find(|(_, c)| !matches!(c, 'A'..='Z' | '2'..='7'))
        {
            return Err(ContactCodeError::Alphabet {
                position,
                character,
            });
        }
        // The version is the first byte: the first two characters hold it,
        // so a code from a newer app is recognised whatever its length.
        if let Some(first) = upper.get(..2) {
            let version = base32_lenient().decode(first.as_bytes()).map_err(|_| {
                ContactCodeError::Length {
                    expected: CODE_LEN,
                    found: 0,
                }
            })?[0];
            if version != CONTACT_CODE_VERSION {
                return Err(ContactCodeError::Version(version));
            }
        }
        let text_len = base32_len(CODE_LEN);
        if upper.len() != text_len {
            return Err(ContactCodeError::Length {
                expected: CODE_LEN,
                found: upper.len() * 5 / 8,
            });
        }
        // Unused trailing bits of the last character are covered by no
        // checksum byte: a typo there is reported as a checksum error too.
        let canonical = data_encoding::BASE32_NOPAD.decode(upper.as_bytes()).is_ok();
        let bytes = base32_lenient()
            .decode(upper.as_bytes())
            .map_err(|_| ContactCodeError::Checksum)?;
        if !canonical || checksum(&bytes[..PAYLOAD_LEN]) != bytes[PAYLOAD_LEN..] {
            return Err(ContactCodeError::Checksum);
        }
        let public_key = PublicKey(bytes[1..33].try_into().expect("32 bytes"));
        match public_key.verifying_key() {
            Some(key) if !key.is_weak() => {}
            _ => return Err(ContactCodeError::BadKey),
        }
        Ok(Self {
            public_key,
            inbox_token: InboxToken(bytes[33..37].try_into().expect("4 bytes")),
        })
    }

    /// The primary id of the inbox mailbox this code points to:
    /// `SHA-256("pigeonhole/inbox/v1" ‖ 0x00 ‖ key ‖ token)`.
    pub fn inbox_id(&self) -> MailboxId {
        let mut name = [0u8; 36];
        name[..32].copy_from_slice(&self.public_key.0);
        name[32..].copy_from_slice(&self.inbox_token.0);
        MailboxId::derive(INBOX_DOMAIN, &name)
    }
}

impl fmt::Display for ContactCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(CONTACT_CODE_PREFIX)?;
        f.write_str(&data_encoding::BASE32_NOPAD.encode(&self.to_bytes()))
    }
}

impl std::str::FromStr for ContactCode {
    type Err = ContactCodeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

fn checksum(payload: &[u8]) -> [u8; 4] {
    let mut hasher = Sha256::new();
    hasher.update(CHECKSUM_DOMAIN);
    hasher.update([0]);
    hasher.update(payload);
    let digest = hasher.finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// Base32 (RFC 4648, no padding) that ignores unused trailing bits, so
/// that every character string of a valid length decodes.
fn base32_lenient() -> &'static data_encoding::Encoding {
    static ENCODING: std::sync::LazyLock<data_encoding::Encoding> =
        std::sync::LazyLock::new(|| {
            let mut spec = data_encoding::BASE32_NOPAD.specification();
            spec.check_trailing_bits = false;
            spec.encoding().expect("a valid base32 specification")
        });
    &ENCODING
}

/// Characters of unpadded base32 for `bytes` bytes.
fn base32_len(bytes: usize) -> usize {
    (bytes * 8).div_ceil(5)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;

    fn sample() -> ContactCode {
        ContactCode::new(
            Identity::from_secret_bytes([7; 32]).public_key(),
            InboxToken([1, 2, 3, 4]),
        )
    }

    #[test]
    fn round_trips_and_accepts_lowercase_and_spaces() {
        let code = sample();
        let text = code.to_string();
        assert!(text.starts_with("PH-"));
        assert_eq!(text.len(), 3 + 66);
        assert_eq!(ContactCode::parse(&text).unwrap(), code);
        assert_eq!(
            ContactCode::parse(&format!("  {}\n", text.to_lowercase())).unwrap(),
            code
        );
    }

    #[test]
    fn each_mistake_has_its_own_error() {
        let text = sample().to_string();
        assert_eq!(
            ContactCode::parse(&text[3..]),
            Err(ContactCodeError::MissingPrefix)
        );
        let mut typo = text.clone();
        typo.replace_range(10..11, "1");
        assert_eq!(
            ContactCode::parse(&typo),
            Err(ContactCodeError::Alphabet {
                position: 7,
                character: '1'
            })
        );
        assert!(matches!(
            ContactCode::parse(&text[..text.len() - 2]),
            Err(ContactCodeError::Length { expected: 41, .. })
        ));
        let mut flipped = text.clone();
        let last = flipped.pop().unwrap();
        flipped.push(if last == 'A' { 'B' } else { 'A' });
        assert_eq!(
            ContactCode::parse(&flipped),
            Err(ContactCodeError::Checksum)
        );
        let mut bytes = sample().to_bytes();
        bytes[0] = 9;
        let future = format!("PH-{}", data_encoding::BASE32_NOPAD.encode(&bytes));
        assert_eq!(
            ContactCode::parse(&future),
            Err(ContactCodeError::Version(9))
        );
    }

    #[test]
    fn prefix_case_trailing_bits_and_version_first() {
        let text = sample().to_string();
        assert_eq!(
            ContactCode::parse(&format!("Ph-{}", &text[3..])).unwrap(),
            sample()
        );
        // The last character carries 2 unused bits: changing only them is
        // a typo the checksum does not cover, reported as a checksum error.
        let mut trailing = text.clone();
        let last = trailing.pop().unwrap();
        let index = data_encoding::BASE32_NOPAD
            .specification()
            .symbols
            .find(last)
            .unwrap();
        let other = data_encoding::BASE32_NOPAD
            .specification()
            .symbols
            .as_bytes()[index ^ 1] as char;
        trailing.push(other);
        assert_eq!(
            ContactCode::parse(&trailing),
            Err(ContactCodeError::Checksum)
        );
        // A newer version is recognised even when its length differs.
        let mut bytes = sample().to_bytes().to_vec();
        bytes[0] = 2;
        bytes.push(0);
        let newer = format!("PH-{}", data_encoding::BASE32_NOPAD.encode(&bytes));
        assert_eq!(
            ContactCode::parse(&newer),
            Err(ContactCodeError::Version(2))
        );
    }

    #[test]
    fn invalid_key_is_reported() {
        // y = 2 is not on the curve for any x: decompression fails.
        let mut key = [0u8; 32];
        key[0] = 2;
        let code = ContactCode::new(PublicKey(key), InboxToken([0; 4]));
        assert_eq!(
            ContactCode::parse(&code.to_string()),
            Err(ContactCodeError::BadKey)
        );
        // The identity point is a valid encoding but of small order.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let weak = ContactCode::new(PublicKey(identity), InboxToken([0; 4]));
        assert_eq!(
            ContactCode::parse(&weak.to_string()),
            Err(ContactCodeError::BadKey)
        );
    }

    #[test]
    fn inbox_id_depends_on_token() {
        let code = sample();
        let rotated = ContactCode::new(code.public_key, InboxToken([9, 9, 9, 9]));
        assert_ne!(code.inbox_id(), rotated.inbox_id());
    }
}
