//! What sits at a path when it is not a regular file, in words, for the errors that refuse it,
//! and whether a path is a symbolic link ([`is_symlink`]), which the writers refuse to follow.
//!
//! Opening a FIFO blocks until a writer appears, and reading `/dev/zero` never ends, so every
//! place that opens a file a user (or a plugin) names looks at its type first: [`crate::data`]
//! before reading a data file, [`crate::plugins`] before handing a library to the loader. This
//! module only names the kinds; the callers decide what to refuse.

use std::fs::FileType;
use std::path::Path;

/// Whether `path` itself is a symbolic link (not followed): the writers refuse to write through
/// one, since the file would land wherever it points.
pub fn is_symlink(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|metadata| metadata.file_type().is_symlink())
}

/// `None` for a regular file, otherwise what the file is ("a directory", "a FIFO", ...), worded
/// to follow "is" in a message.
pub fn not_regular(file_type: FileType) -> Option<&'static str> {
    if file_type.is_file() {
        return None;
    }
    if file_type.is_dir() {
        return Some("a directory");
    }
    if file_type.is_symlink() {
        return Some("a symbolic link");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return Some("a FIFO");
        }
        if file_type.is_socket() {
            return Some("a socket");
        }
        if file_type.is_char_device() {
            return Some("a character device");
        }
        if file_type.is_block_device() {
            return Some("a block device");
        }
    }
    Some("not a regular file")
}

/// Creates a FIFO at `path`, for the tests that check a FIFO is refused without being opened.
#[cfg(all(test, unix))]
pub(crate) fn make_fifo(path: &std::path::Path) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_what_is_not_a_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        let kind =
            |path: &std::path::Path| not_regular(std::fs::metadata(path).unwrap().file_type());
        assert_eq!(kind(&file), None);
        assert_eq!(kind(dir.path()), Some("a directory"));
        #[cfg(unix)]
        {
            assert_eq!(
                kind(std::path::Path::new("/dev/null")),
                Some("a character device")
            );
            let fifo = dir.path().join("fifo");
            make_fifo(&fifo);
            assert_eq!(kind(&fifo), Some("a FIFO"));
        }
    }
}
