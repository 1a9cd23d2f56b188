//! A contact code as a QR code, for the app to draw or show.
//!
//! Two forms, so that no app needs a QR library of its own: a square
//! matrix of dark/light modules (draw it on a Compose `Canvas` or in SwiftUI)
//! and a ready SVG string. Contact codes use only `A–Z`, `2–7` and `-`, so
//! they fit QR's compact alphanumeric mode.

use qrcode::render::svg;
use qrcode::{Color, EcLevel, QrCode};

use crate::error::PigeonholeError;

/// A QR code as a square matrix of modules.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct QrMatrix {
    /// Modules per side.
    pub size: u32,
    /// `size × size` modules, row by row from the top left; `true` is dark.
    /// Leave a light margin of 4 modules around it when drawing.
    pub modules: Vec<bool>,
}

fn encode(contact_code: &str) -> Result<QrCode, PigeonholeError> {
    // Read the code first: a QR of a mistyped code helps nobody.
    pigeonhole::contact::ContactCode::parse(contact_code)?;
    QrCode::with_error_correction_level(contact_code.trim(), EcLevel::M)
        .map_err(|error| PigeonholeError::invalid(format!("cannot make a QR code: {error}")))
}

/// The QR matrix of a contact code. `BadContactCode` if it does not read.
#[uniffi::export]
pub fn contact_code_qr(contact_code: String) -> Result<QrMatrix, PigeonholeError> {
    let code = encode(&contact_code)?;
    Ok(QrMatrix {
        size: code.width() as u32,
        modules: code
            .to_colors()
            .into_iter()
            .map(|c| c == Color::Dark)
            .collect(),
    })
}

/// The QR code of a contact code as an SVG document at least
/// `min_size` pixels wide, quiet zone included.
#[uniffi::export(default(min_size = 256))]
pub fn contact_code_svg(contact_code: String, min_size: u32) -> Result<String, PigeonholeError> {
    let code = encode(&contact_code)?;
    Ok(code
        .render::<svg::Color<'_>>()
        .min_dimensions(min_size, min_size)
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pigeonhole::contact::{ContactCode, InboxToken};
    use pigeonhole::identity::Identity;

    fn a_code() -> String {
        ContactCode::new(Identity::generate().public_key(), InboxToken::random()).to_string()
    }

    #[test]
    fn matrix_is_square_with_finder_patterns() {
        let matrix = contact_code_qr(a_code()).expect("qr");
        let size = matrix.size as usize;
        assert_eq!(matrix.modules.len(), size * size);
        assert!(size >= 21);
        // The top-left finder pattern: a dark 7-module ring.
        assert!((0..7).all(|i| matrix.modules[i] && matrix.modules[i * size]));
        assert!(!matrix.modules[size + 1], "the ring's inside is light");
    }

    #[test]
    fn svg_and_bad_codes() {
        let svg = contact_code_svg(a_code(), 128).expect("svg");
        assert!(svg.contains("<svg") && svg.contains("</svg>"));
        assert!(matches!(
            contact_code_qr("PH-NOTACODE".into()),
            Err(PigeonholeError::BadContactCode { .. })
        ));
    }
}
