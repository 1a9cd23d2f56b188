//! The one validation function. Storing nodes call it before they keep a
//! record; readers call it before they show one. There is no second copy of
//! these rules anywhere in the SDK.
//!
//! Checks run cheapest-first and in a fixed order, so that each failure is
//! reported as exactly one [`ErrorKind`]: size → decode → key binding →
//! signature → time → kind format → kind syntax. Sealed bodies get their
//! format and syntax checks in a second stage, [`Validator::open_sealed`],
//! after the reader has decrypted them; that stage uses the same per-kind
//! rules ([`crate::record::body`]).

use crate::codec::DecodeError;
use crate::record::body::{self, Content, FormatError, SyntaxError};
use crate::record::{DhtKey, InstanceId, Kind, MAX_RECORD_BYTES, Record, decode, signature_valid};

const DAY: u64 = 86_400;

/// Limits a validator enforces. Defaults are the protocol's recommended
/// values; all peers of one network should use the same policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Largest encoded record accepted, at most [`MAX_RECORD_BYTES`].
    pub max_record_bytes: usize,
    /// How far in the future `created_at` may be (other peers' clocks).
    pub clock_skew_secs: u64,
    max_lifetime_secs: [u64; Kind::ALL.len()],
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            max_record_bytes: MAX_RECORD_BYTES,
            clock_skew_secs: 300,
            // buddy-request, buddy-response, feed-post, doc-notice,
            // key-directory, tombstone, editor-list, content-chunk
            max_lifetime_secs: [
                14 * DAY,
                14 * DAY,
                30 * DAY,
                7 * DAY,
                30 * DAY,
                30 * DAY,
                30 * DAY,
                7 * DAY,
            ],
        }
    }
}

impl Policy {
    /// The longest `expires_at - created_at` allowed for `kind`.
    pub fn max_lifetime(&self, kind: Kind) -> u64 {
        self.max_lifetime_secs[kind as usize - 1]
    }

    /// Sets the longest lifetime allowed for `kind`.
    pub fn with_max_lifetime(mut self, kind: Kind, secs: u64) -> Self {
        self.max_lifetime_secs[kind as usize - 1] = secs;
        self
    }

    /// The longest lifetime of any kind: how far ahead readers scan buckets.
    pub fn longest_lifetime(&self) -> u64 {
        self.max_lifetime_secs.iter().copied().max().unwrap_or(0)
    }
}

/// The stable category of a [`RecordError`]; bindings map these 1:1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Larger than the policy allows.
    TooLarge,
    /// Ends inside a field.
    Truncated,
    /// Bytes after the signature.
    TrailingBytes,
    /// Envelope version not known.
    UnknownVersion,
    /// Kind byte not known.
    UnknownKind,
    /// Arrived under a DHT key other than its slot's.
    KeyMismatch,
    /// Signature does not verify under the sender key (`verify_strict`).
    BadSignature,
    /// `created_at` beyond now plus the clock-skew tolerance.
    CreatedInFuture,
    /// `expires_at` not after `created_at`.
    ExpiresBeforeCreated,
    /// `expires_at` has passed.
    Expired,
    /// Lifetime above the kind's maximum.
    LifetimeTooLong,
    /// Instance bucket is not the day of `expires_at`.
    BucketMismatch,
    /// A body field has the wrong shape.
    Format,
    /// Body fields do not fit together.
    Syntax,
    /// [`Validator::open_sealed`] called on a record that is not sealed.
    NotSealed,
}

/// Why bytes are not a valid record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// Larger than the policy allows.
    #[error("record is {size} bytes, the limit is {max}")]
    TooLarge {
        /// Size received.
        size: usize,
        /// Limit in force.
        max: usize,
    },
    /// Ends inside a field.
    #[error("record ends inside field `{field}`")]
    Truncated {
        /// The field.
        field: &'static str,
    },
    /// Bytes after the signature.
    #[error("{count} bytes after the signature")]
    TrailingBytes {
        /// How many.
        count: usize,
    },
    /// Envelope version not known.
    #[error("unknown record version {0}")]
    UnknownVersion(u8),
    /// Kind byte not known.
    #[error("unknown record kind {0}")]
    UnknownKind(u8),
    /// Arrived under a DHT key other than its slot's.
    #[error("record does not belong under this DHT key")]
    KeyMismatch,
    /// Signature does not verify.
    #[error("signature does not verify under the sender key")]
    BadSignature,
    /// Created too far in the future.
    #[error("created at {created_at}, more than the allowed skew after now ({now})")]
    CreatedInFuture {
        /// Claimed creation time.
        created_at: u64,
        /// Validator's clock.
        now: u64,
    },
    /// Expires at or before creation.
    #[error("expires at {expires_at}, not after its creation at {created_at}")]
    ExpiresBeforeCreated {
        /// Claimed creation time.
        created_at: u64,
        /// Claimed expiry.
        expires_at: u64,
    },
    /// Already expired.
    #[error("expired at {expires_at} (now {now})")]
    Expired {
        /// Claimed expiry.
        expires_at: u64,
        /// Validator's clock.
        now: u64,
    },
    /// Lifetime above the kind's maximum.
    #[error("lifetime {lifetime}s is above the {max}s allowed for this kind")]
    LifetimeTooLong {
        /// Claimed lifetime.
        lifetime: u64,
        /// Maximum for the kind.
        max: u64,
    },
    /// Instance bucket is not the day of `expires_at`.
    #[error("instance bucket {bucket} does not match the expiry day {expected}")]
    BucketMismatch {
        /// Bucket in the instance id.
        bucket: u32,
        /// Day of `expires_at`.
        expected: u32,
    },
    /// A body field has the wrong shape.
    #[error("format: {0}")]
    Format(#[from] FormatError),
    /// Body fields do not fit together.
    #[error(transparent)]
    Syntax(#[from] SyntaxError),
    /// Not a sealed kind.
    #[error("{0} records are not sealed")]
    NotSealed(Kind),
}

impl RecordError {
    /// The stable category.
    pub fn kind(&self) -> ErrorKind {
        match self {
            RecordError::TooLarge { .. } => ErrorKind::TooLarge,
            RecordError::Truncated { .. } => ErrorKind::Truncated,
            RecordError::TrailingBytes { .. } => ErrorKind::TrailingBytes,
            RecordError::UnknownVersion(_) => ErrorKind::UnknownVersion,
            RecordError::UnknownKind(_) => ErrorKind::UnknownKind,
            RecordError::KeyMismatch => ErrorKind::KeyMismatch,
            RecordError::BadSignature => ErrorKind::BadSignature,
            RecordError::CreatedInFuture { .. } => ErrorKind::CreatedInFuture,
            RecordError::ExpiresBeforeCreated { .. } => ErrorKind::ExpiresBeforeCreated,
            RecordError::Expired { .. } => ErrorKind::Expired,
            RecordError::LifetimeTooLong { .. } => ErrorKind::LifetimeTooLong,
            RecordError::BucketMismatch { .. } => ErrorKind::BucketMismatch,
            RecordError::Format(_) => ErrorKind::Format,
            RecordError::Syntax(_) => ErrorKind::Syntax,
            RecordError::NotSealed(_) => ErrorKind::NotSealed,
        }
    }
}

impl From<DecodeError> for RecordError {
    fn from(error: DecodeError) -> Self {
        match error {
            DecodeError::Truncated { field } => RecordError::Truncated { field },
            DecodeError::TrailingBytes { count } => RecordError::TrailingBytes { count },
            // The envelope has no string or option fields.
            other => RecordError::Format(FormatError::from(other)),
        }
    }
}

/// Applies a [`Policy`]: the single gate every record passes.
#[derive(Clone, Debug, Default)]
pub struct Validator {
    policy: Policy,
}

impl Validator {
    /// A validator enforcing `policy` (its size limit capped at the protocol's).
    pub fn new(mut policy: Policy) -> Self {
        policy.max_record_bytes = policy.max_record_bytes.min(MAX_RECORD_BYTES);
        Self { policy }
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Checks `bytes`, received under DHT key `key`, at unix time `now`.
    pub fn validate(&self, key: &DhtKey, bytes: &[u8], now: u64) -> Result<Record, RecordError> {
        self.validate_with(key, bytes, now, &mut signature_valid)
    }

    /// [`Validator::validate`] with the signature check supplied by the
    /// caller; it must give the same answer as `signature_valid` (see
    /// [`crate::record::many`], which only caches decompressed keys).
    pub(crate) fn validate_with(
        &self,
        key: &DhtKey,
        bytes: &[u8],
        now: u64,
        signature_valid: &mut dyn FnMut(&crate::record::Decoded<'_>) -> bool,
    ) -> Result<Record, RecordError> {
        let max = self.policy.max_record_bytes;
        if bytes.len() > max {
            return Err(RecordError::TooLarge {
                size: bytes.len(),
                max,
            });
        }
        let decoded = decode(bytes)?;
        let header = decoded.header;
        if header.dht_key() != *key {
            return Err(RecordError::KeyMismatch);
        }
        if !signature_valid(&decoded) {
            return Err(RecordError::BadSignature);
        }
        self.check_time(&header, now)?;
        let content = body::check_carried(&header, decoded.body)?;
        Ok(Record::from_parts(header, decoded.body, content, bytes))
    }

    /// Stage two for sealed kinds: checks the decrypted body of `record`
    /// with the kind's format and syntax rules and returns its content.
    pub fn open_sealed(&self, record: &Record, plaintext: &[u8]) -> Result<Content, RecordError> {
        body::check_plaintext(&record.header, plaintext)
    }

    fn check_time(&self, header: &crate::record::Header, now: u64) -> Result<(), RecordError> {
        let (created_at, expires_at) = (header.created_at, header.expires_at);
        if created_at > now.saturating_add(self.policy.clock_skew_secs) {
            return Err(RecordError::CreatedInFuture { created_at, now });
        }
        if expires_at <= created_at {
            return Err(RecordError::ExpiresBeforeCreated {
                created_at,
                expires_at,
            });
        }
        if expires_at <= now {
            return Err(RecordError::Expired { expires_at, now });
        }
        let lifetime = expires_at - created_at;
        let max = self.policy.max_lifetime(header.kind);
        if lifetime > max {
            return Err(RecordError::LifetimeTooLong { lifetime, max });
        }
        let expected = InstanceId::bucket_of(expires_at);
        if header.instance.bucket != expected {
            return Err(RecordError::BucketMismatch {
                bucket: header.instance.bucket,
                expected,
            });
        }
        Ok(())
    }
}
