//! Where IPython finds a cell magic: it drops a cell's leading blank lines, then takes `%%name args`
//! only if `%%` starts the first line (an indented `%%` is not a cell magic).

/// A cell magic header: the `%%name args` line (1-based), and the body after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellMagic<'a> {
    pub name: &'a str,
    pub args: &'a str,
    pub line: usize,
    /// The header line as written, without its line break (for messages).
    pub header: &'a str,
    pub body: &'a str,
}

/// The cell magic a cell starts with, if any.
pub fn split(source: &str) -> Option<CellMagic<'_>> {
    let mut offset = 0;
    for (index, line) in source.split_inclusive('\n').enumerate() {
        if line.trim().is_empty() {
            offset += line.len();
            continue;
        }
        let header = line.trim_end_matches(['\n', '\r']);
        let magic = header.strip_prefix("%%")?;
        let (name, args) = magic.split_once(char::is_whitespace).unwrap_or((magic, ""));
        return Some(CellMagic {
            name,
            args: args.trim(),
            line: index + 1,
            header: header.trim_end(),
            body: &source[offset + line.len()..],
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_is_the_first_non_blank_line() {
        let magic = split("\n%%sql daily --source wh\nSELECT 1\n").unwrap();
        assert_eq!(
            magic,
            CellMagic { name: "sql", args: "daily --source wh", line: 2, header: "%%sql daily --source wh", body: "SELECT 1\n" }
        );
        assert_eq!(split("%%bash").map(|m| (m.name, m.body)), Some(("bash", "")));
        assert_eq!(split("%%bash\r\nls").map(|m| (m.header, m.body)), Some(("%%bash", "ls")));
        assert_eq!(split("x = 1\n%%bash\n"), None);
        assert_eq!(split("# %%bash\n"), None);
        assert_eq!(split("  %%bash\nls"), None, "IPython reads an indented %% as a line magic");
    }
}
