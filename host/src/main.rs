//! The `image-project` binary: parse, dispatch, report, exit (0 ok, 1 a run failed, 2 usage,
//! config, plugin or plan error). Everything else lives in the library.

fn main() {
    // Like other Unix tools, end quietly when the reader of our output goes away
    // (`image-project stages list | head`) instead of panicking on a broken pipe.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let code = image_project::cli::main(std::env::args_os().collect());
    std::process::exit(code);
}
