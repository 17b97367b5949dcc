//! How a registry row becomes a CSV line. Each registry declares its columns as one table of
//! [`Column`]s, a column's name beside the cell it takes from a row, so the header and the cells
//! cannot drift apart; this module renders a table's header and a row's cells, the cells shared
//! by several registries (image id and label), and the CSV encoding: `csv::Writer`'s defaults,
//! an absent value as an empty cell.
//!
//! Not here: what each registry's rows hold ([`super::experiment_registry`],
//! [`super::image_registry`], [`super::run_registry`]) or which files they go to.

use std::borrow::Cow;
use std::fmt::Display;
use std::path::Path;

use super::IndexError;
use crate::artifacts::write_atomic_deferred;

/// One cell's text; empty for an absent value.
pub(super) type Cell<'r> = Cow<'r, str>;

/// A registry column: its name in the header, and its cell in a row.
pub(super) type Column<R> = (&'static str, fn(&R) -> Cell<'_>);

/// A text that is always there.
pub(super) fn cell(text: &str) -> Cell<'_> {
    Cow::Borrowed(text)
}

/// A text that may be absent.
pub(super) fn text_cell(text: Option<&str>) -> Cell<'_> {
    Cow::Borrowed(text.unwrap_or_default())
}

/// A number (or anything else shown as it displays) that may be absent.
pub(super) fn display_cell(value: Option<impl Display>) -> Cell<'static> {
    value.map_or(Cow::Borrowed(""), |value| Cow::Owned(value.to_string()))
}

/// `#007` for title number 7.
pub(super) fn image_id(seq: Option<u64>) -> Cell<'static> {
    display_cell(seq.map(|seq| format!("#{seq:03}")))
}

/// `#007 - <title>`, or whichever of the two is known.
pub(super) fn image_label(seq: Option<u64>, title: Option<&str>) -> Cell<'_> {
    match (seq, title) {
        (Some(seq), Some(title)) => Cow::Owned(format!("#{seq:03} - {title}")),
        (Some(seq), None) => Cow::Owned(format!("#{seq:03}")),
        (None, title) => text_cell(title),
    }
}

/// The header's cells: the columns' names.
pub(super) fn names<R>(columns: &[Column<R>]) -> impl Iterator<Item = Cell<'static>> + '_ {
    columns.iter().map(|(name, _)| Cow::Borrowed(*name))
}

/// A row's cells, in column order.
pub(super) fn cells<'r, R>(
    columns: &'r [Column<R>],
    row: &'r R,
) -> impl Iterator<Item = Cell<'r>> + 'r {
    columns.iter().map(move |(_, cell_of)| cell_of(row))
}

/// How many of a row's cells are not empty.
pub(super) fn filled<R>(columns: &[Column<R>], row: &R) -> usize {
    cells(columns, row).filter(|cell| !cell.is_empty()).count()
}

/// A cell as the CSV writer takes it.
struct CellBytes<'r>(Cell<'r>);

impl AsRef<[u8]> for CellBytes<'_> {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

fn csv_error(path: &Path) -> impl Fn(csv::Error) -> IndexError + '_ {
    |source| IndexError::Csv {
        path: path.to_owned(),
        source,
    }
}

/// One CSV record as the registries write it (terminator included); `path` names the file it is
/// for, in an error.
pub(super) fn csv_line<'r>(
    path: &Path,
    cells: impl IntoIterator<Item = Cell<'r>>,
) -> Result<Vec<u8>, IndexError> {
    let mut writer = csv::Writer::from_writer(Vec::with_capacity(256));
    writer
        .write_record(cells.into_iter().map(CellBytes))
        .map_err(csv_error(path))?;
    writer
        .into_inner()
        .map_err(|error| csv_error(path)(error.into_error().into()))
}

/// Encodes a header and rows as CSV, then writes the file atomically.
pub(super) fn write_csv<'h, 'r, Row>(
    path: &Path,
    header: impl IntoIterator<Item = Cell<'h>>,
    rows: impl IntoIterator<Item = Row>,
) -> Result<(), IndexError>
where
    Row: IntoIterator<Item = Cell<'r>>,
{
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer
        .write_record(header.into_iter().map(CellBytes))
        .map_err(csv_error(path))?;
    for row in rows {
        writer
            .write_record(row.into_iter().map(CellBytes))
            .map_err(csv_error(path))?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|error| csv_error(path)(error.into_error().into()))?;
    write_atomic_deferred(path, &bytes)?;
    Ok(())
}
