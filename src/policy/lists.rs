//! The reserved and blocked name lists a registry keeps for a TLD (geographic names, protocol
//! terms, offensive words), each entry with a reason. A list is a text file with one
//! `<name> <reason...>` a line; the name is either a bare label (it applies in every zone of the
//! TLD) or a full domain name (it applies to that name only), as a U-label or an A-label, and is
//! stored as an A-label. [`NameList::load`] is the module's only I/O.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// Most entries one list may hold.
pub const MAX_ENTRIES: usize = 100_000;
/// Longest line of a list file, in bytes.
pub const MAX_LINE_BYTES: usize = 1000;
/// Largest list file [`NameList::load`] reads, in bytes (comments included).
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// One entry of a reserved or blocked list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListEntry {
    /// A-label, lower case, no trailing dot: a bare label or a full domain name.
    pub name: String,
    /// Why the name is reserved or blocked.
    pub reason: String,
}

/// Why a list could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    /// The file could not be read.
    #[error("cannot read name list {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_FILE_BYTES`].
    #[error("name list {path} is larger than {max} bytes")]
    FileTooLarge { path: String, max: u64 },
    /// A line is wrong.
    #[error("name list line {line}: {message}")]
    Line { line: usize, message: String },
}

/// A reserved or blocked list with fast lookup by label and by full name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NameList {
    entries: Vec<ListEntry>,
    by_label: HashMap<String, usize>,
    by_full: HashMap<String, usize>,
}

/// The A-label form of a list name (label or full name), or why it is not a valid name.
fn list_name_to_ascii(name: &str) -> Result<String, String> {
    use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() {
        return Err("empty name".to_owned());
    }
    let uts46 = Uts46::new();
    let ascii = uts46
        .to_ascii(name.as_bytes(), AsciiDenyList::STD3, Hyphens::CheckFirstLast, DnsLength::Verify)
        .map_err(|_| format!("{name:?} is not a valid domain name or label (IDNA, letters, digits, hyphens)"))?;
    // The A-label must be the canonical encoding: back to Unicode and again to ASCII gives it.
    let (unicode, res) = uts46.to_unicode(ascii.as_bytes(), AsciiDenyList::STD3, Hyphens::Allow);
    let again = uts46.to_ascii(unicode.as_bytes(), AsciiDenyList::STD3, Hyphens::CheckFirstLast, DnsLength::Verify);
    match (res, again) {
        (Ok(()), Ok(again)) if again == ascii => Ok(ascii.into_owned()),
        _ => Err(format!("{name:?} is not the canonical A-label form of a valid name")),
    }
}

impl NameList {
    /// Parse a list: `<name> <reason...>` a line, `#` comments and blank lines skipped.
    pub fn parse(text: &str) -> Result<NameList, ListError> {
        let mut list = NameList::default();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let err = |message: String| ListError::Line { line, message };
            if raw.len() > MAX_LINE_BYTES {
                return Err(err(format!("line is longer than {MAX_LINE_BYTES} bytes")));
            }
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let (name, reason) = match trimmed.split_once(char::is_whitespace) {
                Some((n, r)) => (n, r.trim()),
                None => (trimmed, ""),
            };
            if reason.is_empty() {
                return Err(err(format!("entry {name:?} has no reason")));
            }
            let name = list_name_to_ascii(name).map_err(&err)?;
            if list.entries.len() >= MAX_ENTRIES {
                return Err(err(format!("more than {MAX_ENTRIES} entries")));
            }
            let index = if name.contains('.') { &mut list.by_full } else { &mut list.by_label };
            // A name listed twice keeps its first reason (lists merged from several sources
            // may repeat a name).
            if index.contains_key(&name) {
                continue;
            }
            index.insert(name.clone(), list.entries.len());
            list.entries.push(ListEntry { name, reason: reason.to_owned() });
        }
        Ok(list)
    }

    /// Read and parse a list file (at most [`MAX_FILE_BYTES`]).
    pub fn load(path: &Path) -> Result<NameList, ListError> {
        let shown = path.display().to_string();
        let io = |source| ListError::Io { path: shown.clone(), source };
        // Read at most one byte past the bound, whatever the file claims to be: a file that grows
        // meanwhile, or a device or pipe whose size says 0 (`/dev/zero`), is still bounded.
        use std::io::Read;
        let file = std::fs::File::open(path).map_err(io)?;
        let mut bytes = Vec::new();
        file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(io)?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(ListError::FileTooLarge { path: shown, max: MAX_FILE_BYTES });
        }
        let text = String::from_utf8(bytes)
            .map_err(|_| io(std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text")))?;
        NameList::parse(&text)
    }

    /// The reason `full_ascii` is listed, either by its full name or by its label
    /// `label_ascii` (both lower-case A-labels); the full-name entry wins.
    pub fn lookup(&self, label_ascii: &str, full_ascii: &str) -> Option<&str> {
        self.by_full
            .get(full_ascii)
            .or_else(|| self.by_label.get(label_ascii))
            .and_then(|&i| self.entries.get(i))
            .map(|e| e.reason.as_str())
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the list has no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries in file order.
    pub fn entries(&self) -> &[ListEntry] {
        &self.entries
    }
}
