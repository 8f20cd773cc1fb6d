//! Parsing a WHOIS query: the bytes a client sent, up to its line end, into the text asked.
//! UTF-8, with Latin-1 as the fallback; white space around it and CR/LF ignored. Pure.

/// Bytes of a query (CONTRACT.md: at most 255).
pub const QUERY_BYTES_MAX: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    /// The text asked, trimmed (the directory decides whether it is a name of ours).
    Text(String),
    Empty,
    TooLong,
}

/// The query in `line` (the bytes before the first LF, or all of them).
pub fn parse(line: &[u8]) -> Query {
    let end = line.iter().position(|b| *b == b'\n').unwrap_or(line.len());
    let line = &line[..end];
    if line.len() > QUERY_BYTES_MAX + 1 {
        return Query::TooLong;
    }
    let text = match std::str::from_utf8(line) {
        Ok(s) => s.to_string(),
        // Latin-1: every byte is the code point of the same number.
        Err(_) => line.iter().map(|b| char::from(*b)).collect(),
    };
    let text = text.trim_matches(|c: char| c.is_whitespace() || c == '\0');
    if text.is_empty() {
        return Query::Empty;
    }
    if text.len() > QUERY_BYTES_MAX {
        return Query::TooLong;
    }
    Query::Text(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_of_the_same_query() {
        for q in [&b"exemplo.pt\r\n"[..], b"exemplo.pt\n", b"  exemplo.pt  \r\n", b"exemplo.pt"] {
            assert_eq!(parse(q), Query::Text("exemplo.pt".into()));
        }
        assert_eq!(parse("açores.pt\r\n".as_bytes()), Query::Text("açores.pt".into()));
        // Latin-1: 0xE7 is ç.
        assert_eq!(parse(b"a\xe7ores.pt\r\n"), Query::Text("açores.pt".into()));
    }

    #[test]
    fn bounds() {
        assert_eq!(parse(b"\r\n"), Query::Empty);
        assert_eq!(parse(b""), Query::Empty);
        assert_eq!(parse(&[b'a'; 300]), Query::TooLong);
        let mut ok = vec![b'a'; 252];
        ok.extend_from_slice(b".pt");
        assert!(matches!(parse(&ok), Query::Text(_)));
    }
}
