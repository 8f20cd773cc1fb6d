//! EPP XML both ways: reading a frame (roxmltree: no DTD, bounded nodes and depth, names matched
//! on namespace URI and local name, never on prefixes), and writing responses with a small
//! writer that escapes every text and attribute and drops the characters XML 1.0 forbids.

use roxmltree::{Document, Node, ParsingOptions};

pub const EPP: &str = "urn:ietf:params:xml:ns:epp-1.0";
pub const DOMAIN: &str = "urn:ietf:params:xml:ns:domain-1.0";
pub const CONTACT: &str = "urn:ietf:params:xml:ns:contact-1.0";
pub const HOST: &str = "urn:ietf:params:xml:ns:host-1.0";
pub const SECDNS: &str = "urn:ietf:params:xml:ns:secDNS-1.1";
pub const RGP: &str = "urn:ietf:params:xml:ns:rgp-1.0";
pub const LOGINSEC: &str = "urn:ietf:params:xml:ns:epp:loginSec-1.0";
pub const PTDOMAIN: &str = "http://eppdev.dns.pt/schemas/ptdomain-1.0";
pub const PTCONTACT: &str = "http://eppdev.dns.pt/schemas/ptcontact-1.0";

/// Elements nested deeper than this are refused: no EPP command needs more than about 8.
pub const DEPTH_MAX: usize = 24;
/// Nodes (elements, attributes' owners, texts) in one frame.
pub const NODES_MAX: u32 = 8_192;

/// Why a frame could not be read as EPP: answered 2001 with this text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable(pub String);

/// Parses a frame's text. DOCTYPE (and so every entity trick) is refused, as are frames deeper
/// than [`DEPTH_MAX`] or with more than [`NODES_MAX`] nodes.
pub fn parse(text: &str) -> Result<Document<'_>, Unreadable> {
    let opts = ParsingOptions { allow_dtd: false, nodes_limit: NODES_MAX, ..ParsingOptions::default() };
    let doc = Document::parse_with_options(text, opts).map_err(|e| match e {
        roxmltree::Error::DtdDetected => Unreadable("DOCTYPE is not allowed".into()),
        roxmltree::Error::NodesLimitReached => Unreadable(format!("more than {NODES_MAX} XML nodes")),
        e => Unreadable(format!("not well-formed XML: {e}")),
    })?;
    let too_deep = doc.descendants().any(|n| n.is_element() && n.ancestors().count() > DEPTH_MAX + 1);
    if too_deep {
        return Err(Unreadable(format!("XML nested deeper than {DEPTH_MAX} elements")));
    }
    let root = doc.root_element();
    if !is(root, EPP, "epp") {
        return Err(Unreadable("the root element is not <epp> in urn:ietf:params:xml:ns:epp-1.0".into()));
    }
    Ok(doc)
}

/// Whether `n` is the element `name` in namespace `ns`.
pub fn is(n: Node, ns: &str, name: &str) -> bool {
    n.is_element() && n.tag_name().name() == name && n.tag_name().namespace() == Some(ns)
}

/// The first child element `name` in `ns`.
pub fn child<'a, 'i>(n: Node<'a, 'i>, ns: &str, name: &str) -> Option<Node<'a, 'i>> {
    n.children().find(|c| is(*c, ns, name))
}

/// Every child element `name` in `ns`.
pub fn children<'a, 'i: 'a>(n: Node<'a, 'i>, ns: &'a str, name: &'a str) -> impl Iterator<Item = Node<'a, 'i>> + 'a {
    n.children().filter(move |c| is(*c, ns, name))
}

/// The first element child, whatever its name.
pub fn first_element<'a, 'i>(n: Node<'a, 'i>) -> Option<Node<'a, 'i>> {
    n.children().find(|c| c.is_element())
}

/// The trimmed text of a child element, if present.
pub fn text_of<'a>(n: Node<'a, '_>, ns: &str, name: &str) -> Option<&'a str> {
    child(n, ns, name).map(|c| c.text().unwrap_or("").trim())
}

/// `xs:boolean`: `true`/`false`/`1`/`0`.
pub fn boolean(text: &str) -> Option<bool> {
    match text.trim() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// Whether XML 1.0 allows `c` in a document (section 2.2).
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
}

fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c if xml_char(c) => out.push(c),
            _ => {}
        }
    }
}

/// A response being written. Tags are written as given (with their prefix); each text and
/// attribute value is escaped.
pub struct Writer {
    out: String,
}

impl Default for Writer {
    fn default() -> Self {
        Writer::new()
    }
}

impl Writer {
    /// A document, with its XML declaration.
    pub fn new() -> Writer {
        let mut out = String::with_capacity(1024);
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>");
        Writer { out }
    }

    /// A piece of a document.
    pub fn fragment() -> Writer {
        Writer { out: String::with_capacity(256) }
    }

    fn tag(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.out.push('<');
        self.out.push_str(name);
        for (k, v) in attrs {
            self.out.push(' ');
            self.out.push_str(k);
            self.out.push_str("=\"");
            escape_into(&mut self.out, v);
            self.out.push('"');
        }
    }

    pub fn open(&mut self, name: &str, attrs: &[(&str, &str)]) -> &mut Self {
        self.tag(name, attrs);
        self.out.push('>');
        self
    }

    pub fn close(&mut self, name: &str) -> &mut Self {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
        self
    }

    pub fn empty(&mut self, name: &str, attrs: &[(&str, &str)]) -> &mut Self {
        self.tag(name, attrs);
        self.out.push_str("/>");
        self
    }

    pub fn leaf(&mut self, name: &str, attrs: &[(&str, &str)], text: &str) -> &mut Self {
        self.tag(name, attrs);
        self.out.push('>');
        escape_into(&mut self.out, text);
        self.close(name)
    }

    pub fn text(&mut self, name: &str, text: &str) -> &mut Self {
        self.leaf(name, &[], text)
    }

    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_escapes_and_drops_what_xml_forbids() {
        let mut w = Writer::new();
        w.leaf("a", &[("x", "\"<&>")], "1 < 2 & \u{7}\u{fffe}ok\u{1f600}");
        let out = w.finish();
        assert!(out.ends_with("<a x=\"&quot;&lt;&amp;&gt;\">1 &lt; 2 &amp; ok\u{1f600}</a>"), "{out}");
        assert!(roxmltree::Document::parse(&out).is_ok());
    }

    #[test]
    fn doctype_depth_and_root_are_refused() {
        let dtd =
            "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"b\">]><epp xmlns=\"urn:ietf:params:xml:ns:epp-1.0\"/>";
        assert!(parse(dtd).unwrap_err().0.contains("DOCTYPE"));
        let deep = format!("<epp xmlns=\"{EPP}\">{}{}</epp>", "<a>".repeat(40), "</a>".repeat(40));
        assert!(parse(&deep).unwrap_err().0.contains("deeper"));
        assert!(parse("<epp xmlns=\"urn:other\"/>").unwrap_err().0.contains("root"));
        assert!(parse("<epp").unwrap_err().0.contains("well-formed"));
        let ok = format!("<e:epp xmlns:e=\"{EPP}\"><e:hello/></e:epp>");
        let doc = parse(&ok).unwrap();
        assert!(child(doc.root_element(), EPP, "hello").is_some(), "prefixes do not matter");
        let many = format!("<epp xmlns=\"{EPP}\">{}</epp>", "<a/>".repeat(NODES_MAX as usize));
        assert!(parse(&many).is_err());
    }
}
