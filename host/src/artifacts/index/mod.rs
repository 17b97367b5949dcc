//! The artifacts index: a rebuildable, query-friendly summary of an artifacts store (a directory
//! named `_artifacts`), or of several stores combined. It reads what runs and experiments wrote,
//! never changes it, and writes only into its output directory (reference §2.16, DESIGN §4 step 12):
//! - `experiments_index.json`: one summary per experiment, plus counts, warnings and registries;
//! - `experiment_registry.csv`: one row per planned run;
//! - `image_registry.csv`: one row per titled image (generation id);
//! - `run_registry.csv`: one row per generation id found in any source.
//!
//! The steps of [`update_index`], per store:
//! 1. walk the store (sorted by name, links not followed) and pick files by name:
//!    `experiment_plan.json`, `runs_index.jsonl`, `titles_manifest.csv`, `generations.csv` and
//!    `generations_v2.csv` (same header);
//! 2. runs indexes: one record per generation id, the *latest* (greatest `created_at`, then the
//!    last seen), so a run that failed and then succeeded on resume reports success;
//! 3. titles manifests: the latest row per generation id (a re-run overwrites the image, so the
//!    latest row describes the file on disk); repeated ids are warnings;
//! 4. generations CSVs: the most complete row per generation id (ties: the later one);
//! 5. experiment plans: variants, labels (from the first run of each variant, in plan order,
//!    that has a record), counts; then the three registries.
//!
//! With one store the four files go to the output directory, built through [`refresh`]: the store
//! is indexed in id-disjoint groups, cached in `<output dir>/.cache/` ([`cache`]), so that the
//! runner's refresh after each experiment ([`update_store`]) re-reads only the sources that
//! changed; `index-artifacts` ([`update_index`]) ignores the cache and writes a fresh one. With
//! several stores, each store is indexed at once and one combined index (with `store` and
//! `store_root`) is written instead, without a cache. [`walk`] lists the stores.
//!
//! A file that cannot be read or parsed becomes a warning naming it (`warnings.<kind>`); only a
//! missing root or a failed write stops the index. Paths are written relative to the store's
//! parent (`_artifacts/experiments/...`) when they lie inside the store, else absolute, always
//! with `/` separators. Relative paths found in records are taken relative to the store's parent.
//!
//! Where things are: [`files`] names every file; [`store`] opens stores and shows paths;
//! [`walk`] lists a store; [`sources`] and [`plan`] read what runs and plans wrote;
//! [`assemble`] joins them into [`summary`] entries and the rows of [`experiment_registry`],
//! [`image_registry`] and [`run_registry`], each declaring its columns as one table that
//! [`columns`] renders; [`document`] writes `experiments_index.json` of one store,
//! [`combined`] the combined index; [`report`] holds the counts and warnings. A refresh
//! ([`refresh`]) keeps its groups in [`cache`], their rows in [`group_file`]s.

use std::path::{Path, PathBuf};

use super::ArtifactError;

mod assemble;
mod cache;
mod columns;
mod combined;
mod document;
mod experiment_registry;
mod files;
mod group_file;
mod image_registry;
mod plan;
mod refresh;
mod report;
mod run_registry;
mod sources;
mod stamp;
mod store;
mod summary;
mod walk;

pub use cache::CacheError;
pub use files::{
    COMBINED_INDEX_DIR, EXPERIMENTS_INDEX_FILE, EXPERIMENT_REGISTRY_FILE, IMAGE_REGISTRY_FILE,
    INDEX_DIR, RUN_REGISTRY_FILE, STORE_DIR_NAME,
};
pub use refresh::RefreshStats;
pub use report::{IndexCounts, IndexReport, IndexWarning, IndexWarnings};
pub use store::store_of;

use assemble::{index_store, StoreIndex};
use store::{absolute, label_stores, Store};

/// The index could not be built or written. Unreadable or malformed inputs are warnings instead.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("no artifacts root given")]
    NoRoots,
    #[error("artifacts root `{}` does not exist", path.display())]
    RootMissing { path: PathBuf },
    #[error("artifacts root `{}` is not a directory", path.display())]
    RootNotDirectory { path: PathBuf },
    #[error("failed to read artifacts root `{}`", path.display())]
    RootUnreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("artifacts root `{}` is given twice (also as `{}`)", path.display(), first.display())]
    DuplicateRoot { path: PathBuf, first: PathBuf },
    #[error("failed to encode `{}` as CSV", path.display())]
    Csv {
        path: PathBuf,
        #[source]
        source: csv::Error,
    },
    #[error(transparent)]
    Write(#[from] ArtifactError),
    /// A cache file broke while being read (the refresh then rebuilds without the cache).
    #[error(transparent)]
    Cache(#[from] CacheError),
}

/// Refreshes the index of one store in `<artifacts_root>/index`, re-reading only the sources that
/// changed since the last refresh (the runner calls this after every experiment).
pub fn update_store(artifacts_root: &Path) -> Result<IndexReport, IndexError> {
    refresh_store(artifacts_root).map(|(report, _)| report)
}

/// [`update_store`], also saying what it reused and read.
pub fn refresh_store(artifacts_root: &Path) -> Result<(IndexReport, RefreshStats), IndexError> {
    let store = Store::open(artifacts_root)?;
    let output_dir = store.given.join(INDEX_DIR);
    let refreshed = refresh::refresh(&store, &output_dir, refresh::CacheUse::Reuse)?;
    sync_index_dirs(&output_dir);
    Ok(refreshed)
}

/// The index's files are written atomically with their directory entries synced once, here, for
/// the whole refresh (the index is a view that can always be rebuilt).
fn sync_index_dirs(output_dir: &Path) {
    super::sync_dir(&output_dir.join(files::CACHE_DIR));
    super::sync_dir(output_dir);
}

/// Indexes every root from scratch and writes the index (combined when there are several roots)
/// into `output_dir`; the index of one root also gets a fresh cache. Relative paths are taken
/// relative to the working directory.
pub fn update_index(roots: &[PathBuf], output_dir: &Path) -> Result<IndexReport, IndexError> {
    if roots.is_empty() {
        return Err(IndexError::NoRoots);
    }
    let mut stores: Vec<Store> = Vec::with_capacity(roots.len());
    for given in roots {
        let store = Store::open(given)?;
        if let Some(first) = stores.iter().find(|other| other.root == store.root) {
            return Err(IndexError::DuplicateRoot {
                path: given.clone(),
                first: first.given.clone(),
            });
        }
        stores.push(store);
    }
    let output_dir = absolute(output_dir);
    let report = if let [store] = stores.as_slice() {
        refresh::refresh(store, &output_dir, refresh::CacheUse::Rebuild)
            .map(|(report, _)| report)?
    } else {
        label_stores(&mut stores);
        let indexes: Vec<StoreIndex> = stores.iter().map(index_store).collect();
        combined::write_combined(&stores, &indexes, &output_dir)?
    };
    sync_index_dirs(&output_dir);
    Ok(report)
}

#[cfg(test)]
mod tests;
