//! The public-key directory: a name people can type, mapped to a key.
//!
//! The seed allows a request to carry only the requester's name, the key
//! being looked up in a public-key directory. Here the directory lives in
//! the same DHT: a signed key-directory record in the mailbox of the name.
//! Anyone can claim any name, so a lookup returns every live claim with its
//! key and never picks one: a request naming its sender is accepted only if
//! one of the claims is the signer's key, and apps show conflicts to users.
//!
//! The sync looks names up through a cache kept in the database
//! ([`crate::store::admission`]): claims found, and negative results too,
//! are trusted for `BuddyConfig::directory_cache_secs`, across syncs and
//! restarts, so a flood of requests naming fresh names costs at most one
//! scan per name per cache lifetime — and none at all for requests the
//! caps drop first.

use crate::buddy::{BuddyBook, BuddyError};
use crate::identity::PublicKey;
use crate::mailbox::{Dht, Draft};
use crate::record::Kind;
use crate::record::body::{self, BodyRules, Content, DirectoryEntry};
use crate::store::admission::CachedClaim;

/// One claim to a directory name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryClaim {
    /// The key that signed the claim.
    pub public_key: PublicKey,
    /// The display name it gave.
    pub display_name: String,
    /// When the claim was made.
    pub created_at: u64,
    /// When the claim expires.
    pub expires_at: u64,
}

impl From<CachedClaim> for DirectoryClaim {
    fn from(claim: CachedClaim) -> Self {
        Self {
            public_key: claim.public_key,
            display_name: claim.display_name,
            created_at: claim.created_at,
            expires_at: claim.expires_at,
        }
    }
}

impl<D: Dht> BuddyBook<D> {
    /// The claims to `name`, from the cache while it is fresh, else looked
    /// up and cached (an empty result too).
    pub(super) async fn cached_claims(
        &self,
        name: &str,
    ) -> Result<Vec<DirectoryClaim>, BuddyError> {
        let now = self.clock.now();
        if let Some((looked_up_at, claims)) = self.store.cached_directory(name)?
            && looked_up_at.saturating_add(self.config.directory_cache_secs) > now
        {
            return Ok(claims.into_iter().map(DirectoryClaim::from).collect());
        }
        let claims = self.lookup_directory(name).await?;
        let cached: Vec<CachedClaim> = claims
            .iter()
            .map(|claim| CachedClaim {
                public_key: claim.public_key,
                display_name: claim.display_name.clone(),
                created_at: claim.created_at,
                expires_at: claim.expires_at,
            })
            .collect();
        self.store.cache_directory(name, &cached)?;
        Ok(claims)
    }

    /// Publishes this user's directory entry (profile directory name →
    /// key). Republish before it expires to keep the name.
    pub async fn publish_directory_entry(&self) -> Result<DirectoryClaim, BuddyError> {
        let (display_name, directory_name) = self.profile()?;
        let name = directory_name.ok_or(BuddyError::ProfileMissing)?;
        let entry = DirectoryEntry {
            name: name.clone(),
            display_name: display_name.clone(),
        };
        let record = self
            .mailbox
            .publish(
                &self.identity,
                Draft {
                    kind: Kind::KeyDirectory,
                    mailbox: body::directory_mailbox(&name),
                    body: entry.encode(),
                    lifetime_secs: self.config.directory_lifetime_secs,
                },
            )
            .await?;
        self.store.set_directory_expiry(record.header.expires_at)?;
        Ok(DirectoryClaim {
            public_key: self.identity.public_key(),
            display_name,
            created_at: record.header.created_at,
            expires_at: record.header.expires_at,
        })
    }

    /// Publishes the directory entry again when the profile names one and
    /// the last entry is missing or has less than a third of its lifetime
    /// left; whether it did. The sync calls this, so a user keeps its name
    /// for as long as it keeps using the app.
    pub async fn refresh_directory_entry(&self) -> Result<bool, BuddyError> {
        let Some((_, Some(_))) = self.store.profile()? else {
            return Ok(false);
        };
        let now = self.clock.now();
        let fresh_until = self.config.directory_lifetime_secs / 3;
        match self.store.directory_expiry()? {
            Some(expires_at) if expires_at.saturating_sub(now) > fresh_until => Ok(false),
            _ => {
                self.publish_directory_entry().await?;
                Ok(true)
            }
        }
    }

    /// Every live claim to `name`, one per key (a key's newest claim), in
    /// the order found. Conflicting claims are all returned.
    pub async fn lookup_directory(&self, name: &str) -> Result<Vec<DirectoryClaim>, BuddyError> {
        body::check_directory_name(name)?;
        let longest = self.validator.policy().max_lifetime(Kind::KeyDirectory);
        let fetched = self
            .mailbox
            .fetch_within(body::directory_mailbox(name), longest)
            .await?;
        let mut claims: Vec<DirectoryClaim> = Vec::new();
        for record in fetched.records {
            let Content::KeyDirectory(entry) = record.content else {
                continue;
            };
            let claim = DirectoryClaim {
                public_key: record.header.sender,
                display_name: entry.display_name,
                created_at: record.header.created_at,
                expires_at: record.header.expires_at,
            };
            match claims.iter_mut().find(|c| c.public_key == claim.public_key) {
                Some(existing) if existing.created_at < claim.created_at => *existing = claim,
                Some(_) => {}
                None => claims.push(claim),
            }
        }
        Ok(claims)
    }
}
