//! The look-alike check ([`crate::names::NameCheck`]) on what a user
//! decides by: the display name of a received request and of a directory
//! claim. Computed when asked, from the checked name, so nothing is stored
//! and an improved check applies to requests already waiting.

use crate::buddy::{DirectoryClaim, PendingRequest};
use crate::names::NameCheck;

impl PendingRequest {
    /// Whether the requester's display name mixes scripts or imitates an
    /// ASCII name; show a warning when [`NameCheck::suspicious`].
    pub fn name_check(&self) -> NameCheck {
        NameCheck::of(&self.body.display_name)
    }
}

impl DirectoryClaim {
    /// The same check on the display name the claim gives.
    pub fn name_check(&self) -> NameCheck {
        NameCheck::of(&self.display_name)
    }
}
