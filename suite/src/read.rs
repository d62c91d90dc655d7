//! From a path to suite text: only a regular file, at most
//! [`MAX_SUITE_BYTES`], UTF-8 without control characters.
//!
//! `svclab validate` and `svclab list` open whatever `*.yaml` a folder holds,
//! so a FIFO (an open that blocks until a writer comes) or a symlink to
//! `/dev/zero` (a read that never ends) must fail fast instead of hanging
//! or exhausting memory. Encoding problems are reported at the line:column
//! of the offending byte, which the YAML readers cannot do: serde_yaml names
//! only a byte offset, and a `&str` cannot hold invalid UTF-8 at all.
use std::{
    fs::{File, OpenOptions},
    io::Read,
    os::unix::fs::{FileTypeExt, OpenOptionsExt},
    path::Path,
};

use crate::{
    error::{Diagnostic, SuiteError},
    index::PathIndex,
};

/// The largest suite file read: 1 MiB. A suite is a few KB (the biggest
/// shipped one is under 3 KB); a thousand-client suite is still a few
/// hundred KB. Anything larger is not a hand-written suite, and reading it
/// whole (the YAML readers need all of it) would cost memory for nothing.
pub const MAX_SUITE_BYTES: u64 = 1 << 20;

/// Reads the suite text at `path`.
pub(crate) fn read(path: &Path) -> Result<String, SuiteError> {
    let io_err = |source| SuiteError::Read {
        path: path.to_owned(),
        source,
    };
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a
    // writer. The type is checked on the opened file (fstat), not the path,
    // so the path cannot be swapped between the check and the read.
    let mut file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(io_err)?;
    regular(&file, path)?;
    let mut bytes = Vec::new();
    (&mut file)
        .take(MAX_SUITE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err)?;
    if bytes.len() as u64 > MAX_SUITE_BYTES {
        return Err(SuiteError::TooLarge {
            path: path.to_owned(),
            limit: MAX_SUITE_BYTES,
        });
    }
    decode(bytes, path)
}

/// Rejects an opened file that is not a regular file, or that says it is
/// larger than any suite.
fn regular(file: &File, path: &Path) -> Result<(), SuiteError> {
    let meta = file.metadata().map_err(|source| SuiteError::Read {
        path: path.to_owned(),
        source,
    })?;
    let t = meta.file_type();
    let found = if t.is_file() {
        if meta.len() > MAX_SUITE_BYTES {
            return Err(SuiteError::TooLarge {
                path: path.to_owned(),
                limit: MAX_SUITE_BYTES,
            });
        }
        return Ok(());
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_socket() {
        "a socket"
    } else {
        "a special file"
    };
    Err(SuiteError::NotAFile {
        path: path.to_owned(),
        found,
    })
}

/// The bytes as UTF-8 text, or an error at the first byte that is not.
fn decode(bytes: Vec<u8>, path: &Path) -> Result<String, SuiteError> {
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        let byte = bytes.get(at).copied().unwrap_or_default();
        // Everything before `at` is valid UTF-8 by definition.
        let before = std::str::from_utf8(&bytes[..at]).unwrap_or_default();
        SuiteError::Syntax(at_end_of(
            before,
            path,
            format!("invalid UTF-8 (byte 0x{byte:02X}); a suite file is UTF-8 text"),
        ))
    })
}

/// Rejects the characters libyaml refuses to read, at their line:column
/// (libyaml itself reports only a byte offset). The set is libyaml's
/// reader check (reader.c, `yaml_parser_update_buffer`): tab, LF, CR,
/// printable ASCII, NEL, U+00A0..=U+D7FF, U+E000..=U+FFFD and above U+FFFF.
pub(crate) fn check_chars(text: &str, path: &Path) -> Result<(), SuiteError> {
    let allowed = |c: char| {
        matches!(c, '\t' | '\n' | '\r' | ' '..='~' | '\u{85}' | '\u{A0}'..='\u{D7FF}')
            || ('\u{E000}'..='\u{FFFD}').contains(&c)
            || c >= '\u{10000}'
    };
    match text.char_indices().find(|&(_, c)| !allowed(c)) {
        None => Ok(()),
        Some((at, c)) => {
            let name = match c {
                '\0' => " (NUL)",
                '\u{7F}' => " (DEL)",
                _ => "",
            };
            Err(SuiteError::Syntax(at_end_of(
                &text[..at],
                path,
                format!(
                    "control character U+{:04X}{name} is not allowed in a suite file (YAML text is printable characters, tab and line breaks)",
                    u32::from(c)
                ),
            )))
        }
    }
}

/// A diagnostic at the position just after `before` (the text preceding the
/// offending byte), on the field being read there.
fn at_end_of(before: &str, path: &Path, message: String) -> Diagnostic {
    let (line, column) = crate::position::end_position(before);
    Diagnostic {
        file: path.to_owned(),
        line,
        column,
        field: PathIndex::field_at_end(before),
        message,
    }
}
