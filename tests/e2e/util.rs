//! What every end-to-end test needs: a fresh sandbox directory, a command for the freshly built
//! binary running in it, plugin directories holding fresh plugins or fault fixtures, and helpers
//! that print a command's full output when an assertion fails.
//!
//! Where the libraries come from (DESIGN §2): cargo builds the four experiment crates and the fault
//! fixtures under `tests/fixtures/` for these tests because they are dev-dependencies of the host
//! package, and leaves the fresh `lib<crate>.so` in `target/<profile>/deps/`, the directory of this
//! test binary (the copy next to the `image-project` binary can be stale). The fixtures are not
//! workspace members, so cargo never copies them next to the binary, where every
//! `experiments list` would find them; and they reuse the workspace's compiled dependencies.
//! `fault_abort` is the exception: it needs `panic = "abort"`, so it is a dependency-free crate
//! with a manifest of its own, built once per test process into `target/fixtures/`.

use std::env::consts::{DLL_EXTENSION, DLL_PREFIX};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use serde_json::Value;
use tempfile::TempDir;

/// The four experiments of the workspace: (experiment name, plugin crate).
pub const EXPERIMENTS: [(&str, &str); 4] = [
    ("3x3", "exp_3x3"),
    ("ab_refinement_block", "exp_ab_refinement_block"),
    (
        "ab_scenespec_json_intermediary",
        "exp_ab_scenespec_json_intermediary",
    ),
    ("profile_v5_3x3", "exp_profile_v5_3x3"),
];

/// The interface version every fresh plugin was built against.
pub const INTERFACE_VERSION: &str = "1.1.0";

/// The fault fixtures under `tests/fixtures/` (crate names; each is also its experiment name).
pub const FAULT_PANIC: &str = "fault_panic";
pub const FAULT_MALFORMED: &str = "fault_malformed";
pub const FAULT_V2: &str = "fault_v2";
pub const NOT_A_PLUGIN: &str = "not_a_plugin";
/// Built with `panic = "abort"`, by [`fixture`] itself (it is no dev-dependency).
pub const FAULT_ABORT: &str = "fault_abort";
/// A real experiment built against plugin-api 1.0.0 (the `plugin-api-1.0.0` fixture package).
pub const LEGACY_V1_0: &str = "legacy_v1_0";
/// An experiment using what 1.1 added to descriptors; `API_V1_1_REQUIRES` sets the minor it asks for.
pub const API_V1_1: &str = "api_v1_1";
/// Breaks the `run_pipeline` or seed rule named by `MISBEHAVING_CALLS`, else behaves.
pub const MISBEHAVING_CALLS: &str = "misbehaving_calls";
/// A control `A` with treatments `B` and `C`; `THREE_ARMS_PAIRING` makes its pairing wrong.
pub const THREE_ARMS: &str = "three_arms";
/// Uses the analysis context, the run transcript and plugin artifacts; `CONTEXT_ARTIFACTS`
/// makes it break one of their rules.
pub const CONTEXT_ARTIFACTS: &str = "context_artifacts";
/// Declares two stages and runs them after the A/B prompt; `DECLARED_STAGE` breaks a declaration.
pub const DECLARED_STAGE: &str = "declared_stage";

/// The freshly built binary.
const BINARY: &str = env!("CARGO_BIN_EXE_image-project");

/// Environment variables that would leak the developer's setup into a test.
const SCRUBBED_ENV: &[&str] = &[
    "IMAGE_PROJECT_PLUGIN_PATH",
    "IMAGE_PROJECT_CONFIG",
    "FAULT_PANIC_HOOK",
    "FAULT_MALFORMED_NAME",
    "FAULT_MALFORMED_SUMMARY",
    "API_V1_1_REQUIRES",
    "MISBEHAVING_CALLS",
    "THREE_ARMS_PAIRING",
    "CONTEXT_ARTIFACTS",
    "DECLARED_STAGE",
];

/// `lib<name>.so` (or the platform's spelling).
pub fn library_file_name(crate_name: &str) -> String {
    format!("{DLL_PREFIX}{crate_name}.{DLL_EXTENSION}")
}

/// The repository root (the host package is `<repo>/host`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the host package has a parent directory")
        .to_owned()
}

/// `target/<profile>/deps/`: where this test binary and the fresh plugin libraries live.
fn deps_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary knows its path");
    exe.parent()
        .expect("the test binary is in a directory")
        .to_owned()
}

/// The fresh library of one workspace plugin crate.
pub fn fresh_plugin(crate_name: &str) -> PathBuf {
    let path = deps_dir().join(library_file_name(crate_name));
    assert!(
        path.is_file(),
        "`{}` is missing: the plugin crates must be dev-dependencies of the host package",
        path.display()
    );
    path
}

/// The built library of one fault fixture.
pub fn fixture(crate_name: &str) -> PathBuf {
    let path = if crate_name == FAULT_ABORT {
        abort_fixture_dir().join(library_file_name(crate_name))
    } else {
        deps_dir().join(library_file_name(crate_name))
    };
    assert!(
        path.is_file(),
        "fixture `{}` was not built: every fixture but `{FAULT_ABORT}` must be a dev-dependency \
         of the host package",
        path.display()
    );
    path
}

/// Builds `fault_abort` once per test process and returns its output directory.
fn abort_fixture_dir() -> &'static Path {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match BUILT.get_or_init(build_abort_fixture) {
        Ok(dir) => dir,
        Err(message) => panic!("{message}"),
    }
}

/// `cargo build` of `tests/fixtures/fault_abort` (its own workspace, whose dev profile sets
/// `panic = "abort"`) into `<target>/fixtures/`, away from `<target>/<profile>/`, the binary's
/// directory; returns `<target>/fixtures/debug/`.
fn build_abort_fixture() -> Result<PathBuf, String> {
    let target_dir = target_dir().join("fixtures");
    let manifest = repo_root()
        .join("tests")
        .join("fixtures")
        .join(FAULT_ABORT)
        .join("Cargo.toml");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = std::process::Command::new(&cargo)
        .arg("build")
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target_dir)
        .output()
        .map_err(|error| format!("could not start `{}`: {error}", cargo.to_string_lossy()))?;
    if !output.status.success() {
        return Err(format!(
            "building the fault fixture `{}` failed ({})\n--- stdout\n{}\n--- stderr\n{}",
            manifest.display(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(target_dir.join("debug"))
}

/// cargo's target directory: `<target>/<profile>/deps/` holds this test binary.
fn target_dir() -> PathBuf {
    let deps = deps_dir();
    deps.parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| panic!("`{}` is not <target>/<profile>/deps", deps.display()))
        .to_owned()
}

/// One test's private working directory, removed when the test ends.
pub struct Sandbox {
    dir: TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let dir = tempfile::Builder::new()
            .prefix("image-project-e2e-")
            .tempdir()
            .expect("a temporary directory");
        Sandbox { dir }
    }

    /// The sandbox root (canonical, so it compares equal to the paths the host prints).
    pub fn path(&self) -> PathBuf {
        self.dir.path().canonicalize().expect("the sandbox exists")
    }

    /// `image-project` with the sandbox as working directory and a scrubbed environment.
    pub fn cmd(&self) -> assert_cmd::Command {
        self.cmd_for(Path::new(BINARY))
    }

    /// Like [`Sandbox::cmd`], for a copy of the binary at `exe`.
    pub fn cmd_for(&self, exe: &Path) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::new(exe);
        cmd.current_dir(self.path());
        for name in SCRUBBED_ENV {
            cmd.env_remove(name);
        }
        cmd
    }

    /// `image-project experiments <args>` looking for plugins only in `plugin_dir`.
    pub fn experiments(&self, plugin_dir: &Path, args: &[&str]) -> assert_cmd::Command {
        let mut cmd = self.cmd();
        cmd.arg("experiments");
        let (command, rest) = args.split_first().expect("an experiments subcommand");
        cmd.arg(command);
        // `run` takes the experiment name first; the plugin-dir flags may come after it.
        if *command == "run" {
            if let Some((name, rest)) = rest.split_first() {
                cmd.arg(name);
                cmd.arg("--no-default-plugin-dirs")
                    .arg("--plugin-dir")
                    .arg(plugin_dir);
                cmd.args(rest);
                return cmd;
            }
        }
        cmd.arg("--no-default-plugin-dirs")
            .arg("--plugin-dir")
            .arg(plugin_dir);
        cmd.args(rest);
        cmd
    }

    /// A new empty directory inside the sandbox.
    pub fn mkdir(&self, relative: &str) -> PathBuf {
        let dir = self.path().join(relative);
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|error| panic!("mkdir `{}`: {error}", dir.display()));
        dir
    }

    /// Writes a text file inside the sandbox and returns its path.
    pub fn write(&self, relative: &str, contents: &str) -> PathBuf {
        let path = self.path().join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("parent directory");
        }
        std::fs::write(&path, contents)
            .unwrap_or_else(|error| panic!("write `{}`: {error}", path.display()));
        path
    }

    /// A directory (`relative`) holding copies of the four fresh workspace plugins.
    pub fn fresh_plugin_dir(&self, relative: &str) -> PathBuf {
        let dir = self.mkdir(relative);
        for (_, crate_name) in EXPERIMENTS {
            copy_into(
                &fresh_plugin(crate_name),
                &dir,
                &library_file_name(crate_name),
            );
        }
        dir
    }

    /// A copy of the binary in the sandbox directory `relative` (created), so a test controls
    /// what sits in the executable's directory, a default plugin directory.
    pub fn copy_binary(&self, relative: &str) -> PathBuf {
        let dir = self.mkdir(relative);
        let name = Path::new(BINARY)
            .file_name()
            .expect("the binary has a file name");
        copy_into(Path::new(BINARY), &dir, &name.to_string_lossy())
    }

    /// Every file under the sandbox, recursively (for "nothing was written" checks).
    pub fn files(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).expect("readable sandbox").flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, found);
                } else {
                    found.push(path);
                }
            }
        }
        let mut found = Vec::new();
        walk(&self.path(), &mut found);
        found
    }
}

/// Copies `library` into `dir` as `file_name`.
pub fn copy_into(library: &Path, dir: &Path, file_name: &str) -> PathBuf {
    let target = dir.join(file_name);
    std::fs::copy(library, &target).unwrap_or_else(|error| {
        panic!(
            "copy `{}` to `{}`: {error}",
            library.display(),
            target.display()
        )
    });
    target
}

/// A sandbox whose plugin dir (`plugin-dir`) holds only the fixture `crate_name`.
pub fn with_fixture(crate_name: &str) -> (Sandbox, PathBuf) {
    let sandbox = Sandbox::new();
    let plugins = sandbox.mkdir("plugin-dir");
    copy_into(
        &fixture(crate_name),
        &plugins,
        &library_file_name(crate_name),
    );
    (sandbox, plugins)
}

/// Creates a FIFO at `path`: opening one for reading blocks until a writer appears, which is what
/// the host must never do with a file it was pointed at.
#[cfg(unix)]
pub fn mkfifo(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).expect("a path without NUL");
    // SAFETY: `c_path` is a valid NUL-terminated path that outlives the call.
    let status = unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) };
    assert_eq!(
        status,
        0,
        "mkfifo `{}`: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
}

/// A finished command: exit code and output, printed in full by `{}` for assertion messages.
pub struct Run {
    pub command: String,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "\n--- command\n{}\n--- exit code\n{:?}\n--- stdout\n{}\n--- stderr\n{}\n---",
            self.command, self.code, self.stdout, self.stderr
        )
    }
}

impl Run {
    /// stdout parsed as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|error| panic!("stdout is not JSON ({error}){self}"))
    }

    /// Asserts the exit code (a signal shows as `None`, so an abort never passes for a 2).
    pub fn assert_code(&self, expected: i32) -> &Run {
        assert_eq!(self.code, Some(expected), "unexpected exit code{self}");
        self
    }

    /// Asserts that stderr contains every one of `needles`.
    pub fn assert_stderr_has(&self, needles: &[&str]) -> &Run {
        for needle in needles {
            assert!(
                self.stderr.contains(needle),
                "stderr lacks {needle:?}{self}"
            );
        }
        self
    }
}

/// Runs `cmd` to completion.
pub fn run(cmd: &mut assert_cmd::Command) -> Run {
    let command = format!("{cmd:?}");
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("the binary starts");
    Run {
        command,
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// The runs of the full plan in `out`, each as one object: its labels (from
/// `experiment_plan.json`), its full-plan entry, its effective `config` (rebuilt by the host
/// library from the base config and the run's overlay) and its `prompt_pipeline` metadata
/// (looked up from the index the full plan stores).
pub fn full_plan_runs(out: &Path) -> Vec<Value> {
    let summary = read_json(&out.join("experiment_plan.json"));
    let full = read_json(&out.join("experiment_plan_full.json"));
    let name = full["experiment_name"].as_str().unwrap_or_default();
    let configs = image_project::runner::stored_run_configs(out, name)
        .unwrap_or_else(|error| panic!("the stored plan in `{}`: {error}", out.display()));
    let entries = full["planned_runs_full"]
        .as_array()
        .unwrap_or_else(|| panic!("no `planned_runs_full` in `{}`", out.display()));
    let labels = summary["planned_runs"]
        .as_array()
        .unwrap_or_else(|| panic!("no `planned_runs` in `{}`", out.display()));
    assert_eq!(entries.len(), configs.len());
    assert_eq!(entries.len(), labels.len());
    entries
        .iter()
        .zip(labels)
        .zip(configs)
        .map(|((entry, labels), (id, config))| {
            assert_eq!(entry["generation_id"], id.as_str());
            let mut run = labels.clone();
            for (key, value) in entry.as_object().into_iter().flatten() {
                run[key] = value.clone();
            }
            run["config"] = config;
            if let Some(index) = run.get("prompt_pipeline").and_then(Value::as_u64) {
                run["prompt_pipeline"] = full["prompt_pipelines"][index as usize].clone();
            }
            run
        })
        .collect()
}

/// Reads and parses a JSON file.
pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("read `{}`: {error}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("`{}` is not JSON: {error}\n{text}", path.display()))
}

/// The file name of a path given as a JSON string.
pub fn file_name_of(value: &Value) -> String {
    let path = value
        .as_str()
        .unwrap_or_else(|| panic!("not a path: {value}"));
    Path::new(path)
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Pretty JSON for assertion messages.
pub fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}
