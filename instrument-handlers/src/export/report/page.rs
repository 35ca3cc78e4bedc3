//! The page: one HTML file holding its style, its script and the run's data, so that it opens
//! from disk with no network, and shows no text from spans as markup.

use std::io::{self, Write};

use super::digest::Digest;

const TEMPLATE: &str = include_str!("assets/page.html");
const STYLE: &str = include_str!("assets/report.css");
const SCRIPT: &str = include_str!("assets/report.js");

/// Writes the page showing `digest` to `out`.
pub(crate) fn write_page(digest: &Digest, out: &mut impl Write) -> io::Result<()> {
    let data = serde_json::to_vec(digest).map_err(io::Error::other)?;
    let mut rest = TEMPLATE;
    while let Some(at) = rest.find("{{") {
        out.write_all(&rest.as_bytes()[..at])?;
        let after = &rest[at + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| io::Error::other("unterminated placeholder in the page template"))?;
        match &after[..end] {
            "title" => out.write_all(escape_html(&digest.title).as_bytes())?,
            "style" => out.write_all(STYLE.as_bytes())?,
            "script" => out.write_all(SCRIPT.as_bytes())?,
            "data" => write_script_json(&data, out)?,
            other => {
                return Err(io::Error::other(format!(
                    "unknown placeholder {other} in the page template"
                )));
            }
        }
        rest = &after[end + 2..];
    }
    out.write_all(rest.as_bytes())
}

/// Text for an HTML element or attribute.
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON inside a `<script type="application/json">` element: `<`, `>` and `&` as `\u` escapes,
/// so that no `</script>` or `<!--` in a span's text can end the element, and the two line
/// separators JavaScript once rejected in strings likewise. These characters only occur inside
/// JSON strings, where the escapes mean the same text.
fn write_script_json(json: &[u8], out: &mut impl Write) -> io::Result<()> {
    let mut start = 0;
    let mut i = 0;
    while i < json.len() {
        let escape: Option<(&[u8], usize)> = match json[i] {
            b'<' => Some((b"\\u003c", 1)),
            b'>' => Some((b"\\u003e", 1)),
            b'&' => Some((b"\\u0026", 1)),
            0xE2 if json.get(i + 1) == Some(&0x80) && json.get(i + 2) == Some(&0xA8) => {
                Some((b"\\u2028", 3))
            }
            0xE2 if json.get(i + 1) == Some(&0x80) && json.get(i + 2) == Some(&0xA9) => {
                Some((b"\\u2029", 3))
            }
            _ => None,
        };
        if let Some((text, len)) = escape {
            out.write_all(&json[start..i])?;
            out.write_all(text)?;
            i += len;
            start = i;
        } else {
            i += 1;
        }
    }
    out.write_all(&json[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_json_cannot_close_its_element_and_reads_back_the_same() {
        let value =
            serde_json::json!({"text": "</script><script>alert(1)</script> <!-- & \u{2028}"});
        let json = serde_json::to_vec(&value).unwrap();
        let mut out = Vec::new();
        write_script_json(&json, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains('<') && !text.contains('>') && !text.contains('&'));
        assert!(!text.contains('\u{2028}'));
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn titles_are_escaped() {
        assert_eq!(
            escape_html("<b a=\"1\">&'"),
            "&lt;b a=&quot;1&quot;&gt;&amp;&#39;"
        );
    }
}
