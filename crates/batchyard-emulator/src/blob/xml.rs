//! The XML the Blob service speaks: escaping for the listings it writes and a reader
//! for the one document it accepts (Put Block List).

/// Escapes text for an XML element or attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// `<name>text</name>`, or nothing when `text` is empty.
pub fn element(out: &mut String, name: &str, text: &str) {
    if text.is_empty() {
        return;
    }
    out.push('<');
    out.push_str(name);
    out.push('>');
    out.push_str(&escape(text));
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// Where a block of a Put Block List body is looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockSource {
    /// `<Committed>`: the blob's committed list.
    Committed,
    /// `<Uncommitted>`: blocks uploaded since the last commit.
    Uncommitted,
    /// `<Latest>`: uncommitted if there is one with this id, else committed.
    Latest,
}

/// Reads `<BlockList><Latest>id</Latest>...</BlockList>` in document order; `None` when
/// the body is not such a document.
pub fn parse_block_list(body: &str) -> Option<Vec<(BlockSource, String)>> {
    let start = body.find("<BlockList>")? + "<BlockList>".len();
    let end = body.rfind("</BlockList>")?;
    let mut rest = body.get(start..end)?;
    let mut blocks = Vec::new();
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return Some(blocks);
        }
        let open_end = rest.find('>')?;
        let tag = rest.get(1..open_end)?;
        let source = match tag {
            "Committed" => BlockSource::Committed,
            "Uncommitted" => BlockSource::Uncommitted,
            "Latest" => BlockSource::Latest,
            _ => return None,
        };
        let close = format!("</{tag}>");
        let body_start = open_end + 1;
        let close_at = rest.find(&close)?;
        let id = rest.get(body_start..close_at)?.trim();
        blocks.push((source, unescape(id)));
        rest = rest.get(close_at + close.len()..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_lists_keep_their_order_and_sources() {
        let body = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<BlockList>\n  <Latest>QUFB</Latest>\n  <Committed>QkJC</Committed><Uncommitted>Q0M+</Uncommitted></BlockList>";
        assert_eq!(
            parse_block_list(body),
            Some(vec![
                (BlockSource::Latest, "QUFB".into()),
                (BlockSource::Committed, "QkJC".into()),
                (BlockSource::Uncommitted, "Q0M+".into()),
            ])
        );
        assert_eq!(
            parse_block_list("<BlockList><Other>x</Other></BlockList>"),
            None
        );
        assert_eq!(parse_block_list("not xml"), None);
        assert_eq!(parse_block_list("<BlockList></BlockList>"), Some(vec![]));
    }

    #[test]
    fn escaping_covers_markup() {
        assert_eq!(escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(unescape(&escape("a<b>&\"c'")), "a<b>&\"c'");
    }
}
