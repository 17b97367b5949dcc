//! `plans list`: every plan `prompt.plan` can select, with its stages.

use serde_json::json;

use crate::stages::describe::{self, PlanInfo};

use super::{CliResult, EXIT_OK};

/// List every plan `prompt.plan` can select, with its stages in order
#[derive(clap::Args)]
pub struct Args {
    /// Print JSON on stdout
    #[arg(long)]
    json: bool,
}

pub fn exec(args: Args) -> CliResult {
    let plans = describe::describe_plans();
    if args.json {
        let document = json!({ "plans": plans });
        println!(
            "{}",
            serde_json::to_string_pretty(&document).unwrap_or_default()
        );
    } else {
        print_table(&plans);
    }
    Ok(EXIT_OK)
}

/// One row per plan: its stages one per line under STAGES, its doc on the first line.
fn print_table(plans: &[PlanInfo]) {
    let rows: Vec<(&PlanInfo, Vec<String>, String)> = plans
        .iter()
        .map(|plan| {
            let stages = match plan.stages_from {
                Some(key) => vec![format!("(from {key})")],
                None if plan.stages.is_empty() => vec!["-".to_owned()],
                None => plan.stages.iter().map(|s| (*s).to_owned()).collect(),
            };
            (plan, stages, plan.doc.to_owned())
        })
        .collect();
    let name_w = rows
        .iter()
        .map(|(p, _, _)| p.name.len())
        .max()
        .unwrap_or(0)
        .max(4);
    let stages_w = rows
        .iter()
        .flat_map(|(_, stages, _)| stages.iter().map(String::len))
        .max()
        .unwrap_or(0)
        .max(6);
    println!("{:name_w$}  {:stages_w$}  DOC", "NAME", "STAGES");
    for (plan, stages, doc) in &rows {
        for (n, stage) in stages.iter().enumerate() {
            let (name, doc) = if n == 0 {
                (plan.name, doc.as_str())
            } else {
                ("", "")
            };
            let row = format!("{name:name_w$}  {stage:stages_w$}  {doc}");
            println!("{}", row.trim_end());
        }
    }
}
