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

use super::cache::{
    self, CacheError, CacheManifest, CachedSection, GroupData, GroupEntry, Loaded, MergeError,
    RowKey, Section, Trust, UnitStamp,
};
use super::walk::{self, Walked};
use super::{
    index_files, posix, registry_paths, side_files, warning, write_document, ExperimentSummary,
    Found, IndexCounts, IndexError, IndexReport, IndexWarning, IndexWarnings, Store, StoreIndex,
    EXPERIMENT_REGISTRY_COLUMNS, IMAGE_REGISTRY_COLUMNS, RUN_REGISTRY_COLUMNS,
};
use crate::artifacts::write_atomic_with;

/// Directory names whose files belong to the unit of their parent directory.
const UNIT_SUBDIRS: [&str; 2] = ["logs", "generated"];

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
    let cache_dir = output_dir.join(cache::CACHE_DIR);
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
            match cache::check_group_file(self.cache_dir, entry) {
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
                for id in cache::read_ids(self.cache_dir, entry)? {
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
                let stamp = metadata.map(|metadata| cache::Stamp::of(&metadata));
                unit.stamp = match (unit.stamp.take(), key, stamp) {
                    (Some(mut unit), Some(key), Some(stamp)) if self.trust.trusts(&stamp) => {
                        unit.files.push((key, stamp));
                        if let (true, Some(dir)) = (plans, path.parent()) {
                            unit.side_files.push(side_files(dir).to_vec());
                        }
                        Some(unit)
                    }
                    _ => None,
                };
            }
        }
        units
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
            data.push(0, key, &self.line(&row.cells())?);
        }
        for row in image_rows {
            let (created_at, manifest, seq, id) = row.sort_key();
            let key = RowKey {
                first: created_at.as_bytes(),
                second: manifest.as_bytes(),
                number: seq,
                last: id.as_bytes(),
            };
            data.push(1, key, &self.line(&row.cells())?);
        }
        for row in run_rows {
            let (created_at, id) = row.sort_key();
            let key = RowKey {
                first: created_at.as_bytes(),
                second: id.as_bytes(),
                number: 0,
                last: b"",
            };
            data.push(2, key, &self.line(&row.cells())?);
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

    /// One CSV record, as `csv::Writer` writes it in a registry.
    fn line(&self, cells: &[String]) -> Result<Vec<u8>, IndexError> {
        csv_line(&self.output_dir.join("(row)"), cells)
    }

    fn write(
        &self,
        parts: &[Part],
        walk_errors: Vec<IndexWarning>,
        cache_errors: Vec<IndexWarning>,
    ) -> Result<IndexReport, IndexError> {
        let paths = registry_paths(self.output_dir);
        let columns: [&[&str]; 3] = [
            &EXPERIMENT_REGISTRY_COLUMNS,
            &IMAGE_REGISTRY_COLUMNS,
            &RUN_REGISTRY_COLUMNS,
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
            let header: Vec<String> = columns[registry].iter().map(|c| c.to_string()).collect();
            let header = csv_line(path, &header)?;
            // The writer only speaks `io::Error`: a malformed cache file is passed out beside it.
            let mut broken: Option<CacheError> = None;
            let written = write_atomic_with(path, |out| {
                out.write_all(&header)?;
                cache::merge(&sections, out).map_err(|error| match error {
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
    if parts.last().is_some_and(|last| UNIT_SUBDIRS.contains(last)) {
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

/// One CSV record as the registries write it (terminator included).
pub(super) fn csv_line(path: &Path, cells: &[String]) -> Result<Vec<u8>, IndexError> {
    let csv_error = |source| IndexError::Csv {
        path: path.to_owned(),
        source,
    };
    let mut writer = csv::Writer::from_writer(Vec::with_capacity(256));
    writer.write_record(cells).map_err(csv_error)?;
    writer
        .into_inner()
        .map_err(|error| csv_error(error.into_error().into()))
}

fn cache_warning(store: &Store, cache_dir: &Path, message: &str) -> IndexWarning {
    warning(store.show(cache_dir), None, &message)
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
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

/// Merges warnings of id-disjoint parts: each list is in walk order of the file it names, so a
/// stable sort by that path (component by component, as the walk orders them) interleaves them
/// as one pass over the whole store would.
fn merge_by_path(lists: Vec<&[IndexWarning]>) -> Vec<IndexWarning> {
    let mut merged: Vec<IndexWarning> = lists.into_iter().flatten().cloned().collect();
    merged.sort_by(|a, b| a.path.split('/').cmp(b.path.split('/')));
    merged
}

impl IndexWarnings {
    /// The warnings of id-disjoint parts of one store, as indexing the store at once gives them.
    fn merged<'a>(parts: impl Iterator<Item = &'a IndexWarnings>) -> IndexWarnings {
        let parts: Vec<&IndexWarnings> = parts.collect();
        let mut merged = IndexWarnings::default();
        for (kind, mine) in merged.kinds_mut().into_iter().enumerate() {
            let lists = parts
                .iter()
                .map(|part| part.kinds()[kind].1.as_slice())
                .collect();
            *mine = merge_by_path(lists);
        }
        merged
    }
}

impl IndexCounts {
    /// Adds the counts of an id-disjoint part (everything but `stores`).
    fn add(&mut self, other: &IndexCounts) {
        self.experiments += other.experiments;
        self.experiment_runs_planned += other.experiment_runs_planned;
        self.experiment_runs_executed += other.experiment_runs_executed;
        self.manifest_files += other.manifest_files;
        self.images_titled += other.images_titled;
        self.run_index_files += other.run_index_files;
        self.run_index_entries += other.run_index_entries;
        self.generation_csv_files += other.generation_csv_files;
        self.generation_csv_rows += other.generation_csv_rows;
        self.runs_in_run_registry += other.runs_in_run_registry;
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use serde_json::json;

    use super::super::tests::{lines, put, store};
    use super::super::{
        index_store, refresh_store, update_index, write_csv, ExperimentRow, ImageRow, RunRow,
        EXPERIMENTS_INDEX_FILE, EXPERIMENT_REGISTRY_FILE, IMAGE_REGISTRY_FILE, RUN_REGISTRY_FILE,
    };
    use super::*;

    /// Waits until the file system's clock has moved past every file written so far, so that a
    /// refresh trusts their stamps (see `cache::Trust`). Waits one clock tick, not a fixed time.
    fn settle(dir: &Path) {
        let probe = dir.join("settle.probe");
        fs::write(&probe, "").unwrap();
        let first = fs::metadata(&probe).unwrap().modified().unwrap();
        loop {
            std::thread::sleep(std::time::Duration::from_millis(2));
            fs::write(&probe, "x").unwrap();
            if fs::metadata(&probe).unwrap().modified().unwrap() > first {
                break;
            }
        }
        fs::remove_file(&probe).unwrap();
    }

    /// An experiment `name` with runs `A1.._n`; the first `executed` have a runs-index record,
    /// and the first of those a manifest row.
    fn experiment(root: &Path, name: &str, runs: u32, executed: u32, day: u32) {
        let id = |run: u32| format!("A{run}_{name}");
        let planned: Vec<Value> = (1..=runs)
            .map(|run| json!({"variant": "A", "run": run, "generation_id": id(run), "seed": run, "plan": "direct"}))
            .collect();
        let plan = json!({"experiment_id": name, "run_mode": "prompt_only", "base_seed": day, "planned_runs": planned});
        let dir = format!("experiments/{name}");
        put(
            root,
            &format!("{dir}/experiment_plan.json"),
            &plan.to_string(),
        );
        let records: Vec<Value> = (1..=executed)
            .map(|run| json!({"generation_id": id(run), "created_at": format!("2026-02-{day:02}T00:00:{run:02}Z"),
                              "status": "success", "seed": run, "experiment": {"id": name, "variant": "A_direct", "tags": ["t"]}}))
            .collect();
        put(
            root,
            &format!("{dir}/logs/runs_index.jsonl"),
            &lines(&records),
        );
        if executed > 0 {
            put(
                root,
                &format!("{dir}/generated/titles_manifest.csv"),
                &format!("seq,title,generation_id,created_at\n1,First of {name},{},2026-02-{day:02}T00:00:01Z\n", id(1)),
            );
        }
    }

    /// The four files of an index, `generated_at` taken out (it is the time of writing).
    fn snapshot(out: &Path) -> Vec<(String, String)> {
        [
            EXPERIMENT_REGISTRY_FILE,
            IMAGE_REGISTRY_FILE,
            RUN_REGISTRY_FILE,
            EXPERIMENTS_INDEX_FILE,
        ]
        .iter()
        .map(|name| {
            let text = fs::read_to_string(out.join(name)).unwrap();
            let text: String = text
                .split_inclusive('\n')
                .filter(|line| !line.trim_start().starts_with("\"generated_at\""))
                .collect();
            (name.to_string(), text)
        })
        .collect()
    }

    /// Asserts that a rebuild from scratch writes what the refresh wrote, and that both write
    /// the registries one pass over the whole store renders.
    fn assert_same_as_rebuild(root: &Path) {
        let out = root.join("index");
        let refreshed = snapshot(&out);
        update_index(&[root.to_path_buf()], &out).unwrap();
        let rebuilt = snapshot(&out);
        for ((name, refreshed), (_, rebuilt)) in refreshed.iter().zip(&rebuilt) {
            assert_eq!(refreshed, rebuilt, "{name} differs");
        }

        let whole = index_store(&Store::open(root).unwrap());
        let elsewhere = tempfile::tempdir().unwrap();
        let path = elsewhere.path().join("registry.csv");
        let check = |name: &str, columns: &[&str], rows: Vec<Vec<String>>| {
            write_csv(&path, columns, rows).unwrap();
            assert_eq!(
                fs::read_to_string(&path).unwrap(),
                fs::read_to_string(out.join(name)).unwrap(),
                "{name} differs from one pass over the store"
            );
        };
        check(
            EXPERIMENT_REGISTRY_FILE,
            &EXPERIMENT_REGISTRY_COLUMNS,
            whole
                .experiment_rows
                .iter()
                .map(ExperimentRow::cells)
                .collect(),
        );
        check(
            IMAGE_REGISTRY_FILE,
            &IMAGE_REGISTRY_COLUMNS,
            whole.image_rows.iter().map(ImageRow::cells).collect(),
        );
        check(
            RUN_REGISTRY_FILE,
            &RUN_REGISTRY_COLUMNS,
            whole.run_rows.iter().map(RunRow::cells).collect(),
        );
        let document: Value =
            serde_json::from_str(&fs::read_to_string(out.join(EXPERIMENTS_INDEX_FILE)).unwrap())
                .unwrap();
        assert_eq!(
            document["experiments"],
            serde_json::to_value(&whole.experiments).unwrap()
        );
        assert_eq!(
            document["counts"],
            serde_json::to_value(&whole.counts).unwrap()
        );
        let mut warnings = serde_json::to_value(&whole.warnings).unwrap();
        warnings["index_cache_errors"] = document["warnings"]["index_cache_errors"].clone();
        assert_eq!(document["warnings"], warnings);
    }

    use serde_json::Value;

    #[test]
    fn a_refresh_reads_only_what_changed_and_writes_what_a_rebuild_writes() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        // exp1 (with warnings), a `generate` run at the top, a legacy CSV, and three more.
        let root = store(dir.path(), outside.path());
        experiment(&root, "exp2", 3, 2, 2);
        experiment(&root, "exp3", 2, 0, 3);
        experiment(&root, "exp4", 4, 4, 4);
        settle(dir.path());

        let (cold, stats) = refresh_store(&root).unwrap();
        assert_eq!(stats.groups_reused, 0);
        assert!(cold.warnings.index_cache_errors.is_empty());
        assert_same_as_rebuild(&root);

        settle(dir.path());
        let (_, stats) = refresh_store(&root).unwrap();
        assert_eq!(stats.files_read, 0, "nothing changed: {stats:?}");
        assert_eq!(
            stats.groups_reused, 6,
            "exp1 to exp4, the top and legacy: {stats:?}"
        );
        assert_same_as_rebuild(&root);

        // exp2 ran one more run, exp3 is deleted, exp5 is new.
        let runs_index = root.join("experiments/exp2/logs/runs_index.jsonl");
        let mut text = fs::read_to_string(&runs_index).unwrap();
        text.push_str(&lines(&[json!({"generation_id": "A3_exp2", "created_at": "2026-02-02T00:00:09Z", "status": "error"})]));
        fs::write(&runs_index, text).unwrap();
        fs::remove_dir_all(root.join("experiments/exp3")).unwrap();
        experiment(&root, "exp5", 2, 1, 5);
        settle(dir.path());
        let (warm, stats) = refresh_store(&root).unwrap();
        assert_eq!(
            stats.files_read, 6,
            "the plans, runs indexes and manifests of exp2 and exp5: {stats:?}"
        );
        assert_eq!(stats.groups_reused, 4, "{stats:?}");
        assert_eq!(warm.counts.experiments, 4);
        assert_same_as_rebuild(&root);
    }

    #[test]
    fn experiments_sharing_generation_ids_are_indexed_together() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let root = store(dir.path(), outside.path());
        experiment(&root, "exp2", 3, 2, 2);
        // A copy of exp2 (its plan and runs index name the same generation ids).
        for file in [
            "experiment_plan.json",
            "logs/runs_index.jsonl",
            "generated/titles_manifest.csv",
        ] {
            let text = fs::read_to_string(root.join("experiments/exp2").join(file)).unwrap();
            put(&root, &format!("experiments/exp2.bak/{file}"), &text);
        }
        settle(dir.path());
        let (report, _) = refresh_store(&root).unwrap();
        assert!(
            !report
                .warnings
                .titles_manifest_duplicate_generation_ids
                .is_empty(),
            "{:?}",
            report.warnings
        );
        assert_same_as_rebuild(&root);

        // The copy changes: both are indexed again, together.
        put(&root, "experiments/exp2.bak/logs/runs_index.jsonl", "");
        settle(dir.path());
        let (_, stats) = refresh_store(&root).unwrap();
        assert_eq!(
            stats.files_read, 12,
            "each of the six files on its own, then all together: {stats:?}"
        );
        assert_same_as_rebuild(&root);
    }

    #[test]
    fn a_broken_cache_is_a_warning_and_the_index_is_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let root = store(dir.path(), outside.path());
        experiment(&root, "exp2", 3, 2, 2);
        settle(dir.path());
        refresh_store(&root).unwrap();
        let cache_dir = root.join("index/.cache");
        let manifest = cache_dir.join(cache::MANIFEST_FILE);

        // Another version, or written by other index code: ignored quietly.
        for (field, other) in [
            ("version", json!(cache::CACHE_VERSION + 1)),
            ("code", json!("0000000000000000")),
        ] {
            settle(dir.path());
            refresh_store(&root).unwrap();
            let text = fs::read_to_string(&manifest).unwrap();
            let mut value: Value = serde_json::from_str(&text).unwrap();
            value[field] = other;
            fs::write(&manifest, value.to_string()).unwrap();
            let (report, stats) = refresh_store(&root).unwrap();
            assert!(report.warnings.index_cache_errors.is_empty(), "{field}");
            assert_eq!(stats.groups_reused, 0, "{field}");
            assert_same_as_rebuild(&root);
        }

        // Malformed: a warning naming the cache.
        fs::write(&manifest, "{\"version\": 1, \"groups\": [").unwrap();
        let (report, stats) = refresh_store(&root).unwrap();
        assert_eq!(stats.groups_reused, 0);
        let errors = &report.warnings.index_cache_errors;
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].path, "_artifacts/index/.cache");
        assert!(errors[0].message.contains("malformed"), "{}", errors[0]);

        // A group file cut short: a warning, and its groups are indexed again.
        settle(dir.path());
        refresh_store(&root).unwrap();
        for entry in fs::read_dir(&cache_dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|ext| ext == "bin") {
                let bytes = fs::read(&path).unwrap();
                fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
            }
        }
        let (report, stats) = refresh_store(&root).unwrap();
        assert_eq!(stats.groups_reused, 0, "{stats:?}");
        assert!(!report.warnings.index_cache_errors.is_empty());
        let (report, stats) = refresh_store(&root).unwrap();
        assert!(
            report.warnings.index_cache_errors.is_empty(),
            "the cache is whole again"
        );
        assert!(stats.groups_reused > 0, "{stats:?}");

        // A group file damaged inside, its length unchanged: found while merging, and the
        // whole index is rebuilt without the cache.
        let cached: Value = serde_json::from_str(&fs::read_to_string(&manifest).unwrap()).unwrap();
        let group = &cached["groups"][0];
        let path = cache_dir.join(group["data_file"].as_str().unwrap());
        let mut bytes = fs::read(&path).unwrap();
        let at = group["sections"][1].as_u64().unwrap() as usize;
        bytes[at..at + 8].copy_from_slice(&[0xff; 8]);
        fs::write(&path, bytes).unwrap();
        let (report, _) = refresh_store(&root).unwrap();
        let errors = &report.warnings.index_cache_errors;
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].message.contains("rebuilt"), "{}", errors[0]);
        refresh_store(&root).unwrap();
        assert_same_as_rebuild(&root);

        // `index-artifacts` ignores the cache, broken or not, and writes a fresh one.
        fs::write(&manifest, "garbage").unwrap();
        let report = update_index(std::slice::from_ref(&root), &root.join("index")).unwrap();
        assert!(report.warnings.index_cache_errors.is_empty());
        let (_, stats) = refresh_store(&root).unwrap();
        assert!(stats.groups_reused > 0, "{stats:?}");
    }

    #[test]
    fn unchanged_directories_are_not_listed_again() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("_artifacts");
        experiment(&root, "exp1", 2, 2, 1);
        for run in 1..=50 {
            put(
                &root,
                &format!("experiments/exp1/logs/A{run}_transcript.json"),
                "{}",
            );
        }
        settle(dir.path());
        let (_, cold) = refresh_store(&root).unwrap();
        // The store, `experiments`, `exp1`, its `logs` and `generated`, `index` and `.cache`.
        assert_eq!(cold.dirs_read, 7, "{cold:?}");
        // The store changed when the first refresh created `index`: depending on whether that
        // fell in the same clock tick as the refresh's scan mark, it is listed once more.
        settle(dir.path());
        let (_, warm) = refresh_store(&root).unwrap();
        assert!((2..=3).contains(&warm.dirs_read), "{warm:?}");
        settle(dir.path());
        let (_, warm) = refresh_store(&root).unwrap();
        // Only the index's own directories, which every refresh writes to, are read again.
        assert_eq!(warm.dirs_read, 2, "{warm:?}");
        experiment(&root, "exp2", 1, 0, 2);
        settle(dir.path());
        let (report, warm) = refresh_store(&root).unwrap();
        assert_eq!(report.counts.experiments, 2);
        assert_eq!(
            warm.dirs_read, 5,
            "`experiments`, exp2 and its `logs`, and the index's: {warm:?}"
        );
    }
}
