//! Text rules for what people read as a name or a title, and the check
//! that flags names made to pass for someone else's.
//!
//! A display name is what a user decides by: "Alice" asks to be a buddy.
//! Three tricks make a name lie, and each is handled here:
//! * **Invisible or reordering characters** — bidi controls (shown text
//!   runs backwards: U+202E turns "Alice\u{202E}ecilA" around), zero-width
//!   characters ("Al\u{200B}ice" is not "Alice" but looks it) and line or
//!   paragraph separators (a name that breaks a list row). They are
//!   refused in single-line fields ([`check_single_line`]), each class with
//!   its own [`CharClass`], so an app can say which.
//! * **Several encodings of one text** — "é" as one code point or as "e" +
//!   U+0301. Every text field must be in Unicode Normalization Form C on
//!   the wire ([`is_nfc`]); senders normalise first ([`nfc`]), so equal
//!   names are equal bytes and derived mailboxes (a feed's, a document's)
//!   do not depend on the keyboard.
//! * **Look-alike letters** — "Аlice" with a Cyrillic А. Refusing every
//!   non-Latin letter would shut out most of the world, so these names are
//!   not refused but *flagged* ([`NameCheck`]) for the app to show, using
//!   the Unicode security mechanisms of UTS #39 (mixed-script detection
//!   and confusable skeletons) from the `unicode-security` crate, never
//!   tables written here.
//!
//! Multi-line text (messages, summaries) keeps bidi and zero-width
//! characters: right-to-left writing and emoji need them there, and it is
//! not what a user is identified by. It must still be NFC.

use std::fmt;

use unicode_normalization::UnicodeNormalization;
use unicode_security::MixedScript;

/// A class of characters refused in single-line fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CharClass {
    /// A control character (general category Cc: U+0000–001F, U+007F–009F).
    Control,
    /// A bidirectional formatting character (the Bidi_Control property:
    /// U+061C, U+200E, U+200F, U+202A–202E, U+2066–2069), which reorders
    /// how the text around it is shown.
    Bidi,
    /// An invisible character: U+200B–200D, U+2060–2064, U+FEFF, U+180E,
    /// U+00AD, U+034F, the Hangul fillers (U+115F, U+1160, U+3164, U+FFA0),
    /// U+17B4–17B5 and tag characters (U+E0000–E007F). Two exceptions keep
    /// emoji working: U+200D between two emoji-like characters (neither
    /// ASCII, a letter, a digit nor white space), as in "👩‍👧", and tag
    /// characters right after U+1F3F4 (subdivision flags).
    ZeroWidth,
    /// U+2028 LINE SEPARATOR or U+2029 PARAGRAPH SEPARATOR.
    LineSeparator,
}

impl CharClass {
    /// The class in words, as used in error messages.
    pub fn name(self) -> &'static str {
        match self {
            CharClass::Control => "control character",
            CharClass::Bidi => "bidirectional control character",
            CharClass::ZeroWidth => "zero-width (invisible) character",
            CharClass::LineSeparator => "line or paragraph separator",
        }
    }
}

impl fmt::Display for CharClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a text field breaks the text rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// A refused character.
    #[error("{class} U+{code:04X} at character {position}", code = *character as u32)]
    Refused {
        /// Its class.
        class: CharClass,
        /// The character.
        character: char,
        /// Its position, in characters from 0.
        position: usize,
    },
    /// The text is not in Unicode Normalization Form C.
    #[error("not in Unicode normalization form C (NFC)")]
    NotNfc,
}

impl TextError {
    /// The refused character's class, if that is the problem.
    pub fn class(&self) -> Option<CharClass> {
        match self {
            TextError::Refused { class, .. } => Some(*class),
            TextError::NotNfc => None,
        }
    }
}

/// The class `c` belongs to if it is refused in a single-line field,
/// ignoring the emoji exceptions (see [`CharClass::ZeroWidth`]).
pub fn refused_class(c: char) -> Option<CharClass> {
    match c {
        '\u{2028}' | '\u{2029}' => Some(CharClass::LineSeparator),
        '\u{061C}'
        | '\u{200E}'
        | '\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2066}'..='\u{2069}' => Some(CharClass::Bidi),
        '\u{200B}'..='\u{200D}'
        | '\u{2060}'..='\u{2064}'
        | '\u{FEFF}'
        | '\u{180E}'
        | '\u{00AD}'
        | '\u{034F}'
        | '\u{115F}'
        | '\u{1160}'
        | '\u{3164}'
        | '\u{FFA0}'
        | '\u{17B4}'
        | '\u{17B5}'
        | '\u{E0000}'..='\u{E007F}' => Some(CharClass::ZeroWidth),
        c if c.is_control() => Some(CharClass::Control),
        _ => None,
    }
}

/// Whether `c` may stand either side of an emoji joiner (U+200D).
fn emoji_like(c: char) -> bool {
    !c.is_ascii() && !c.is_alphanumeric() && !c.is_whitespace() && refused_class(c).is_none()
}

/// The first refused character of a single-line field, if any: its class,
/// the character and its position in characters.
pub fn first_refused(text: &str) -> Option<(CharClass, char, usize)> {
    let chars: Vec<char> = text.chars().collect();
    chars.iter().enumerate().find_map(|(i, &c)| {
        let class = refused_class(c)?;
        let allowed = match c {
            '\u{200D}' => {
                i > 0
                    && chars.get(i + 1).is_some_and(|&next| emoji_like(next))
                    && emoji_like(chars[i - 1])
            }
            '\u{E0020}'..='\u{E007F}' => {
                // A tag sequence: U+1F3F4 then tags, ended by U+E007F.
                let start = chars[..i]
                    .iter()
                    .rposition(|&p| !matches!(p, '\u{E0020}'..='\u{E007E}'));
                start.is_some_and(|s| chars[s] == '\u{1F3F4}')
            }
            _ => false,
        };
        (!allowed).then_some((class, c, i))
    })
}

/// Checks a single-line field: no refused character, and NFC.
pub fn check_single_line(text: &str) -> Result<(), TextError> {
    if let Some((class, character, position)) = first_refused(text) {
        return Err(TextError::Refused {
            class,
            character,
            position,
        });
    }
    if !is_nfc(text) {
        return Err(TextError::NotNfc);
    }
    Ok(())
}

/// Checks a multi-line field: no control character but `\n`, and NFC.
pub fn check_multi_line(text: &str) -> Result<(), TextError> {
    if let Some((position, character)) = text
        .chars()
        .enumerate()
        .find(|(_, c)| c.is_control() && *c != '\n')
    {
        return Err(TextError::Refused {
            class: CharClass::Control,
            character,
            position,
        });
    }
    if !is_nfc(text) {
        return Err(TextError::NotNfc);
    }
    Ok(())
}

/// Whether `text` is in Unicode Normalization Form C.
pub fn is_nfc(text: &str) -> bool {
    unicode_normalization::is_nfc(text)
}

/// `text` in Unicode Normalization Form C: what senders put on the wire.
pub fn nfc(text: &str) -> String {
    text.nfc().collect()
}

/// What the look-alike check found in a name. The name is still valid:
/// apps show a warning ("this name mixes alphabets") next to it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NameCheck {
    /// Letters from more than one script that do not go together (UTS #39
    /// mixed-script detection: Japanese kana with kanji is one script,
    /// Latin with Cyrillic is two), as in "Аlice" with a Cyrillic "А".
    pub mixed_script: bool,
    /// Not plain ASCII, but its confusable skeleton is: it could pass for
    /// an ASCII name ("раура" in Cyrillic reads "paypa"; full-width
    /// "Ａｌｉｃｅ").
    pub looks_ascii: bool,
    /// The UTS #39 confusable skeleton: two names with equal skeletons
    /// look alike (apps can compare a new name with their buddies').
    pub skeleton: String,
}

impl NameCheck {
    /// Checks `name`.
    pub fn of(name: &str) -> Self {
        let skeleton: String = unicode_security::skeleton(name).collect();
        Self {
            mixed_script: !name.is_single_script(),
            looks_ascii: !name.is_ascii() && skeleton.is_ascii(),
            skeleton,
        }
    }

    /// Whether the app should warn that the name may imitate another.
    pub fn suspicious(&self) -> bool {
        self.mixed_script || self.looks_ascii
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(text: &str) -> Option<CharClass> {
        check_single_line(text).err().and_then(|e| e.class())
    }

    #[test]
    fn each_refused_class_is_named() {
        assert_eq!(class("Al\u{7}ice"), Some(CharClass::Control));
        assert_eq!(class("Al\nice"), Some(CharClass::Control));
        for bidi in [
            '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}',
            '\u{2068}', '\u{2069}', '\u{200E}', '\u{200F}', '\u{061C}',
        ] {
            assert_eq!(
                class(&format!("Alice{bidi}x")),
                Some(CharClass::Bidi),
                "{bidi:?}"
            );
        }
        for zero in [
            '\u{200B}',
            '\u{200C}',
            '\u{200D}',
            '\u{2060}',
            '\u{FEFF}',
            '\u{00AD}',
            '\u{3164}',
            '\u{E0041}',
        ] {
            assert_eq!(
                class(&format!("Al{zero}ice")),
                Some(CharClass::ZeroWidth),
                "{zero:?}"
            );
        }
        for separator in ['\u{2028}', '\u{2029}'] {
            assert_eq!(
                class(&format!("Alice{separator}Bob")),
                Some(CharClass::LineSeparator)
            );
        }
        assert_eq!(
            check_single_line("Al\u{202E}ice"),
            Err(TextError::Refused {
                class: CharClass::Bidi,
                character: '\u{202E}',
                position: 2
            })
        );
        assert!(
            check_single_line("Al\u{200B}ice")
                .unwrap_err()
                .to_string()
                .contains("zero-width")
        );
    }

    #[test]
    fn emoji_sequences_and_scripts_pass() {
        for fine in [
            "Alice",
            "Zoë Ñandú",
            "山田 太郎",
            "محمد",
            "Мария",
            "👩\u{200D}👧 family",
            "❤\u{FE0F} Bob",
            "\u{1F3F4}\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F} Scot",
        ] {
            assert_eq!(check_single_line(fine), Ok(()), "{fine}");
        }
        // A joiner between letters, or at an end, is still refused.
        assert_eq!(class("Al\u{200D}ice"), Some(CharClass::ZeroWidth));
        assert_eq!(class("👩\u{200D}"), Some(CharClass::ZeroWidth));
        // Tags not after a black flag are invisible padding.
        assert_eq!(class("Bob\u{E0067}\u{E007F}"), Some(CharClass::ZeroWidth));
    }

    #[test]
    fn nfc_is_required_and_made() {
        let decomposed = "Jose\u{301}";
        assert_eq!(check_single_line(decomposed), Err(TextError::NotNfc));
        assert_eq!(check_multi_line(decomposed), Err(TextError::NotNfc));
        let composed = nfc(decomposed);
        assert_eq!(composed, "Jos\u{E9}");
        assert_eq!(check_single_line(&composed), Ok(()));
        // Multi-line text keeps newlines and bidi marks.
        assert_eq!(check_multi_line("שלום\u{200F}!\nBye"), Ok(()));
        assert_eq!(
            check_multi_line("a\u{7}b").unwrap_err().class(),
            Some(CharClass::Control)
        );
    }

    #[test]
    fn confusable_names_are_flagged() {
        let cyrillic_a = NameCheck::of("\u{410}lice");
        assert!(cyrillic_a.mixed_script && cyrillic_a.suspicious());
        assert_eq!(cyrillic_a.skeleton, NameCheck::of("Alice").skeleton);
        assert!(NameCheck::of("раура").looks_ascii);
        assert!(NameCheck::of("Ａｌｉｃｅ").suspicious());
        for honest in [
            "Alice",
            "Zoë",
            "José",
            "山田 太郎",
            "Мария",
            "محمد",
            "Bob 👍",
        ] {
            assert!(!NameCheck::of(honest).suspicious(), "{honest}");
        }
    }
}
