//! File stamps and when they can be trusted: a [`Stamp`] says whether a file or directory changed
//! since it was read, and [`Trust`] says which stamps are old enough to rely on (git's "racily
//! clean" rule, against the scan mark touched when a refresh starts). The walk takes stamps, the
//! cache keeps them; what to reuse is [`super::refresh`]'s call.

use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::files::SCAN_MARK_FILE;
use crate::artifacts::ArtifactError;

/// What identifies the content of a file or the entries of a directory: size, mtime, ctime
/// (seconds and nanoseconds) and inode. An atomic rewrite changes the inode, an append the size,
/// anything else the times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Stamp {
    pub len: u64,
    pub mtime: [i64; 2],
    pub ctime: [i64; 2],
    pub ino: u64,
}

impl Stamp {
    #[cfg(unix)]
    pub fn of(metadata: &fs::Metadata) -> Stamp {
        use std::os::unix::fs::MetadataExt;
        Stamp {
            len: metadata.len(),
            mtime: [metadata.mtime(), metadata.mtime_nsec()],
            ctime: [metadata.ctime(), metadata.ctime_nsec()],
            ino: metadata.ino(),
        }
    }

    #[cfg(not(unix))]
    pub fn of(metadata: &fs::Metadata) -> Stamp {
        let mtime = metadata
            .modified()
            .ok()
            .and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|since| [since.as_secs() as i64, i64::from(since.subsec_nanos())])
            .unwrap_or([i64::MAX, 0]);
        Stamp {
            len: metadata.len(),
            mtime,
            ctime: mtime,
            ino: 0,
        }
    }
}

/// Which stamps can be trusted: those older than the scan mark. `Trust::nothing()` trusts none
/// (a rebuild from scratch keeps nothing it cannot trust either way).
pub(super) struct Trust {
    mark: Option<[i64; 2]>,
}

impl Trust {
    /// Touches the scan mark in `cache_dir` and takes its mtime as "now" on this file system.
    pub fn mark(cache_dir: &Path) -> Result<Trust, ArtifactError> {
        let path = cache_dir.join(SCAN_MARK_FILE);
        crate::artifacts::create_dir_all(cache_dir)?;
        let error = |source| ArtifactError::Write {
            path: path.clone(),
            source,
        };
        // Not atomic on purpose: only the mtime matters, and a torn mark is still a mark.
        fs::write(
            &path,
            b"the mtime of this file is when the last index refresh started\n",
        )
        .map_err(error)?;
        let metadata = fs::metadata(&path).map_err(error)?;
        Ok(Trust {
            mark: Some(Stamp::of(&metadata).mtime),
        })
    }

    pub fn nothing() -> Trust {
        Trust { mark: None }
    }

    pub fn trusts(&self, stamp: &Stamp) -> bool {
        self.mark
            .is_some_and(|mark| stamp.mtime < mark && stamp.ctime < mark)
    }
}
