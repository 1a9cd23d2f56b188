//! Contact codes: the text a user shares (or shows as a QR code) so that
//! others can send them buddy requests.
//!
//! A code holds a version, the public key, an *inbox token* and a checksum.
//! The inbox token works like Tox's "nospam": requests go to a mailbox derived
//! from key *and* token, so rotating the token (a new code) silences everyone
//! who only has the old code, without changing the key. The text form is
//! `PH-` followed by RFC 4648 base32 in capitals, which QR codes encode in
//! their compact alphanumeric mode.
//!
//! Version 2 (protocol version 3) carries a 16-byte token. Version 1 carried
//! 4 bytes, which anyone who knows the key and sees slot keys could recover
//! in about 2^33 hashes, so a rotation stopped nobody determined: version-1
//! codes are still read (so a typo is still reported as one) but refused
//! with [`ContactCodeError::Retired`], telling the user to ask for a new
//! code, rather than sending requests to an inbox a spammer can find.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::identity::PublicKey;
pub use crate::ids::{INBOX_TOKEN_LEN, InboxToken, MailboxId};

/// The contact code version this build writes and accepts.
pub const CONTACT_CODE_VERSION: u8 = 2;
/// The retired version this build still reads, to refuse it clearly.
pub const RETIRED_CONTACT_CODE_VERSION: u8 = 1;
/// The text prefix of every contact code.
pub const CONTACT_CODE_PREFIX: &str = "PH-";
const PAYLOAD_LEN: usize = 1 + 32 + INBOX_TOKEN_LEN;
/// Bytes behind a version-2 code: version, key, token, checksum.
pub const CODE_LEN: usize = PAYLOAD_LEN + 4;
const V1_PAYLOAD_LEN: usize = 1 + 32 + crate::ids::LEGACY_TOKEN_LEN;
const V1_CODE_LEN: usize = V1_PAYLOAD_LEN + 4;
const CHECKSUM_DOMAIN: &[u8] = b"pigeonhole/contact/v1";
const INBOX_DOMAIN: &[u8] = b"pigeonhole/inbox/v1";

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
    #[error("contact code version {0} is not supported (this build reads version 2)")]
    Version(u8),
    /// A well-formed code of a retired version (1): its 4-byte inbox token
    /// is too short to keep spammers out, so no request is sent with it.
    /// The user should ask its owner for a new code.
    #[error(
        "this is an old (version {0}) contact code, no longer accepted because its inbox \
         token is too short to keep spam out: ask its owner for a new code"
    )]
    Retired(u8),
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

    /// The 53 bytes behind the text: version, key, token, checksum.
    pub fn to_bytes(&self) -> [u8; CODE_LEN] {
        let mut bytes = [0u8; CODE_LEN];
        bytes[0] = CONTACT_CODE_VERSION;
        bytes[1..33].copy_from_slice(&self.public_key.0);
        bytes[33..PAYLOAD_LEN].copy_from_slice(&self.inbox_token.0);
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
        let code_len = match upper.get(..2) {
            Some(first) => {
                let version = base32_lenient().decode(first.as_bytes()).map_err(|_| {
                    ContactCodeError::Length {
                        expected: CODE_LEN,
                        found: 0,
                    }
                })?[0];
                match version {
                    CONTACT_CODE_VERSION => CODE_LEN,
                    RETIRED_CONTACT_CODE_VERSION => V1_CODE_LEN,
                    other => return Err(ContactCodeError::Version(other)),
                }
            }
            None => CODE_LEN,
        };
        let bytes = decode_checked(&upper, code_len)?;
        let public_key = PublicKey(bytes[1..33].try_into().expect("32 bytes"));
        match public_key.verifying_key() {
            Some(key) if !key.is_weak() => {}
            _ => return Err(ContactCodeError::BadKey),
        }
        if code_len == V1_CODE_LEN {
            return Err(ContactCodeError::Retired(RETIRED_CONTACT_CODE_VERSION));
        }
        let inbox_token = InboxToken(bytes[33..PAYLOAD_LEN].try_into().expect("16 bytes"));
        // A version-2 code that names a version-1 inbox is refused like one.
        if inbox_token.legacy().is_some() {
            return Err(ContactCodeError::Retired(RETIRED_CONTACT_CODE_VERSION));
        }
        Ok(Self {
            public_key,
            inbox_token,
        })
    }

    /// The primary id of the inbox mailbox this code points to:
    /// `SHA-256("pigeonhole/inbox/v1" ‖ 0x00 ‖ key ‖ token)`, the token's
    /// 16 bytes (or the 4 bytes of a version-1 stand-in, see
    /// [`InboxToken::inbox_bytes`]: the inbox it always named).
    pub fn inbox_id(&self) -> MailboxId {
        let mut name = Vec::with_capacity(32 + INBOX_TOKEN_LEN);
        name.extend_from_slice(&self.public_key.0);
        name.extend_from_slice(self.inbox_token.inbox_bytes());
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

/// Decodes `upper` (alphabet already checked) as a code of `code_len`
/// bytes and checks its checksum; the bytes, checksum included.
fn decode_checked(upper: &str, code_len: usize) -> Result<Vec<u8>, ContactCodeError> {
    if upper.len() != base32_len(code_len) {
        return Err(ContactCodeError::Length {
            expected: code_len,
            found: upper.len() * 5 / 8,
        });
    }
    // Unused trailing bits of the last character are covered by no
    // checksum byte: a typo there is reported as a checksum error too.
    let canonical = data_encoding::BASE32_NOPAD.decode(upper.as_bytes()).is_ok();
    let bytes = base32_lenient()
        .decode(upper.as_bytes())
        .map_err(|_| ContactCodeError::Checksum)?;
    let payload_len = code_len - 4;
    if !canonical || checksum(&bytes[..payload_len]) != bytes[payload_len..] {
        return Err(ContactCodeError::Checksum);
    }
    Ok(bytes)
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
            InboxToken(*b"0123456789abcdef"),
        )
    }

    /// A well-formed version-1 code: version 1, key, 4-byte token, checksum.
    fn v1_text(key: &PublicKey, token: [u8; 4]) -> String {
        let mut bytes = vec![1u8];
        bytes.extend_from_slice(&key.0);
        bytes.extend_from_slice(&token);
        let sum = checksum(&bytes);
        bytes.extend_from_slice(&sum);
        format!("PH-{}", data_encoding::BASE32_NOPAD.encode(&bytes))
    }

    #[test]
    fn round_trips_and_accepts_lowercase_and_spaces() {
        let code = sample();
        let text = code.to_string();
        assert!(text.starts_with("PH-"));
        assert_eq!(text.len(), 3 + 85);
        assert_eq!(ContactCode::parse(&text).unwrap(), code);
        assert_eq!(
            ContactCode::parse(&format!("  {}\n", text.to_lowercase())).unwrap(),
            code
        );
        let random = ContactCode::new(code.public_key, InboxToken::random());
        assert_eq!(ContactCode::parse(&random.to_string()).unwrap(), random);
    }

    #[test]
    fn version_1_codes_are_read_and_refused_as_retired() {
        let key = sample().public_key;
        let old = v1_text(&key, [1, 2, 3, 4]);
        assert_eq!(old.len(), 3 + 66);
        assert_eq!(ContactCode::parse(&old), Err(ContactCodeError::Retired(1)));
        assert!(
            ContactCodeError::Retired(1)
                .to_string()
                .contains("ask its owner for a new code")
        );
        // A typo in an old code is still reported as a typo.
        let mut typo = old.clone();
        let last = typo.pop().unwrap();
        typo.push(if last == 'A' { 'B' } else { 'A' });
        assert_eq!(ContactCode::parse(&typo), Err(ContactCodeError::Checksum));
        assert!(matches!(
            ContactCode::parse(&old[..old.len() - 2]),
            Err(ContactCodeError::Length { expected: 41, .. })
        ));
        // A version-2 code naming a version-1 inbox is refused the same way.
        let stand_in = ContactCode::new(key, InboxToken::from_legacy([1, 2, 3, 4]));
        assert_eq!(
            ContactCode::parse(&stand_in.to_string()),
            Err(ContactCodeError::Retired(1))
        );
        // The stand-in names the very inbox the version-1 code named.
        let mut name = key.0.to_vec();
        name.extend_from_slice(&[1, 2, 3, 4]);
        assert_eq!(stand_in.inbox_id(), MailboxId::derive(INBOX_DOMAIN, &name));
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
            Err(ContactCodeError::Length { expected: 53, .. })
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
        // 53 bytes are 424 bits: the last character carries 1 unused bit.
        // Changing only it is a typo the checksum does not cover, reported
        // as a checksum error.
        let mut trailing = text.clone();
        let last = trailing.pop().unwrap();
        let symbols = data_encoding::BASE32_NOPAD.specification().symbols;
        let index = symbols.find(last).unwrap();
        trailing.push(symbols.as_bytes()[index ^ 1] as char);
        assert_eq!(
            ContactCode::parse(&trailing),
            Err(ContactCodeError::Checksum)
        );
        // A newer version is recognised even when its length differs.
        let mut bytes = sample().to_bytes().to_vec();
        bytes[0] = 3;
        bytes.push(0);
        let newer = format!("PH-{}", data_encoding::BASE32_NOPAD.encode(&bytes));
        assert_eq!(
            ContactCode::parse(&newer),
            Err(ContactCodeError::Version(3))
        );
    }

    #[test]
    fn invalid_key_is_reported() {
        // y = 2 is not on the curve for any x: decompression fails.
        let mut key = [0u8; 32];
        key[0] = 2;
        let code = ContactCode::new(PublicKey(key), InboxToken([5; 16]));
        assert_eq!(
            ContactCode::parse(&code.to_string()),
            Err(ContactCodeError::BadKey)
        );
        // The identity point is a valid encoding but of small order.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let weak = ContactCode::new(PublicKey(identity), InboxToken([5; 16]));
        assert_eq!(
            ContactCode::parse(&weak.to_string()),
            Err(ContactCodeError::BadKey)
        );
    }

    #[test]
    fn inbox_id_depends_on_every_token_byte() {
        let code = sample();
        for byte in 0..INBOX_TOKEN_LEN {
            let mut token = code.inbox_token;
            token.0[byte] ^= 1;
            let rotated = ContactCode::new(code.public_key, token);
            assert_ne!(code.inbox_id(), rotated.inbox_id(), "byte {byte}");
        }
    }
}
