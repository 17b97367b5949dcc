//! The stores being indexed and how the index shows paths: a [`Store`] is one artifacts root,
//! opened (it must be a directory) and labelled (in a combined index); a path inside the store is
//! shown relative to the store's parent (`_artifacts/experiments/...`), any other absolute, always
//! with `/` separators; a relative path found in a record is taken relative to the store's parent.
//!
//! Not here: listing a store's files ([`super::walk`]) or reading them.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Component, Path, PathBuf};

use super::files::STORE_DIR_NAME;
use super::IndexError;

/// The store an experiment output root belongs to: its nearest ancestor (itself included) named
/// `_artifacts` (ASCII case ignored). Purely lexical: give it an absolute path.
pub fn store_of(output_root: &Path) -> Option<PathBuf> {
    output_root
        .ancestors()
        .find(|dir| {
            dir.file_name()
                .is_some_and(|name| name.eq_ignore_ascii_case(STORE_DIR_NAME))
        })
        .map(Path::to_path_buf)
}

/// One artifacts root being indexed.
pub(super) struct Store {
    /// As given, made absolute and lexically normalised.
    pub given: PathBuf,
    /// Canonical.
    pub root: PathBuf,
    /// Short name in a combined index.
    pub label: String,
}

impl Store {
    pub(super) fn open(given: &Path) -> Result<Store, IndexError> {
        let given = absolute(given);
        let metadata = match fs::metadata(&given) {
            Ok(metadata) => metadata,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Err(IndexError::RootMissing { path: given })
            }
            Err(source) => {
                return Err(IndexError::RootUnreadable {
                    path: given,
                    source,
                })
            }
        };
        if !metadata.is_dir() {
            return Err(IndexError::RootNotDirectory { path: given });
        }
        let root = fs::canonicalize(&given).map_err(|source| IndexError::RootUnreadable {
            path: given.clone(),
            source,
        })?;
        Ok(Store {
            given,
            root,
            label: String::new(),
        })
    }

    /// A path found inside the store, or recorded by a run, as the index writes it.
    pub(super) fn show(&self, path: &Path) -> String {
        for root in [&self.root, &self.given] {
            if let Ok(rest) = path.strip_prefix(root) {
                return relative_to_parent(root, rest);
            }
        }
        if let Ok(canonical) = fs::canonicalize(path) {
            if let Ok(rest) = canonical.strip_prefix(&self.root) {
                return relative_to_parent(&self.root, rest);
            }
        }
        posix(path)
    }

    /// A path recorded in a runs index or a CSV (blank: none).
    pub(super) fn show_recorded(&self, raw: Option<&str>) -> Option<String> {
        let raw = raw.map(str::trim).filter(|raw| !raw.is_empty())?;
        let path = Path::new(raw);
        let path = if path.is_absolute() {
            normalize(path)
        } else {
            normalize(&self.root.parent().unwrap_or(&self.root).join(path))
        };
        Some(self.show(&path))
    }

    /// The root as written in a combined index (absolute).
    pub(super) fn root_text(&self) -> String {
        posix(&self.root)
    }
}

/// Labels are the root's name, or its parent's when the root is just `_artifacts`; repeats get
/// `_<position>`.
pub(super) fn label_stores(stores: &mut [Store]) {
    let mut used = BTreeSet::new();
    for (position, store) in stores.iter_mut().enumerate() {
        let name = |path: &Path| {
            path.file_name()
                .map(|name| name.to_string_lossy().into_owned())
        };
        let mut label = match name(&store.root) {
            Some(own) if own.eq_ignore_ascii_case(STORE_DIR_NAME) => {
                store.root.parent().and_then(name).unwrap_or(own)
            }
            Some(own) => own,
            None => posix(&store.root),
        };
        if used.contains(&label) {
            label = format!("{label}_{}", position + 1);
        }
        used.insert(label.clone());
        store.label = label;
    }
}

/// `path` made absolute against the working directory and lexically normalised.
pub(super) fn absolute(path: &Path) -> PathBuf {
    normalize(&std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()))
}

/// Removes `.` and resolves `..` without touching the filesystem.
pub(super) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push(component);
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// `<root name>/<rest>` with `/` separators.
fn relative_to_parent(root: &Path, rest: &Path) -> String {
    let mut parts: Vec<String> = root
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .into_iter()
        .collect();
    parts.extend(
        rest.components()
            .map(|part| part.as_os_str().to_string_lossy().into_owned()),
    );
    if parts.is_empty() {
        ".".to_owned()
    } else {
        parts.join("/")
    }
}

pub(super) use crate::artifacts::layout::posix;
