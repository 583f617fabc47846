//! A small tokenizer for the Python in notebook cells, IPython's escapes included.
//!
//! Written here rather than taken from a crate: the maintained Python parsers (rustpython-parser,
//! ruff's) bring large dependency trees, and they reject the IPython syntax cells are full of.
//! The linter needs much less than a parser: names, operators and string literals, with strings
//! and comments never mistaken for code, grouped into logical lines. It never fails: broken code
//! (an unterminated string, an unclosed bracket) still yields tokens, as far as they can be told.
//!
//! IPython escapes are recognised where IPython's token transformers find them: `!cmd`, `!!cmd`,
//! `%magic` and `?name` at the start of a logical line (after indentation), and `x = !cmd` /
//! `x = %magic` after the first `=` of a line; each runs to the end of its physical line, with
//! backslash continuations joined.

/// One token, with the 1-based line of the cell it starts on.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub kind: Kind,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Name(String),
    Number,
    Str(StrLit),
    Op(String),
    Escape(Escape),
}

/// A string literal. For an f-string, `text` is the literal text before its first replacement
/// field (the part that is known before running), and `complete` is false.
#[derive(Debug, Clone, PartialEq)]
pub struct StrLit {
    pub text: String,
    pub complete: bool,
}

/// An IPython escape; `Help` (`?name`) does nothing the linter cares about.
#[derive(Debug, Clone, PartialEq)]
pub enum Escape {
    Shell(String),
    Magic { name: String, args: String },
    Help,
}

/// The tokens of one logical line. The code inside an f-string's replacement fields comes out as
/// lines of its own, after the line holding the string, so calls made there are seen too.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LogicalLine {
    pub tokens: Vec<Token>,
}

impl Token {
    pub fn name(&self) -> Option<&str> {
        match &self.kind {
            Kind::Name(name) => Some(name),
            _ => None,
        }
    }

    pub fn is_op(&self, op: &str) -> bool {
        matches!(&self.kind, Kind::Op(o) if o == op)
    }

    pub fn is_name(&self, name: &str) -> bool {
        self.name() == Some(name)
    }
}

/// Tokenizes `source`, numbering its lines from `first_line`.
pub fn scan(source: &str, first_line: usize) -> Vec<LogicalLine> {
    let mut scanner =
        Scanner { chars: source.chars().collect(), pos: 0, line: first_line, lines: Vec::new(), fields: Vec::new(), nesting: 0 };
    scanner.run();
    scanner.lines
}

/// Whether `c` may start a Python identifier (ASCII and the usual unicode letters).
pub fn is_ident_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

fn is_ident_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

fn is_string_prefix(word: &str) -> bool {
    // r, b, u, f, t (3.14 template strings) and their two-letter combinations, any case.
    word.len() <= 2 && word.chars().all(|c| "rRbBuUfFtT".contains(c))
}

/// Operators the rules must tell apart from `=`; anything else is one character.
const LONG_OPS: &[&str] = &[
    "**=", "//=", ">>=", "<<=", "...", "**", "//", ">>", "<<", "<=", ">=", "==", "!=", "->", ":=", "+=", "-=", "*=", "/=", "%=", "&=",
    "|=", "^=", "@=",
];

enum Lexed {
    Token(Token),
    Newline,
    Skip,
    End,
}

struct Scanner {
    chars: Vec<char>,
    pos: usize,
    line: usize,
    lines: Vec<LogicalLine>,
    /// Lines read from f-string fields of the logical line being read; they follow it.
    fields: Vec<LogicalLine>,
    /// How many f-string fields the position is inside.
    nesting: usize,
}

/// How deep f-strings nested in f-string fields are read.
const MAX_NESTING: usize = 32;

impl Scanner {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.pos + offset).copied()
    }

    fn at_newline(&self) -> bool {
        matches!(self.peek(), Some('\n' | '\r'))
    }

    /// Consumes one line break (`\r\n` counts as one).
    fn newline(&mut self) {
        if self.peek() == Some('\r') && self.peek_at(1) == Some('\n') {
            self.pos += 1;
        }
        self.pos += 1;
        self.line += 1;
    }

    fn skip_blanks(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t' | '\x0c')) {
            self.pos += 1;
        }
    }

    fn run(&mut self) {
        let mut tokens = Vec::new();
        let mut depth = 0usize;
        let mut line_start = true;
        let mut assigned = false;
        loop {
            if line_start && depth == 0 {
                self.skip_blanks();
                if let Some(escape) = self.escape_at_line_start() {
                    tokens.push(escape);
                }
                line_start = false;
            }
            match self.lex() {
                Lexed::End => break,
                Lexed::Skip => {}
                Lexed::Newline if depth == 0 => {
                    self.flush(&mut tokens);
                    line_start = true;
                    assigned = false;
                }
                Lexed::Newline => {}
                Lexed::Token(token) => {
                    depth = track_depth(depth, &token);
                    let first_assign = !assigned && depth == 0 && token.is_op("=");
                    tokens.push(token);
                    if first_assign {
                        assigned = true;
                        if let Some(escape) = self.escape_after_assign() {
                            tokens.push(escape);
                        }
                    }
                }
            }
        }
        self.flush(&mut tokens);
    }

    fn flush(&mut self, tokens: &mut Vec<Token>) {
        if !tokens.is_empty() {
            self.lines.push(LogicalLine { tokens: std::mem::take(tokens) });
        }
        self.lines.append(&mut self.fields);
    }

    fn escape_at_line_start(&mut self) -> Option<Token> {
        let line = self.line;
        let escape = match self.peek()? {
            '!' => {
                while self.peek() == Some('!') {
                    self.pos += 1;
                }
                Escape::Shell(self.rest_of_line().trim().to_owned())
            }
            '%' => self.magic(),
            '?' => {
                self.rest_of_line();
                Escape::Help
            }
            _ => return None,
        };
        Some(Token { kind: Kind::Escape(escape), line })
    }

    /// `x = !cmd` and `x = %magic`, as IPython's SystemAssign and MagicAssign see them.
    fn escape_after_assign(&mut self) -> Option<Token> {
        let mut ahead = self.pos;
        while matches!(self.chars.get(ahead), Some(' ' | '\t')) {
            ahead += 1;
        }
        let next = self.chars.get(ahead + 1).copied();
        let escape = match self.chars.get(ahead)? {
            '!' if next != Some('=') => {
                self.pos = ahead + 1;
                Escape::Shell(self.rest_of_line().trim().to_owned())
            }
            '%' if next.is_some_and(|c| c == '%' || is_ident_start(c)) => {
                self.pos = ahead;
                self.magic()
            }
            _ => return None,
        };
        Some(Token { kind: Kind::Escape(escape), line: self.line })
    }

    /// `%name args` (any number of `%`), the position at the first `%`.
    fn magic(&mut self) -> Escape {
        while self.peek() == Some('%') {
            self.pos += 1;
        }
        let start = self.pos;
        while self.peek().is_some_and(|c| !c.is_whitespace()) {
            self.pos += 1;
        }
        let name: String = self.chars[start..self.pos].iter().collect();
        Escape::Magic { name, args: self.rest_of_line().trim().to_owned() }
    }

    /// The rest of the physical line, joined with the next one while it ends in a backslash; the
    /// final line break is left in place.
    fn rest_of_line(&mut self) -> String {
        let mut text = String::new();
        while let Some(c) = self.peek() {
            if c == '\n' || c == '\r' {
                if text.ends_with('\\') {
                    text.pop();
                    self.newline();
                    continue;
                }
                break;
            }
            text.push(c);
            self.pos += 1;
        }
        text
    }

    fn lex(&mut self) -> Lexed {
        let Some(c) = self.peek() else { return Lexed::End };
        let line = self.line;
        let kind = match c {
            '\n' | '\r' => {
                self.newline();
                return Lexed::Newline;
            }
            ' ' | '\t' | '\x0c' => {
                self.pos += 1;
                return Lexed::Skip;
            }
            '#' => {
                while self.peek().is_some() && !self.at_newline() {
                    self.pos += 1;
                }
                return Lexed::Skip;
            }
            '\\' => {
                self.pos += 1;
                if self.at_newline() {
                    self.newline();
                }
                return Lexed::Skip;
            }
            '\'' | '"' => Kind::Str(self.string("")),
            c if is_ident_start(c) => {
                let start = self.pos;
                while self.peek().is_some_and(is_ident_char) {
                    self.pos += 1;
                }
                let word: String = self.chars[start..self.pos].iter().collect();
                if is_string_prefix(&word) && matches!(self.peek(), Some('\'' | '"')) {
                    Kind::Str(self.string(&word))
                } else {
                    Kind::Name(word)
                }
            }
            c if c.is_ascii_digit() || (c == '.' && self.peek_at(1).is_some_and(|d| d.is_ascii_digit())) => {
                while self.peek().is_some_and(|c| is_ident_char(c) || c == '.') {
                    self.pos += 1;
                }
                Kind::Number
            }
            _ => {
                let rest = &self.chars[self.pos..];
                // The operators are ASCII: a byte length is a char count.
                let op = LONG_OPS
                    .iter()
                    .find(|op| rest.iter().take(op.len()).copied().eq(op.chars()))
                    .map_or_else(|| c.to_string(), |op| (*op).to_owned());
                self.pos += op.chars().count();
                Kind::Op(op)
            }
        };
        Lexed::Token(Token { kind, line })
    }

    /// A string literal, the position at its opening quote.
    fn string(&mut self, prefix: &str) -> StrLit {
        let raw = prefix.contains(['r', 'R']);
        let formatted = prefix.contains(['f', 'F', 't', 'T']);
        let Some(quote) = self.peek() else { return StrLit { text: String::new(), complete: true } };
        let triple = self.peek_at(1) == Some(quote) && self.peek_at(2) == Some(quote);
        self.pos += if triple { 3 } else { 1 };
        let mut text = String::new();
        let mut complete = true;
        while let Some(c) = self.peek() {
            match c {
                '\n' | '\r' if !triple => break, // unterminated: Python stops here too
                '\n' | '\r' => {
                    keep(&mut text, complete, "\n");
                    self.newline();
                }
                '\\' => {
                    self.pos += 1;
                    match self.peek() {
                        Some('\n' | '\r') => {
                            if raw {
                                keep(&mut text, complete, "\\\n");
                            }
                            self.newline();
                        }
                        Some(next) => {
                            self.pos += 1;
                            let decoded = match next {
                                _ if raw => format!("\\{next}"),
                                '\\' | '\'' | '"' => next.to_string(),
                                'n' => "\n".into(),
                                't' => "\t".into(),
                                _ => format!("\\{next}"),
                            };
                            keep(&mut text, complete, &decoded);
                        }
                        None => {}
                    }
                }
                '{' | '}' if formatted && self.peek_at(1) == Some(c) => {
                    self.pos += 2;
                    keep(&mut text, complete, &c.to_string());
                }
                '{' if formatted => {
                    self.pos += 1;
                    complete = false;
                    // Past this depth (Python's own parser stops long before) a field is read as
                    // text, so no notebook can exhaust the stack.
                    if self.nesting < MAX_NESTING {
                        self.nesting += 1;
                        self.replacement_field();
                        self.nesting -= 1;
                    }
                }
                c if c == quote && (!triple || (self.peek_at(1) == Some(quote) && self.peek_at(2) == Some(quote))) => {
                    self.pos += if triple { 3 } else { 1 };
                    break;
                }
                c => {
                    self.pos += 1;
                    keep(&mut text, complete, &c.to_string());
                }
            }
        }
        StrLit { text, complete }
    }

    /// An f-string field, after its `{`: the expression becomes a logical line of its own; a
    /// conversion (`!r`) is skipped and a format spec (`:>10`, which may hold fields) read through.
    fn replacement_field(&mut self) {
        let mut tokens = Vec::new();
        let mut depth = 0usize;
        loop {
            match self.peek() {
                None => break,
                Some('}') if depth == 0 => {
                    self.pos += 1;
                    break;
                }
                Some(':') if depth == 0 => {
                    self.pos += 1;
                    self.format_spec();
                    break;
                }
                Some('!') if depth == 0 && self.peek_at(1) != Some('=') => {
                    while self.peek().is_some_and(|c| c != ':' && c != '}') {
                        self.pos += 1;
                    }
                }
                Some(_) => match self.lex() {
                    Lexed::End => break,
                    Lexed::Skip | Lexed::Newline => {}
                    Lexed::Token(token) => {
                        depth = track_depth(depth, &token);
                        tokens.push(token);
                    }
                },
            }
        }
        if !tokens.is_empty() {
            self.fields.push(LogicalLine { tokens });
        }
    }

    /// A format spec, through the `}` that closes its field.
    fn format_spec(&mut self) {
        while let Some(c) = self.peek() {
            self.pos += 1;
            match c {
                '}' => break,
                '{' if self.nesting < MAX_NESTING => {
                    self.nesting += 1;
                    self.replacement_field();
                    self.nesting -= 1;
                }
                '\n' | '\r' => {
                    self.pos -= 1;
                    self.newline();
                }
                _ => {}
            }
        }
    }
}

/// Text is kept only up to an f-string's first field: after it nothing is known.
fn keep(text: &mut String, complete: bool, s: &str) {
    if complete {
        text.push_str(s);
    }
}

fn track_depth(depth: usize, token: &Token) -> usize {
    match &token.kind {
        Kind::Op(op) if matches!(op.as_str(), "(" | "[" | "{") => depth + 1,
        Kind::Op(op) if matches!(op.as_str(), ")" | "]" | "}") => depth.saturating_sub(1),
        _ => depth,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each logical line as a compact string: names, `"str"`, ops, `!shell`, `%magic args`.
    fn show(source: &str) -> Vec<String> {
        scan(source, 1)
            .iter()
            .map(|line| {
                line.tokens
                    .iter()
                    .map(|t| {
                        let text = match &t.kind {
                            Kind::Name(n) => n.clone(),
                            Kind::Number => "#".into(),
                            Kind::Str(s) if s.complete => format!("{:?}", s.text),
                            Kind::Str(s) => format!("f{:?}…", s.text),
                            Kind::Op(op) => op.clone(),
                            Kind::Escape(Escape::Shell(cmd)) => format!("!{cmd}"),
                            Kind::Escape(Escape::Magic { name, args }) => format!("%{name} {args}"),
                            Kind::Escape(Escape::Help) => "?".into(),
                        };
                        format!("{}:{text}", t.line)
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }

    #[test]
    fn comments_and_strings_are_not_code() {
        assert_eq!(show("print(\"!rm -rf /\")  # import socket\n"), ["1:print 1:( 1:\"!rm -rf /\" 1:)"]);
        assert_eq!(show("# !ls\n# %pip install x"), Vec::<String>::new());
        assert_eq!(show("s = 'it\\'s # not a comment'"), ["1:s 1:= 1:\"it's # not a comment\""]);
    }

    #[test]
    fn triple_quoted_strings_span_lines() {
        assert_eq!(show("x = \"\"\"\nimport socket\n!ls\n\"\"\"\ny = 1"), ["1:x 1:= 1:\"\\nimport socket\\n!ls\\n\"", "5:y 5:= 5:#"]);
        assert_eq!(show("x = '''a ' '' b'''"), ["1:x 1:= 1:\"a ' '' b\""]);
    }

    #[test]
    fn prefixed_strings() {
        assert_eq!(show(r#"open(r"C:\out\x", b'w')"#), [r#"1:open 1:( 1:"C:\\out\\x" 1:, 1:"w" 1:)"#]);
        assert_eq!(show("rb'\\n'"), [r#"1:"\\n""#]);
    }

    #[test]
    fn fstring_fields_are_code_and_the_prefix_is_kept() {
        assert_eq!(show("f\"out/{name}.csv\""), ["1:f\"out/\"…", "1:name"]);
        assert_eq!(
            show("f'{{literal}} {os.system(\"ls\")!r:>{width}}'"),
            ["1:f\"{literal} \"…", "1:width", "1:os 1:. 1:system 1:( 1:\"ls\" 1:)"]
        );
        // Python 3.12: the same quotes may be reused inside a field.
        assert_eq!(show("f\"{d[\"k\"]}\" + x"), ["1:f\"\"… 1:+ 1:x", "1:d 1:[ 1:\"k\" 1:]"]);
        assert_eq!(show("f\"{a!=b}\""), ["1:f\"\"…", "1:a 1:!= 1:b"]);
    }

    #[test]
    fn logical_lines_join_brackets_and_continuations() {
        assert_eq!(show("f(a,\n  b)\nx = 1 + \\\n  2"), ["1:f 1:( 1:a 1:, 2:b 2:)", "3:x 3:= 3:# 3:+ 4:#"]);
        assert_eq!(show("a = [\n!ls\n]"), ["1:a 1:= 1:[ 2:! 2:ls 3:]"], "inside brackets `!` is not an escape");
    }

    #[test]
    fn escapes_at_line_start() {
        assert_eq!(
            show("!ls -l\n  !!echo hi\nif x:\n    %pip install a \\\n  b\n"),
            ["1:!ls -l", "2:!echo hi", "3:if 3:x 3::", "4:%pip install a   b"]
        );
        assert_eq!(show("%%bash x\n?os\nos?"), ["1:%bash x", "2:?", "3:os 3:?"]);
        assert_eq!(show("%time print('!x')"), ["1:%time print('!x')"]);
    }

    #[test]
    fn escapes_after_the_first_assignment() {
        assert_eq!(show("files = !ls *.csv"), ["1:files 1:= 1:!ls *.csv"]);
        assert_eq!(show("out = %sx ls"), ["1:out 1:= 1:%sx ls"]);
        assert_eq!(show("a = b != c"), ["1:a 1:= 1:b 1:!= 1:c"]);
        assert_eq!(show("a = 5 % 2"), ["1:a 1:= 1:# 1:% 1:#"]);
        assert_eq!(show("f(a=1) == !x"), ["1:f 1:( 1:a 1:= 1:# 1:) 1:== 1:! 1:x"], "a keyword argument is not an assignment");
    }

    #[test]
    fn broken_code_still_tokenizes() {
        assert_eq!(show("x = 'unterminated\nimport socket"), ["1:x 1:= 1:\"unterminated\"", "2:import 2:socket"]);
        assert_eq!(show("f(\nimport socket"), ["1:f 1:( 2:import 2:socket"]);
        assert_eq!(show("f\"{x"), ["1:f\"\"…", "1:x"]);
        assert!(show("\"\"\"never closed\n!ls").len() == 1);
    }

    #[test]
    fn deep_nesting_neither_recurses_without_bound_nor_hangs() {
        let depth = 10_000;
        let source = format!("{}x{}\n!ls", "f\"{".repeat(depth), "}\"".repeat(depth));
        let lines = scan(&source, 1);
        assert!(lines.len() <= MAX_NESTING + 2);
        let brackets = format!("{}{}", "(".repeat(depth), ")".repeat(depth));
        assert_eq!(scan(&brackets, 1)[0].tokens.len(), 2 * depth);
    }

    #[test]
    fn operators() {
        assert_eq!(show("a **= 2; b //= 3; c := 4"), ["1:a 1:**= 1:# 1:; 1:b 1://= 1:# 1:; 1:c 1::= 1:#"]);
    }
}
