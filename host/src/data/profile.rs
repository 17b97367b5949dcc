//! User taste profiles (reference §5): the v4 column format (`Likes,Dislikes,Notes`) and the v5
//! row format (`category,item,notes`), normalised into columns; the `preferences_guidance` text
//! stages show the model; the `dislikes` list; and the generator-hints file.
//!
//! This module parses text it is given; finding and reading the file is [`read_data`]'s job, and
//! the caller names the file in its own error. The fixed prose of the guidance (the strength
//! legend and the interpretation rules) lives in `host/src/prompts/profile/`.
//!
//! The format is decided once, from the header ([`ProfileFormat::detect`]): a header naming any
//! of v5's own columns (`item`, `category`, `strength`) is v5, and must then have all of v5's
//! required columns; anything else is v4. A v5 file missing its `item` column is refused rather
//! than read as a v4 table of independent columns, which would quietly mean something else.
//!
//! - v4: each column is an independent list of its non-empty, trimmed cells. Column names
//!   matching `Loves`, `Likes`, `Dislikes`, `Hates` or `Notes` (any case, singular too) take the
//!   canonical name; other columns keep their name, in file order.
//! - v5: each row is one entry, `item — notes` (or just `item`), filed under the column its
//!   `category` (or `strength`) names; unknown categories are Title-cased, an empty one is
//!   `Other`, and the non-canonical columns are sorted.
//!
//! In both, the canonical columns come first in the order above, and a column with no entries is
//! left out.
//!
//! [`read_data`]: crate::data::read_data

use csv::StringRecord;

/// The canonical columns, in the order they are shown.
const CANONICAL: [&str; 5] = ["Loves", "Likes", "Dislikes", "Hates", "Notes"];

/// Shown first when the profile has Loves or Hates.
const LEGEND: &str = include_str!("../prompts/profile/legend.txt");
/// Always shown before the columns.
const RULES: &str = include_str!("../prompts/profile/rules.txt");

/// The columns a hints CSV may keep its hints in, by preference.
const HINT_COLUMNS: [&str; 4] = [
    "generator_profile_hints",
    "profile_abstraction",
    "abstraction",
    "text",
];

/// A v5 column: its name, then the other names it may go by (any case).
type ColumnNames = &'static [&'static str];

/// v5's item column.
const V5_ITEM: ColumnNames = &["item"];
/// v5's category column (`strength` in the love/like/dislike/hate files).
const V5_CATEGORY: ColumnNames = &["category", "strength"];
/// v5's optional notes column.
const V5_NOTES: ColumnNames = &["notes", "conditionals"];
/// The columns every v5 profile has; a header naming any of them is v5.
const V5_REQUIRED: [ColumnNames; 2] = [V5_CATEGORY, V5_ITEM];

/// The two profile formats, told apart by the header alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProfileFormat {
    /// `Likes,Dislikes,Notes`: one list per column.
    V4Columns,
    /// `category,item,notes`: one entry per row.
    V5Rows,
}

impl ProfileFormat {
    /// The format `table`'s header declares.
    fn detect(table: &Table) -> ProfileFormat {
        let names_a_v5_column = V5_REQUIRED
            .iter()
            .any(|names| table.column(names).is_some());
        if names_a_v5_column {
            ProfileFormat::V5Rows
        } else {
            ProfileFormat::V4Columns
        }
    }

    /// How errors name the format.
    fn label(self) -> &'static str {
        match self {
            ProfileFormat::V4Columns => "v4 (one list per column, e.g. `Likes,Dislikes,Notes`)",
            ProfileFormat::V5Rows => "v5 (one entry per row, `category,item,notes`)",
        }
    }

    /// The columns a file of this format must have, each a list of accepted names.
    fn required_columns(self) -> &'static [ColumnNames] {
        match self {
            ProfileFormat::V4Columns => &[],
            ProfileFormat::V5Rows => &V5_REQUIRED,
        }
    }

    /// The index of each required column, or an error naming the format and the first missing one.
    fn locate_required(self, table: &Table) -> Result<Vec<usize>, ProfileError> {
        self.required_columns()
            .iter()
            .map(|names| {
                table.column(names).ok_or_else(|| {
                    let also = names[1..]
                        .iter()
                        .map(|name| format!(" (or `{name}`)"))
                        .collect::<String>();
                    ProfileError::new(format!(
                        "profile read as {} has no `{}` column{also}\n\n\
                         its columns are {}; a header naming `item`, `category` or `strength` \
                         makes a file v5, which needs both `category` and `item`",
                        self.label(),
                        names[0],
                        table.column_list(),
                    ))
                })
            })
            .collect()
    }
}

/// What joins an item and its notes in a v5 entry: an em dash with a space either side.
const ITEM_NOTES_SEPARATOR: &str = " \u{2014} ";

/// A normalised profile: columns in canonical order (Loves, Likes, Dislikes, Hates, Notes, then
/// the others sorted), each a list of entries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Profile {
    pub columns: Vec<(String, Vec<String>)>,
}

/// A profile or hints file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ProfileError {
    pub message: String,
}

impl ProfileError {
    fn new(message: impl Into<String>) -> Self {
        ProfileError {
            message: message.into(),
        }
    }
}

/// Parses a profile CSV (v4 columns or v5 rows; a header naming `item`, `category` or `strength`
/// is v5).
///
/// # Errors
///
/// [`ProfileError`] when the text is empty, its first line names no column, a row has more
/// cells than the header, a header cell with entries under it has no name, a v5 file lacks its
/// `category` (or `strength`) or `item` column, or there is no entry at all.
pub fn parse_profile(text: &str) -> Result<Profile, ProfileError> {
    let table = Table::parse(text, "profile")?;
    if table.header.iter().all(String::is_empty) {
        return Err(ProfileError::new(
            "profile has no header\n\n\
             its first line must name the columns, e.g. `Likes,Dislikes,Notes` or \
             `category,item,notes`",
        ));
    }
    let format = ProfileFormat::detect(&table);
    let required = format.locate_required(&table)?;
    let profile = match format {
        ProfileFormat::V4Columns => parse_columns(&table)?,
        // `required` holds the indexes of `V5_REQUIRED`'s columns, in its order.
        ProfileFormat::V5Rows => parse_rows(&table, required[0], required[1]),
    };
    if profile.columns.is_empty() {
        return Err(ProfileError::new(
            "profile has no entries\n\nevery cell under its header is empty",
        ));
    }
    Ok(profile)
}

impl Profile {
    /// The text stages show the model (legend when Loves/Hates exist, interpretation rules,
    /// then one `Column:\n- item` section per column), sections joined by blank lines.
    pub fn preferences_guidance(&self) -> String {
        let mut sections = Vec::with_capacity(self.columns.len() + 2);
        if self.entries("Loves").is_some() || self.entries("Hates").is_some() {
            sections.push(LEGEND.trim().to_owned());
        }
        sections.push(RULES.trim().to_owned());
        for (name, entries) in &self.columns {
            let mut section = format!("{name}:");
            for entry in entries {
                section.push_str("\n- ");
                section.push_str(entry);
            }
            sections.push(section);
        }
        sections.join("\n\n")
    }

    /// Dislikes then Hates, de-duplicated in order.
    pub fn dislikes(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for name in ["Dislikes", "Hates"] {
            for entry in self.entries(name).unwrap_or_default() {
                if !out.contains(entry) {
                    out.push(entry.clone());
                }
            }
        }
        out
    }

    /// The entries of column `name`, when the profile has it.
    pub fn entries(&self, name: &str) -> Option<&[String]> {
        self.columns
            .iter()
            .find(|(column, _)| column == name)
            .map(|(_, entries)| entries.as_slice())
    }
}

/// The generator hints in a hints file: plain text (non-`.csv` reference) trimmed, or for a CSV
/// the first matching column of `generator_profile_hints`, `profile_abstraction`, `abstraction`,
/// `text` (any case), or the only column; non-empty values joined with `\n`.
///
/// # Errors
///
/// [`ProfileError`] when a CSV has no such column (the message lists its columns), is not
/// valid CSV, or when there are no hints at all.
pub fn parse_generator_hints(reference: &str, text: &str) -> Result<String, ProfileError> {
    let empty = || ProfileError::new(format!("generator hints file `{reference}` is empty"));
    if !reference.trim().to_lowercase().ends_with(".csv") {
        let hints = text.trim();
        if hints.is_empty() {
            return Err(empty());
        }
        return Ok(hints.to_owned());
    }
    let what = format!("generator hints file `{reference}`");
    let table = Table::parse(text, &what)?;
    let index = match table.column(&HINT_COLUMNS) {
        Some(index) => index,
        None if table.header.len() == 1 => 0,
        None => {
            return Err(ProfileError::new(format!(
                "{what} has no hints column\n\n\
                 its columns are {}; name the column `generator_profile_hints`, \
                 `profile_abstraction`, `abstraction` or `text`, or keep only one column",
                table.column_list()
            )));
        }
    };
    let hints: Vec<&str> = table
        .rows
        .iter()
        .map(|row| cell(row, index))
        .filter(|value| !value.is_empty())
        .collect();
    if hints.is_empty() {
        return Err(ProfileError::new(format!(
            "{what} has no hints\n\nevery cell of its column `{}` is empty",
            table.header[index]
        )));
    }
    Ok(hints.join("\n"))
}

// --- reading the CSV ----------------------------------------------------------------------------

/// A CSV file as rows of cells: the header (trimmed) and the rows below it.
struct Table {
    header: Vec<String>,
    rows: Vec<StringRecord>,
}

impl Table {
    /// Reads `text`; `what` names the file in errors (`profile`, ``hints file `x` ``).
    fn parse(text: &str, what: &str) -> Result<Table, ProfileError> {
        // A spreadsheet may save a byte-order mark; it is not part of the first column's name.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        if text.trim().is_empty() {
            return Err(ProfileError::new(format!("{what} is empty")));
        }
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_bytes());
        let not_csv =
            |err: csv::Error| ProfileError::new(format!("{what} is not valid CSV: {err}"));
        let mut records = reader.records();
        let header: Vec<String> = match records.next() {
            None => return Err(ProfileError::new(format!("{what} is empty"))),
            Some(record) => record
                .map_err(not_csv)?
                .iter()
                .map(|name| name.trim().to_owned())
                .collect(),
        };
        let mut rows = Vec::new();
        for record in records {
            let record = record.map_err(not_csv)?;
            // Short rows are fine (their missing cells are empty); long ones mean a broken file.
            if record.len() > header.len() {
                let line = record.position().map_or(0, csv::Position::line);
                return Err(ProfileError::new(format!(
                    "{what} is not valid CSV: line {line} has {} cells but the header has {}\n\n\
                     quote cells that contain commas",
                    record.len(),
                    header.len()
                )));
            }
            rows.push(record);
        }
        Ok(Table { header, rows })
    }

    /// The header's column names in backticks, comma-separated, for error messages.
    fn column_list(&self) -> String {
        self.header
            .iter()
            .map(|name| format!("`{name}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The index of the first of `names` (any case) that is a column.
    fn column(&self, names: &[&str]) -> Option<usize> {
        names.iter().find_map(|wanted| {
            self.header
                .iter()
                .position(|name| name.eq_ignore_ascii_case(wanted))
        })
    }
}

/// The trimmed cell `index` of `row`, or "" when the row is short.
fn cell(row: &StringRecord, index: usize) -> &str {
    row.get(index).map_or("", str::trim)
}

// --- the two formats ----------------------------------------------------------------------------

/// The canonical column a column or category name stands for (any case, singular too).
fn canonical(name: &str) -> Option<&'static str> {
    let lower = name.trim().to_lowercase();
    CANONICAL.into_iter().find(|canonical| {
        let plural = canonical.to_lowercase();
        lower == plural || Some(lower.as_str()) == plural.strip_suffix('s')
    })
}

/// v4: one list per column.
fn parse_columns(table: &Table) -> Result<Profile, ProfileError> {
    let mut others = Columns::default();
    let mut canon = Columns::default();
    for (index, name) in table.header.iter().enumerate() {
        let entries: Vec<String> = table
            .rows
            .iter()
            .map(|row| cell(row, index))
            .filter(|value| !value.is_empty())
            .map(str::to_owned)
            .collect();
        if name.is_empty() {
            if entries.is_empty() {
                continue;
            }
            return Err(ProfileError::new(format!(
                "profile column {} has entries but no name in the header",
                index + 1
            )));
        }
        match canonical(name) {
            Some(canonical) => canon.extend(canonical, entries),
            None => others.extend(name, entries),
        }
    }
    Ok(canon.into_profile(others))
}

/// v5: one entry per row, filed under its category (`category` and `item` are the indexes of
/// the required columns).
fn parse_rows(table: &Table, category: usize, item: usize) -> Profile {
    let notes = table.column(V5_NOTES);
    let mut canon = Columns::default();
    let mut others = Columns::default();
    for row in &table.rows {
        let name = cell(row, item);
        if name.is_empty() {
            continue;
        }
        let notes = notes.map_or("", |index| cell(row, index));
        let entry = if notes.is_empty() {
            name.to_owned()
        } else {
            format!("{name}{ITEM_NOTES_SEPARATOR}{notes}")
        };
        let category = cell(row, category);
        match canonical(category) {
            Some(canonical) => canon.extend(canonical, vec![entry]),
            None if category.is_empty() => others.extend("Other", vec![entry]),
            None => others.extend(&title_case(category), vec![entry]),
        }
    }
    others.0.sort_by(|(a, _), (b, _)| a.cmp(b));
    canon.into_profile(others)
}

/// Columns being collected, in first-seen order; entries for a name seen before are appended.
#[derive(Default)]
struct Columns(Vec<(String, Vec<String>)>);

impl Columns {
    fn extend(&mut self, name: &str, entries: Vec<String>) {
        match self.0.iter_mut().find(|(column, _)| column == name) {
            Some((_, existing)) => existing.extend(entries),
            None => self.0.push((name.to_owned(), entries)),
        }
    }

    /// These (canonical) columns in canonical order, then `others` as they are; empty columns
    /// left out.
    fn into_profile(mut self, others: Columns) -> Profile {
        self.0
            .sort_by_key(|(name, _)| CANONICAL.iter().position(|c| c == name));
        let columns = self
            .0
            .into_iter()
            .chain(others.0)
            .filter(|(_, entries)| !entries.is_empty())
            .collect();
        Profile { columns }
    }
}

/// Capitalises the first letter of each word and lowercases the rest (`must-SEE` → `Must-See`);
/// an apostrophe does not start a word.
fn title_case(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_word = false;
    for c in text.chars() {
        if c.is_alphanumeric() {
            if in_word {
                out.extend(c.to_lowercase());
            } else {
                out.extend(c.to_uppercase());
            }
            in_word = true;
        } else {
            out.push(c);
            in_word = in_word && matches!(c, '\'' | '\u{2019}');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn builtin(name: &str) -> String {
        crate::data::read_data(&format!("builtin:{name}"), Path::new("/")).unwrap()
    }

    fn names(profile: &Profile) -> Vec<&str> {
        profile
            .columns
            .iter()
            .map(|(name, _)| name.as_str())
            .collect()
    }

    fn err(text: &str) -> String {
        parse_profile(text).unwrap_err().message
    }

    #[test]
    fn v4_sample_has_three_columns_of_eight() {
        let profile = parse_profile(&builtin("user_profile_v4.csv")).unwrap();
        assert_eq!(names(&profile), ["Likes", "Dislikes", "Notes"]);
        for (_, entries) in &profile.columns {
            assert_eq!(entries.len(), 8);
        }
        let likes = profile.entries("Likes").unwrap();
        assert_eq!(likes[0], "golden hour light");
        assert_eq!(likes[7], "rainy city reflections");
        assert_eq!(profile.dislikes()[3], "gore or body horror");
    }

    #[test]
    fn v4_columns_are_matched_in_any_case_and_reordered() {
        let text = "Mood,hate,NOTE, likes ,Palette,Love\n\
                    calm,spiders,short ones,sun,teal,owls\n\
                    , ,,fog,,\n";
        let profile = parse_profile(text).unwrap();
        assert_eq!(
            profile.columns,
            [
                ("Loves".to_owned(), vec!["owls".to_owned()]),
                ("Likes".to_owned(), vec!["sun".to_owned(), "fog".to_owned()]),
                ("Hates".to_owned(), vec!["spiders".to_owned()]),
                ("Notes".to_owned(), vec!["short ones".to_owned()]),
                ("Mood".to_owned(), vec!["calm".to_owned()]),
                ("Palette".to_owned(), vec!["teal".to_owned()]),
            ]
        );
    }

    #[test]
    fn v4_columns_are_independent_lists_of_trimmed_cells() {
        let text = "Likes,Dislikes,Extra\n a , b ,\n,c,\nd,,\n";
        let profile = parse_profile(text).unwrap();
        assert_eq!(profile.entries("Likes").unwrap(), ["a", "d"]);
        assert_eq!(profile.entries("Dislikes").unwrap(), ["b", "c"]);
        assert_eq!(
            profile.entries("Extra"),
            None,
            "an empty column is left out"
        );
        // Other columns keep their file order (not sorted) in v4.
        let profile = parse_profile("Zeta,Alpha,Likes\nz,a,l\n").unwrap();
        assert_eq!(names(&profile), ["Likes", "Zeta", "Alpha"]);
        // Short rows are fine; a quoted cell may hold a comma.
        let profile = parse_profile("Likes,Dislikes\n\"x, y\"\nz,w\n").unwrap();
        assert_eq!(profile.entries("Likes").unwrap(), ["x, y", "z"]);
        assert_eq!(profile.entries("Dislikes").unwrap(), ["w"]);
    }

    #[test]
    fn v5_like_dislike_sample() {
        let profile = parse_profile(&builtin("user_profile_v5_like_dislike.csv")).unwrap();
        assert_eq!(names(&profile), ["Likes", "Dislikes"]);
        let likes = profile.entries("Likes").unwrap();
        assert_eq!(
            likes[0],
            "Warm low sunlight \u{2014} Long shadows and golden edges on everything"
        );
        assert_eq!(likes[5], "Quiet solitary figures", "no notes, no dash");
        assert_eq!(
            profile.dislikes(),
            [
                "Visual clutter \u{2014} Too many subjects competing for attention",
                "Horror and gore \u{2014} Nothing frightening or grotesque",
                "Lettering inside the image \u{2014} Signs and captions pull the eye away",
                "Plastic-looking renders",
            ]
        );
    }

    #[test]
    fn v5_love_like_dislike_hate_sample() {
        let text = builtin("user_profile_v5_love_like_dislike_hate.csv");
        let profile = parse_profile(&text).unwrap();
        assert_eq!(names(&profile), ["Loves", "Likes", "Dislikes", "Hates"]);
        assert_eq!(profile.entries("Loves").unwrap().len(), 2);
        assert_eq!(profile.entries("Hates").unwrap().len(), 3);
        let dislikes = profile.dislikes();
        assert_eq!(dislikes.len(), 6);
        assert_eq!(
            dislikes[2],
            "Dark nighttime cityscapes \u{2014} Fine when there is warm light somewhere"
        );
        assert_eq!(
            dislikes[3],
            "Horror motifs \u{2014} No jump scares or grotesque imagery"
        );
    }

    #[test]
    fn v5_categories_title_case_other_and_sorted() {
        let text = "Category,Item,Notes\n\
                    must-SEE,b1,\n\
                    ,orphan,n\n\
                    hate,h,\n\
                    LIKES,x,y\n\
                    bonus round,b2,\n\
                    like,  ,skipped\n\
                    note,n1,\n\
                    love,l,\n";
        let profile = parse_profile(text).unwrap();
        assert_eq!(
            names(&profile),
            [
                "Loves",
                "Likes",
                "Hates",
                "Notes",
                "Bonus Round",
                "Must-See",
                "Other"
            ]
        );
        assert_eq!(profile.entries("Likes").unwrap(), ["x \u{2014} y"]);
        assert_eq!(profile.entries("Other").unwrap(), ["orphan \u{2014} n"]);
    }

    #[test]
    fn v5_strength_and_conditionals_columns() {
        let text = "strength,item,conditionals\nlove,owls,at dusk\ndislike,fog,\n";
        let profile = parse_profile(text).unwrap();
        assert_eq!(profile.entries("Loves").unwrap(), ["owls \u{2014} at dusk"]);
        assert_eq!(profile.entries("Dislikes").unwrap(), ["fog"]);
        // No notes column at all: just the items.
        let profile = parse_profile("item,category\nowls,like\n").unwrap();
        assert_eq!(profile.entries("Likes").unwrap(), ["owls"]);
    }

    #[test]
    fn the_hints_sample_is_not_a_profile_but_parses_as_one_column() {
        // A single unknown column is kept as it is; the hints loader is what reads this file.
        let profile = parse_profile(&builtin("user_profile_v5_abstraction.csv")).unwrap();
        assert_eq!(names(&profile), ["generator_profile_hints"]);
    }

    #[test]
    fn errors() {
        for empty in ["", "  \n\n", "\u{feff}"] {
            assert_eq!(err(empty), "profile is empty");
        }
        assert!(err(",,\na,b,c\n").starts_with("profile has no header\n\n"));
        assert!(err(" , \n").starts_with("profile has no header"));
        assert_eq!(
            err("Likes,Dislikes\na,b\nc,d,e\n"),
            "profile is not valid CSV: line 3 has 3 cells but the header has 2\n\n\
             quote cells that contain commas"
        );
        assert!(err("Likes,Dislikes\n,\n").starts_with("profile has no entries"));
        assert!(err("category,item\nlike,\n").starts_with("profile has no entries"));
        assert_eq!(
            err("Likes,\na,b\n"),
            "profile column 2 has entries but no name in the header"
        );
        assert_eq!(
            err("item,notes\nx,y\n"),
            "profile read as v5 (one entry per row, `category,item,notes`) has no `category` \
             column (or `strength`)\n\n\
             its columns are `item`, `notes`; a header naming `item`, `category` or `strength` \
             makes a file v5, which needs both `category` and `item`"
        );
        // A byte-order mark does not hide the first column's name.
        let profile = parse_profile("\u{feff}Likes\nsun\n").unwrap();
        assert_eq!(names(&profile), ["Likes"]);
    }

    #[test]
    fn a_v5_profile_without_its_item_column_is_refused_not_read_as_v4() {
        // Read as v4, this would have been two independent lists, `Category` and `Notes`.
        for text in [
            "category,notes\nlike,warm light\ndislike,clutter\n",
            "Strength,Conditionals\nlove,at dusk\n",
        ] {
            let message = err(text);
            assert!(
                message.starts_with(
                    "profile read as v5 (one entry per row, `category,item,notes`) has no `item` \
                     column\n\n"
                ),
                "{message}"
            );
        }
    }

    #[test]
    fn the_format_is_decided_by_the_header() {
        let table = |text: &str| Table::parse(text, "profile").unwrap();
        for (header, format) in [
            ("Likes,Dislikes,Notes", ProfileFormat::V4Columns),
            ("Loves,Hates", ProfileFormat::V4Columns),
            ("generator_profile_hints", ProfileFormat::V4Columns),
            ("category,item,notes", ProfileFormat::V5Rows),
            ("strength,item,conditionals", ProfileFormat::V5Rows),
            ("ITEM", ProfileFormat::V5Rows),
            ("Category,Notes", ProfileFormat::V5Rows),
        ] {
            assert_eq!(
                ProfileFormat::detect(&table(&format!("{header}\nx\n"))),
                format,
                "{header}"
            );
        }
    }

    #[test]
    fn guidance_has_rules_and_sections() {
        let profile = parse_profile("Likes,Dislikes\nsun,fog\nmoss,\n").unwrap();
        let text = profile.preferences_guidance();
        let sections: Vec<&str> = text.split("\n\n").collect();
        assert_eq!(sections.len(), 3, "{text}");
        assert!(sections[0].starts_with("Preference interpretation rules:\n- "));
        assert_eq!(sections[1], "Likes:\n- sun\n- moss");
        assert_eq!(sections[2], "Dislikes:\n- fog");
        assert!(!text.contains("Preference strength legend"));
    }

    #[test]
    fn guidance_has_the_legend_with_loves_or_hates() {
        for (header, columns) in [
            ("Love", "Loves:\n- x\n\nLikes:\n- y"),
            ("Hates", "Likes:\n- y\n\nHates:\n- x"),
        ] {
            let profile = parse_profile(&format!("{header},Likes\nx,y\n")).unwrap();
            let text = profile.preferences_guidance();
            assert!(
                text.starts_with("Preference strength legend:\n- "),
                "{text}"
            );
            let rules = text.find("\n\nPreference interpretation rules:\n").unwrap();
            assert!(text[rules..].ends_with(&format!("\n\n{columns}")), "{text}");
        }
        let profile =
            parse_profile(&builtin("user_profile_v5_love_like_dislike_hate.csv")).unwrap();
        assert_eq!(profile.preferences_guidance().split("\n\n").count(), 6);
    }

    #[test]
    fn guidance_prose_lines_are_items_not_headers() {
        // Readers split the guidance into sections by `Name:` header lines; the fixed prose must
        // not look like one.
        for prose in [LEGEND, RULES] {
            let mut lines = prose.trim().lines();
            assert!(lines.next().unwrap().ends_with(':'));
            for line in lines {
                assert!(line.starts_with("- ") && !line.ends_with(':'), "{line}");
            }
        }
    }

    #[test]
    fn dislikes_are_dislikes_then_hates_deduplicated() {
        let text = "Hates,Likes,Dislikes\nspiders,sun,fog\nfog,,spiders\nrust,,fog\n";
        let profile = parse_profile(text).unwrap();
        assert_eq!(profile.dislikes(), ["fog", "spiders", "rust"]);
        let profile = parse_profile("Likes\nsun\n").unwrap();
        assert!(profile.dislikes().is_empty());
    }

    #[test]
    fn title_case_follows_words() {
        assert_eq!(title_case("bonus ROUND"), "Bonus Round");
        assert_eq!(title_case("must-see"), "Must-See");
        assert_eq!(title_case("artist's pick"), "Artist's Pick");
        assert_eq!(title_case("3d art"), "3d Art");
    }

    #[test]
    fn hints_plain_text_is_trimmed() {
        assert_eq!(
            parse_generator_hints("hints.txt", "\n  calm and warm \n").unwrap(),
            "calm and warm"
        );
        // Only a `.csv` name makes it a table, in any case; commas in plain text are just text.
        assert_eq!(
            parse_generator_hints("hints.md", "a,b\nc,d").unwrap(),
            "a,b\nc,d"
        );
        assert_eq!(
            parse_generator_hints("x.txt", "  ").unwrap_err().message,
            "generator hints file `x.txt` is empty"
        );
    }

    #[test]
    fn hints_sample_csv() {
        let text = builtin("user_profile_v5_abstraction.csv");
        let hints =
            parse_generator_hints("builtin:user_profile_v5_abstraction.csv", &text).unwrap();
        assert!(hints.starts_with("This viewer is drawn to calm"));
        assert!(!hints.contains('\n'));
    }

    #[test]
    fn hints_csv_column_choice() {
        let text = "id,Text,Abstraction\n1,t1,a1\n2,,a2\n3,t3,\n";
        assert_eq!(
            parse_generator_hints("H.CSV", text).unwrap(),
            "a1\na2",
            "abstraction comes before text"
        );
        let text = "id,TEXT\n1, t1 \n2,\n3,t3\n";
        assert_eq!(parse_generator_hints("h.csv", text).unwrap(), "t1\nt3");
        let text = "notes\none\n\ntwo\n";
        assert_eq!(
            parse_generator_hints("h.csv", text).unwrap(),
            "one\ntwo",
            "the only column"
        );
        let text = "profile_abstraction,generator_profile_hints\np,g\n";
        assert_eq!(parse_generator_hints("h.csv", text).unwrap(), "g");
    }

    #[test]
    fn hints_csv_errors() {
        let message = parse_generator_hints("h.csv", "id,notes\n1,x\n")
            .unwrap_err()
            .message;
        assert!(
            message.starts_with(
                "generator hints file `h.csv` has no hints column\n\n\
                 its columns are `id`, `notes`; "
            ),
            "{message}"
        );
        assert_eq!(
            parse_generator_hints("h.csv", "text\n \n\n")
                .unwrap_err()
                .message,
            "generator hints file `h.csv` has no hints\n\nevery cell of its column `text` is empty"
        );
        assert_eq!(
            parse_generator_hints("h.csv", "\n").unwrap_err().message,
            "generator hints file `h.csv` is empty"
        );
        assert!(parse_generator_hints("h.csv", "text\na,b\n")
            .unwrap_err()
            .message
            .starts_with("generator hints file `h.csv` is not valid CSV: line 2"));
    }
}
