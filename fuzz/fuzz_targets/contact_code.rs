//! Contact code text as typed or scanned by a user: parse, and a parsed
//! code prints back to text that parses to the same code, and never
//! names a version-1 inbox (those codes are refused as retired).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pigeonhole::contact::ContactCode;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(code) = ContactCode::parse(&text) {
        let again = ContactCode::parse(&code.to_string()).expect("printed code parses");
        assert_eq!(again, code);
        assert!(code.inbox_token.legacy().is_none(), "a version-1 inbox");
    }
});
