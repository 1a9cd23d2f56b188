//! Field formats shared by every kind: bounded one-line or multi-line text
//! (the character and NFC rules of [`crate::names`]),
//! http(s) links, display names, messages and directory names. One copy, so
//! a field means the same thing in every kind that carries it.

use super::{FormatError, MAX_DISPLAY_NAME_CHARS, MAX_LINK_BYTES, MAX_MESSAGE_CHARS};
use crate::codec::{DecodeError, Reader, Writer};
use crate::names;

pub(super) fn text(
    field: &'static str,
    value: &str,
    min_chars: usize,
    max_chars: usize,
    multi_line: bool,
) -> Result<String, FormatError> {
    let chars = value.chars().count();
    if chars < min_chars || chars > max_chars {
        return Err(FormatError::new(
            field,
            format!("{chars} characters, allowed {min_chars} to {max_chars}"),
        ));
    }
    // Single-line fields are what people are named and identified by:
    // bidi, zero-width and separator characters are refused there too
    // (see crate::names); every text field must be NFC.
    let checked = if multi_line {
        names::check_multi_line(value)
    } else {
        names::check_single_line(value)
    };
    checked.map_err(|error| FormatError::new(field, error.to_string()))?;
    if value.trim() != value {
        return Err(FormatError::new(field, "leading or trailing white space"));
    }
    Ok(value.to_owned())
}

pub(super) fn link(field: &'static str, value: &str) -> Result<String, FormatError> {
    if value.len() > MAX_LINK_BYTES {
        return Err(FormatError::new(field, "longer than 512 bytes"));
    }
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"))
        .ok_or_else(|| FormatError::new(field, "must start with https:// or http://"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(FormatError::new(field, "no host, or white space in link"));
    }
    Ok(value.to_owned())
}

/// Whether `name` is a valid display name (1–64 characters, one line, NFC,
/// no control, bidi, zero-width or separator characters, no surrounding
/// white space). Normalise user input with [`crate::names::nfc`] first.
pub fn check_display_name(name: &str) -> Result<(), FormatError> {
    text("display_name", name, 1, MAX_DISPLAY_NAME_CHARS, false).map(drop)
}

/// Whether `message` is a valid buddy-request message (0–1000 characters,
/// NFC, newlines allowed, no other control characters).
pub fn check_message(message: &str) -> Result<(), FormatError> {
    text("message", message, 0, MAX_MESSAGE_CHARS, true).map(drop)
}

/// Whether `name` is a valid directory name: 3 to 32 of `a-z 0-9 . _ -`,
/// starting with a letter or digit.
pub fn check_directory_name(name: &str) -> Result<(), FormatError> {
    let ok_len = (3..=32).contains(&name.len());
    let ok_chars = name
        .bytes()
        .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-'));
    let ok_start = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric());
    if ok_len && ok_chars && ok_start {
        Ok(())
    } else {
        Err(FormatError::new(
            "name",
            "3 to 32 of a-z 0-9 . _ -, starting with a letter or digit",
        ))
    }
}

/// Reads an option tag: `false` for 0 (absent), `true` for 1 (present).
pub(super) fn option_tag(
    reader: &mut Reader<'_>,
    field: &'static str,
) -> Result<bool, FormatError> {
    match reader.u8(field)? {
        0 => Ok(false),
        1 => Ok(true),
        tag => Err(DecodeError::BadOptionTag { field, tag }.into()),
    }
}

/// Writes an option tag and, when present, the value with `write`.
pub(super) fn write_option<T>(
    writer: &mut Writer,
    value: Option<&T>,
    write: impl FnOnce(&mut Writer, &T),
) {
    match value {
        None => {
            writer.u8(0);
        }
        Some(value) => {
            writer.u8(1);
            write(writer, value);
        }
    }
}

/// A 32-byte id field that must not be all zero (ids name real things).
pub(super) fn nonzero_id(
    reader: &mut Reader<'_>,
    field: &'static str,
) -> Result<[u8; 32], FormatError> {
    let id: [u8; 32] = reader.array(field)?;
    if id == [0; 32] {
        return Err(FormatError::new(field, "all zero"));
    }
    Ok(id)
}
