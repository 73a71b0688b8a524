//! Lexer for Go text/template, following the states of Go's `text/template/parse/lex.go`
//! with the fixed delimiters `{{` and `}}`.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tok {
    Error,
    Bool,
    Char,
    CharConstant,
    Comment,
    Declare,
    Assign,
    Eof,
    Field,
    Identifier,
    LeftDelim,
    LeftParen,
    Number,
    Pipe,
    RawString,
    RightDelim,
    RightParen,
    Space,
    String,
    Text,
    Variable,
    // Keywords.
    Block,
    Break,
    Continue,
    Dot,
    Define,
    Else,
    End,
    If,
    Nil,
    Range,
    Template,
    With,
}

impl Tok {
    pub(crate) fn is_keyword(self) -> bool {
        matches!(
            self,
            Tok::Block
                | Tok::Break
                | Tok::Continue
                | Tok::Dot
                | Tok::Define
                | Tok::Else
                | Tok::End
                | Tok::If
                | Tok::Nil
                | Tok::Range
                | Tok::Template
                | Tok::With
        )
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub typ: Tok,
    /// Byte offset of the item in the source.
    pub pos: usize,
    /// The item's text (for `Text` items after whitespace trimming; for `Error` the message).
    pub val: String,
    /// 1-based line of the item's start.
    pub line: usize,
}

impl Item {
    /// Go's `item.String()`, used in "unexpected ..." parse errors.
    pub(crate) fn describe(&self) -> String {
        match self.typ {
            Tok::Eof => "EOF".to_string(),
            Tok::Error => self.val.clone(),
            t if t.is_keyword() => format!("<{}>", self.val),
            _ => {
                if self.val.chars().count() > 10 {
                    let head: String = self.val.chars().take(10).collect();
                    format!("{}...", crate::fmt::quote(&head))
                } else {
                    crate::fmt::quote(&self.val)
                }
            }
        }
    }
}

const LEFT: &str = "{{";
const RIGHT: &str = "}}";

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

pub(crate) fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphabetic() || c.is_numeric()
}

fn has_left_trim(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && b[0] == b'-' && is_space(b[1] as char)
}

fn has_right_trim(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && is_space(b[0] as char) && b[1] == b'-'
}

struct Lexer<'s> {
    src: &'s str,
    pos: usize,
    start: usize,
    items: Vec<Item>,
    paren_depth: i32,
    /// Line of `start`.
    start_line: usize,
}

/// Lexes the whole template. The result always ends with an `Eof` or an `Error` item.
pub(crate) fn lex(src: &str) -> Vec<Item> {
    let mut l = Lexer { src, pos: 0, start: 0, items: Vec::new(), paren_depth: 0, start_line: 1 };
    l.run();
    l.items
}

impl<'s> Lexer<'s> {
    fn rest(&self) -> &'s str {
        &self.src[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn backup_char(&mut self, c: Option<char>) {
        if let Some(c) = c {
            self.pos -= c.len_utf8();
        }
    }

    fn accept(&mut self, valid: &str) -> bool {
        match self.peek() {
            Some(c) if valid.contains(c) => {
                self.pos += c.len_utf8();
                true
            }
            _ => false,
        }
    }

    fn accept_run(&mut self, valid: &str) {
        while self.accept(valid) {}
    }

    fn emit_val(&mut self, typ: Tok, val: String) {
        self.items.push(Item { typ, pos: self.start, val, line: self.start_line });
        self.ignore();
    }

    fn emit(&mut self, typ: Tok) {
        let val = self.src[self.start..self.pos].to_string();
        self.emit_val(typ, val);
    }

    fn ignore(&mut self) {
        self.start_line += self.src[self.start..self.pos].matches('\n').count();
        self.start = self.pos;
    }

    fn error(&mut self, msg: String) {
        self.items.push(Item { typ: Tok::Error, pos: self.start, val: msg, line: self.start_line });
    }

    fn at_right_delim(&self) -> (bool, bool) {
        let r = self.rest();
        if has_right_trim(r) && r[2..].starts_with(RIGHT) {
            return (true, true);
        }
        (r.starts_with(RIGHT), false)
    }

    fn at_terminator(&self) -> bool {
        match self.peek() {
            None => true,
            Some(c) if is_space(c) => true,
            Some('.' | ',' | '|' | ':' | ')' | '(') => true,
            _ => self.rest().starts_with(RIGHT),
        }
    }

    fn run(&mut self) {
        // Each state returns false when lexing is over (EOF or error).
        let mut in_action = false;
        loop {
            let cont = if in_action { self.lex_inside_action(&mut in_action) } else { self.lex_text(&mut in_action) };
            if !cont {
                return;
            }
        }
    }

    fn lex_text(&mut self, in_action: &mut bool) -> bool {
        match self.rest().find(LEFT) {
            Some(x) => {
                let delim_at = self.pos + x;
                let mut text_end = delim_at;
                if has_left_trim(&self.src[delim_at + LEFT.len()..]) {
                    let text = &self.src[self.start..delim_at];
                    text_end = self.start + text.trim_end_matches(is_space).len();
                }
                if text_end > self.start {
                    let val = self.src[self.start..text_end].to_string();
                    self.items.push(Item { typ: Tok::Text, pos: self.start, val, line: self.start_line });
                }
                self.pos = delim_at;
                self.ignore();
                self.lex_left_delim(in_action)
            }
            None => {
                self.pos = self.src.len();
                if self.pos > self.start {
                    self.emit(Tok::Text);
                }
                self.emit_val(Tok::Eof, String::new());
                false
            }
        }
    }

    fn lex_left_delim(&mut self, in_action: &mut bool) -> bool {
        self.pos += LEFT.len();
        let trim = has_left_trim(self.rest());
        let after_marker = if trim { 2 } else { 0 };
        if self.rest()[after_marker..].starts_with("/*") {
            self.pos += after_marker;
            self.ignore();
            return self.lex_comment();
        }
        self.emit(Tok::LeftDelim);
        self.pos += after_marker;
        self.ignore();
        self.paren_depth = 0;
        *in_action = true;
        true
    }

    fn lex_comment(&mut self) -> bool {
        self.pos += 2;
        let Some(x) = self.rest().find("*/") else {
            self.error("unclosed comment".to_string());
            return false;
        };
        self.pos += x + 2;
        let (delim, trim) = self.at_right_delim();
        if !delim {
            self.error("comment ends before closing delimiter".to_string());
            return false;
        }
        self.emit(Tok::Comment);
        if trim {
            self.pos += 2;
        }
        self.pos += RIGHT.len();
        if trim {
            let r = self.rest();
            self.pos += r.len() - r.trim_start_matches(is_space).len();
        }
        self.ignore();
        true
    }

    fn lex_right_delim(&mut self, in_action: &mut bool) -> bool {
        let (_, trim) = self.at_right_delim();
        if trim {
            self.pos += 2;
            self.ignore();
        }
        self.pos += RIGHT.len();
        self.emit(Tok::RightDelim);
        if trim {
            let r = self.rest();
            self.pos += r.len() - r.trim_start_matches(is_space).len();
            self.ignore();
        }
        *in_action = false;
        true
    }

    fn lex_inside_action(&mut self, in_action: &mut bool) -> bool {
        let (delim, _) = self.at_right_delim();
        if delim {
            if self.paren_depth == 0 {
                return self.lex_right_delim(in_action);
            }
            self.error("unclosed left paren".to_string());
            return false;
        }
        let Some(c) = self.next() else {
            self.error("unclosed action".to_string());
            return false;
        };
        match c {
            c if is_space(c) => {
                self.backup_char(Some(c));
                return self.lex_space(in_action);
            }
            '=' => self.emit(Tok::Assign),
            ':' => {
                if self.next() != Some('=') {
                    self.error("expected :=".to_string());
                    return false;
                }
                self.emit(Tok::Declare);
            }
            '|' => self.emit(Tok::Pipe),
            '"' => return self.lex_quote(),
            '`' => return self.lex_raw_quote(),
            '$' => return self.lex_field_or_variable(Tok::Variable),
            '\'' => return self.lex_char(),
            '.' => match self.peek() {
                Some(d) if d.is_ascii_digit() => {
                    self.backup_char(Some('.'));
                    return self.lex_number();
                }
                _ => return self.lex_field_or_variable(Tok::Field),
            },
            '+' | '-' | '0'..='9' => {
                self.backup_char(Some(c));
                return self.lex_number();
            }
            c if is_alnum(c) => {
                self.backup_char(Some(c));
                return self.lex_identifier();
            }
            '(' => {
                self.emit(Tok::LeftParen);
                self.paren_depth += 1;
            }
            ')' => {
                self.paren_depth -= 1;
                if self.paren_depth < 0 {
                    self.error("unexpected right paren".to_string());
                    return false;
                }
                self.emit(Tok::RightParen);
            }
            c if c.is_ascii() && !c.is_ascii_control() => self.emit(Tok::Char),
            c => {
                self.error(format!("unrecognized character in action: {}", crate::fmt::go_hash_u(c)));
                return false;
            }
        }
        true
    }

    fn lex_space(&mut self, in_action: &mut bool) -> bool {
        let mut n = 0;
        while let Some(c) = self.peek() {
            if !is_space(c) {
                break;
            }
            self.next();
            n += 1;
        }
        // A trim-marked closing delimiter has a space before the minus.
        let before = &self.src[self.pos - 1..];
        if has_right_trim(before) && before[2..].starts_with(RIGHT) {
            self.pos -= 1;
            if n == 1 {
                return self.lex_right_delim(in_action);
            }
        }
        self.emit(Tok::Space);
        true
    }

    fn lex_identifier(&mut self) -> bool {
        loop {
            let c = self.next();
            match c {
                Some(ch) if is_alnum(ch) => {}
                _ => {
                    self.backup_char(c);
                    if !self.at_terminator() {
                        self.error(format!("bad character {}", crate::fmt::go_hash_u(c.unwrap_or('\u{0}'))));
                        return false;
                    }
                    let word = &self.src[self.start..self.pos];
                    let typ = match word {
                        "block" => Tok::Block,
                        "break" => Tok::Break,
                        "continue" => Tok::Continue,
                        "define" => Tok::Define,
                        "else" => Tok::Else,
                        "end" => Tok::End,
                        "if" => Tok::If,
                        "range" => Tok::Range,
                        "nil" => Tok::Nil,
                        "template" => Tok::Template,
                        "with" => Tok::With,
                        "true" | "false" => Tok::Bool,
                        _ => Tok::Identifier,
                    };
                    self.emit(typ);
                    return true;
                }
            }
        }
    }

    fn lex_field_or_variable(&mut self, typ: Tok) -> bool {
        if self.at_terminator() {
            if typ == Tok::Variable {
                self.emit(Tok::Variable);
            } else {
                self.emit(Tok::Dot);
            }
            return true;
        }
        let last;
        loop {
            let c = self.next();
            match c {
                Some(ch) if is_alnum(ch) => {}
                _ => {
                    self.backup_char(c);
                    last = c;
                    break;
                }
            }
        }
        if !self.at_terminator() {
            self.error(format!("bad character {}", crate::fmt::go_hash_u(last.unwrap_or('\u{0}'))));
            return false;
        }
        self.emit(typ);
        true
    }

    fn lex_char(&mut self) -> bool {
        loop {
            match self.next() {
                Some('\\') => match self.next() {
                    Some(c) if c != '\n' => {}
                    _ => {
                        self.error("unterminated character constant".to_string());
                        return false;
                    }
                },
                None | Some('\n') => {
                    self.error("unterminated character constant".to_string());
                    return false;
                }
                Some('\'') => break,
                _ => {}
            }
        }
        self.emit(Tok::CharConstant);
        true
    }

    fn lex_number(&mut self) -> bool {
        if !self.scan_number() {
            let text = self.src[self.start..self.pos].to_string();
            self.error(format!("bad number syntax: {}", crate::fmt::quote(&text)));
            return false;
        }
        if matches!(self.peek(), Some('+' | '-')) {
            // Complex numbers (1+2i) are not supported; Go accepts them but no Loki function takes one.
            let text = self.src[self.start..self.pos].to_string();
            self.error(format!("bad number syntax: {}", crate::fmt::quote(&text)));
            return false;
        }
        self.emit(Tok::Number);
        true
    }

    fn scan_number(&mut self) -> bool {
        self.accept("+-");
        let mut digits = "0123456789_";
        if self.accept("0") {
            if self.accept("xX") {
                digits = "0123456789abcdefABCDEF_";
            } else if self.accept("oO") {
                digits = "01234567_";
            } else if self.accept("bB") {
                digits = "01_";
            }
        }
        self.accept_run(digits);
        if self.accept(".") {
            self.accept_run(digits);
        }
        if digits.len() == 11 && self.accept("eE") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        if digits.len() == 23 && self.accept("pP") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        self.accept("i");
        if let Some(c) = self.peek()
            && is_alnum(c)
        {
            self.next();
            return false;
        }
        true
    }

    fn lex_quote(&mut self) -> bool {
        loop {
            match self.next() {
                Some('\\') => match self.next() {
                    Some(c) if c != '\n' => {}
                    _ => {
                        self.error("unterminated quoted string".to_string());
                        return false;
                    }
                },
                None | Some('\n') => {
                    self.error("unterminated quoted string".to_string());
                    return false;
                }
                Some('"') => break,
                _ => {}
            }
        }
        self.emit(Tok::String);
        true
    }

    fn lex_raw_quote(&mut self) -> bool {
        loop {
            match self.next() {
                None => {
                    self.error("unterminated raw quoted string".to_string());
                    return false;
                }
                Some('`') => break,
                _ => {}
            }
        }
        self.emit(Tok::RawString);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<(Tok, String)> {
        lex(src).into_iter().map(|i| (i.typ, i.val)).collect()
    }

    #[test]
    fn trims_and_tokens() {
        let k = kinds("a  {{- .x -}}  b");
        assert_eq!(
            k,
            vec![
                (Tok::Text, "a".into()),
                (Tok::LeftDelim, "{{".into()),
                (Tok::Field, ".x".into()),
                (Tok::RightDelim, "}}".into()),
                (Tok::Text, "b".into()),
                (Tok::Eof, "".into()),
            ]
        );
    }

    #[test]
    fn negative_number_is_not_trim() {
        let k = kinds("{{-3}}");
        assert_eq!(k[1], (Tok::Number, "-3".into()));
    }

    #[test]
    fn errors() {
        assert_eq!(kinds("{{ .x").last().unwrap().1, "unclosed action");
        assert_eq!(kinds("{{ \"abc }}").last().unwrap().1, "unterminated quoted string");
        assert_eq!(kinds("{{/* x }}").last().unwrap().1, "unclosed comment");
    }
}
