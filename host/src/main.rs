//! The `image-project` binary: parse, dispatch, report, exit (0 ok, 1 a run failed, 2 usage,
//! config, plugin or plan error). Everything else lives in the library.

fn main() {
    let code = image_project::cli::main(std::env::args_os().collect());
    std::process::exit(code);
}
