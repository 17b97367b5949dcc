//! Ctrl-C: the first stops dispatching (runs in flight finish and are recorded), the second
//! exits at once (130). The handler is installed once per process.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static PRESSES: AtomicUsize = AtomicUsize::new(0);

/// The flag the runner polls; installs the handler on first use.
pub fn flag() -> &'static AtomicBool {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let installed = ctrlc::set_handler(|| {
            if PRESSES.fetch_add(1, Ordering::SeqCst) == 0 {
                INTERRUPTED.store(true, Ordering::SeqCst);
                eprintln!("\ninterrupted: finishing the runs in flight (Ctrl-C again to exit now)");
            } else {
                std::process::exit(130);
            }
        });
        if let Err(error) = installed {
            eprintln!("warning: Ctrl-C will stop at once (no handler: {error})");
        }
    });
    &INTERRUPTED
}
