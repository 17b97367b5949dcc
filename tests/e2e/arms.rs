//! A paired plan with more than one treatment, through the real binary and the `three_arms`
//! fixture (control `A`, treatments `B` and `C`): `pairs.json` holds every treatment's pairs with
//! the control, `summary.metrics` compares each treatment with the control, the terminal and
//! `report.html` show each comparison, and `--resume` rebuilds the same from the stored pairing.
//! A pairing that does not fit the plan is refused before anything runs (exit 2).

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;

use crate::execute::{read_jsonl, results_of};
use crate::util::{pretty, read_json, run, with_fixture, Run, Sandbox, THREE_ARMS};

/// `experiments run three_arms --runs 3 --seed 5 --jobs 1 --output-root out` plus `extra`, with
/// `THREE_ARMS_PAIRING=<case>` when given.
fn run_three_arms(sandbox: &Sandbox, plugins: &Path, case: Option<&str>, extra: &[&str]) -> Run {
    let mut args = vec![
        "run",
        THREE_ARMS,
        "--runs",
        "3",
        "--seed",
        "5",
        "--jobs",
        "1",
        "--output-root",
        "out",
    ];
    args.extend_from_slice(extra);
    let mut cmd = sandbox.experiments(plugins, &args);
    if let Some(case) = case {
        cmd.env("THREE_ARMS_PAIRING", case);
    }
    run(&mut cmd)
}

/// `pairs.json` entries as `(run_index, a_generation_id, b_generation_id)`.
fn pair_ids(pairs: &Value) -> Vec<(u64, String, String)> {
    pairs
        .as_array()
        .unwrap_or_else(|| panic!("pairs is not an array: {pairs}"))
        .iter()
        .map(|pair| {
            (
                pair["run_index"].as_u64().unwrap_or_default(),
                pair["a_generation_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                pair["b_generation_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect()
}

/// The pairs the plan implies: for `treatment`, the control's and the treatment's run at each
/// run index, read from `experiment_plan.json`.
fn expected_pairs(out: &Path, treatment: &str) -> Vec<(u64, String, String)> {
    let plan = read_json(&out.join("experiment_plan.json"));
    let mut ids: HashMap<(String, u64), String> = HashMap::new();
    for run in plan["planned_runs"].as_array().into_iter().flatten() {
        ids.insert(
            (
                run["variant"].as_str().unwrap_or_default().to_owned(),
                run["run"].as_u64().unwrap_or_default(),
            ),
            run["generation_id"].as_str().unwrap_or_default().to_owned(),
        );
    }
    (1..=3)
        .map(|index| {
            (
                index,
                ids[&("A".to_owned(), index)].clone(),
                ids[&(treatment.to_owned(), index)].clone(),
            )
        })
        .collect()
}

/// The mean of `treatment − A` in the `words` metric over the pairs, from the stored results.
fn mean_word_difference(results: &[Value], pairs: &[(u64, String, String)]) -> f64 {
    let words = |id: &str| {
        results
            .iter()
            .find(|entry| entry["generation_id"] == id)
            .and_then(|entry| entry["analysis"]["metrics"]["words"].as_f64())
            .unwrap_or_else(|| panic!("no `words` for `{id}`"))
    };
    let total: f64 = pairs.iter().map(|(_, a, b)| words(b) - words(a)).sum();
    total / pairs.len() as f64
}

#[test]
fn every_treatment_is_paired_and_compared_with_the_control() {
    let (sandbox, plugins) = with_fixture(THREE_ARMS);
    let output = run_three_arms(&sandbox, &plugins, None, &[]);
    output.assert_code(0);
    let out = sandbox.path().join("out");

    // pairs.json: `pairs` keeps 1.0's meaning (A with B); `arms` lists both treatments.
    let pairs = read_json(&out.join("pairs.json"));
    let context = format!("\n--- pairs.json\n{}{output}", pretty(&pairs));
    let (b_pairs, c_pairs) = (expected_pairs(&out, "B"), expected_pairs(&out, "C"));
    assert_eq!(pair_ids(&pairs["pairs"]), b_pairs, "{context}");
    let arms = pairs["arms"]
        .as_array()
        .expect("`arms` with two treatments");
    assert_eq!(arms.len(), 2, "{context}");
    for (arm, (treatment, expected)) in arms.iter().zip([("B", &b_pairs), ("C", &c_pairs)]) {
        assert_eq!(arm["control"], "A", "{context}");
        assert_eq!(arm["treatment"], treatment, "{context}");
        assert_eq!(&pair_ids(&arm["pairs"]), expected, "{context}");
    }

    // summary.metrics: `paired` is B − A, `paired_arms` B − A then C − A, each matching the
    // differences of the stored per-run metrics.
    let results = results_of(&out, &output);
    let document = read_json(&out.join("experiment_results.json"));
    let metrics = &document["summary"]["metrics"];
    let context = format!("\n--- summary.metrics\n{}{output}", pretty(metrics));
    let comparisons = metrics["paired_arms"].as_array().expect("`paired_arms`");
    assert_eq!(comparisons.len(), 2, "{context}");
    assert_eq!(metrics["paired"], comparisons[0], "{context}");
    for (paired, (treatment, pairs)) in comparisons.iter().zip([("B", &b_pairs), ("C", &c_pairs)]) {
        assert_eq!(
            (&paired["a"], &paired["b"]),
            (&"A".into(), &treatment.into()),
            "{context}"
        );
        let words = &paired["metrics"]["words"];
        assert_eq!(words["n_pairs"], 3, "{context}");
        let expected = mean_word_difference(&results, pairs);
        assert!(
            (words["mean_difference"].as_f64().unwrap_or(f64::NAN) - expected).abs() < 1e-9,
            "{treatment} − A: expected {expected}{context}"
        );
        assert!(paired["metrics"]["coloured"].is_object(), "{context}");
    }
    assert_ne!(
        comparisons[0]["metrics"]["words"]["mean_difference"],
        comparisons[1]["metrics"]["words"]["mean_difference"],
        "the fixture's treatments append different words{context}"
    );

    // The terminal and the report show both comparisons.
    for heading in ["B - A, paired (3 pairs", "C - A, paired (3 pairs"] {
        assert!(
            output.stdout.contains(heading),
            "stdout lacks {heading:?}{output}"
        );
    }
    let report = std::fs::read_to_string(out.join("report.html")).expect("report.html");
    for needle in [
        "Paired difference B &minus; A",
        "Paired difference C &minus; A",
        "id=\"paired-C\"",
        "Pairs B with A (3)",
        "Pairs C with A (3)",
    ] {
        assert!(report.contains(needle), "report.html lacks {needle:?}");
    }
    for (_, _, c_id) in &c_pairs {
        assert!(
            report.contains(c_id.as_str()),
            "report.html lacks C's run `{c_id}`"
        );
    }

    // The comparison page of two experiments has a paired column per treatment of each.
    let compared =
        run(sandbox
            .cmd()
            .args(["experiments", "report", "out", "out", "--out", "cmp.html"]));
    compared.assert_code(0);
    let page = std::fs::read_to_string(sandbox.path().join("cmp.html")).expect("cmp.html");
    let paired_table = page
        .split("<h2>Paired differences</h2>")
        .nth(1)
        .and_then(|rest| rest.split("</thead>").next())
        .unwrap_or_else(|| panic!("no paired table on the comparison page{compared}"));
    for treatment in ["B", "C"] {
        let column = format!("<br>{treatment} &minus; A</th>");
        assert_eq!(
            paired_table.matches(column.as_str()).count(),
            2,
            "one {treatment} − A column per experiment: {paired_table}"
        );
    }
}

#[test]
fn resume_rebuilds_every_arm_from_the_stored_pairing() {
    let (sandbox, plugins) = with_fixture(THREE_ARMS);
    let output = run_three_arms(&sandbox, &plugins, None, &[]);
    output.assert_code(0);
    let out = sandbox.path().join("out");
    let before_pairs = read_json(&out.join("pairs.json"));
    let before_metrics =
        read_json(&out.join("experiment_results.json"))["summary"]["metrics"].clone();
    let plan = read_json(&out.join("experiment_plan.json"));
    assert_eq!(
        plan["pairing"],
        serde_json::json!({"a": "A", "b": "B", "more_treatments": ["C"]}),
        "the plan stores every treatment{output}"
    );

    // Stop it half-way: keep the first four of nine results, as after a crash.
    let path = out.join("results.jsonl");
    let lines = read_jsonl(&path, &output);
    assert_eq!(lines.len(), 9, "{output}");
    let kept: String = lines[..4].iter().map(|line| format!("{line}\n")).collect();
    std::fs::write(&path, kept).expect("rewrite results.jsonl");
    std::fs::remove_file(out.join("pairs.json")).expect("remove pairs.json");

    let resumed = run(&mut sandbox.experiments(
        &plugins,
        &[
            "run",
            THREE_ARMS,
            "--resume",
            "--output-root",
            "out",
            "--json",
        ],
    ));
    resumed.assert_code(0);
    let report = resumed.json();
    assert_eq!(report["already_done"], 4, "{}{resumed}", pretty(&report));
    let after_pairs = read_json(&out.join("pairs.json"));
    assert_eq!(after_pairs["pairs"], before_pairs["pairs"], "{resumed}");
    assert_eq!(after_pairs["arms"], before_pairs["arms"], "{resumed}");
    let after_metrics =
        read_json(&out.join("experiment_results.json"))["summary"]["metrics"].clone();
    assert_eq!(
        after_metrics,
        before_metrics,
        "the same runs give the same comparisons\n--- before\n{}\n--- after\n{}",
        pretty(&before_metrics),
        pretty(&after_metrics)
    );
    assert_eq!(
        report["summary"]["metrics"]["paired_arms"], before_metrics["paired_arms"],
        "`--json` shows every comparison{resumed}"
    );
}

#[test]
fn a_pairing_that_does_not_fit_the_plan_is_refused_before_any_run() {
    let cases = [
        ("unplanned", vec!["`D`", "no run of it"]),
        ("left-out", vec!["leaves out `D`", "`A`", "`B`, `C`"]),
        ("missing-index", vec!["run 3", "no `C`", "`A`"]),
    ];
    for (case, needles) in cases {
        let (sandbox, plugins) = with_fixture(THREE_ARMS);
        let output = run_three_arms(&sandbox, &plugins, Some(case), &[]);
        output.assert_code(2).assert_stderr_has(&needles);
        output.assert_stderr_has(&["invalid plan from experiment `three_arms`"]);
        assert!(
            !sandbox.path().join("out/results.jsonl").exists(),
            "{case}: nothing ran{output}"
        );
    }
}

#[test]
fn one_treatment_leaves_other_variants_unpaired_with_a_warning() {
    let (sandbox, plugins) = with_fixture(THREE_ARMS);
    let output = run_three_arms(&sandbox, &plugins, Some("one-treatment"), &[]);
    output.assert_code(0);
    let warning = "variant `C` is in no pairing";
    output.assert_stderr_has(&[warning]);
    let out = sandbox.path().join("out");
    let log = std::fs::read_to_string(out.join("experiment.log")).expect("experiment.log");
    assert!(
        log.contains(warning),
        "experiment.log lacks the warning:\n{log}"
    );
    let pairs = read_json(&out.join("pairs.json"));
    assert!(pairs.get("arms").is_none(), "{}", pretty(&pairs));
    assert_eq!(pair_ids(&pairs["pairs"]), expected_pairs(&out, "B"));
    let metrics = &read_json(&out.join("experiment_results.json"))["summary"]["metrics"];
    assert!(metrics.get("paired_arms").is_none(), "{}", pretty(metrics));
    assert_eq!(metrics["paired"]["b"], "B");
    // The unpaired runs' final prompts are in no pair table: their drill-downs show them.
    let report = std::fs::read_to_string(out.join("report.html")).expect("report.html");
    assert_eq!(
        report.matches("<p>final prompt:</p>").count(),
        3,
        "one final prompt per run of `C`"
    );
}
