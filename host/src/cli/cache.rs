//! `cache stats | prune | clear`: look after the response cache file (the cache itself lives in
//! `backends::cache`; this file only parses the flags and prints).

use std::path::PathBuf;

use serde_json::json;

use super::{CliError, CliResult, EXIT_OK};
use crate::backends::ResponseCache;
use crate::config::{CacheMode, CacheSection};

/// Inspect or empty the response cache
#[derive(clap::Subcommand)]
pub enum Command {
    /// Count the stored answers and images and their sizes
    Stats(Target),
    /// Delete answers stored more than DAYS days ago, and the images no answer names
    Prune {
        #[command(flatten)]
        target: Target,
        /// Keep what is at most DAYS days old
        #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..))]
        older_than: u32,
    },
    /// Delete every stored answer and image
    Clear(Target),
}

/// Which cache file.
#[derive(clap::Args)]
pub struct Target {
    /// The cache database [default: `_artifacts/cache/responses.sqlite`; pass your `cache.path` if you set one]
    #[arg(long, value_name = "FILE")]
    path: Option<PathBuf>,

    /// Print the report as JSON on stdout
    #[arg(long)]
    json: bool,
}

pub fn exec(command: Command) -> CliResult {
    let (target, older_than) = match &command {
        Command::Stats(target) | Command::Clear(target) => (target, None),
        Command::Prune { target, older_than } => (target, Some(*older_than)),
    };
    let cwd = std::env::current_dir().map_err(CliError::usage)?;
    let mut section = CacheSection {
        mode: CacheMode::Use,
        ..CacheSection::default()
    };
    if let Some(path) = &target.path {
        section.path = path.to_string_lossy().into_owned();
    }
    let file = cwd.join(&section.path);
    // Looking after a cache that does not exist must not create one.
    if !file.exists() {
        if target.json {
            println!("{}", json!({"path": file, "exists": false}));
        } else {
            println!("no response cache at `{}`", file.display());
        }
        return Ok(EXIT_OK);
    }
    let cache = ResponseCache::open(&section, &cwd)
        .map_err(CliError::usage)?
        .ok_or_else(|| CliError::usage("the cache mode is `off`"))?;
    let report = match command {
        Command::Stats(_) => {
            serde_json::to_value(cache.stats().map_err(CliError::usage)?).unwrap_or_default()
        }
        Command::Prune { .. } | Command::Clear(_) => {
            let pruned = cache.prune(older_than).map_err(CliError::usage)?;
            json!({"path": file, "deleted": pruned})
        }
    };
    if target.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
        return Ok(EXIT_OK);
    }
    println!("cache          {}", file.display());
    if let Some(deleted) = report.get("deleted") {
        println!(
            "deleted        {} answers, {} image files",
            deleted["entries"], deleted["images"]
        );
    } else {
        println!(
            "answers        {} ({} images)",
            report["entries"], report["image_entries"]
        );
        println!(
            "size           {} bytes database, {} image files ({} bytes)",
            report["database_bytes"], report["image_files"], report["image_bytes"]
        );
    }
    Ok(EXIT_OK)
}
