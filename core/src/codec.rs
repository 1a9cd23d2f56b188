//! The byte reader and writer behind every canonical encoding in the protocol.
//!
//! Records and bodies use a hand-written layout (big-endian integers, `u16`
//! length-prefixed strings, `u8`-prefixed lists) instead of a serde format, so
//! that `docs/PROTOCOL.md` can describe every byte and another implementation
//! can produce identical bytes. A [`Reader`] never panics on short input and
//! refuses trailing bytes in [`Reader::finish`].

/// Why a byte string could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended in the middle of `field`.
    #[error("input ends inside field `{field}`")]
    Truncated {
        /// The field being read when the input ran out.
        field: &'static str,
    },
    /// Bytes were left over after the last field.
    #[error("{count} trailing bytes after the last field")]
    TrailingBytes {
        /// How many bytes were left.
        count: usize,
    },
    /// A string field held bytes that are not UTF-8.
    #[error("field `{field}` is not valid UTF-8")]
    NotUtf8 {
        /// The offending field.
        field: &'static str,
    },
    /// An option tag was neither 0 (absent) nor 1 (present).
    #[error("field `{field}` has option tag {tag}, expected 0 or 1")]
    BadOptionTag {
        /// The offending field.
        field: &'static str,
        /// The tag found.
        tag: u8,
    },
}

/// Appends fields in the canonical layout.
#[derive(Debug, Default)]
pub struct Writer {
    bytes: Vec<u8>,
}

impl Writer {
    /// A writer with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            bytes: Vec::with_capacity(capacity),
        }
    }

    /// Appends one byte.
    pub fn u8(&mut self, value: u8) -> &mut Self {
        self.bytes.push(value);
        self
    }

    /// Appends a big-endian `u16`.
    pub fn u16(&mut self, value: u16) -> &mut Self {
        self.bytes.extend_from_slice(&value.to_be_bytes());
        self
    }

    /// Appends a big-endian `u64`.
    pub fn u64(&mut self, value: u64) -> &mut Self {
        self.bytes.extend_from_slice(&value.to_be_bytes());
        self
    }

    /// Appends bytes with no length prefix (fixed-size fields).
    pub fn raw(&mut self, value: &[u8]) -> &mut Self {
        self.bytes.extend_from_slice(value);
        self
    }

    /// Appends a `u16` length prefix and the bytes. Callers bound the length
    /// before encoding; a longer value is a programming error.
    pub fn bytes16(&mut self, value: &[u8]) -> &mut Self {
        let len = u16::try_from(value.len()).expect("field longer than u16::MAX");
        self.u16(len).raw(value)
    }

    /// Appends a string as [`Writer::bytes16`] of its UTF-8 bytes.
    pub fn str16(&mut self, value: &str) -> &mut Self {
        self.bytes16(value.as_bytes())
    }

    /// Appends an optional string: tag 0, or tag 1 and the string.
    pub fn opt_str16(&mut self, value: Option<&str>) -> &mut Self {
        match value {
            None => self.u8(0),
            Some(text) => self.u8(1).str16(text),
        }
    }

    /// The bytes written so far.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// Reads fields in the canonical layout from a byte slice.
#[derive(Debug)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    /// Reads exactly `len` bytes.
    pub fn take(&mut self, len: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.rest.len() < len {
            return Err(DecodeError::Truncated { field });
        }
        let (head, tail) = self.rest.split_at(len);
        self.rest = tail;
        Ok(head)
    }

    /// Reads a fixed-size array.
    pub fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let bytes = self.take(N, field)?;
        Ok(bytes.try_into().expect("take returned N bytes"))
    }

    /// Reads one byte.
    pub fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(field)?[0])
    }

    /// Reads a big-endian `u16`.
    pub fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    /// Reads a big-endian `u64`.
    pub fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }

    /// Reads a `u16` length prefix and that many bytes.
    pub fn bytes16(&mut self, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let len = self.u16(field)?;
        self.take(usize::from(len), field)
    }

    /// Reads a [`Reader::bytes16`] field that must be UTF-8.
    pub fn str16(&mut self, field: &'static str) -> Result<&'a str, DecodeError> {
        std::str::from_utf8(self.bytes16(field)?).map_err(|_| DecodeError::NotUtf8 { field })
    }

    /// Reads an optional string written by [`Writer::opt_str16`].
    pub fn opt_str16(&mut self, field: &'static str) -> Result<Option<&'a str>, DecodeError> {
        match self.u8(field)? {
            0 => Ok(None),
            1 => self.str16(field).map(Some),
            tag => Err(DecodeError::BadOptionTag { field, tag }),
        }
    }

    /// How many bytes are left.
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// Succeeds only if every byte was consumed.
    pub fn finish(self) -> Result<(), DecodeError> {
        match self.rest.len() {
            0 => Ok(()),
            count => Err(DecodeError::TrailingBytes { count }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_field_type() {
        let mut writer = Writer::default();
        writer
            .u8(7)
            .u16(0x0102)
            .u64(0x0102_0304_0506_0708)
            .raw(&[9, 9])
            .str16("héllo")
            .opt_str16(None)
            .opt_str16(Some("x"));
        let bytes = writer.into_bytes();
        let mut reader = Reader::new(&bytes);
        assert_eq!(reader.u8("a").unwrap(), 7);
        assert_eq!(reader.u16("b").unwrap(), 0x0102);
        assert_eq!(reader.u64("c").unwrap(), 0x0102_0304_0506_0708);
        assert_eq!(reader.array::<2>("d").unwrap(), [9, 9]);
        assert_eq!(reader.str16("e").unwrap(), "héllo");
        assert_eq!(reader.opt_str16("f").unwrap(), None);
        assert_eq!(reader.opt_str16("g").unwrap(), Some("x"));
        reader.finish().unwrap();
    }

    #[test]
    fn short_input_and_trailing_bytes_are_errors() {
        let mut reader = Reader::new(&[0, 5, b'a']);
        assert_eq!(
            reader.str16("name"),
            Err(DecodeError::Truncated { field: "name" })
        );
        let mut reader = Reader::new(&[1, 2]);
        reader.u8("a").unwrap();
        assert_eq!(
            reader.finish(),
            Err(DecodeError::TrailingBytes { count: 1 })
        );
        let mut reader = Reader::new(&[2]);
        assert_eq!(
            reader.opt_str16("o"),
            Err(DecodeError::BadOptionTag { field: "o", tag: 2 })
        );
        let mut reader = Reader::new(&[0, 1, 0xff]);
        assert_eq!(reader.str16("s"), Err(DecodeError::NotUtf8 { field: "s" }));
    }
}
