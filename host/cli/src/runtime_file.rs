//! `<home>/serve.json`: how to reach the `microlearn serve` that holds a data directory.
//!
//! sled lets one process open a data directory, so while `microlearn serve` runs, `microlearn
//! run` on the same directory cannot open it. The server therefore writes this file once it
//! listens: its address, its pid and a token of its own process (see
//! `microlearn_server::Started::local_token`), and removes it when it stops. A `run` that finds
//! the directory locked reads it and submits its pipeline to that server instead.
//!
//! The token is a credential, so the file is written with mode 0600, like Jupyter's runtime
//! files: whoever can read it can read the whole data directory anyway, and the token dies
//! with the process. A file left by a server that was killed is never trusted: the reader
//! checks that a server answers at that address *with that token* (a fresh process, even at
//! the same port, has another one), and a process that holds the directory's lock itself
//! knows no server does and removes the file.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The file's name in the data directory.
pub const FILE_NAME: &str = "serve.json";

/// What the file holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeFile {
    /// Base URL of the API, e.g. `http://127.0.0.1:8080`.
    pub url: String,
    /// The server's process id (for messages: which process holds the directory).
    pub pid: u32,
    /// The server process's local token.
    pub token: String,
}

/// Where the file of `home` is.
pub fn path(home: &Path) -> PathBuf {
    home.join(FILE_NAME)
}

/// Write the file atomically (a temporary file beside it, renamed over it), readable by the
/// owner only from the moment it exists.
pub fn write(home: &Path, file: &RuntimeFile) -> Result<()> {
    let dest = path(home);
    let tmp = home.join(format!(".{FILE_NAME}.{}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut f = options.open(&tmp)?;
        // A file left by an earlier process of the same pid keeps its old mode on open.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        let mut bytes = serde_json::to_vec_pretty(file).map_err(std::io::Error::other)?;
        bytes.push(b'\n');
        f.write_all(&bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &dest)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("writing the runtime file {}", dest.display()))
}

/// Read the file: `None` when there is none; an error names the file when it is unreadable
/// or not what a server writes (callers treat that as "no server").
pub fn read(home: &Path) -> Result<Option<RuntimeFile>> {
    let p = path(home);
    let text = match std::fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", p.display())),
    };
    let file = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a runtime file of microlearn serve", p.display()))?;
    Ok(Some(file))
}

/// Remove the file if it still holds `token` (the server's own, on its way out).
pub fn remove_own(home: &Path, token: &str) {
    if let Ok(Some(f)) = read(home)
        && f.token == token
    {
        let _ = std::fs::remove_file(path(home));
    }
}

/// Remove a file left by a server that did not stop cleanly. Called only by a process that
/// holds the data directory's lock: no server can be holding the directory then.
pub fn remove_stale(home: &Path) {
    let p = path(home);
    if p.exists() {
        match std::fs::remove_file(&p) {
            Ok(()) => {
                tracing::info!(path = %p.display(), "removed a runtime file left by a server that did not stop cleanly")
            }
            Err(e) => {
                tracing::warn!(path = %p.display(), error = %e, "removing a stale runtime file")
            }
        }
    }
}

/// Removes the file when dropped, so every way out of `serve` (a stop signal, an error after
/// listening) takes it away; only a killed process leaves it.
#[derive(Debug)]
pub struct Guard {
    home: PathBuf,
    token: String,
}

impl Guard {
    /// Write `file` and remove it when the guard drops.
    pub fn write(home: &Path, file: &RuntimeFile) -> Result<Guard> {
        write(home, file)?;
        Ok(Guard {
            home: home.to_path_buf(),
            token: file.token.clone(),
        })
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        remove_own(&self.home, &self.token);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RuntimeFile {
        RuntimeFile {
            url: "http://127.0.0.1:1".into(),
            pid: 7,
            token: "mll_x".into(),
        }
    }

    #[test]
    fn the_runtime_file_round_trips_owner_only_and_goes_with_its_guard() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()).unwrap(), None);
        let guard = Guard::write(dir.path(), &sample()).unwrap();
        assert_eq!(read(dir.path()).unwrap(), Some(sample()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path(dir.path()))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{mode:o}");
        }
        // No temporary file is left beside it.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [FILE_NAME]);
        drop(guard);
        assert!(!path(dir.path()).exists());
    }

    #[test]
    fn a_server_removes_only_its_own_file() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &sample()).unwrap();
        remove_own(dir.path(), "mll_someone_else");
        assert!(path(dir.path()).exists());
        remove_own(dir.path(), "mll_x");
        assert!(!path(dir.path()).exists());
    }

    #[test]
    fn a_damaged_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(path(dir.path()), "{").unwrap();
        let e = format!("{:#}", read(dir.path()).unwrap_err());
        assert!(e.contains(FILE_NAME), "{e}");
    }
}
