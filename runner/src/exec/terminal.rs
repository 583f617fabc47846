//! Stream text as JupyterLab displays it: `\b` erases the character before it, `\r` returns to the
//! start of the line so later characters overwrite it, and `\r\n` is a plain newline.

/// Applies backspaces, then carriage returns, in the order JupyterLab's output area does.
pub fn render(text: &str) -> String {
    if !text.contains(['\r', '\u{8}']) {
        return text.to_owned();
    }
    apply_carriage_returns(&apply_backspaces(text))
}

/// Repeatedly removes any non-newline character followed by a backspace (a backspace at the start
/// of a line stays, as in JupyterLab).
fn apply_backspaces(text: &str) -> String {
    let mut out: Vec<char> = Vec::with_capacity(text.len());
    for c in text.chars() {
        if c == '\u{8}' && out.last().is_some_and(|&prev| prev != '\n') {
            out.pop();
        } else {
            out.push(c);
        }
    }
    out.into_iter().collect()
}

fn apply_carriage_returns(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let lines: Vec<&str> = text.split('\n').collect();
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let is_last = i + 1 == lines.len();
        // A final `\r` with nothing after it has overwritten nothing yet: keep it, as JupyterLab does.
        let (line, trailing_cr) = match line.strip_suffix('\r') {
            Some(rest) if is_last => (rest.trim_end_matches('\r'), true),
            _ => (*line, false),
        };
        out.extend(overwrite_line(line));
        if trailing_cr {
            out.push('\r');
        }
    }
    out
}

fn overwrite_line(line: &str) -> Vec<char> {
    let mut buffer: Vec<char> = Vec::with_capacity(line.len());
    let mut cursor = 0;
    for c in line.chars() {
        if c == '\r' {
            cursor = 0;
        } else {
            if cursor < buffer.len() {
                buffer[cursor] = c;
            } else {
                buffer.push(c);
            }
            cursor += 1;
        }
    }
    buffer
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn carriage_return_overwrites_from_line_start() {
        assert_eq!(render("abc\rX"), "Xbc");
        assert_eq!(render("ab\rc\rd"), "db");
        assert_eq!(render("  0%\r 50%\r100%\ndone\n"), "100%\ndone\n");
        assert_eq!(render("line\r\nnext"), "line\nnext");
        assert_eq!(render("x\r\r\ny"), "x\ny");
    }

    #[test]
    fn trailing_carriage_return_is_kept() {
        assert_eq!(render("a\nprogress\r"), "a\nprogress\r");
    }

    #[test]
    fn backspace_erases_the_previous_character_on_its_line() {
        assert_eq!(render("abc\u{8}\u{8}d"), "ad");
        assert_eq!(render("a\n\u{8}b"), "a\n\u{8}b");
        assert_eq!(render("\u{8}\u{8}"), "");
    }

    #[test]
    fn plain_text_is_untouched() {
        assert_eq!(render("héllo\nworld\n"), "héllo\nworld\n");
    }
}
