//! Parser from lexer items to a parse tree, following Go's `text/template/parse/parse.go`.

use std::collections::HashMap;

use crate::funcs::{self, Dialect, Func};
use crate::lex::{Item, Tok};

/// Deepest nesting of control structures and parenthesised pipelines accepted.
pub(crate) const MAX_NESTING: usize = 100;

#[derive(Debug)]
pub(crate) enum Node {
    Text(String),
    Action(Pipe),
    If(Box<Branch>),
    With(Box<Branch>),
    Range(Box<Branch>),
    Break,
    Continue,
    Template { pos: usize, end: usize, name: String, pipe: Option<Pipe> },
}

#[derive(Debug)]
pub(crate) struct Branch {
    pub pos: usize,
    pub end: usize,
    pub pipe: Pipe,
    pub list: Vec<Node>,
    pub else_list: Option<Vec<Node>>,
}

#[derive(Debug)]
pub(crate) struct Pipe {
    pub pos: usize,
    pub end: usize,
    pub decl: Vec<String>,
    pub is_assign: bool,
    pub cmds: Vec<Command>,
}

#[derive(Debug)]
pub(crate) struct Command {
    pub args: Vec<Arg>,
}

#[derive(Debug)]
pub(crate) struct Arg {
    pub pos: usize,
    pub end: usize,
    pub kind: ArgKind,
}

#[derive(Debug)]
pub(crate) enum ArgKind {
    /// `.a.b`
    Field(Vec<String>),
    /// `$x.a.b` (the name includes the `$`).
    Variable(String, Vec<String>),
    Dot,
    Nil,
    Bool(bool),
    Number(Number),
    Str(String),
    Func(Func),
    Pipe(Box<Pipe>),
    /// `(pipeline).a.b` or `func.a.b`
    Chain(Box<Arg>, Vec<String>),
}

#[derive(Debug, Clone)]
pub(crate) struct Number {
    pub text: String,
    pub int: Option<i64>,
    pub float: Option<f64>,
    /// Too large for int64 but fits uint64.
    pub uint_only: bool,
}

pub(crate) struct Parsed {
    pub root: Vec<Node>,
    pub defines: HashMap<String, Vec<Node>>,
}

pub(crate) struct ParseError(pub String);

struct Parser<'s> {
    name: &'s str,
    dialect: Dialect,
    items: Vec<Item>,
    cur: usize,
    line: usize,
    vars: Vec<String>,
    range_depth: usize,
    depth: usize,
    defines: HashMap<String, Vec<Node>>,
}

type PResult<T> = Result<T, ParseError>;

fn is_empty_tree(list: &[Node]) -> bool {
    list.iter().all(|n| matches!(n, Node::Text(t) if t.trim().is_empty()))
}

pub(crate) fn parse(name: &str, src: &str, dialect: Dialect) -> Result<Parsed, ParseError> {
    let items = crate::lex::lex(src);
    let mut p = Parser {
        name,
        dialect,
        items,
        cur: 0,
        line: 1,
        vars: vec!["$".to_string()],
        range_depth: 0,
        depth: 0,
        defines: HashMap::new(),
    };
    let root = p.parse_top()?;
    Ok(Parsed { root, defines: p.defines })
}

enum ListEnd {
    End,
    Else,
}

impl Parser<'_> {
    fn err<T>(&self, msg: impl AsRef<str>) -> PResult<T> {
        Err(ParseError(format!("template: {}:{}: {}", self.name, self.line, msg.as_ref())))
    }

    fn next(&mut self) -> Item {
        let it = self.items.get(self.cur).or_else(|| self.items.last()).cloned().unwrap_or(Item {
            typ: Tok::Eof,
            pos: 0,
            val: String::new(),
            line: 1,
        });
        if self.cur < self.items.len() {
            self.cur += 1;
        }
        self.line = it.line;
        it
    }

    fn backup(&mut self) {
        if self.cur > 0 {
            self.cur -= 1;
        }
    }

    fn peek(&self) -> Item {
        self.items.get(self.cur).or_else(|| self.items.last()).cloned().unwrap_or(Item {
            typ: Tok::Eof,
            pos: 0,
            val: String::new(),
            line: 1,
        })
    }

    fn next_non_space(&mut self) -> Item {
        loop {
            let it = self.next();
            if it.typ != Tok::Space {
                return it;
            }
        }
    }

    /// Like Go's `peekNonSpace`: skipped spaces stay consumed.
    fn peek_non_space(&mut self) -> Item {
        while self.cur < self.items.len() && self.items[self.cur].typ == Tok::Space {
            self.cur += 1;
        }
        self.peek()
    }

    fn unexpected<T>(&self, it: &Item, context: &str) -> PResult<T> {
        if it.typ == Tok::Error {
            return self.err(&it.val);
        }
        self.err(format!("unexpected {} in {}", it.describe(), context))
    }

    fn expect(&mut self, typ: Tok, context: &str) -> PResult<Item> {
        let it = self.next_non_space();
        if it.typ != typ {
            return self.unexpected(&it, context);
        }
        Ok(it)
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return self.err("max nesting depth exceeded");
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    fn parse_top(&mut self) -> PResult<Vec<Node>> {
        let mut root = Vec::new();
        while self.peek().typ != Tok::Eof {
            if self.peek().typ == Tok::LeftDelim {
                let save = self.cur;
                self.next();
                if self.next_non_space().typ == Tok::Define {
                    self.parse_definition()?;
                    continue;
                }
                self.cur = save;
            }
            match self.text_or_action()? {
                Some(Ok(n)) => root.push(n),
                Some(Err(ListEnd::End)) => return self.err("unexpected {{end}}"),
                Some(Err(ListEnd::Else)) => return self.err("unexpected {{else}}"),
                None => {}
            }
        }
        if let Some(e) = self.items.last()
            && e.typ == Tok::Error
        {
            self.line = e.line;
            return self.err(&e.val);
        }
        Ok(root)
    }

    fn parse_definition(&mut self) -> PResult<()> {
        let context = "define clause";
        let it = self.next_non_space();
        let name = match it.typ {
            Tok::String | Tok::RawString => self.unquote(&it)?,
            _ => return self.unexpected(&it, context),
        };
        self.expect(Tok::RightDelim, context)?;
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$".to_string()]);
        let saved_range = std::mem::replace(&mut self.range_depth, 0);
        let (list, end) = self.item_list()?;
        self.vars = saved_vars;
        self.range_depth = saved_range;
        if !matches!(end, ListEnd::End) {
            return self.err(format!("unexpected {{{{else}}}} in {context}"));
        }
        self.add_define(name, list)
    }

    fn add_define(&mut self, name: String, list: Vec<Node>) -> PResult<()> {
        match self.defines.get(&name) {
            Some(existing) if !is_empty_tree(existing) => {
                if !is_empty_tree(&list) {
                    return self.err(format!("template: multiple definition of template {}", crate::fmt::quote(&name)));
                }
            }
            _ => {
                self.defines.insert(name, list);
            }
        }
        Ok(())
    }

    /// Returns `None` for comments, `Some(Err(end))` for `{{end}}` / `{{else}}`.
    fn text_or_action(&mut self) -> PResult<Option<Result<Node, ListEnd>>> {
        let it = self.next_non_space();
        match it.typ {
            Tok::Text => Ok(Some(Ok(Node::Text(it.val)))),
            Tok::LeftDelim => self.action().map(Some),
            Tok::Comment => Ok(None),
            _ => self.unexpected(&it, "input"),
        }
    }

    fn item_list(&mut self) -> PResult<(Vec<Node>, ListEnd)> {
        let mut list = Vec::new();
        while self.peek_non_space().typ != Tok::Eof {
            match self.text_or_action()? {
                Some(Ok(n)) => list.push(n),
                Some(Err(end)) => return Ok((list, end)),
                None => {}
            }
        }
        if let Some(e) = self.items.last()
            && e.typ == Tok::Error
        {
            self.line = e.line;
            return self.err(&e.val);
        }
        self.err("unexpected EOF")
    }

    fn action(&mut self) -> PResult<Result<Node, ListEnd>> {
        let it = self.next_non_space();
        match it.typ {
            Tok::Block => return self.block_control(&it).map(Ok),
            Tok::Break | Tok::Continue => {
                let is_break = it.typ == Tok::Break;
                let word = if is_break { "break" } else { "continue" };
                if self.range_depth == 0 {
                    return self.err(format!("{{{{{word}}}}} outside {{{{range}}}}"));
                }
                self.expect(Tok::RightDelim, &format!("{{{{{word}}}}}"))?;
                return Ok(Ok(if is_break { Node::Break } else { Node::Continue }));
            }
            Tok::Else => return self.else_control().map(Err),
            Tok::End => {
                self.expect(Tok::RightDelim, "end")?;
                return Ok(Err(ListEnd::End));
            }
            Tok::If => return self.if_control(&it).map(Ok),
            Tok::Range => return self.range_control(&it).map(Ok),
            Tok::Template => return self.template_control(&it).map(Ok),
            Tok::With => return self.with_control(&it).map(Ok),
            _ => {}
        }
        self.backup();
        let pipe = self.pipeline("command", Tok::RightDelim)?;
        Ok(Ok(Node::Action(pipe)))
    }

    fn else_control(&mut self) -> PResult<ListEnd> {
        let peek = self.peek_non_space();
        if peek.typ == Tok::If || peek.typ == Tok::With {
            // "{{else if ...}}" is handled as "{{else}}{{if ...}}...{{end}}".
            return Ok(ListEnd::Else);
        }
        self.expect(Tok::RightDelim, "else")?;
        Ok(ListEnd::Else)
    }

    fn parse_control(&mut self, context: &str, start: &Item) -> PResult<Branch> {
        self.enter()?;
        let vars_len = self.vars.len();
        let pipe = self.pipeline(context, Tok::RightDelim)?;
        if context == "range" {
            self.range_depth += 1;
        }
        let (list, end) = self.item_list()?;
        if context == "range" {
            self.range_depth -= 1;
        }
        let mut else_list = None;
        if let ListEnd::Else = end {
            let peek = self.peek_non_space();
            if context == "if" && peek.typ == Tok::If {
                let it = self.next_non_space();
                else_list = Some(vec![self.if_control(&it)?]);
            } else if context == "with" && peek.typ == Tok::With {
                let it = self.next_non_space();
                else_list = Some(vec![self.with_control(&it)?]);
            } else {
                let (l, e) = self.item_list()?;
                if !matches!(e, ListEnd::End) {
                    return self.err("expected end; found {{else}}");
                }
                else_list = Some(l);
            }
        }
        self.vars.truncate(vars_len);
        self.leave();
        let end_pos = self.items.get(self.cur.saturating_sub(1)).map_or(start.pos, |i| i.pos + i.val.len());
        Ok(Branch { pos: start.pos, end: end_pos, pipe, list, else_list })
    }

    fn if_control(&mut self, it: &Item) -> PResult<Node> {
        Ok(Node::If(Box::new(self.parse_control("if", it)?)))
    }

    fn with_control(&mut self, it: &Item) -> PResult<Node> {
        Ok(Node::With(Box::new(self.parse_control("with", it)?)))
    }

    fn range_control(&mut self, it: &Item) -> PResult<Node> {
        Ok(Node::Range(Box::new(self.parse_control("range", it)?)))
    }

    fn template_control(&mut self, start: &Item) -> PResult<Node> {
        let context = "template clause";
        let it = self.next_non_space();
        let name = match it.typ {
            Tok::String | Tok::RawString => self.unquote(&it)?,
            _ => return self.unexpected(&it, context),
        };
        let pipe = if self.next_non_space().typ != Tok::RightDelim {
            self.backup();
            Some(self.pipeline(context, Tok::RightDelim)?)
        } else {
            None
        };
        let end = self.items.get(self.cur.saturating_sub(1)).map_or(start.pos, |i| i.pos + i.val.len());
        Ok(Node::Template { pos: start.pos, end, name, pipe })
    }

    fn block_control(&mut self, start: &Item) -> PResult<Node> {
        let context = "block clause";
        let it = self.next_non_space();
        let name = match it.typ {
            Tok::String | Tok::RawString => self.unquote(&it)?,
            _ => return self.unexpected(&it, context),
        };
        let pipe = self.pipeline(context, Tok::RightDelim)?;
        self.enter()?;
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$".to_string()]);
        let saved_range = std::mem::replace(&mut self.range_depth, 0);
        let (list, end) = self.item_list()?;
        self.vars = saved_vars;
        self.range_depth = saved_range;
        self.leave();
        if !matches!(end, ListEnd::End) {
            return self.err(format!("unexpected {{{{else}}}} in {context}"));
        }
        self.add_define(name.clone(), list)?;
        let end = self.items.get(self.cur.saturating_sub(1)).map_or(start.pos, |i| i.pos + i.val.len());
        Ok(Node::Template { pos: start.pos, end, name, pipe: Some(pipe) })
    }

    fn pipeline(&mut self, context: &str, end: Tok) -> PResult<Pipe> {
        let start = self.peek_non_space();
        let mut pipe = Pipe { pos: start.pos, end: start.pos, decl: Vec::new(), is_assign: false, cmds: Vec::new() };
        // Declarations: "$x :=", "$x =", "$i, $e :=".
        loop {
            let v = self.peek_non_space();
            if v.typ != Tok::Variable {
                break;
            }
            let save = self.cur;
            self.next_non_space();
            let next = self.peek_non_space();
            match next.typ {
                Tok::Assign | Tok::Declare => {
                    pipe.is_assign = next.typ == Tok::Assign;
                    self.next_non_space();
                    pipe.decl.push(v.val.clone());
                    self.vars.push(v.val);
                    break;
                }
                Tok::Char if next.val == "," => {
                    self.next_non_space();
                    pipe.decl.push(v.val.clone());
                    self.vars.push(v.val);
                    if context == "range" && pipe.decl.len() < 2 {
                        match self.peek_non_space().typ {
                            Tok::Variable | Tok::RightDelim | Tok::RightParen => continue,
                            _ => return self.err("range can only initialize variables"),
                        }
                    }
                    return self.err(format!("too many declarations in {context}"));
                }
                _ => {
                    self.cur = save;
                    break;
                }
            }
        }
        loop {
            let it = self.next_non_space();
            if it.typ == end {
                if pipe.cmds.is_empty() {
                    return self.err(format!("missing value for {context}"));
                }
                for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
                    if matches!(
                        c.args.first().map(|a| &a.kind),
                        Some(ArgKind::Bool(_) | ArgKind::Dot | ArgKind::Nil | ArgKind::Number(_) | ArgKind::Str(_))
                    ) {
                        return self.err(format!("non executable command in pipeline stage {}", i + 1));
                    }
                }
                pipe.end = it.pos;
                return Ok(pipe);
            }
            match it.typ {
                Tok::Bool
                | Tok::CharConstant
                | Tok::Dot
                | Tok::Field
                | Tok::Identifier
                | Tok::Number
                | Tok::Nil
                | Tok::RawString
                | Tok::String
                | Tok::Variable
                | Tok::LeftParen => {
                    self.backup();
                    let cmd = self.command()?;
                    pipe.cmds.push(cmd);
                }
                _ => return self.unexpected(&it, context),
            }
        }
    }

    fn command(&mut self) -> PResult<Command> {
        let mut args = Vec::new();
        loop {
            self.peek_non_space();
            if let Some(a) = self.operand()? {
                args.push(a);
            }
            let it = self.next();
            match it.typ {
                Tok::Space => continue,
                Tok::RightDelim | Tok::RightParen => self.backup(),
                Tok::Pipe => {}
                _ => return self.unexpected(&it, "operand"),
            }
            break;
        }
        if args.is_empty() {
            return self.err("empty command");
        }
        Ok(Command { args })
    }

    fn operand(&mut self) -> PResult<Option<Arg>> {
        let Some(mut node) = self.term()? else { return Ok(None) };
        if self.peek().typ == Tok::Field {
            let mut fields = Vec::new();
            let mut end = node.end;
            while self.peek().typ == Tok::Field {
                let f = self.next();
                end = f.pos + f.val.len();
                fields.extend(f.val[1..].split('.').map(str::to_string));
            }
            match node.kind {
                ArgKind::Field(mut base) => {
                    base.extend(fields);
                    node = Arg { pos: node.pos, end, kind: ArgKind::Field(base) };
                }
                ArgKind::Variable(name, mut base) => {
                    base.extend(fields);
                    node = Arg { pos: node.pos, end, kind: ArgKind::Variable(name, base) };
                }
                ArgKind::Bool(_) | ArgKind::Str(_) | ArgKind::Number(_) | ArgKind::Nil | ArgKind::Dot => {
                    let text = match &node.kind {
                        ArgKind::Bool(b) => b.to_string(),
                        ArgKind::Str(s) => crate::fmt::quote(s),
                        ArgKind::Number(n) => n.text.clone(),
                        ArgKind::Nil => "nil".to_string(),
                        _ => ".".to_string(),
                    };
                    return self.err(format!("unexpected . after term {}", crate::fmt::quote(&text)));
                }
                _ => {
                    let pos = node.pos;
                    node = Arg { pos, end, kind: ArgKind::Chain(Box::new(node), fields) };
                }
            }
        }
        Ok(Some(node))
    }

    fn term(&mut self) -> PResult<Option<Arg>> {
        let it = self.next_non_space();
        let pos = it.pos;
        let end = it.pos + it.val.len();
        let kind = match it.typ {
            Tok::Identifier => match funcs::lookup(&it.val, self.dialect) {
                Some(f) => ArgKind::Func(f),
                None => return self.err(format!("function {} not defined", crate::fmt::quote(&it.val))),
            },
            Tok::Dot => ArgKind::Dot,
            Tok::Nil => ArgKind::Nil,
            Tok::Variable => {
                if !self.vars.contains(&it.val) {
                    return self.err(format!("undefined variable {}", crate::fmt::quote(&it.val)));
                }
                ArgKind::Variable(it.val, Vec::new())
            }
            Tok::Field => ArgKind::Field(it.val[1..].split('.').map(str::to_string).collect()),
            Tok::Bool => ArgKind::Bool(it.val == "true"),
            Tok::CharConstant | Tok::Number => match self.number(&it) {
                Ok(n) => ArgKind::Number(n),
                Err(e) => return self.err(e),
            },
            Tok::LeftParen => {
                self.enter()?;
                let p = self.pipeline("parenthesized pipeline", Tok::RightParen)?;
                self.leave();
                let end = p.end + 1;
                return Ok(Some(Arg { pos, end, kind: ArgKind::Pipe(Box::new(p)) }));
            }
            Tok::String | Tok::RawString => ArgKind::Str(self.unquote(&it)?),
            _ => {
                self.backup();
                return Ok(None);
            }
        };
        Ok(Some(Arg { pos, end, kind }))
    }

    fn unquote(&self, it: &Item) -> PResult<String> {
        match unquote(&it.val) {
            Some(s) => Ok(s),
            None => self.err("invalid syntax"),
        }
    }

    fn number(&self, it: &Item) -> Result<Number, String> {
        let text = it.val.clone();
        if it.typ == Tok::CharConstant {
            let inner = &text[1..text.len() - 1];
            let s = unquote_char_body(inner, '\'').ok_or_else(|| "invalid syntax".to_string())?;
            let mut cs = s.chars();
            let (Some(c), None) = (cs.next(), cs.next()) else {
                return Err(format!("malformed character constant: {text}"));
            };
            return Ok(Number { text, int: Some(c as i64), float: Some(c as u32 as f64), uint_only: false });
        }
        if text.ends_with('i') {
            return Err(format!("illegal number syntax: {}", crate::fmt::quote(&text)));
        }
        let mut n = Number { text: text.clone(), int: None, float: None, uint_only: false };
        let u = crate::value::parse_go_uint(&text);
        if let Some(i) = crate::value::parse_go_int(&text) {
            n.int = Some(i);
            n.float = Some(i as f64);
        } else if let Some(u) = u {
            n.uint_only = true;
            n.float = Some(u as f64);
        } else if let Some(f) = crate::value::parse_go_float(&text) {
            if !text.contains(['.', 'e', 'E', 'p', 'P']) {
                return Err(format!("integer overflow: {}", crate::fmt::quote(&text)));
            }
            n.float = Some(f);
            if (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f) && (f as i64) as f64 == f {
                n.int = Some(f as i64);
            }
        }
        if n.int.is_none() && n.float.is_none() {
            return Err(format!("illegal number syntax: {}", crate::fmt::quote(&text)));
        }
        Ok(n)
    }
}

/// Go's `strconv.Unquote` for "..." and `...` literals.
pub(crate) fn unquote(s: &str) -> Option<String> {
    if s.len() < 2 {
        return None;
    }
    if s.starts_with('`') && s.ends_with('`') {
        return Some(s[1..s.len() - 1].replace('\r', ""));
    }
    if s.starts_with('"') && s.ends_with('"') {
        return unquote_char_body(&s[1..s.len() - 1], '"');
    }
    None
}

/// Decodes the escapes of a quoted literal's body.
fn unquote_char_body(body: &str, q: char) -> Option<String> {
    let mut out: Vec<u8> = Vec::with_capacity(body.len());
    let mut chars = body.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c == q && q == '"' {
            return None;
        }
        if c == '\n' {
            return None;
        }
        if c != '\\' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let (_, e) = chars.next()?;
        let push_char = |c: char, out: &mut Vec<u8>| {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        };
        match e {
            'a' => out.push(7),
            'b' => out.push(8),
            'f' => out.push(12),
            'n' => out.push(b'\n'),
            'r' => out.push(b'\r'),
            't' => out.push(b'\t'),
            'v' => out.push(11),
            '\\' => out.push(b'\\'),
            '\'' | '"' => {
                if e != q {
                    return None;
                }
                out.push(e as u8);
            }
            '0'..='7' => {
                let mut v = e.to_digit(8)?;
                for _ in 0..2 {
                    let (_, d) = chars.next()?;
                    v = v * 8 + d.to_digit(8)?;
                }
                if v > 255 {
                    return None;
                }
                out.push(v as u8);
            }
            'x' | 'u' | 'U' => {
                let n = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let mut v: u32 = 0;
                for _ in 0..n {
                    let (_, d) = chars.next()?;
                    v = v * 16 + d.to_digit(16)?;
                }
                if e == 'x' {
                    out.push(v as u8);
                } else {
                    push_char(char::from_u32(v)?, &mut out);
                }
            }
            _ => return None,
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn perr(src: &str) -> String {
        match parse("line", src, Dialect::Loki) {
            Ok(_) => "ok".to_string(),
            Err(e) => e.0,
        }
    }

    #[test]
    fn parse_errors() {
        assert_eq!(perr("{{ foo }}"), "template: line:1: function \"foo\" not defined");
        assert_eq!(perr("{{ if .x }}"), "template: line:1: unexpected EOF");
        assert_eq!(perr("{{ end }}"), "template: line:1: unexpected {{end}}");
        assert_eq!(perr("{{ $x }}"), "template: line:1: undefined variable \"$x\"");
        assert_eq!(perr("{{}}"), "template: line:1: missing value for command");
        assert_eq!(perr("a\n{{ .x"), "template: line:2: unclosed action");
        assert_eq!(perr("{{ .x | 3 }}"), "template: line:1: non executable command in pipeline stage 2");
        assert_eq!(perr("{{ break }}"), "template: line:1: {{break}} outside {{range}}");
        assert_eq!(perr("{{ if .x }}{{ else }}{{ else }}{{ end }}"), "template: line:1: expected end; found {{else}}");
        assert_eq!(perr("{{ .x }}"), "ok");
    }

    #[test]
    fn unquotes() {
        assert_eq!(unquote("\"a\\tb\\u00e9\\x41\"").as_deref(), Some("a\tbéA"));
        assert_eq!(unquote("`a\\n`").as_deref(), Some("a\\n"));
        assert_eq!(unquote("\"\\q\""), None);
    }
}
