//! The index of one store, built from per-group parts so that a refresh re-reads only the
//! sources that changed (the cache is [`super::cache`]).
//!
//! Everything the index computes joins records by generation id, and by nothing else. So the
//! store is cut into *units* (the directory of an experiment: a file's directory, or its parent
//! when that is named `logs` or `generated`, so the `generate` records at the store's top form
//! one unit too), and units that share a generation id are merged into one *group*. Groups share
//! no id, so indexing each group on its own and putting the parts together gives exactly what
//! indexing the whole store at once gives: counts add up, rows are merged by their sort keys (no
//! two groups have equal keys, since every key holds an id), and warnings are merged in walk
//! order of the file they name (as the whole-store pass meets them).
//!
//! The steps of [`refresh`]:
//! 1. touch the scan mark, load the cache (unless rebuilding), walk the store reusing unchanged
//!    directory listings, and stamp every source file;
//! 2. reuse each cached group whose units all have the same stamps as when it was cached;
//! 3. index every other unit on its own, then merge the units and groups that share a
//!    generation id (by hash: a collision only merges more than needed) and index each merged
//!    group again from its sources;
//! 4. write the three registries (rows of cached groups are copied as cached, already rendered)
//!    and `experiments_index.json`;
//! 5. write the new groups whose stamps can be trusted, then the cache manifest.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::Path;

use super::assemble::{index_files, StoreIndex};
use super::cache::{self, CacheError, CacheManifest, GroupEntry, Loaded, UnitStamp};
use super::columns::{self, csv_line, Cell, Column};
use super::document::{registry_paths, write_document};
use super::experiment_registry::EXPERIMENT_COLUMNS;
use super::files::{CACHE_DIR, RUN_SUBDIRS};
use super::group_file::{self, CachedSection, GroupData, MergeError, RowKey, Section};
use super::image_registry::IMAGE_COLUMNS;
use super::report::{warning, IndexCounts, IndexReport, IndexWarning, IndexWarnings};
use super::run_registry::RUN_COLUMNS;
use super::stamp::{Stamp, Trust};
use super::store::{posix, Store};
use super::summary::{plugin_artifacts, side_files, ExperimentSummary};
use super::walk::{self, Found, Walked};
use super::IndexError;
use crate::artifacts::write_atomic_with;
use crate::errors::error_chain;

/// Whether a refresh may reuse the cache. Either way it writes a fresh one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CacheUse {
    Reuse,
    Rebuild,
}

/// Indexes one store into `output_dir`, reusing the cache there when `cache_use` allows.
pub(super) fn refresh(
    store: &Store,
    output_dir: &Path,
    cache_use: CacheUse,
) -> Result<(IndexReport, RefreshStats), IndexError> {
    let cache_dir = output_dir.join(CACHE_DIR);
    let trust = Trust::mark(&cache_dir)?;
    let mut cache_errors = Vec::new();
    let manifest = match cache_use {
        CacheUse::Rebuild => None,
        CacheUse::Reuse => {
            match cache::load(&cache_dir, &posix(&store.root), &posix(&store.given)) {
                Loaded::Manifest(manifest) => Some(manifest),
                Loaded::Stale => None,
                Loaded::Corrupt(message) => {
                    cache_errors.push(cache_warning(store, &cache_dir, &message));
                    None
                }
            }
        }
    };
    let context = Context {
        store,
        output_dir,
        cache_dir: &cache_dir,
        trust: &trust,
    };
    match context.build(manifest.as_ref(), &mut cache_errors) {
        Err(IndexError::Cache(error)) => {
            // A cached group file broke while being read: rebuild without the cache.
            let message = format!("{}; the index was rebuilt", error_chain(&error));
            cache_errors.push(cache_warning(store, &cache_dir, &message));
            context.build(None, &mut cache_errors)
        }
        other => other,
    }
}

/// What a refresh reused and read, for tests and the benchmark.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefreshStats {
    /// Directories listed (the others came from the cache).
    pub dirs_read: usize,
    /// Cached groups reused.
    pub groups_reused: usize,
    /// Source files read and parsed.
    pub files_read: usize,
}

struct Context<'a> {
    store: &'a Store,
    output_dir: &'a Path,
    cache_dir: &'a Path,
    trust: &'a Trust,
}

/// The source files of one unit, and their stamps (`None`: not cacheable).
struct Unit {
    found: Found,
    stamp: Option<UnitStamp>,
}

/// A group of the index being written: cached, or indexed now.
enum Part {
    Cached(GroupEntry),
    Fresh {
        experiments: Vec<ExperimentSummary>,
        counts: IndexCounts,
        warnings: IndexWarnings,
        /// Boxed: the other parts of the index are much smaller.
        data: Box<GroupData>,
        /// The stamps of its units, when all of them can be trusted.
        units: Option<Vec<UnitStamp>>,
    },
}

impl Part {
    fn experiments(&self) -> &[ExperimentSummary] {
        match self {
            Part::Cached(entry) => &entry.experiments,
            Part::Fresh { experiments, .. } => experiments,
        }
    }

    fn counts(&self) -> &IndexCounts {
        match self {
            Part::Cached(entry) => &entry.counts,
            Part::Fresh { counts, .. } => counts,
        }
    }

    fn warnings(&self) -> &IndexWarnings {
        match self {
            Part::Cached(entry) => &entry.warnings,
            Part::Fresh { warnings, .. } => warnings,
        }
    }
}

impl Context<'_> {
    fn build(
        &self,
        manifest: Option<&CacheManifest>,
        cache_errors: &mut Vec<IndexWarning>,
    ) -> Result<(IndexReport, RefreshStats), IndexError> {
        // 1. Walk and stamp.
        let Walked {
            found,
            walk_errors,
            listings,
            dirs_read,
        } = walk::walk(
            self.store,
            manifest.map(|manifest| &manifest.listings),
            self.trust,
        );
        let mut stats = RefreshStats {
            dirs_read,
            ..RefreshStats::default()
        };
        let units = self.units(&found);
        // 2. and 3.
        let reused = self.reusable(manifest, &units, cache_errors);
        let parts = self.index_the_rest(reused, &units, &mut stats)?;
        // 4. Cloned: if a cache file breaks while being written out, the rebuild reports these.
        let report = self.write(&parts, walk_errors, cache_errors.clone())?;
        // 5.
        self.save(parts, listings)?;
        Ok((report, stats))
    }

    /// Step 2: the cached groups whose units all have the stamps they had when cached, and
    /// whose data file is there with its length.
    fn reusable<'m>(
        &self,
        manifest: Option<&'m CacheManifest>,
        units: &BTreeMap<String, Unit>,
        cache_errors: &mut Vec<IndexWarning>,
    ) -> Vec<&'m GroupEntry> {
        let mut reused: Vec<&GroupEntry> = Vec::new();
        let mut covered: BTreeSet<&str> = BTreeSet::new();
        for entry in manifest.iter().flat_map(|manifest| &manifest.groups) {
            let unchanged = entry.units.iter().all(|cached| {
                !covered.contains(cached.dir.as_str())
                    && units
                        .get(&cached.dir)
                        .is_some_and(|unit| unit.stamp.as_ref() == Some(cached))
            });
            if !unchanged {
                continue;
            }
            match group_file::check(self.cache_dir, entry) {
                Ok(()) => {}
                // Gone: a concurrent refresh replaced the cache. Index its units again.
                Err(CacheError::Read { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    continue
                }
                Err(error) => {
                    let message = format!("{}; its groups are indexed again", error_chain(&error));
                    cache_errors.push(cache_warning(self.store, self.cache_dir, &message));
                    continue;
                }
            }
            covered.extend(entry.units.iter().map(|unit| unit.dir.as_str()));
            reused.push(entry);
        }
        reused
    }

    /// Step 3: indexes every unit not covered by a reused group on its own, then merges the
    /// units and groups that share a generation id and indexes each merged group again.
    fn index_the_rest(
        &self,
        reused: Vec<&GroupEntry>,
        units: &BTreeMap<String, Unit>,
        stats: &mut RefreshStats,
    ) -> Result<Vec<Part>, IndexError> {
        let covered: BTreeSet<&str> = reused
            .iter()
            .flat_map(|entry| &entry.units)
            .map(|unit| unit.dir.as_str())
            .collect();
        let fresh_units: Vec<&str> = units
            .keys()
            .map(String::as_str)
            .filter(|dir| !covered.contains(dir))
            .collect();
        let mut fresh: Vec<Option<(StoreIndex, Vec<u64>)>> = fresh_units
            .iter()
            .map(|dir| {
                let found = &units[*dir].found;
                stats.files_read += found.len();
                let index = index_files(self.store, found);
                let ids = id_hashes(&index);
                Some((index, ids))
            })
            .collect();

        // Nodes: the reused groups, then the fresh units.
        let base = reused.len();
        let mut sets = DisjointSets::new(base + fresh.len());
        let mut owner: HashMap<u64, usize> = HashMap::new();
        for (position, (_, ids)) in fresh.iter().flatten().enumerate() {
            for id in ids {
                if let Some(other) = owner.insert(*id, base + position) {
                    sets.union(other, base + position);
                }
            }
        }
        if !owner.is_empty() {
            for (position, entry) in reused.iter().enumerate() {
                for id in group_file::read_ids(self.cache_dir, entry)? {
                    if let Some(other) = owner.get(&id) {
                        sets.union(*other, position);
                    }
                }
            }
        }
        let mut members: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for node in 0..base + fresh.len() {
            members.entry(sets.find(node)).or_default().push(node);
        }

        let mut parts: Vec<Part> = Vec::new();
        stats.groups_reused = 0;
        for nodes in members.into_values() {
            match nodes.as_slice() {
                [node] if *node < base => {
                    stats.groups_reused += 1;
                    parts.push(Part::Cached(reused[*node].clone()));
                    continue;
                }
                [node] => {
                    if let Some((index, ids)) = fresh[*node - base].take() {
                        let dir = fresh_units[*node - base];
                        parts.push(self.fresh_part(index, ids, &[dir], units)?);
                    }
                    continue;
                }
                _ => {}
            }
            // Several units share ids: index them together, from their sources.
            let mut dirs: Vec<&str> = Vec::new();
            for node in nodes {
                if node < base {
                    let entry = reused[node];
                    dirs.extend(
                        entry
                            .units
                            .iter()
                            .filter_map(|unit| units.get_key_value(&unit.dir))
                            .map(|(dir, _)| dir.as_str()),
                    );
                } else {
                    dirs.push(fresh_units[node - base]);
                }
            }
            let mut found = Found::default();
            for dir in &dirs {
                found.extend(&units[*dir].found);
            }
            found.sort();
            stats.files_read += found.len();
            let index = index_files(self.store, &found);
            let ids = id_hashes(&index);
            parts.push(self.fresh_part(index, ids, &dirs, units)?);
        }
        Ok(parts)
    }

    /// Step 5: writes the new groups whose stamps can be trusted, then the manifest naming them
    /// and the reused ones.
    fn save(&self, parts: Vec<Part>, listings: walk::Listings) -> Result<(), IndexError> {
        let mut groups = Vec::new();
        for part in parts {
            match part {
                Part::Cached(entry) => groups.push(entry),
                Part::Fresh {
                    experiments,
                    counts,
                    warnings,
                    data,
                    units: Some(units),
                } => {
                    let data_file = cache::group_file_name(&units);
                    let (sections, data_len) = data.layout();
                    write_atomic_with(&self.cache_dir.join(&data_file), |out| data.write(out))?;
                    groups.push(GroupEntry {
                        data_file,
                        data_len,
                        sections,
                        units,
                        experiments,
                        counts,
                        warnings,
                    });
                }
                Part::Fresh { units: None, .. } => {}
            }
        }
        let manifest = CacheManifest {
            version: cache::CACHE_VERSION,
            code: cache::code_hash(),
            store_root: posix(&self.store.root),
            store_given: posix(&self.store.given),
            listings,
            groups,
        };
        cache::save(self.cache_dir, &manifest)?;
        Ok(())
    }

    /// The source files by unit, stamped.
    fn units(&self, found: &Found) -> BTreeMap<String, Unit> {
        let mut units: BTreeMap<String, Unit> = BTreeMap::new();
        for (kind, paths) in found.lists().into_iter().enumerate() {
            let plans = kind == 0;
            for path in paths {
                let key = walk::key_of(self.store, path);
                let dir = unit_of(key.as_deref().unwrap_or_default(), path);
                let unit = units.entry(dir.clone()).or_insert_with(|| Unit {
                    found: Found::default(),
                    stamp: Some(UnitStamp {
                        dir,
                        files: Vec::new(),
                        side_files: Vec::new(),
                    }),
                });
                unit.found.lists_mut()[kind].push(path.clone());
                let metadata = std::fs::metadata(path).ok();
                let stamp = metadata.map(|metadata| Stamp::of(&metadata));
                unit.stamp = match (unit.stamp.take(), key, stamp) {
                    (Some(mut unit), Some(key), Some(stamp)) if self.trust.trusts(&stamp) => {
                        unit.files.push((key, stamp));
                        match (plans, path.parent()) {
                            (true, Some(dir)) => {
                                unit.side_files.push(side_files(dir).to_vec());
                                self.stamp_plugin_artifacts(dir, unit)
                            }
                            _ => Some(unit),
                        }
                    }
                    _ => None,
                };
            }
        }
        units
    }

    /// `unit` with the stamps of the plugin artifacts next to a plan in `dir` (the summary lists
    /// them), or `None` when one cannot be stamped or trusted.
    fn stamp_plugin_artifacts(&self, dir: &Path, mut unit: UnitStamp) -> Option<UnitStamp> {
        for path in plugin_artifacts(dir) {
            let key = walk::key_of(self.store, &path)?;
            let stamp = Stamp::of(&std::fs::symlink_metadata(&path).ok()?);
            if !self.trust.trusts(&stamp) {
                return None;
            }
            unit.files.push((key, stamp));
        }
        Some(unit)
    }

    fn fresh_part(
        &self,
        index: StoreIndex,
        ids: Vec<u64>,
        dirs: &[&str],
        units: &BTreeMap<String, Unit>,
    ) -> Result<Part, IndexError> {
        // Each list of rows is consumed as it is rendered, so a large experiment's rows are
        // held once, as rows or as rendered text, never both over all three lists.
        let StoreIndex {
            experiments,
            experiment_rows,
            image_rows,
            run_rows,
            counts,
            warnings,
        } = index;
        let mut data = GroupData::new(ids);
        for row in experiment_rows {
            let (dir, variant, run, id) = row.sort_key();
            let key = RowKey {
                first: dir.as_bytes(),
                second: variant.as_bytes(),
                number: run,
                last: id.as_bytes(),
            };
            data.push(0, key, &self.line(EXPERIMENT_COLUMNS, &row)?);
        }
        for row in image_rows {
            let (created_at, manifest, seq, id) = row.sort_key();
            let key = RowKey {
                first: created_at.as_bytes(),
                second: manifest.as_bytes(),
                number: seq,
                last: id.as_bytes(),
            };
            data.push(1, key, &self.line(IMAGE_COLUMNS, &row)?);
        }
        for row in run_rows {
            let (created_at, id) = row.sort_key();
            let key = RowKey {
                first: created_at.as_bytes(),
                second: id.as_bytes(),
                number: 0,
                last: b"",
            };
            data.push(2, key, &self.line(RUN_COLUMNS, &row)?);
        }
        let stamps: Option<Vec<UnitStamp>> = dirs
            .iter()
            .map(|dir| units.get(*dir).and_then(|unit| unit.stamp.clone()))
            .collect();
        Ok(Part::Fresh {
            experiments,
            counts,
            warnings,
            data: Box::new(data),
            units: stamps,
        })
    }

    /// One row's CSV line, as the registry writes it.
    fn line<R>(&self, columns: &[Column<R>], row: &R) -> Result<Vec<u8>, IndexError> {
        csv_line(&self.output_dir.join("(row)"), columns::cells(columns, row))
    }

    fn write(
        &self,
        parts: &[Part],
        walk_errors: Vec<IndexWarning>,
        cache_errors: Vec<IndexWarning>,
    ) -> Result<IndexReport, IndexError> {
        let paths = registry_paths(self.output_dir);
        let headers: [Vec<Cell<'static>>; 3] = [
            columns::names(EXPERIMENT_COLUMNS).collect(),
            columns::names(IMAGE_COLUMNS).collect(),
            columns::names(RUN_COLUMNS).collect(),
        ];
        for (registry, path) in paths.iter().enumerate() {
            let mut cached: Vec<CachedSection> = Vec::new();
            for part in parts {
                if let Part::Cached(entry) = part {
                    cached.push(CachedSection::open(self.cache_dir, entry, registry)?);
                }
            }
            let mut sections: Vec<Section<'_>> = Vec::with_capacity(parts.len());
            for section in &cached {
                sections.push(section.section()?);
            }
            for part in parts {
                if let Part::Fresh { data, .. } = part {
                    sections.push(data.section(registry));
                }
            }
            let header = csv_line(path, headers[registry].iter().cloned())?;
            // The writer only speaks `io::Error`: a malformed cache file is passed out beside it.
            let mut broken: Option<CacheError> = None;
            let written = write_atomic_with(path, |out| {
                out.write_all(&header)?;
                group_file::merge(&sections, out).map_err(|error| match error {
                    MergeError::Write(error) => error,
                    MergeError::Cache(error) => {
                        broken = Some(error);
                        std::io::Error::other("a cache file is malformed")
                    }
                })
            });
            if let Some(error) = broken {
                return Err(error.into());
            }
            written?;
        }

        let mut experiments: Vec<ExperimentSummary> = parts
            .iter()
            .flat_map(|part| part.experiments().iter().cloned())
            .collect();
        experiments.sort_by(|a, b| b.experiment_dir.cmp(&a.experiment_dir));
        let mut counts = IndexCounts {
            stores: 1,
            ..IndexCounts::default()
        };
        for part in parts {
            counts.add(part.counts());
        }
        let mut warnings = IndexWarnings::merged(parts.iter().map(Part::warnings));
        warnings.walk_errors = walk_errors;
        warnings.index_cache_errors = cache_errors;
        write_document(
            self.store,
            self.output_dir,
            &experiments,
            &counts,
            &warnings,
        )
    }
}

/// The unit of a source file: its directory below the store, or that directory's parent when it
/// is named `logs` or `generated`.
fn unit_of(key: &str, path: &Path) -> String {
    let mut parts: Vec<&str> = key.split('/').collect();
    parts.pop();
    if parts.last().is_some_and(|last| RUN_SUBDIRS.contains(last)) {
        parts.pop();
    }
    if key.is_empty() {
        // Outside the store or not UTF-8: a unit of its own, never cached.
        return posix(path);
    }
    parts.join("/")
}

/// The sorted hashes of every generation id a part mentions: the run registry lists them all.
fn id_hashes(index: &StoreIndex) -> Vec<u64> {
    let mut ids: Vec<u64> = index
        .run_rows
        .iter()
        .map(|row| plugin_api::hash::stable_hash64(row.generation_id.as_bytes()))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

fn cache_warning(store: &Store, cache_dir: &Path, message: &str) -> IndexWarning {
    warning(store.show(cache_dir), None, &message)
}

/// Union-find over the parts of an index, for merging those that share a generation id.
struct DisjointSets {
    parent: Vec<usize>,
}

impl DisjointSets {
    fn new(len: usize) -> DisjointSets {
        DisjointSets {
            parent: (0..len).collect(),
        }
    }

    fn find(&mut self, node: usize) -> usize {
        let mut root = node;
        while self.parent[root] != root {
            root = self.parent[root];
        }
        let mut node = node;
        while self.parent[node] != root {
            let next = self.parent[node];
            self.parent[node] = root;
            node = next;
        }
        root
    }

    fn union(&mut self, a: usize, b: usize) {
        let (a, b) = (self.find(a), self.find(b));
        if a != b {
            self.parent[a.max(b)] = a.min(b);
        }
    }
}

#[cfg(test)]
mod tests;
