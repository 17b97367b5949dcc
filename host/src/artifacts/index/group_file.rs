//! A cached group's data file, `group-<16 hex>.bin` ([`GroupData`]): the hashes of every
//! generation id the group mentions, then per registry its rows, already rendered as CSV lines,
//! with their sort keys ([`RowKey`]), laid out so that a merge reads only the keys and copies the
//! lines file to file ([`SectionBuilder`], [`merge`]). Writing it, checking it against its entry,
//! reading its sections back in place, and merging the sections of several groups into one
//! registry.
//!
//! Not here: the cache's manifest, stamps and file names ([`super::cache`]), or which groups a
//! refresh reuses ([`super::refresh`]).

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::cache::{CacheError, GroupEntry};

/// The first bytes of a group file.
const GROUP_MAGIC: &[u8; 8] = b"IPIDXG01";

/// A registry row's sort key: two strings, a number and a string, compared in that order. Each
/// registry maps its own key onto it (see `super::refresh`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct RowKey<'a> {
    pub first: &'a [u8],
    pub second: &'a [u8],
    pub number: u64,
    pub last: &'a [u8],
}

/// One registry's rows of a group, in order. As bytes (in the group file, and in memory for a
/// group indexed now): the row count `n`, the lengths of the key and line blobs, `n + 1` key
/// offsets, `n + 1` line offsets (all `u64`, little-endian), the keys (each: `first` and
/// `second` length-prefixed, `number`, `last` length-prefixed), then the CSV lines back to
/// back. Rows are found by index, so a merge can binary-search a group's keys and copy a run
/// of its lines in one piece without decoding the rows in between.
#[derive(Debug)]
pub(super) struct SectionBuilder {
    key_offsets: Vec<u8>,
    keys: Vec<u8>,
    line_offsets: Vec<u8>,
    lines: Vec<u8>,
    count: u64,
}

impl Default for SectionBuilder {
    fn default() -> SectionBuilder {
        SectionBuilder {
            key_offsets: 0_u64.to_le_bytes().to_vec(),
            keys: Vec::new(),
            line_offsets: 0_u64.to_le_bytes().to_vec(),
            lines: Vec::new(),
            count: 0,
        }
    }
}

impl SectionBuilder {
    fn push(&mut self, key: RowKey<'_>, line: &[u8]) {
        put_bytes(&mut self.keys, key.first);
        put_bytes(&mut self.keys, key.second);
        self.keys.extend_from_slice(&key.number.to_le_bytes());
        put_bytes(&mut self.keys, key.last);
        self.lines.extend_from_slice(line);
        self.key_offsets
            .extend_from_slice(&(self.keys.len() as u64).to_le_bytes());
        self.line_offsets
            .extend_from_slice(&(self.lines.len() as u64).to_le_bytes());
        self.count += 1;
    }

    fn head(&self) -> [u8; 24] {
        let mut head = [0; 24];
        head[..8].copy_from_slice(&self.count.to_le_bytes());
        head[8..16].copy_from_slice(&(self.keys.len() as u64).to_le_bytes());
        head[16..].copy_from_slice(&(self.lines.len() as u64).to_le_bytes());
        head
    }

    fn len(&self) -> u64 {
        (24 + self.key_offsets.len() + self.keys.len() + self.line_offsets.len() + self.lines.len())
            as u64
    }

    fn write(&self, out: &mut impl Write) -> std::io::Result<()> {
        out.write_all(&self.head())?;
        for part in [
            &self.key_offsets,
            &self.keys,
            &self.line_offsets,
            &self.lines,
        ] {
            out.write_all(part)?;
        }
        Ok(())
    }

    /// The section as [`Section::parse`] would read it back from the file.
    fn view(&self) -> Section<'_> {
        Section {
            count: self.count as usize,
            key_offsets: &self.key_offsets,
            keys: &self.keys,
            line_offsets: &self.line_offsets,
            lines: Lines::Memory(&self.lines),
            path: Path::new("(memory)"),
        }
    }
}

/// A group's data: the sorted, deduplicated hashes of its generation ids, and per registry its
/// rows in order.
#[derive(Debug)]
pub(super) struct GroupData {
    pub ids: Vec<u64>,
    sections: [SectionBuilder; 3],
}

impl GroupData {
    pub fn new(ids: Vec<u64>) -> GroupData {
        GroupData {
            ids,
            sections: Default::default(),
        }
    }

    pub fn push(&mut self, registry: usize, key: RowKey<'_>, line: &[u8]) {
        self.sections[registry].push(key, line);
    }

    /// The offsets of the sections in the file [`GroupData::write`] writes, and its length.
    pub fn layout(&self) -> ([u64; 4], u64) {
        let mut offsets = [0; 4];
        offsets[0] = GROUP_MAGIC.len() as u64;
        let mut at = offsets[0] + 8 + self.ids.len() as u64 * 8;
        for (registry, section) in self.sections.iter().enumerate() {
            offsets[registry + 1] = at;
            at += section.len();
        }
        (offsets, at)
    }

    /// Writes the group file: the magic bytes, the ids (count first), the three sections.
    pub fn write(&self, out: &mut impl Write) -> std::io::Result<()> {
        out.write_all(GROUP_MAGIC)?;
        out.write_all(&(self.ids.len() as u64).to_le_bytes())?;
        for id in &self.ids {
            out.write_all(&id.to_le_bytes())?;
        }
        for section in &self.sections {
            section.write(out)?;
        }
        Ok(())
    }

    /// One registry's rows.
    pub fn section(&self, registry: usize) -> Section<'_> {
        self.sections[registry].view()
    }
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// Checks that a group's data file exists with the length its entry records.
pub(super) fn check(cache_dir: &Path, entry: &GroupEntry) -> Result<(), CacheError> {
    let path = cache_dir.join(&entry.data_file);
    let metadata = fs::metadata(&path).map_err(|source| CacheError::Read {
        path: path.clone(),
        source,
    })?;
    if metadata.len() != entry.data_len {
        return Err(CacheError::Malformed {
            what: format!("{} bytes, expected {}", metadata.len(), entry.data_len),
            path,
        });
    }
    Ok(())
}

/// A group file opened at one of its sections (0: ids, 1 to 3: a registry).
struct Opened {
    file: fs::File,
    path: PathBuf,
    start: u64,
    end: u64,
}

impl Opened {
    fn new(cache_dir: &Path, entry: &GroupEntry, section: usize) -> Result<Opened, CacheError> {
        let path = cache_dir.join(&entry.data_file);
        let start = entry.sections[section];
        let end = entry
            .sections
            .get(section + 1)
            .copied()
            .unwrap_or(entry.data_len);
        if start > end || end > entry.data_len {
            return Err(CacheError::Malformed {
                path,
                what: format!("section {section} spans {start}..{end}"),
            });
        }
        let file = fs::File::open(&path).map_err(|source| CacheError::Read {
            path: path.clone(),
            source,
        })?;
        let mut opened = Opened {
            file,
            path,
            start,
            end,
        };
        let magic = opened.read_at(0, GROUP_MAGIC.len() as u64)?;
        if magic != GROUP_MAGIC {
            return Err(malformed(&opened.path, "not a group file of this version"));
        }
        Ok(opened)
    }

    fn read_at(&mut self, at: u64, len: u64) -> Result<Vec<u8>, CacheError> {
        let read_error = |source| CacheError::Read {
            path: self.path.clone(),
            source,
        };
        let len =
            usize::try_from(len).map_err(|_| malformed(&self.path, "a length is too large"))?;
        self.file.seek(SeekFrom::Start(at)).map_err(read_error)?;
        let mut bytes = vec![0; len];
        self.file.read_exact(&mut bytes).map_err(read_error)?;
        Ok(bytes)
    }
}

/// Reads the id hashes of a group (its section 0).
pub(super) fn read_ids(cache_dir: &Path, entry: &GroupEntry) -> Result<Vec<u64>, CacheError> {
    let mut opened = Opened::new(cache_dir, entry, 0)?;
    let bytes = opened.read_at(opened.start, opened.end - opened.start)?;
    decode_ids(&bytes, &opened.path)
}

/// One registry's rows of a cached group, with everything but the lines in memory: the lines
/// stay in the file and are copied from there (inside the kernel where it can).
pub(super) struct CachedSection {
    file: fs::File,
    path: PathBuf,
    /// The head, offsets and keys.
    index: Vec<u8>,
    lines_at: u64,
    lines_len: u64,
}

impl CachedSection {
    pub fn open(
        cache_dir: &Path,
        entry: &GroupEntry,
        registry: usize,
    ) -> Result<CachedSection, CacheError> {
        let mut opened = Opened::new(cache_dir, entry, registry + 1)?;
        let head = opened.read_at(opened.start, 24)?;
        let word = |at: usize| {
            let mut word = [0; 8];
            word.copy_from_slice(&head[at..at + 8]);
            u64::from_le_bytes(word)
        };
        let (count, keys_len, lines_len) = (word(0), word(8), word(16));
        let index_len = count
            .checked_add(1)
            .and_then(|entries| entries.checked_mul(16))
            .and_then(|offsets| offsets.checked_add(24 + keys_len))
            .filter(|len| {
                len.checked_add(lines_len)
                    .is_some_and(|total| total == opened.end - opened.start)
            })
            .ok_or_else(|| malformed(&opened.path, "its lengths do not add up"))?;
        let index = opened.read_at(opened.start, index_len)?;
        Ok(CachedSection {
            lines_at: opened.start + index_len,
            file: opened.file,
            path: opened.path,
            index,
            lines_len,
        })
    }

    pub fn section(&self) -> Result<Section<'_>, CacheError> {
        let mut section = Section::parse(&self.index, &self.path, self.lines_len)?;
        section.lines = Lines::File {
            file: &self.file,
            at: self.lines_at,
            len: self.lines_len,
        };
        Ok(section)
    }
}

/// A cursor over bytes of a cache file; running short is a malformed file.
struct Cursor<'a> {
    bytes: &'a [u8],
    path: &'a Path,
}

impl<'a> Cursor<'a> {
    fn u64(&mut self) -> Result<u64, CacheError> {
        let head = self.take(8)?;
        let mut word = [0; 8];
        word.copy_from_slice(head);
        Ok(u64::from_le_bytes(word))
    }

    fn bytes(&mut self) -> Result<&'a [u8], CacheError> {
        let len = self.u64()?;
        let len = usize::try_from(len).map_err(|_| malformed(self.path, "a field is too long"))?;
        self.take(len)
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], CacheError> {
        if self.bytes.len() < len {
            return Err(malformed(self.path, "it ends in the middle of a record"));
        }
        let (head, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Ok(head)
    }
}

fn malformed(path: &Path, what: &str) -> CacheError {
    CacheError::Malformed {
        path: path.to_owned(),
        what: what.to_owned(),
    }
}

/// Decodes the id hashes of a section 0.
pub(super) fn decode_ids(bytes: &[u8], path: &Path) -> Result<Vec<u64>, CacheError> {
    let mut cursor = Cursor { bytes, path };
    let count = cursor.u64()?;
    let mut ids = Vec::with_capacity(usize::try_from(count).unwrap_or(0).min(bytes.len() / 8));
    for _ in 0..count {
        ids.push(cursor.u64()?);
    }
    Ok(ids)
}

/// One registry's rows of a group, read in place (see [`SectionBuilder`] for the layout).
#[derive(Debug, Clone, Copy)]
pub(super) struct Section<'a> {
    count: usize,
    key_offsets: &'a [u8],
    keys: &'a [u8],
    line_offsets: &'a [u8],
    lines: Lines<'a>,
    path: &'a Path,
}

/// Where a section's lines are.
#[derive(Debug, Clone, Copy)]
enum Lines<'a> {
    Memory(&'a [u8]),
    File {
        file: &'a fs::File,
        at: u64,
        len: u64,
    },
}

impl Lines<'_> {
    fn len(&self) -> usize {
        match self {
            Lines::Memory(bytes) => bytes.len(),
            Lines::File { len, .. } => usize::try_from(*len).unwrap_or(usize::MAX),
        }
    }
}

impl<'a> Section<'a> {
    /// Splits a section's bytes, checking that its parts add up (offsets are checked when used).
    /// With `lines_elsewhere`, the bytes end before the lines, which are that long.
    fn parse(
        bytes: &'a [u8],
        path: &'a Path,
        lines_elsewhere: u64,
    ) -> Result<Section<'a>, CacheError> {
        let mut cursor = Cursor { bytes, path };
        let too_big = || malformed(path, "a length is too large");
        let count = usize::try_from(cursor.u64()?).map_err(|_| too_big())?;
        let keys_len = usize::try_from(cursor.u64()?).map_err(|_| too_big())?;
        let lines_len = usize::try_from(cursor.u64()?).map_err(|_| too_big())?;
        let offsets_len = count
            .checked_add(1)
            .and_then(|entries| entries.checked_mul(8))
            .ok_or_else(too_big)?;
        let in_memory = if lines_elsewhere == 0 { lines_len } else { 0 };
        if lines_elsewhere != 0 && lines_elsewhere != lines_len as u64 {
            return Err(malformed(path, "its lengths do not add up"));
        }
        let section = Section {
            count,
            key_offsets: cursor.take(offsets_len)?,
            keys: cursor.take(keys_len)?,
            line_offsets: cursor.take(offsets_len)?,
            lines: Lines::Memory(cursor.take(in_memory)?),
            path,
        };
        if !cursor.bytes.is_empty() {
            return Err(malformed(path, "bytes follow the last record"));
        }
        Ok(section)
    }

    fn offset(&self, offsets: &[u8], index: usize, limit: usize) -> Result<usize, CacheError> {
        let mut word = [0; 8];
        word.copy_from_slice(&offsets[index * 8..index * 8 + 8]);
        usize::try_from(u64::from_le_bytes(word))
            .ok()
            .filter(|offset| *offset <= limit)
            .ok_or_else(|| malformed(self.path, "an offset points outside the section"))
    }

    /// The key of row `index` (< count).
    fn key(&self, index: usize) -> Result<RowKey<'a>, CacheError> {
        let start = self.offset(self.key_offsets, index, self.keys.len())?;
        let end = self.offset(self.key_offsets, index + 1, self.keys.len())?;
        let bytes = self
            .keys
            .get(start..end)
            .ok_or_else(|| malformed(self.path, "key offsets go backwards"))?;
        let mut cursor = Cursor {
            bytes,
            path: self.path,
        };
        let first = cursor.bytes()?;
        let second = cursor.bytes()?;
        let number = cursor.u64()?;
        let last = cursor.bytes()?;
        Ok(RowKey {
            first,
            second,
            number,
            last,
        })
    }

    /// Writes the CSV lines of rows `start..end`, back to back.
    fn write_lines(
        &self,
        start: usize,
        end: usize,
        out: &mut impl Write,
    ) -> Result<(), MergeError> {
        let from = self.offset(self.line_offsets, start, self.lines.len())?;
        let to = self.offset(self.line_offsets, end, self.lines.len())?;
        if from > to {
            return Err(malformed(self.path, "line offsets go backwards").into());
        }
        match self.lines {
            Lines::Memory(bytes) => out.write_all(&bytes[from..to])?,
            Lines::File { file, at, .. } => {
                let read_error = |source| CacheError::Read {
                    path: self.path.to_owned(),
                    source,
                };
                let mut file = file;
                file.seek(SeekFrom::Start(at + from as u64))
                    .map_err(read_error)?;
                let want = (to - from) as u64;
                let copied = std::io::copy(&mut file.take(want), out)?;
                if copied != want {
                    return Err(malformed(self.path, "it is shorter than its index says").into());
                }
            }
        }
        Ok(())
    }

    /// The first row at or after `start` whose key is greater than `bound`, given that row
    /// `start`'s is not (galloping, then binary search: a long run costs a few key reads).
    fn end_of_run(&self, start: usize, bound: &RowKey<'_>) -> Result<usize, CacheError> {
        let (mut below, mut step) = (start, 1);
        let mut above = loop {
            let probe = start.saturating_add(step);
            if probe >= self.count {
                break self.count;
            }
            if self.key(probe)? > *bound {
                break probe;
            }
            below = probe;
            step = step.saturating_mul(2);
        };
        while above - below > 1 {
            let middle = below + (above - below) / 2;
            if self.key(middle)? > *bound {
                above = middle;
            } else {
                below = middle;
            }
        }
        Ok(above.max(start + 1))
    }
}

/// Writes the rows of several sorted sections in key order, as one stable sort of all of them
/// would put them, given that no two sections share a key (rows of one section keep their order).
/// Runs of rows from one section are found by search and copied in one piece.
pub(super) fn merge(sections: &[Section<'_>], out: &mut impl Write) -> Result<(), MergeError> {
    use std::cmp::Reverse;
    let mut heads = std::collections::BinaryHeap::new();
    for (position, section) in sections.iter().enumerate() {
        if section.count > 0 {
            heads.push(Reverse((section.key(0)?, position)));
        }
    }
    let mut next = vec![0_usize; sections.len()];
    while let Some(Reverse((_, position))) = heads.pop() {
        let section = &sections[position];
        let start = next[position];
        let end = match heads.peek() {
            Some(Reverse((bound, _))) => section.end_of_run(start, bound)?,
            None => section.count,
        };
        section.write_lines(start, end, out)?;
        next[position] = end;
        if end < section.count {
            heads.push(Reverse((section.key(end)?, position)));
        }
    }
    Ok(())
}

/// A merge failed: a section was malformed, or the output could not be written.
#[derive(Debug, thiserror::Error)]
pub(super) enum MergeError {
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error(transparent)]
    Write(#[from] std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(first: &str, number: u64) -> RowKey<'_> {
        RowKey {
            first: first.as_bytes(),
            second: b"",
            number,
            last: b"",
        }
    }

    fn section(rows: &[(&str, u64)]) -> SectionBuilder {
        let mut builder = SectionBuilder::default();
        for (first, number) in rows {
            builder.push(key(first, *number), format!("{first}{number}\n").as_bytes());
        }
        builder
    }

    fn merged(sections: &[Section<'_>]) -> String {
        let mut out = Vec::new();
        merge(sections, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn merging_sections_gives_the_sorted_rows_with_long_runs_copied_whole() {
        // One long section, interleaved with two short ones; equal keys only within a section.
        let long: Vec<(String, u64)> = (0..1000).map(|n| (format!("b{n:04}"), 1)).collect();
        let long: Vec<(&str, u64)> = long.iter().map(|(text, n)| (text.as_str(), *n)).collect();
        let sections = [
            section(&long),
            section(&[("a", 1), ("b0500", 0), ("b0500", 0), ("c", 1)]),
            section(&[("b0999", 2), ("z", 1), ("z", 1)]),
            section(&[]),
        ];
        let views: Vec<Section<'_>> = sections.iter().map(SectionBuilder::view).collect();
        let mut expected: Vec<String> = long
            .iter()
            .chain(&[("a", 1), ("b0500", 0), ("b0500", 0), ("c", 1)])
            .chain(&[("b0999", 2), ("z", 1), ("z", 1)])
            .map(|(first, number)| format!("{first}{number}\n"))
            .collect();
        expected.sort_by(|a, b| {
            let split = |line: &str| {
                let line = line.trim_end();
                let (first, number) = line.split_at(line.len() - 1);
                (first.to_owned(), number.to_owned())
            };
            split(a).cmp(&split(b))
        });
        assert_eq!(merged(&views), expected.concat());
    }

    #[test]
    fn a_section_read_back_is_the_one_written_and_damage_is_an_error() {
        let builder = section(&[("a", 1), ("b", 2)]);
        let mut bytes = Vec::new();
        builder.write(&mut bytes).unwrap();
        assert_eq!(bytes.len() as u64, builder.len());
        let path = Path::new("group.bin");
        let parsed = Section::parse(&bytes, path, 0).unwrap();
        assert_eq!(merged(&[parsed]), "a1\nb2\n");

        assert!(Section::parse(&bytes[..bytes.len() - 1], path, 0).is_err());
        // A key offset pointing past the keys.
        let mut damaged = bytes.clone();
        damaged[24 + 8] = 0xff;
        let parsed = Section::parse(&damaged, path, 0).unwrap();
        let error = merge(&[parsed], &mut Vec::new()).unwrap_err();
        assert!(error.to_string().contains("outside the section"), "{error}");
    }
}
