//! Every arrow in `host/src` points down: no module imports a module that imports it back.
//!
//! The check reads `host/src/**/*.rs` as text (no build of the crate needed): the non-test part of
//! each file (items under `#[cfg(test)]` and files declared only for tests dropped), comments and
//! string contents blanked (doc links are not imports) except a path string in an attribute
//! (serde's `deserialize_with = "crate::..."`). It collects every `crate::` and `super::` path,
//! `use crate::{a, b::c}` groups included, and resolves each to the module file it names
//! (the longest prefix that is a file of `host/src`). An arrow joins two children of the deepest
//! module both files share: two top-level modules (`runner` -> `report`), or two sibling files of
//! one module (`runner/execute.rs` -> `runner/results.rs`; a nested file counts as its ancestor
//! among the siblings). A parent and its own children are not siblings: a `mod.rs` re-exporting
//! and using its children, and children using the parent's items, are the module's inside.
//! Any cycle among the arrows of one scope fails the test, listed with the paths that make it.
//!
//! What it does not own: which module should sit below which (`docs/where_things_live.md`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

/// A module by its path from the crate root: `["runner", "execute"]`.
type ModPath = Vec<String>;

/// One import: `from` (a child of `scope`) names `to` (another child of `scope`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Arrow {
    scope: ModPath,
    from: String,
    to: String,
    /// Where the arrow comes from, for the failure message: `runner/execute.rs: crate::report`.
    evidence: String,
}

/// A set of children of `scope` that import each other round (a strongly connected component).
#[derive(Debug, PartialEq, Eq)]
struct Cycle {
    scope: ModPath,
    members: Vec<String>,
    evidence: Vec<String>,
}

/// The module a source file defines: `a/b/mod.rs` and `a/b.rs` are both `a::b`; `lib.rs` and
/// `main.rs` are crate roots.
fn module_of(rel_path: &str) -> ModPath {
    let without_ext = rel_path.strip_suffix(".rs").unwrap_or(rel_path);
    if without_ext == "lib" || without_ext == "main" {
        return Vec::new();
    }
    let mut parts: ModPath = without_ext.split('/').map(str::to_string).collect();
    if parts.last().is_some_and(|last| last == "mod") {
        parts.pop();
    }
    parts
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The source with comments and the contents of string and char literals replaced by spaces
/// (line breaks kept), so a path inside a doc comment or a message is never read as an import.
/// A string inside an attribute other than `doc` that is a path
/// (`#[serde(deserialize_with = "crate::a::f")]`) is kept: it names code as surely as a `use`.
fn blank_comments_and_strings(src: &str) -> String {
    let chars: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    // The depth of `[` inside an attribute (`#[...]`, `#![...]`), 0 outside one.
    let mut attribute_depth = 0usize;
    // `#[doc = "..."]` is a doc comment written as an attribute: its text is not code.
    let mut attribute_is_doc = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let prev_is_ident = i > 0 && is_ident_char(chars[i - 1]);
        let opens_attribute = c == '[' && i > 0 && (chars[i - 1] == '#' || chars[i - 1] == '!');
        if c == '[' && (attribute_depth > 0 || opens_attribute) {
            if attribute_depth == 0 {
                let name: String = chars[i + 1..]
                    .iter()
                    .skip_while(|c| c.is_whitespace())
                    .take_while(|&&c| is_ident_char(c))
                    .collect();
                attribute_is_doc = name == "doc";
            }
            attribute_depth += 1;
        } else if c == ']' && attribute_depth > 0 {
            attribute_depth -= 1;
        }
        if c == '"' && attribute_depth > 0 && !attribute_is_doc {
            let end = chars[i + 1..]
                .iter()
                .position(|&c| c == '"')
                .map(|at| i + 1 + at);
            if let Some(end) = end {
                let text: String = chars[i + 1..end].iter().collect();
                let is_path = text.chars().all(|c| is_ident_char(c) || c == ':');
                if is_path && (text.starts_with("crate::") || text.starts_with("super::")) {
                    out.push_str(&format!("\"{text}\""));
                    i = end + 1;
                    continue;
                }
            }
        }
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r'
            && (!prev_is_ident || (i == 1 || !is_ident_char(chars[i - 2])) && chars[i - 1] == 'b')
            && matches!(next, Some('#') | Some('"'))
        {
            // A raw string `r#"..."#` (or `br"..."`); `r#ident` is left alone.
            let mut hashes = 0;
            let mut j = i + 1;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            out.extend(&chars[i..=j]);
            i = j + 1;
            while i < chars.len() {
                if chars[i] == '"' && (1..=hashes).all(|k| chars.get(i + k) == Some(&'#')) {
                    out.push('"');
                    out.extend(std::iter::repeat_n('#', hashes));
                    i += 1 + hashes;
                    break;
                }
                out.push(blank(chars[i]));
                i += 1;
            }
        } else if c == '"' {
            out.push('"');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < chars.len() {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
            out.push('"');
            i += 1;
        } else if c == '\'' && next == Some('\\') {
            // An escaped char literal: `'\''`, `'\n'`, `'\u{1F600}'`.
            out.push_str("' ");
            i += 2;
            if i < chars.len() {
                out.push(blank(chars[i]));
                i += 1;
            }
            while i < chars.len() && chars[i] != '\'' {
                out.push(' ');
                i += 1;
            }
            out.push('\'');
            i += 1;
        } else if c == '\'' && chars.get(i + 2) == Some(&'\'') {
            // A plain char literal (`'"'` must not open a string); a lifetime has no closing quote.
            out.push_str("' '");
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// The index just past the item starting at `start`: its `;`, or its `{ ... }` block.
fn item_end(code: &[char], start: usize) -> usize {
    let mut i = start;
    let mut depth = 0usize;
    while i < code.len() {
        match code[i] {
            '(' | '[' => depth += 1,
            ')' | ']' => depth = depth.saturating_sub(1),
            ';' if depth == 0 => return i + 1,
            '{' if depth == 0 => {
                let mut braces = 0usize;
                while i < code.len() {
                    match code[i] {
                        '{' => braces += 1,
                        '}' => {
                            braces -= 1;
                            if braces == 0 {
                                return i + 1;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
                return i;
            }
            _ => {}
        }
        i += 1;
    }
    i
}

/// Whether an attribute's text (`cfg(all(test, unix))`) limits its item to test builds.
fn is_test_only_cfg(attribute: &str) -> bool {
    let compact: String = attribute.chars().filter(|c| !c.is_whitespace()).collect();
    compact == "cfg(test)" || compact.starts_with("cfg(all(test,")
}

/// The code without its test-only items, and the names of the child modules declared for tests
/// only (`#[cfg(test)] mod tests;`), whose files are then not read at all.
fn without_test_items(code: &str) -> (String, Vec<String>) {
    let chars: Vec<char> = code.chars().collect();
    let mut out = String::with_capacity(code.len());
    let mut test_children = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '#' && chars.get(i + 1) == Some(&'[') {
            let close = item_end_of_attribute(&chars, i + 1);
            let attribute: String = chars[i + 2..close].iter().collect();
            if is_test_only_cfg(&attribute) {
                let mut start = close + 1;
                // Further attributes of the same item.
                loop {
                    while start < chars.len() && chars[start].is_whitespace() {
                        start += 1;
                    }
                    if chars.get(start) == Some(&'#') && chars.get(start + 1) == Some(&'[') {
                        start = item_end_of_attribute(&chars, start + 1) + 1;
                    } else {
                        break;
                    }
                }
                let end = item_end(&chars, start);
                let item: String = chars[start..end].iter().collect();
                let words: Vec<&str> = item
                    .split(|c: char| !is_ident_char(c))
                    .filter(|w| !w.is_empty())
                    .collect();
                let mod_at = words.iter().position(|w| *w == "mod");
                if let Some(at) = mod_at {
                    if item.trim_end().ends_with(';') && words.len() == at + 2 {
                        test_children.push(words[at + 1].to_string());
                    }
                }
                out.extend(
                    chars[i..end]
                        .iter()
                        .map(|&c| if c == '\n' { '\n' } else { ' ' }),
                );
                i = end;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    (out, test_children)
}

/// The index of the `]` closing the attribute whose `[` is at `open`.
fn item_end_of_attribute(chars: &[char], open: usize) -> usize {
    let mut depth = 0usize;
    for (offset, &c) in chars[open..].iter().enumerate() {
        match c {
            '[' => depth += 1,
            ']' => {
                depth -= 1;
                if depth == 0 {
                    return open + offset;
                }
            }
            _ => {}
        }
    }
    chars.len() - 1
}

fn skip_whitespace(chars: &[char], i: &mut usize) {
    while *i < chars.len() && chars[*i].is_whitespace() {
        *i += 1;
    }
}

fn read_ident(chars: &[char], i: &mut usize) -> String {
    let start = *i;
    while *i < chars.len() && is_ident_char(chars[*i]) {
        *i += 1;
    }
    chars[start..*i].iter().collect()
}

/// Whether `::` follows at `i` (after whitespace); consumes it if so.
fn eat_path_separator(chars: &[char], i: &mut usize) -> bool {
    let mut j = *i;
    skip_whitespace(chars, &mut j);
    if chars.get(j) == Some(&':') && chars.get(j + 1) == Some(&':') {
        *i = j + 2;
        true
    } else {
        false
    }
}

/// Reads the rest of a path or use tree after `prefix::`, pushing every full path it names.
fn read_use_tree(chars: &[char], i: &mut usize, prefix: ModPath, out: &mut Vec<ModPath>) {
    skip_whitespace(chars, i);
    match chars.get(*i) {
        Some('{') => {
            *i += 1;
            loop {
                skip_whitespace(chars, i);
                match chars.get(*i) {
                    None => return,
                    Some('}') => {
                        *i += 1;
                        return;
                    }
                    Some(',') => *i += 1,
                    Some(_) => {
                        let before = *i;
                        read_use_tree(chars, i, prefix.clone(), out);
                        if *i == before {
                            *i += 1;
                        }
                    }
                }
            }
        }
        Some('*') => {
            *i += 1;
            out.push(prefix);
        }
        _ => {
            let ident = read_ident(chars, i);
            if ident.is_empty() || ident == "self" {
                out.push(prefix);
                return;
            }
            let mut path = prefix;
            path.push(ident);
            if eat_path_separator(chars, i) {
                read_use_tree(chars, i, path, out);
            } else {
                out.push(path);
            }
        }
    }
}

/// Every `crate::` and `super::` path in `code` (blanked and without test items), made absolute.
fn crate_paths(code: &str, module: &ModPath) -> Vec<ModPath> {
    let chars: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let at_word_start = i == 0 || !(is_ident_char(chars[i - 1]) || chars[i - 1] == '$');
        if !at_word_start || !is_ident_char(chars[i]) {
            i += 1;
            continue;
        }
        let word = read_ident(&chars, &mut i);
        let prefix = match word.as_str() {
            "crate" => Some(Vec::new()),
            "super" => {
                let mut depth = 1;
                let mut j = i;
                loop {
                    let mut k = j;
                    if !eat_path_separator(&chars, &mut k) {
                        break;
                    }
                    skip_whitespace(&chars, &mut k);
                    if read_ident(&chars, &mut k) != "super" {
                        break;
                    }
                    depth += 1;
                    j = k;
                }
                i = j;
                module
                    .len()
                    .checked_sub(depth)
                    .map(|keep| module[..keep].to_vec())
            }
            _ => None,
        };
        if let Some(prefix) = prefix {
            if eat_path_separator(&chars, &mut i) {
                read_use_tree(&chars, &mut i, prefix, &mut out);
            }
        }
    }
    out
}

/// The arrows of a source tree given as (path relative to `src/`, text) pairs.
fn arrows(files: &BTreeMap<String, String>) -> Vec<Arrow> {
    // Strip every file first: the parents say which children exist for tests only.
    let mut code_of: BTreeMap<ModPath, (String, String)> = BTreeMap::new();
    let mut test_only: BTreeSet<ModPath> = BTreeSet::new();
    for (rel_path, text) in files {
        let module = module_of(rel_path);
        let (code, test_children) = without_test_items(&blank_comments_and_strings(text));
        for child in test_children {
            let mut child_path = module.clone();
            child_path.push(child);
            test_only.insert(child_path);
        }
        code_of.insert(module, (rel_path.clone(), code));
    }
    let modules: BTreeSet<ModPath> = code_of.keys().cloned().collect();
    let mut found = BTreeSet::new();
    for (module, (rel_path, code)) in &code_of {
        // The crate root declares the modules; it is above every arrow.
        if module.is_empty() || test_only.iter().any(|t| module.starts_with(t)) {
            continue;
        }
        for path in crate_paths(code, module) {
            let target = (0..=path.len())
                .rev()
                .map(|n| path[..n].to_vec())
                .find(|prefix| modules.contains(prefix))
                .unwrap_or_default();
            let shared = module
                .iter()
                .zip(&target)
                .take_while(|(a, b)| a == b)
                .count();
            if shared == module.len() || shared == target.len() {
                continue; // itself, an ancestor, or a descendant: the module's inside
            }
            found.insert(Arrow {
                scope: module[..shared].to_vec(),
                from: module[shared].clone(),
                to: target[shared].clone(),
                evidence: format!("{rel_path}: {}", display_path(&path)),
            });
        }
    }
    found.into_iter().collect()
}

fn display_path(path: &[String]) -> String {
    std::iter::once("crate")
        .chain(path.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join("::")
}

/// The cycles among `arrows`, scope by scope: each strongly connected component of two or more.
fn cycles(arrows: &[Arrow]) -> Vec<Cycle> {
    let mut by_scope: BTreeMap<&ModPath, Vec<&Arrow>> = BTreeMap::new();
    for arrow in arrows {
        by_scope.entry(&arrow.scope).or_default().push(arrow);
    }
    let mut result = Vec::new();
    for (scope, scope_arrows) in by_scope {
        let mut next: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for arrow in &scope_arrows {
            next.entry(&arrow.from).or_default().insert(&arrow.to);
            next.entry(&arrow.to).or_default();
        }
        // Two nodes are in one component when each reaches the other (the graphs are small).
        let reach = |from: &str| {
            let mut seen = BTreeSet::new();
            let mut todo = vec![from];
            while let Some(node) = todo.pop() {
                for &to in &next[node] {
                    if seen.insert(to) {
                        todo.push(to);
                    }
                }
            }
            seen
        };
        let reaches: BTreeMap<&str, BTreeSet<&str>> =
            next.keys().map(|&node| (node, reach(node))).collect();
        let mut placed = BTreeSet::new();
        for &node in next.keys() {
            if placed.contains(node) || !reaches[node].contains(node) {
                continue;
            }
            let members: Vec<&str> = next
                .keys()
                .copied()
                .filter(|&other| reaches[node].contains(other) && reaches[other].contains(node))
                .collect();
            placed.extend(members.iter().copied());
            let evidence = scope_arrows
                .iter()
                .filter(|a| members.contains(&a.from.as_str()) && members.contains(&a.to.as_str()))
                .map(|a| format!("{} -> {}  ({})", a.from, a.to, a.evidence))
                .collect();
            result.push(Cycle {
                scope: scope.clone(),
                members: members.into_iter().map(str::to_string).collect(),
                evidence,
            });
        }
    }
    result
}

fn read_tree(dir: &Path, root: &Path, files: &mut BTreeMap<String, String>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
    for entry in entries {
        let path = entry
            .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
            .path();
        if path.is_dir() {
            read_tree(&path, root, files);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            let rel = path.strip_prefix(root).expect("under the root");
            let rel = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>();
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
            files.insert(rel.join("/"), text);
        }
    }
}

fn describe(found: &[Cycle]) -> String {
    let mut message = String::new();
    for cycle in found {
        let scope = if cycle.scope.is_empty() {
            "top-level modules of host/src".to_string()
        } else {
            format!("files of host/src/{}/", cycle.scope.join("/"))
        };
        let _ = writeln!(message, "cycle among {scope}: {}", cycle.members.join(", "));
        for line in &cycle.evidence {
            let _ = writeln!(message, "    {line}");
        }
    }
    message
}

#[test]
fn no_module_of_host_src_imports_a_module_that_imports_it_back() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = BTreeMap::new();
    read_tree(&root, &root, &mut files);
    let found_arrows = arrows(&files);
    assert!(
        found_arrows
            .iter()
            .any(|a| a.scope.is_empty() && a.from == "runner" && a.to == "config"),
        "the checker found no runner -> config arrow; it is not reading host/src"
    );
    let found = cycles(&found_arrows);
    assert!(
        found.is_empty(),
        "every arrow must point down; found:\n{}",
        describe(&found)
    );
}

fn tree(files: &[(&str, &str)]) -> BTreeMap<String, String> {
    files
        .iter()
        .map(|(path, text)| (path.to_string(), text.to_string()))
        .collect()
}

#[test]
fn the_checker_finds_a_top_level_cycle_through_a_use_group() {
    let files = tree(&[
        ("lib.rs", "pub mod a;\npub mod b;\npub mod c;\n"),
        (
            "a/mod.rs",
            "//! A.\nuse crate::{c::Thing, b::{self, inner::Other}};\n",
        ),
        ("a/inner.rs", "pub struct Other;"),
        ("b/mod.rs", "pub mod inner;\n"),
        ("b/inner.rs", "pub fn f() { crate::c::g(); }\n"),
        ("c.rs", "pub fn g() { let _ = crate::a::inner::Other; }\n"),
    ]);
    let found = cycles(&arrows(&files));
    assert_eq!(found.len(), 1, "{}", describe(&found));
    assert_eq!(found[0].scope, Vec::<String>::new());
    assert_eq!(found[0].members, ["a", "b", "c"]);
}

#[test]
fn the_checker_finds_a_cycle_between_sibling_files_through_super() {
    let files = tree(&[
        (
            "runner/mod.rs",
            "mod x;\nmod y;\npub use x::X;\nuse crate::runner::y::Y;\n",
        ),
        ("runner/x.rs", "use super::y::Y;\npub struct X;\n"),
        (
            "runner/y.rs",
            "use super::super::runner::x::X;\npub struct Y;\n",
        ),
    ]);
    let found = cycles(&arrows(&files));
    assert_eq!(found.len(), 1, "{}", describe(&found));
    assert_eq!(found[0].scope, ["runner"]);
    assert_eq!(found[0].members, ["x", "y"]);
    assert!(
        describe(&found).contains("runner/y.rs: crate::runner::x::X"),
        "{}",
        describe(&found)
    );
}

#[test]
fn the_checker_skips_comments_strings_test_items_and_a_parent_with_its_children() {
    let files = tree(&[
        (
            "a/mod.rs",
            "//! See [`crate::b`].\nmod child;\n#[cfg(test)]\nmod tests;\n\
             /* crate::b::f() */ pub fn f() { let _ = \"crate::b\"; let _ = '\"'; child::g(); }\n\
             #[cfg(test)]\nmod inline { use crate::b::f; }\n\
             #[cfg(test)]\nuse crate::b::f as _g;\n",
        ),
        (
            "a/child.rs",
            "use super::f;\npub fn g() { crate::a::f(); let s = r#\"crate::b\"#; }\n",
        ),
        ("a/tests.rs", "use crate::b::f;\n"),
        (
            "b.rs",
            "use crate::a::f;\n/// [`crate::a`] links back, in a comment only.\npub fn f() {}\n",
        ),
    ]);
    let found_arrows = arrows(&files);
    assert_eq!(found_arrows.len(), 1, "{found_arrows:#?}");
    assert_eq!(
        (found_arrows[0].from.as_str(), found_arrows[0].to.as_str()),
        ("b", "a")
    );
    assert!(cycles(&found_arrows).is_empty());
}

#[test]
fn the_checker_reads_a_path_in_an_attribute_string_and_only_there() {
    let files = tree(&[
        (
            "a.rs",
            "#[derive(serde::Deserialize)]\npub struct S {\n    \
             #[serde(deserialize_with = \"crate::b::check\")]\n    pub x: u32,\n}\n",
        ),
        (
            "b.rs",
            "pub fn check() { let _ = \"crate::a::S\"; }\n#[doc = \"crate::a\"]\npub fn g() {}\n",
        ),
        ("c.rs", "pub fn h() { let _ = crate::b::g; }\n"),
    ]);
    let found_arrows = arrows(&files);
    let pairs: Vec<(&str, &str)> = found_arrows
        .iter()
        .map(|a| (a.from.as_str(), a.to.as_str()))
        .collect();
    assert_eq!(pairs, [("a", "b"), ("c", "b")], "{found_arrows:#?}");
}
