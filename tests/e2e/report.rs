//! `report.html` as the runner writes it after real offline experiments, and the `experiments
//! report` command: the newest experiment by default, a comparison of several, clear errors.

use std::path::Path;

use crate::execute::with_plugins;
use crate::util::{read_json, run};

fn count(text: &str, needle: &str) -> usize {
    text.matches(needle).count()
}

fn pngs(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|entry| entry.path().extension().is_some_and(|ext| ext == "png"))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn full_mode_3x3_report_has_the_grid_with_every_image_and_a_drill_down_per_run() {
    let (sandbox, plugins) = with_plugins();
    let output = run(&mut sandbox.experiments(
        &plugins,
        &[
            "run",
            "3x3",
            "--runs-per-set",
            "1",
            "--mode",
            "full",
            "--seed",
            "1",
            "--output-root",
            "out",
        ],
    ));
    output.assert_code(0);
    let out = sandbox.path().join("out");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap_or_default();
    assert!(html.contains("<table class=\"grid\">"), "{output}");
    assert_eq!(count(&html, "<td class=\"cell\">"), 3, "{output}");
    let images = pngs(&out.join("generated"));
    assert_eq!(images, 3, "{output}");
    assert_eq!(count(&html, "<img "), images, "{output}");
    assert!(html.contains("src=\"generated/A1_"), "relative image paths");
    assert_eq!(count(&html, "<details class=\"run\""), 3);
    assert!(html.contains("pipeline/blackbox.image_prompt_creation/draft"));
    assert!(html.contains("<dd>3x3</dd>") && html.contains("<dd>full</dd>"));
    assert!(
        html.contains("text: offline "),
        "backends from the transcripts"
    );
}

#[test]
fn ab_report_has_every_pair_and_the_command_finds_the_newest_and_compares() {
    let (sandbox, plugins) = with_plugins();
    // Nothing to report yet: exit 2 naming where it looked.
    let none = run(sandbox.cmd().args(["experiments", "report"]));
    none.assert_code(2)
        .assert_stderr_has(&["_artifacts/experiments` does not exist"]);

    for id in ["first", "second"] {
        let output = run(&mut sandbox.experiments(
            &plugins,
            &[
                "run",
                "ab_scenespec_json_intermediary",
                "--runs",
                "3",
                "--seed",
                "1",
                "--experiment-id",
                id,
            ],
        ));
        output.assert_code(0);
    }
    let root = sandbox.path().join("_artifacts/experiments");
    let second = root.join("second");
    let html = std::fs::read_to_string(second.join("report.html")).unwrap_or_default();
    let pairs = read_json(&second.join("pairs.json"))["pairs"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(pairs, 3);
    assert_eq!(count(&html, "<tr class=\"pair\""), pairs);
    assert!(html.contains("id=\"metrics\"") && html.contains("Paired difference B"));
    assert_eq!(count(&html, "<details class=\"run\""), 6);

    // No DIR: the experiment whose results were written last.
    std::fs::remove_file(second.join("report.html")).unwrap_or_default();
    let newest = run(sandbox.cmd().args(["experiments", "report"]));
    newest.assert_code(0);
    assert_eq!(
        newest.stdout.trim(),
        second.join("report.html").display().to_string()
    );
    assert_eq!(
        std::fs::read_to_string(second.join("report.html")).unwrap_or_default(),
        html,
        "the same bytes as the runner wrote{newest}"
    );

    // Two DIRs: one comparison page.
    let compared = run(sandbox.cmd().args([
        "experiments",
        "report",
        "_artifacts/experiments/first",
        "_artifacts/experiments/second",
        "--out",
        "cmp.html",
    ]));
    compared.assert_code(0);
    let page = std::fs::read_to_string(sandbox.path().join("cmp.html")).unwrap_or_default();
    assert!(page.contains("Comparison of 2 experiments"), "{compared}");
    assert!(page.contains("<th>first<br>A</th>") && page.contains("<th>second<br>B</th>"));
    assert!(page.contains("href=\"_artifacts/experiments/first/report.html\""));
    // Same config layers, different ids and directories: the same config digest.
    let digests: Vec<&str> = page
        .lines()
        .find(|line| line.starts_with("<tr><th>config digest</th>"))
        .unwrap_or_default()
        .split("<td>")
        .skip(1)
        .map(|cell| cell.split("</td>").next().unwrap_or_default())
        .collect();
    assert_eq!(digests.len(), 2, "{page}");
    assert!(
        digests[0].starts_with("fnv1a64:") && digests[0] == digests[1],
        "{page}"
    );

    // A directory that is not an experiment: exit 2 naming it.
    sandbox.mkdir("empty");
    let wrong = run(sandbox.cmd().args(["experiments", "report", "empty"]));
    wrong
        .assert_code(2)
        .assert_stderr_has(&["empty` is not an experiment directory"]);
}
