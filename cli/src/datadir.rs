//! The user's data directory: where it is, whether it can be used, who is
//! using it, and the peers saved in it.
//!
//! Every check that can fail because of what the user gave runs before the
//! directory is created or a database opened, so that bad input leaves
//! nothing behind. A process that runs a network peer holds an exclusive
//! lock on the directory (two peers with one key would fight); commands that
//! only read or change the local database do not need it, so `requests` or
//! `accept`'s look-up work next to a running `serve`.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};

use pigeonhole_node::node::DB_FILE;
use pigeonhole_sdk::Multiaddr;

use crate::error::CliError;

const LOCK_FILE: &str = "lock";
const PEERS_FILE: &str = "peers";

/// A checked data directory.
#[derive(Clone, Debug)]
pub struct DataDir {
    path: PathBuf,
}

/// Whether a command may create a new identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Create {
    /// First use is fine (`id`, `profile`, `serve`, `add-peer`).
    Allowed,
    /// The command needs an identity that already exists.
    Refused,
}

impl DataDir {
    /// Resolves the directory (`--data-dir`, `PIGEONHOLE_DATA_DIR`, or the
    /// platform default) and checks it is usable, creating it if allowed.
    pub fn open(given: Option<&Path>, create: Create) -> Result<DataDir, CliError> {
        let path = match given {
            Some(path) => path.to_path_buf(),
            None => default_dir()?,
        };
        if path.exists() && !path.is_dir() {
            return Err(CliError::BadInput(format!(
                "data directory {} exists and is not a directory",
                path.display()
            )));
        }
        if !path.join(DB_FILE).exists() {
            if create == Create::Refused {
                return Err(CliError::BadInput(format!(
                    "no Pigeonhole identity in {} yet: run `pigeonhole profile NAME` \
                     (or `pigeonhole id`) first, or pass --data-dir",
                    path.display()
                )));
            }
            std::fs::create_dir_all(&path).map_err(|error| {
                CliError::BadInput(format!(
                    "cannot create data directory {}: {error}",
                    path.display()
                ))
            })?;
        }
        tempfile::NamedTempFile::new_in(&path).map_err(|error| {
            CliError::BadInput(format!(
                "data directory {} is not writable: {error}",
                path.display()
            ))
        })?;
        Ok(DataDir { path })
    }

    /// The peers saved in the directory the user chose, read without
    /// creating or checking anything (none if it does not exist).
    pub fn peek_saved_peers(given: Option<&Path>) -> Result<Vec<Multiaddr>, CliError> {
        let path = match given {
            Some(path) => path.to_path_buf(),
            None => default_dir()?,
        };
        Ok(DataDir { path }.saved_peers())
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The database file.
    pub fn db_file(&self) -> PathBuf {
        self.path.join(DB_FILE)
    }

    /// Takes the exclusive lock a running peer holds for as long as the
    /// returned file lives.
    pub fn lock(&self) -> Result<File, CliError> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.path.join(LOCK_FILE))
            .map_err(|error| CliError::Failed(format!("cannot open the lock file: {error}")))?;
        match file.try_lock() {
            Ok(()) => Ok(file),
            Err(TryLockError::WouldBlock) => Err(CliError::Failed(format!(
                "{} is in use by another pigeonhole peer (a running `pigeonhole serve`?): \
                 stop it, or use another --data-dir",
                self.path.display()
            ))),
            Err(TryLockError::Error(error)) => Err(CliError::Failed(format!(
                "cannot lock {}: {error}",
                self.path.display()
            ))),
        }
    }

    /// Whether a peer (usually `serve`) holds the directory now.
    pub fn in_use(&self) -> bool {
        let Ok(file) = File::open(self.path.join(LOCK_FILE)) else {
            return false;
        };
        matches!(file.try_lock_shared(), Err(TryLockError::WouldBlock))
    }

    /// Peers saved with `add-peer`, in the order saved. Lines that no
    /// longer parse are skipped with a warning.
    pub fn saved_peers(&self) -> Vec<Multiaddr> {
        let Ok(text) = std::fs::read_to_string(self.path.join(PEERS_FILE)) else {
            return Vec::new();
        };
        text.lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .filter_map(|line| match line.parse() {
                Ok(addr) => Some(addr),
                Err(error) => {
                    tracing::warn!(line, %error, "skipping a saved peer that does not parse");
                    None
                }
            })
            .collect()
    }

    /// Saves `addr` for later commands; false if it was saved already.
    pub fn save_peer(&self, addr: &Multiaddr) -> Result<bool, CliError> {
        if self.saved_peers().contains(addr) {
            return Ok(false);
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path.join(PEERS_FILE))
            .and_then(|mut file| writeln!(file, "{addr}").map(|_| file))
            .map_err(|error| CliError::Failed(format!("cannot save the peer: {error}")))?;
        file.flush()
            .map_err(|error| CliError::Failed(format!("cannot save the peer: {error}")))?;
        Ok(true)
    }
}

fn default_dir() -> Result<PathBuf, CliError> {
    directories::ProjectDirs::from("org", "pigeonhole", "pigeonhole")
        .map(|dirs| dirs.data_dir().to_path_buf())
        .ok_or_else(|| {
            CliError::BadInput("no home directory to keep data in: pass --data-dir".into())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_identity_is_refused_without_creating_anything() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("nobody");
        let error = DataDir::open(Some(&dir), Create::Refused).unwrap_err();
        assert!(matches!(error, CliError::BadInput(ref m) if m.contains("no Pigeonhole identity")));
        assert!(!dir.exists());
    }

    #[test]
    fn a_file_in_the_way_is_bad_input() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        assert!(matches!(
            DataDir::open(Some(&file), Create::Allowed),
            Err(CliError::BadInput(_))
        ));
        assert!(matches!(
            DataDir::open(Some(&file.join("sub")), Create::Allowed),
            Err(CliError::BadInput(_))
        ));
    }

    #[test]
    fn peers_are_saved_once_and_the_lock_is_exclusive() {
        let root = tempfile::tempdir().unwrap();
        let dir = DataDir::open(Some(root.path()), Create::Allowed).unwrap();
        let addr: Multiaddr = "/ip4/127.0.0.1/tcp/4001".parse().unwrap();
        assert!(dir.save_peer(&addr).unwrap());
        assert!(!dir.save_peer(&addr).unwrap());
        assert_eq!(dir.saved_peers(), vec![addr]);
        assert!(!dir.in_use());
        let held = dir.lock().unwrap();
        assert!(dir.in_use());
        assert!(matches!(dir.lock(), Err(CliError::Failed(_))));
        drop(held);
        assert!(!dir.in_use());
    }
}
