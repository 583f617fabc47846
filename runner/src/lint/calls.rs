//! Primary expressions in a logical line: a root (a name, a string, a parenthesized group) and its
//! trailers (`.attr`, `(args)`, `[index]`), enough to see what is called, on what, with what.

use super::scan::{Kind, Token};
use crate::notebook::python::is_identifier;

/// One call argument: its keyword, if any, and its tokens.
#[derive(Debug, Clone, Copy)]
pub struct Arg<'a> {
    pub keyword: Option<&'a str>,
    pub tokens: &'a [Token],
}

#[derive(Debug, Clone)]
pub enum Segment<'a> {
    Name(&'a str, usize),
    /// A string literal the chain starts from (`"a,b".split(",")`).
    Str,
    Group(&'a [Token]),
    Call(Vec<Arg<'a>>),
    Index,
}

/// A root and its trailers, e.g. `pd`, `.read_sql`, `(…)`.
#[derive(Debug, Clone)]
pub struct Chain<'a> {
    pub segments: Vec<Segment<'a>>,
    pub line: usize,
    /// The index of the token after the chain.
    pub end: usize,
}

/// A call found in a chain: the callee (the segments before the call) and the arguments.
#[derive(Debug, Clone, Copy)]
pub struct CallSite<'a> {
    pub callee: &'a [Segment<'a>],
    pub args: &'a [Arg<'a>],
    pub line: usize,
}

/// Every chain of the line, nested ones included (the arguments of a call are visited too).
pub fn chains(tokens: &[Token]) -> Vec<Chain<'_>> {
    let close = bracket_pairs(tokens);
    (0..tokens.len()).filter(|&i| starts_chain(tokens, i)).filter_map(|i| chain_at(tokens, i, &close)).collect()
}

/// The chain that begins at `tokens[0]`, if one does.
pub fn leading_chain(tokens: &[Token]) -> Option<Chain<'_>> {
    chain_at(tokens, 0, &bracket_pairs(tokens))
}

fn starts_chain(tokens: &[Token], i: usize) -> bool {
    let follows_expression = i > 0
        && match &tokens[i - 1].kind {
            Kind::Op(op) => matches!(op.as_str(), "." | ")" | "]"),
            Kind::Name(name) => is_identifier(name),
            Kind::Str(_) | Kind::Number => true,
            Kind::Escape(_) => false,
        };
    !follows_expression
}

/// For each opening bracket, the index of the bracket that closes it (the length when none
/// does), found in one pass so deeply nested code costs no more than flat code.
fn bracket_pairs(tokens: &[Token]) -> Vec<usize> {
    let mut close = vec![tokens.len(); tokens.len()];
    let mut open = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        if let Kind::Op(op) = &token.kind {
            match op.as_str() {
                "(" | "[" | "{" => open.push(i),
                ")" | "]" | "}" => {
                    if let Some(o) = open.pop() {
                        close[o] = i;
                    }
                }
                _ => {}
            }
        }
    }
    close
}

fn chain_at<'a>(tokens: &'a [Token], start: usize, close: &[usize]) -> Option<Chain<'a>> {
    let first = tokens.get(start)?;
    let mut i = start + 1;
    let root = match &first.kind {
        Kind::Name(name) if is_identifier(name) => Segment::Name(name, first.line),
        Kind::Str(_) => Segment::Str,
        Kind::Op(op) if op == "(" => {
            i = close[start] + 1;
            Segment::Group(&tokens[start + 1..close[start]])
        }
        _ => return None,
    };
    let mut segments = vec![root];
    while let Some(token) = tokens.get(i) {
        match &token.kind {
            Kind::Op(op) if op == "." => match tokens.get(i + 1) {
                Some(Token { kind: Kind::Name(name), line }) => {
                    segments.push(Segment::Name(name, *line));
                    i += 2;
                }
                _ => break,
            },
            Kind::Op(op) if op == "(" => {
                segments.push(Segment::Call(split_args(tokens, i + 1, close[i], close)));
                i = close[i] + 1;
            }
            Kind::Op(op) if op == "[" => {
                segments.push(Segment::Index);
                i = close[i] + 1;
            }
            _ => break,
        }
    }
    Some(Chain { segments, line: first.line, end: i.min(tokens.len()) })
}

/// The arguments in `tokens[from..to]`, split at the commas outside nested brackets (which are
/// stepped over whole).
fn split_args<'a>(tokens: &'a [Token], from: usize, to: usize, close: &[usize]) -> Vec<Arg<'a>> {
    let mut args = Vec::new();
    let mut start = from;
    let mut i = from;
    while i < to {
        match &tokens[i].kind {
            Kind::Op(op) if matches!(op.as_str(), "(" | "[" | "{") => i = close[i].min(to),
            Kind::Op(op) if op == "," => {
                args.push(arg(&tokens[start..i]));
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if start < to {
        args.push(arg(&tokens[start..to]));
    }
    args
}

fn arg(tokens: &[Token]) -> Arg<'_> {
    match tokens {
        [Token { kind: Kind::Name(name), .. }, eq, rest @ ..] if eq.is_op("=") => Arg { keyword: Some(name), tokens: rest },
        _ => Arg { keyword: None, tokens },
    }
}

impl<'a> Chain<'a> {
    pub fn calls(&'a self) -> impl Iterator<Item = CallSite<'a>> + 'a {
        self.segments.iter().enumerate().filter_map(move |(i, segment)| match segment {
            Segment::Call(args) => Some(CallSite { callee: &self.segments[..i], args, line: call_line(&self.segments[..i], self.line) }),
            _ => None,
        })
    }

    /// The names the chain starts with: `os.path.join(…).x` gives `os`, `path`, `join`.
    pub fn leading_names(&self) -> Vec<&'a str> {
        self.segments
            .iter()
            .map_while(|s| match s {
                Segment::Name(name, _) => Some(*name),
                _ => None,
            })
            .collect()
    }
}

/// A call's line is that of the last name before it: where a reader looks for it.
fn call_line(callee: &[Segment<'_>], default: usize) -> usize {
    callee
        .iter()
        .rev()
        .find_map(|s| match s {
            Segment::Name(_, line) => Some(*line),
            _ => None,
        })
        .unwrap_or(default)
}

impl<'a> CallSite<'a> {
    /// The called name: the last segment when it is a name (`to_csv` in `df.to_csv(…)`).
    pub fn name(&self) -> Option<&'a str> {
        match self.callee.last() {
            Some(Segment::Name(name, _)) => Some(name),
            _ => None,
        }
    }

    /// The callee as dotted names, when it is nothing else (`np.save`, not `f().save`).
    pub fn dotted(&self) -> Option<Vec<&'a str>> {
        self.callee
            .iter()
            .map(|s| match s {
                Segment::Name(name, _) => Some(*name),
                _ => None,
            })
            .collect()
    }

    /// What the method is called on: the segments before the name (empty for a plain function).
    pub fn receiver(&self) -> &'a [Segment<'a>] {
        match self.callee.split_last() {
            Some((Segment::Name(..), before)) => before,
            _ => &[],
        }
    }

    /// The `n`th positional argument, or else the first keyword argument named in `keywords`.
    pub fn arg(&self, n: usize, keywords: &[&str]) -> Option<&'a [Token]> {
        self.args
            .iter()
            .filter(|a| a.keyword.is_none())
            .nth(n)
            .or_else(|| self.args.iter().find(|a| a.keyword.is_some_and(|k| keywords.contains(&k))))
            .map(|a| a.tokens)
    }

    /// The callee as a reader would write it, e.g. `Path(…).write_text`.
    pub fn display(&self) -> String {
        let mut text = String::new();
        for segment in self.callee {
            match segment {
                Segment::Name(name, _) if text.is_empty() => text.push_str(name),
                Segment::Name(name, _) => {
                    text.push('.');
                    text.push_str(name);
                }
                Segment::Str => text.push_str("\"…\""),
                Segment::Group(_) => text.push_str("(…)"),
                Segment::Call(_) => text.push_str("(…)"),
                Segment::Index => text.push_str("[…]"),
            }
        }
        text
    }
}

/// The value of an argument that is nothing but string literals (implicit concatenation included).
pub fn literal(tokens: &[Token]) -> Option<String> {
    if tokens.is_empty() {
        return None;
    }
    tokens
        .iter()
        .map(|t| match &t.kind {
            Kind::Str(lit) if lit.complete => Some(lit.text.as_str()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::scan::scan;

    fn calls_of(source: &str) -> Vec<(String, usize, usize)> {
        let lines = scan(source, 1);
        let mut out = Vec::new();
        for line in &lines {
            for chain in chains(&line.tokens) {
                for call in chain.calls() {
                    out.push((call.display(), call.args.len(), call.line));
                }
            }
        }
        out
    }

    #[test]
    fn finds_calls_with_their_callees() {
        assert_eq!(calls_of("df.to_csv('x', index=False)"), [("df.to_csv".into(), 2, 1)]);
        assert_eq!(
            calls_of("Path('a').write_text(f(x))"),
            [("Path".to_string(), 1, 1), ("Path(…).write_text".into(), 1, 1), ("f".into(), 1, 1)]
        );
        assert_eq!(calls_of("(a / 'b').open('w')"), [("(…).open".to_string(), 1, 1)]);
        assert_eq!(calls_of("x = (\n  df\n  .to_sql('t', con)\n)"), [("df.to_sql".to_string(), 2, 3)]);
        assert_eq!(calls_of("if not open('x'): pass"), [("open".to_string(), 1, 1)]);
        assert_eq!(calls_of("d['k'].to_csv()"), [("d[…].to_csv".to_string(), 0, 1)]);
    }

    #[test]
    fn nested_calls_split_their_own_arguments() {
        assert_eq!(calls_of("f(g(h(1, 2), [3, 4]), {5: 6}, k=(7, 8))"), [("f".to_string(), 3, 1), ("g".into(), 2, 1), ("h".into(), 2, 1)]);
        let deep = format!("{}1{}", "f(".repeat(5000), ")".repeat(5000));
        assert_eq!(calls_of(&deep).len(), 5000);
    }

    #[test]
    fn arguments_by_position_or_keyword() {
        let lines = scan("open('a', mode='w')", 1);
        let chain = leading_chain(&lines[0].tokens).unwrap();
        let call = chain.calls().next().unwrap();
        assert_eq!(call.arg(0, &["file"]).and_then(literal), Some("a".into()));
        assert_eq!(call.arg(1, &["mode"]).and_then(literal), Some("w".into()));
        assert_eq!(call.arg(2, &["buffering"]), None);
        assert_eq!(literal(&scan("'a' 'b'", 1)[0].tokens), Some("ab".into()));
        assert_eq!(literal(&scan("'a' + b", 1)[0].tokens), None);
    }
}
