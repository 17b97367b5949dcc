//! Tests of the layer rules of [`load`], end to end over real files in a temporary directory.

use super::*;
use serde_json::json;
use std::error::Error as _;

/// A temporary working directory with helpers to write config files into it.
struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Self {
        Dir(tempfile::tempdir().expect("create a temporary directory"))
    }
    fn path(&self) -> &Path {
        self.0.path()
    }
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path().join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("create parent");
        }
        fs::write(&path, text).expect("write config file");
        path
    }
    fn request(&self) -> ConfigRequest {
        ConfigRequest {
            cwd: self.path().to_owned(),
            ..ConfigRequest::default()
        }
    }
}

fn paths(loaded: &LoadedConfig) -> Vec<String> {
    loaded.meta.paths.clone()
}

fn s(path: &Path) -> String {
    path.display().to_string()
}

// --- the embedded default -------------------------------------------------------------------

#[test]
fn embedded_default_has_every_listed_key() {
    let tree = default_tree().unwrap();
    let expected = json!({
        "run": {"mode": "full"},
        "image": {
            "log_path": "_artifacts/logs",
            "generation_path": "_artifacts/generated",
        },
        "prompt": {
            "plan": "custom",
            "categories_path": "builtin:category_list_v1.csv",
            "profile_path": "builtin:user_profile_v4.csv",
            "generations_path": "_artifacts/logs/generations.csv",
            "titles_manifest_path": "_artifacts/generated/titles_manifest.csv",
            "stages": {
                "sequence": [
                    "ab.random_token",
                    "ab.scene_draft",
                    "ab.scene_refine_no_block",
                    "ab.final_prompt_format",
                ],
            },
            "stage_configs": {"defaults": {
                "blackbox.prepare": {"novelty": {"enabled": true, "window": 25}},
                "blackbox.generator_profile_hints": {"mode": "abstract"},
                "blackbox.generate_idea_cards": {"idea_profile_source": "none"},
                "blackbox.idea_cards_judge_score": {"judge_temperature": 0.0},
                "blackbox.select_idea_card": {"exploration_rate": 0.15, "novelty": {"enabled": true, "window": 25}},
                "blackbox_refine.loop": {
                    "iterations": 6,
                    "algorithm": "hillclimb",
                    "branching_factor": 3,
                    "include_parents_as_candidates": true,
                    "generator_temperature": 0.9,
                    "max_prompt_chars": 1500,
                    "variation_prompt": {"template": "v2", "include_context_guidance": true, "score_feedback": "best_worst", "score_feedback_max_chars": 1500},
                    "mutation_directives": {"mode": "random"},
                    "judging": {"aggregation": "mean", "judges": [
                        {"id": "j1", "rubric": "default"},
                        {"id": "j2", "rubric": "strict"},
                        {"id": "j3", "rubric": "novelty_heavy"},
                    ]},
                },
                "postprompt.profile_nudge": {"max_prompt_chars": 1500},
                "postprompt.openai_format": {"max_prompt_chars": 1500},
            }},
        },
        "context": {"enabled": false},
        "backend": {
            "text": {
                "provider": "offline",
                "model": "gpt-5.2",
                "api_key_env": "OPENAI_API_KEY",
                "timeout_s": 120,
                "max_retries": 5,
                "max_concurrency": 4,
                "json_mode": true,
                "offline_latency_ms": 0,
            },
            "image": {
                "provider": "offline",
                "model": "gpt-image-1.5",
                "size": "1536x1024",
                "quality": "high",
            },
        },
        "data": {"max_file_bytes": 67_108_864},
        "experiment_runners": {
            "profile_v5_3x3": {
                "profile_like_dislike_path": "builtin:user_profile_v5_like_dislike.csv",
                "profile_love_like_dislike_hate_path":
                    "builtin:user_profile_v5_love_like_dislike_hate.csv",
            },
        },
    });
    assert_eq!(tree, expected);
    assert!(tree["prompt"].get("output").is_none(), "no capture_stage");
}

#[test]
fn embedded_default_data_references_exist() {
    let tree = default_tree().unwrap();
    let references = [
        &tree["prompt"]["categories_path"],
        &tree["prompt"]["profile_path"],
        &tree["experiment_runners"]["profile_v5_3x3"]["profile_like_dislike_path"],
        &tree["experiment_runners"]["profile_v5_3x3"]["profile_love_like_dislike_hate_path"],
    ];
    for reference in references {
        let reference = reference.as_str().unwrap();
        crate::data::read_nonempty(reference, Path::new("/")).unwrap();
    }
}

// --- which layers load ------------------------------------------------------------------------

#[test]
fn nothing_but_the_default() {
    let dir = Dir::new();
    let loaded = load(&dir.request()).unwrap();
    assert_eq!(loaded.tree, default_tree().unwrap());
    assert_eq!(
        loaded.meta,
        ConfigMeta {
            mode: "default",
            paths: vec![],
            env_var: "IMAGE_PROJECT_CONFIG"
        }
    );
}

#[test]
fn local_files_load_in_order() {
    let dir = Dir::new();
    let main = dir.write(
        "config/config.toml",
        "[run]\nmode = \"prompt_only\"\n[image]\nlog_path = \"a\"\n",
    );
    let local = dir.write("config/config.local.toml", "[image]\nlog_path = \"b\"\n");
    let loaded = load(&dir.request()).unwrap();
    assert_eq!(loaded.meta.mode, "local");
    assert_eq!(paths(&loaded), [s(&main), s(&local)]);
    assert_eq!(loaded.tree["run"]["mode"], "prompt_only");
    assert_eq!(loaded.tree["image"]["log_path"], "b");
    // Untouched keys keep the default.
    assert_eq!(
        loaded.tree["image"]["generation_path"],
        "_artifacts/generated"
    );
}

#[test]
fn either_local_file_alone_is_enough() {
    let dir = Dir::new();
    let local = dir.write(
        "config/config.local.toml",
        "[run]\nmode = \"prompt_only\"\n",
    );
    let loaded = load(&dir.request()).unwrap();
    assert_eq!(loaded.meta.mode, "local");
    assert_eq!(paths(&loaded), [s(&local)]);

    let dir = Dir::new();
    let main = dir.write("config/config.toml", "");
    let loaded = load(&dir.request()).unwrap();
    assert_eq!(
        (loaded.meta.mode, paths(&loaded)),
        ("local", vec![s(&main)])
    );
}

#[test]
fn env_file_replaces_the_local_files() {
    let dir = Dir::new();
    dir.write("config/config.toml", "[image]\nlog_path = \"from-local\"\n");
    let env = dir.write("elsewhere/env.toml", "[image]\nlog_path = \"from-env\"\n");
    let request = ConfigRequest {
        env_config: Some("elsewhere/env.toml".into()),
        ..dir.request()
    };
    let loaded = load(&request).unwrap();
    assert_eq!(loaded.meta.mode, "env");
    assert_eq!(paths(&loaded), [s(&env)]);
    assert_eq!(loaded.tree["image"]["log_path"], "from-env");
}

#[test]
fn blank_env_counts_as_unset() {
    let dir = Dir::new();
    dir.write("config/config.toml", "[image]\nlog_path = \"from-local\"\n");
    for blank in ["", "  "] {
        let request = ConfigRequest {
            env_config: Some(blank.into()),
            ..dir.request()
        };
        let loaded = load(&request).unwrap();
        assert_eq!(loaded.meta.mode, "local");
        assert_eq!(loaded.tree["image"]["log_path"], "from-local");
    }
}

#[test]
fn missing_env_file_is_an_error_naming_it_and_the_variable() {
    let dir = Dir::new();
    let request = ConfigRequest {
        env_config: Some("nope.toml".into()),
        ..dir.request()
    };
    let err = load(&request).unwrap_err();
    assert!(matches!(
        err,
        ConfigError::MissingFile {
            origin: FileOrigin::Env,
            ..
        }
    ));
    assert_eq!(
        err.to_string(),
        format!(
            "config file `{}` does not exist\n\nit is named by the `IMAGE_PROJECT_CONFIG` environment variable",
            dir.path().join("nope.toml").display()
        )
    );
}

#[test]
fn config_files_replace_env_and_local_and_apply_in_order() {
    let dir = Dir::new();
    dir.write("config/config.toml", "[image]\nlog_path = \"from-local\"\n");
    let env = dir.write("env.toml", "[image]\nlog_path = \"from-env\"\n");
    let first = dir.write(
        "a.toml",
        "[image]\nlog_path = \"first\"\ngeneration_path = \"a\"\n",
    );
    let second = dir.write("b.toml", "[image]\nlog_path = \"second\"\n");
    let request = ConfigRequest {
        files: vec![PathBuf::from("a.toml"), second.clone()],
        env_config: Some(s(&env)),
        ..dir.request()
    };
    let loaded = load(&request).unwrap();
    assert_eq!(loaded.meta.mode, "explicit");
    assert_eq!(paths(&loaded), [s(&first), s(&second)]);
    assert_eq!(loaded.tree["image"]["log_path"], "second");
    assert_eq!(loaded.tree["image"]["generation_path"], "a");
}

#[test]
fn missing_config_file_is_an_error_naming_it() {
    let dir = Dir::new();
    let request = ConfigRequest {
        files: vec![PathBuf::from("missing.toml")],
        ..dir.request()
    };
    let err = load(&request).unwrap_err();
    assert!(matches!(
        err,
        ConfigError::MissingFile {
            origin: FileOrigin::Flag,
            ..
        }
    ));
    assert_eq!(
        err.to_string(),
        format!(
            "config file `{}` does not exist\n\nit was given with `--config`",
            dir.path().join("missing.toml").display()
        )
    );
}

#[test]
fn a_directory_is_not_a_config_file() {
    let dir = Dir::new();
    fs::create_dir_all(dir.path().join("config/config.toml")).unwrap();
    let err = load(&dir.request()).unwrap_err();
    assert!(matches!(err, ConfigError::ReadFile { .. }), "{err:?}");
    assert!(err.to_string().starts_with("failed to read config file `"));
    assert!(err.source().is_some());
}

#[test]
fn non_utf8_config_is_a_read_error() {
    let dir = Dir::new();
    let path = dir.path().join("latin1.toml");
    fs::write(&path, b"[run]\nmode = \"caf\xe9\"\n").unwrap();
    let request = ConfigRequest {
        files: vec![path],
        ..dir.request()
    };
    assert!(matches!(load(&request), Err(ConfigError::ReadFile { .. })));
}

// --- --set ----------------------------------------------------------------------------------

#[test]
fn sets_apply_after_files_in_order() {
    let dir = Dir::new();
    dir.write("config/config.toml", "[image]\nlog_path = \"from-file\"\n");
    let request = ConfigRequest {
        sets: vec![
            r#"image.log_path="first""#.into(),
            r#"image.log_path="second""#.into(),
            r#"prompt.stage_configs.defaults."ab.scene_draft".temperature=0.5"#.into(),
        ],
        ..dir.request()
    };
    let loaded = load(&request).unwrap();
    assert_eq!(loaded.tree["image"]["log_path"], "second");
    assert_eq!(
        loaded.tree["prompt"]["stage_configs"]["defaults"]["ab.scene_draft"]["temperature"],
        json!(0.5)
    );
    // Sets are not files.
    assert_eq!(loaded.meta.mode, "local");
    assert_eq!(loaded.meta.paths.len(), 1);
}

#[test]
fn arrays_replace_tables_merge() {
    let dir = Dir::new();
    let request = ConfigRequest {
        sets: vec![
            r#"prompt.stages.sequence=["ab.random_token"]"#.into(),
            "backend.text={ timeout_s = 5 }".into(),
        ],
        ..dir.request()
    };
    let tree = load(&request).unwrap().tree;
    assert_eq!(
        tree["prompt"]["stages"]["sequence"],
        json!(["ab.random_token"])
    );
    assert_eq!(tree["backend"]["text"]["timeout_s"], 5);
    assert_eq!(tree["backend"]["text"]["provider"], "offline");
}

#[test]
fn bad_set_stops_loading() {
    let dir = Dir::new();
    let request = ConfigRequest {
        sets: vec!["run.mode=full".into()],
        ..dir.request()
    };
    assert!(matches!(
        load(&request),
        Err(ConfigError::SetBareWord { .. })
    ));
}

// --- errors while merging and checking --------------------------------------------------------

#[test]
fn invalid_toml_names_the_file() {
    let dir = Dir::new();
    let path = dir.write("config/config.toml", "[run]\nmode = \"full\"\n[run\n");
    let err = load(&dir.request()).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "invalid TOML in `{}` at line 3, column ",
            s(&path)
        )),
        "{msg}"
    );
}

#[test]
fn merge_clash_in_a_file_names_key_and_file() {
    let dir = Dir::new();
    let path = dir.write("c.toml", "[prompt]\nstages = \"all\"\n");
    let request = ConfigRequest {
        files: vec![path.clone()],
        ..dir.request()
    };
    let err = load(&request).unwrap_err();
    assert!(
        matches!(err, ConfigError::Merge { ref key, base: "table", overlay: "string", .. } if key == "prompt.stages")
    );
    assert_eq!(
        err.to_string(),
        format!(
            "`prompt.stages` in `{}` is a string but the layers below it have a table there\n\n\
             tables merge key by key and other values replace what is below, but a table or an \
             array cannot be swapped for a different kind of value",
            s(&path)
        )
    );
}

#[test]
fn merge_clash_in_a_set_names_the_set() {
    let dir = Dir::new();
    let request = ConfigRequest {
        sets: vec![r#"prompt.stages.sequence="ab.scene_draft""#.into()],
        ..dir.request()
    };
    let err = load(&request).unwrap_err();
    match &err {
        ConfigError::Merge { key, layer, .. } => {
            assert_eq!(key, "prompt.stages.sequence");
            assert_eq!(*layer, Layer::Set("prompt.stages.sequence".into()));
        }
        other => panic!("{other:?}"),
    }
    assert!(err
        .to_string()
        .starts_with("`prompt.stages.sequence` in `--set prompt.stages.sequence` is a string but the layers below it have an array there"));
}

#[test]
fn clash_between_two_user_layers_is_found() {
    let dir = Dir::new();
    dir.write(
        "config/config.toml",
        "[prompt.stage_configs]\ndefaults = { \"ab.x\" = { t = 1 } }\n",
    );
    let local = dir.write(
        "config/config.local.toml",
        "[prompt.stage_configs.defaults]\n\"ab.x\" = 3\n",
    );
    let err = load(&dir.request()).unwrap_err();
    match err {
        ConfigError::Merge { key, layer, .. } => {
            assert_eq!(key, "prompt.stage_configs.defaults.\"ab.x\"");
            assert_eq!(layer, Layer::File(local));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unknown_section_in_a_file() {
    let dir = Dir::new();
    let path = dir.write("config/config.toml", "[promt]\nplan = \"custom\"\n");
    let err = load(&dir.request()).unwrap_err();
    assert!(err.to_string().starts_with(&format!(
        "unknown config section `promt` in `{}`\n\ndid you mean `prompt`?",
        s(&path)
    )));
}

#[test]
fn unknown_section_in_a_set() {
    let dir = Dir::new();
    let request = ConfigRequest {
        sets: vec!["backends.text.model=\"x\"".into()],
        ..dir.request()
    };
    let err = load(&request).unwrap_err();
    assert!(err.to_string().starts_with(
        "unknown config section `backends` in `--set backends.text.model`\n\ndid you mean `backend`?"
    ));
}

#[test]
fn secret_in_a_file_is_refused_without_its_value() {
    let dir = Dir::new();
    let path = dir.write(
        "config/config.toml",
        "[backend.text]\nprovider = \"openai\"\nApiKey = \"sk-live-123\"\n",
    );
    let err = load(&dir.request()).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "`backend.text.ApiKey` in `{}` looks like a secret",
            s(&path)
        )),
        "{msg}"
    );
    assert!(msg.contains("`api_key_env`"));
    assert!(!msg.contains("sk-live-123"));
    assert!(!format!("{err:?}").contains("sk-live-123"));
}

#[test]
fn secret_in_a_set_is_refused_without_its_value() {
    let dir = Dir::new();
    for set in [
        "backend.text.api_key=\"sk-live-123\"",
        "backend.text={ token = \"sk-live-123\" }",
    ] {
        let request = ConfigRequest {
            sets: vec![set.into()],
            ..dir.request()
        };
        let err = load(&request).unwrap_err();
        assert!(
            matches!(err, ConfigError::SecretKey { .. }),
            "{set}: {err:?}"
        );
        assert!(!err.to_string().contains("sk-live-123"));
    }
}

#[test]
fn datetime_in_a_file_names_key_and_file() {
    let dir = Dir::new();
    let path = dir.write("config/config.toml", "[context]\ntoday = 2026-01-31\n");
    let err = load(&dir.request()).unwrap_err();
    assert!(err.to_string().starts_with(&format!(
        "`context.today` in `{}` is a TOML date or time",
        s(&path)
    )));
}

#[test]
fn unknown_key_in_a_set_names_the_set_and_suggests() {
    let dir = Dir::new();
    let request = ConfigRequest {
        sets: vec![r#"run.moed="full""#.into()],
        ..dir.request()
    };
    let err = load(&request).unwrap_err();
    assert!(
        matches!(err, ConfigError::UnknownKey { ref key, layer: Some(Layer::Set(_)), .. } if key == "run.moed"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "unknown config key `run.moed` in `--set run.moed`\n\n\
         did you mean `run.mode`? the keys of `run` are `mode`"
    );
}

#[test]
fn schema_errors_name_the_file_that_set_the_key() {
    let dir = Dir::new();
    dir.write(
        "config/config.toml",
        "[backend.text]\nmax_retries = \"3\"\n",
    );
    let local = dir.write(
        "config/config.local.toml",
        "[backend.text]\nmax_retries = 2.5\n",
    );
    let err = load(&dir.request()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "`backend.text.max_retries` in `{}` must be an integer ≥ 0, not a float",
            s(&local)
        )
    );

    let dir = Dir::new();
    let path = dir.write("config/config.toml", "[prompt.stages]\nsequnce = []\n");
    let err = load(&dir.request()).unwrap_err();
    assert!(
        matches!(err, ConfigError::UnknownKey { layer: Some(Layer::File(ref p)), .. } if *p == path),
        "{err:?}"
    );
    assert!(err.to_string().starts_with(&format!(
        "unknown config key `prompt.stages.sequnce` in `{}`\n\ndid you mean `prompt.stages.sequence`?",
        s(&path)
    )));

    let dir = Dir::new();
    let path = dir.write("config/config.toml", "[context]\ntoday = \"2026-02-30\"\n");
    let err = load(&dir.request()).unwrap_err();
    assert!(
        err.to_string().starts_with(&format!(
            "`context.today` in `{}` is not a real date",
            s(&path)
        )),
        "{err}"
    );
}

#[test]
fn runner_settings_are_not_checked_against_the_run_schema() {
    let dir = Dir::new();
    dir.write(
        "config/config.toml",
        "[experiment_runners.x]\nanything = 1\n",
    );
    load(&dir.request()).unwrap();
}

#[test]
fn overlays_are_checked_against_the_schema() {
    let dir = Dir::new();
    let request = ConfigRequest {
        sets: vec!["backend.text.timeout=5".into()],
        ..dir.request()
    };
    let err = load_overlay(&request).unwrap_err();
    assert!(err.to_string().starts_with(
        "unknown config key `backend.text.timeout` in `--set backend.text.timeout`\n\n\
         did you mean `backend.text.timeout_s`?"
    ));
    let request = ConfigRequest {
        sets: vec!["context.today=\"2026-01-31\"".into()],
        ..dir.request()
    };
    assert_eq!(
        load_overlay(&request).unwrap(),
        json!({"context": {"today": "2026-01-31"}})
    );
}

// --- meta, overlays, runners ------------------------------------------------------------------

#[test]
fn meta_serializes_as_the_plan_records_it() {
    let meta = ConfigMeta {
        mode: "explicit",
        paths: vec!["/w/a.toml".into()],
        env_var: CONFIG_ENV_VAR,
    };
    assert_eq!(
        serde_json::to_value(&meta).unwrap(),
        json!({"mode": "explicit", "paths": ["/w/a.toml"], "env_var": "IMAGE_PROJECT_CONFIG"})
    );
}

#[test]
fn overlay_holds_only_files_and_sets() {
    let dir = Dir::new();
    dir.write("config/config.toml", "[run]\nmode = \"local\"\n");
    dir.write(
        "o.toml",
        "[backend.text]\nbase_url = \"http://127.0.0.1:8080/v1\"\n",
    );
    let request = ConfigRequest {
        files: vec!["o.toml".into()],
        sets: vec!["backend.text.provider=\"openai\"".into()],
        env_config: Some("ignored.toml".into()),
        ..dir.request()
    };
    assert_eq!(
        load_overlay(&request).unwrap(),
        json!({"backend": {"text": {"base_url": "http://127.0.0.1:8080/v1", "provider": "openai"}}})
    );
    let empty = load_overlay(&dir.request()).unwrap();
    assert_eq!(empty, json!({}));
}

#[test]
fn runner_table_comes_out_of_a_loaded_config() {
    let dir = Dir::new();
    let mut loaded = load(&dir.request()).unwrap();
    let runners = take_experiment_runners(&mut loaded.tree).unwrap();
    assert!(loaded.tree.get("experiment_runners").is_none());
    let table = runners["profile_v5_3x3"].as_object().unwrap();
    let accepted = [
        "profile_like_dislike_path".to_owned(),
        "profile_love_like_dislike_hate_path".to_owned(),
        "generator_profile_hints_path".to_owned(),
    ];
    check_runner_keys("profile_v5_3x3", table, &accepted).unwrap();
}
