//! Where a new experiment goes (DESIGN §4 steps 3 and 7): its id and absolute output directory,
//! then claiming that directory (created, locked, checked for a committed plan and for symbolic
//! links at the names the runner writes, cleared of what an interrupted start left). It does not
//! own the names themselves (`artifacts::layout`) nor the lock file (`resume`).

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::artifacts;
use crate::artifacts::layout::{default_experiments_root, is_safe_id, ExperimentLayout};
use crate::artifacts::plan_files::{plan_committed, remove_uncommitted_plan};
use crate::clock::Timestamp;

use super::{RunOptions, RunnerError};

/// Where a new experiment goes.
pub(super) struct Location {
    pub(super) experiment_id: String,
    /// Absolute; not created until [`claim_location`].
    pub(super) output_root: PathBuf,
}

/// The experiment id and the absolute output directory. Creates nothing.
pub(super) fn settle_location(
    name: &str,
    options: &RunOptions,
    started: &Timestamp,
) -> Result<Location, RunnerError> {
    if let Some(id) = &options.experiment_id {
        if !is_safe_id(id) {
            return Err(RunnerError::InvalidExperimentId(id.clone()));
        }
    }
    let (experiment_id, output_root) = match (&options.experiment_id, &options.output_root) {
        (id, Some(root)) => (
            id.clone()
                .unwrap_or_else(|| format!("{name}_{}", started.compact())),
            options.cwd.join(root),
        ),
        (Some(id), None) => (id.clone(), default_experiments_root(&options.cwd).join(id)),
        (None, None) => {
            // Two experiments started in the same second get distinct directories.
            let stem = format!("{name}_{}", started.compact());
            let root = default_experiments_root(&options.cwd);
            let id = (1..)
                .map(|n| {
                    if n == 1 {
                        stem.clone()
                    } else {
                        format!("{stem}_{n}")
                    }
                })
                .find(|id| !root.join(id).exists())
                .unwrap_or(stem);
            (id.clone(), root.join(id))
        }
    };
    let output_root = absolute(&output_root);
    // Checked again under the lock; this early check only saves planning a doomed experiment.
    if plan_committed(&output_root) {
        return Err(RunnerError::OutputRootTaken { path: output_root });
    }
    Ok(Location {
        experiment_id,
        output_root,
    })
}

/// Creates the output directory and takes its lock; then, under the lock, refuses a directory
/// that holds a committed plan and clears what an interrupted start left behind.
pub(super) fn claim_location(location: &Location) -> Result<DirLock, RunnerError> {
    let root = &location.output_root;
    artifacts::create_dir_all(root)?;
    let lock = lock_dir(root)?;
    check_no_symlinks(root)?;
    if plan_committed(root) {
        return Err(RunnerError::OutputRootTaken { path: root.clone() });
    }
    remove_uncommitted_plan(root)?;
    for dir in ExperimentLayout::new(root).written_dirs() {
        artifacts::remove_stale_temp_files(&dir)?;
    }
    Ok(lock)
}

/// Refuses an experiment directory where a name the runner writes is a symbolic link: files
/// would land wherever it points.
pub(super) fn check_no_symlinks(root: &Path) -> Result<(), RunnerError> {
    for name in ExperimentLayout::written_names() {
        let path = root.join(name);
        if crate::file_kind::is_symlink(&path) {
            return Err(RunnerError::SymlinkInOutput { path });
        }
    }
    Ok(())
}

/// `path` made absolute: its longest existing ancestor canonicalized, the rest appended with
/// `.` and `..` resolved lexically.
pub(super) fn absolute(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut existing = path;
    let mut rest = Vec::new();
    let base = loop {
        if let Ok(canonical) = existing.canonicalize() {
            break canonical;
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                existing = parent;
            }
            _ => break existing.to_path_buf(),
        }
    };
    let mut absolute = base;
    for name in rest.iter().rev() {
        match Path::new(name).components().next() {
            Some(Component::ParentDir) => {
                absolute.pop();
            }
            Some(Component::CurDir) => {}
            _ => absolute.push(name),
        }
    }
    absolute
}

/// Holds the experiment directory's lock until dropped.
pub struct DirLock {
    _file: File,
}

/// Takes the exclusive lock of an experiment directory, or says who holds it.
pub fn lock_dir(out: &Path) -> Result<DirLock, RunnerError> {
    let path: PathBuf = ExperimentLayout::new(out).lock();
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| RunnerError::Resume {
            path: path.clone(),
            message: format!("cannot create the lock file: {e}"),
        })?;
    match file.try_lock() {
        Ok(()) => Ok(DirLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => Err(RunnerError::Locked {
            path: out.to_owned(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(RunnerError::Resume {
            path,
            message: format!("cannot lock it: {e}"),
        }),
    }
}
