//! Recursive-descent parser (Pratt for binary operators) following Loki's
//! grammar (`pkg/logql/syntax/syntax.y`), plus Loki's post-parse checks.

use crate::ast::*;
use crate::error::ParseError;
use crate::lexer::{T, Token, lex};
use crate::matcher::{MatchOp, Matcher, regex_error};
use crate::pattern::{parse_pattern, validate_parser_pattern};
use crate::units::go_quote;

/// Loki rejects queries of this many bytes or more (`maxInputSize`,
/// `pkg/logql/syntax/parser.go`: 128 KiB since Loki 3).
pub const MAX_INPUT_SIZE: usize = 131_072;
/// Deepest nesting (parentheses, aggregations, binary operands) accepted.
pub const MAX_DEPTH: usize = 128;

const ERR_NEED_MATCHER: &str = "queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will";

type R<T> = Result<T, ParseError>;

/// Parses and validates a LogQL query.
pub fn parse_expr(input: &str) -> R<Expr> {
    let e = parse_unvalidated(input)?;
    validate(&e)?;
    Ok(e)
}

/// Parses a query that must be a log query (`{...} | ...`).
pub fn parse_log_expr(input: &str) -> R<LogExpr> {
    match parse_expr(input)? {
        Expr::Log(l) => Ok(l),
        Expr::Sample(_) => Err(ParseError::semantic("only log selector is supported")),
    }
}

/// Parses a query that must be a metric query.
pub fn parse_sample_expr(input: &str) -> R<SampleExpr> {
    match parse_expr(input)? {
        Expr::Sample(s) => Ok(s),
        Expr::Log(_) => Err(ParseError::semantic("only sample expression supported")),
    }
}

/// Parses a bare stream selector (`{a="b", c=~"d"}`), as used by `match[]`
/// of the series API. Anything else is Loki's `ErrParseMatchers`, a plain
/// error: `only label matchers are supported`.
pub fn parse_matchers(input: &str) -> R<Vec<Matcher>> {
    match parse_expr(input)? {
        Expr::Log(l) if l.stages.is_empty() => Ok(l.matchers),
        _ => Err(ParseError::plain("only label matchers are supported")),
    }
}

/// Parses without Loki's post-parse validation (empty selectors allowed).
pub fn parse_unvalidated(input: &str) -> R<Expr> {
    if input.len() >= MAX_INPUT_SIZE {
        return Err(ParseError::semantic(format!("input size too long ({} > {})", input.len(), MAX_INPUT_SIZE)));
    }
    let mut p = Parser { toks: lex(input), pos: 0, depth: 0, deferred: None };
    let e = p.expr(0)?;
    if *p.peek() != T::Eof {
        return Err(p.unexpected());
    }
    if let Some(err) = p.deferred {
        return Err(err);
    }
    Ok(e)
}

// ---------------------------------------------------------------- validation

fn validate(e: &Expr) -> R<()> {
    match e {
        Expr::Log(l) => validate_matchers(&l.matchers),
        Expr::Sample(s) => validate_sample(s),
    }
}

fn validate_matchers(ms: &[Matcher]) -> R<()> {
    if ms.iter().all(Matcher::matches_empty) {
        return Err(ParseError::semantic(ERR_NEED_MATCHER));
    }
    Ok(())
}

/// The matchers of the first selector, as Loki's `SampleExpr.Selector()`.
fn selector_matchers(s: &SampleExpr) -> &[Matcher] {
    match s {
        SampleExpr::RangeAggregation(r) => &r.range.selector.matchers,
        SampleExpr::VectorAggregation(v) => selector_matchers(&v.inner),
        SampleExpr::BinOp(b) => selector_matchers(&b.lhs),
        SampleExpr::LabelReplace(l) => selector_matchers(&l.inner),
        SampleExpr::Literal(_) | SampleExpr::Vector(_) => &[],
    }
}

fn validate_sample(s: &SampleExpr) -> R<()> {
    match s {
        SampleExpr::BinOp(b) => {
            validate_sample(&b.lhs)?;
            validate_sample(&b.rhs)
        }
        SampleExpr::Literal(_) | SampleExpr::Vector(_) => Ok(()),
        SampleExpr::VectorAggregation(v) => {
            if matches!(v.op, VectorOp::Sort | VectorOp::SortDesc) && !v.grouping.labels.is_empty() {
                return Err(ParseError::semantic("sort and sort_desc doesn't allow grouping by "));
            }
            validate_sample(&v.inner)
        }
        // Loki validates what `label_replace` wraps, so
        // `label_replace(vector(0), ...)` needs no selector.
        SampleExpr::LabelReplace(l) => validate_sample(&l.inner),
        _ => validate_matchers(selector_matchers(s)),
    }
}

// ---------------------------------------------------------------- parser

struct Parser {
    toks: Vec<Token>,
    pos: usize,
    depth: usize,
    /// The first error found in a node that parsed (Loki reports these only
    /// once the whole query is syntactically valid).
    deferred: Option<ParseError>,
}

fn binop_of(t: &T) -> Option<BinOp> {
    Some(match t {
        T::Or => BinOp::Or,
        T::And => BinOp::And,
        T::Unless => BinOp::Unless,
        T::Add => BinOp::Add,
        T::Sub => BinOp::Sub,
        T::Mul => BinOp::Mul,
        T::Div => BinOp::Div,
        T::Mod => BinOp::Mod,
        T::Pow => BinOp::Pow,
        T::CmpEq => BinOp::Eq,
        T::Neq => BinOp::Neq,
        T::Gt => BinOp::Gt,
        T::Gte => BinOp::Gte,
        T::Lt => BinOp::Lt,
        T::Lte => BinOp::Lte,
        _ => return None,
    })
}

impl Parser {
    fn peek(&self) -> &T {
        &self.toks[self.pos.min(self.toks.len() - 1)].t
    }

    fn peek_at(&self, k: usize) -> &T {
        &self.toks[(self.pos + k).min(self.toks.len() - 1)].t
    }

    fn bump(&mut self) -> T {
        let t = self.peek().clone();
        if !matches!(t, T::Eof | T::Error(_)) {
            self.pos += 1;
        }
        t
    }

    fn unexpected(&self) -> ParseError {
        let tok = &self.toks[self.pos.min(self.toks.len() - 1)];
        match &tok.t {
            T::Error(m) => ParseError::new(m.clone(), tok.line, tok.col),
            t => ParseError::new(format!("syntax error: unexpected {}", t.name()), tok.line, tok.col),
        }
    }

    /// A syntax error that, like goyacc's verbose errors, lists the tokens
    /// the parser state accepts (only used where that list is short and
    /// fixed, as goyacc prints at most four).
    fn unexpected_expecting(&self, expecting: &str) -> ParseError {
        let mut e = self.unexpected();
        if !matches!(self.toks[self.pos.min(self.toks.len() - 1)].t, T::Error(_)) {
            e.msg.push_str(", expecting ");
            e.msg.push_str(expecting);
        }
        e
    }

    fn expect_or(&mut self, t: &T, expecting: &str) -> R<()> {
        if self.eat(t) { Ok(()) } else { Err(self.unexpected_expecting(expecting)) }
    }

    fn expect_str_or(&mut self, expecting: &str) -> R<String> {
        match self.peek() {
            T::Str(_) => self.expect_str(),
            _ => Err(self.unexpected_expecting(expecting)),
        }
    }

    fn eat(&mut self, t: &T) -> bool {
        if self.peek() == t {
            self.bump();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, t: &T) -> R<()> {
        if self.eat(t) { Ok(()) } else { Err(self.unexpected()) }
    }

    fn expect_str(&mut self) -> R<String> {
        match self.peek() {
            T::Str(s) => {
                let s = s.clone();
                self.bump();
                Ok(s)
            }
            _ => Err(self.unexpected()),
        }
    }

    fn expect_ident(&mut self) -> R<String> {
        match self.peek() {
            T::Ident(s) => {
                let s = s.clone();
                self.bump();
                Ok(s)
            }
            _ => Err(self.unexpected()),
        }
    }

    fn defer(&mut self, msg: impl Into<String>) {
        if self.deferred.is_none() {
            self.deferred = Some(ParseError::semantic(msg));
        }
    }

    fn enter(&mut self) -> R<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let tok = &self.toks[self.pos.min(self.toks.len() - 1)];
            return Err(ParseError::new(
                format!("query is nested too deeply (max depth {MAX_DEPTH})"),
                tok.line,
                tok.col,
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    // ------------------------------------------------------------ expressions

    fn expr(&mut self, min_prec: u8) -> R<Expr> {
        self.enter()?;
        let r = self.expr_inner(min_prec);
        self.leave();
        r
    }

    fn expr_inner(&mut self, min_prec: u8) -> R<Expr> {
        let mut left = self.operand()?;
        while let Some(op) = binop_of(self.peek()) {
            let prec = op.precedence();
            if prec < min_prec {
                break;
            }
            self.bump();
            let modifier = self.bin_modifier()?;
            let next = if op.is_right_assoc() { prec } else { prec + 1 };
            let right = self.expr(next)?;
            left = self.make_binop(op, modifier, left, right);
        }
        Ok(left)
    }

    fn labels_list(&mut self) -> R<Vec<String>> {
        self.expect_or(&T::LParen, "(")?;
        let mut out = Vec::new();
        if self.eat(&T::RParen) {
            return Ok(out);
        }
        if !matches!(self.peek(), T::Ident(_)) {
            return Err(self.unexpected_expecting("IDENTIFIER or )"));
        }
        loop {
            out.push(self.expect_ident()?);
            if self.eat(&T::Comma) {
                if !matches!(self.peek(), T::Ident(_)) {
                    return Err(self.unexpected_expecting("IDENTIFIER"));
                }
                continue;
            }
            self.expect_or(&T::RParen, ", or )")?;
            return Ok(out);
        }
    }

    #[inline(never)]
    fn bin_modifier(&mut self) -> R<BinOpModifier> {
        let mut m = BinOpModifier { return_bool: self.eat(&T::Bool), ..Default::default() };
        let on = match self.peek() {
            T::On => true,
            T::Ignoring => false,
            _ => return Ok(m),
        };
        self.bump();
        m.on = on;
        m.matching_labels = self.labels_list()?;
        let card = match self.peek() {
            T::GroupLeft => Cardinality::ManyToOne,
            T::GroupRight => Cardinality::OneToMany,
            _ => return Ok(m),
        };
        self.bump();
        m.card = card;
        if *self.peek() == T::LParen {
            m.include = self.labels_list()?;
        }
        Ok(m)
    }

    #[inline(never)]
    fn make_binop(&mut self, op: BinOp, modifier: BinOpModifier, l: Expr, r: Expr) -> Expr {
        let type_name = |l: &LogExpr| {
            if l.stages.is_empty() { "*syntax.MatchersExpr" } else { "*syntax.PipelineExpr" }
        };
        let (lhs, rhs) = match (l, r) {
            (Expr::Sample(a), Expr::Sample(b)) => (a, b),
            (Expr::Log(a), _) => {
                self.defer(format!(
                    "unexpected type for left leg of binary operation ({}): {}",
                    op.as_str(),
                    type_name(&a)
                ));
                return Expr::Sample(SampleExpr::Literal(0.0));
            }
            (_, Expr::Log(b)) => {
                self.defer(format!(
                    "unexpected type for right leg of binary operation ({}): {}",
                    op.as_str(),
                    type_name(&b)
                ));
                return Expr::Sample(SampleExpr::Literal(0.0));
            }
        };
        if op.is_set_op() {
            if let SampleExpr::Literal(v) = lhs {
                self.defer(format!(
                    "unexpected literal for left leg of logical/set binary operation ({}): {v:.6}",
                    op.as_str()
                ));
            } else if let SampleExpr::Literal(v) = rhs {
                self.defer(format!(
                    "unexpected literal for right leg of logical/set binary operation ({}): {v:.6}",
                    op.as_str()
                ));
            }
        }
        if let (SampleExpr::Literal(a), SampleExpr::Literal(b)) = (&lhs, &rhs)
            && let Some(v) = op.apply(*a, *b)
        {
            return Expr::Sample(SampleExpr::Literal(v));
        }
        Expr::Sample(SampleExpr::BinOp(Box::new(BinOpExpr { op, modifier, lhs, rhs })))
    }

    fn parse_float(&mut self, text: &str, what: &str) -> f64 {
        match go_parse_float(text) {
            Ok(v) => v,
            Err((v, reason)) => {
                self.defer(format!(
                    "unable to parse {what} as a float: strconv.ParseFloat: parsing {}: {reason}",
                    go_quote(text)
                ));
                v
            }
        }
    }

    fn operand(&mut self) -> R<Expr> {
        match self.peek().clone() {
            T::LParen => {
                self.bump();
                let e = self.expr(0)?;
                self.expect(&T::RParen)?;
                Ok(e)
            }
            T::RangeFn(op) => {
                self.bump();
                self.range_aggregation(op).map(Expr::Sample)
            }
            T::VectorFn(op) => {
                self.bump();
                self.vector_aggregation(op).map(Expr::Sample)
            }
            T::LabelReplace => {
                self.bump();
                self.label_replace().map(Expr::Sample)
            }
            _ => self.leaf_operand(),
        }
    }

    /// Operands that do not recurse (kept out of the recursive frames).
    #[inline(never)]
    fn leaf_operand(&mut self) -> R<Expr> {
        match self.peek().clone() {
            T::LBrace => {
                let l = self.log_expr()?;
                if *self.peek() == T::Pipe && *self.peek_at(1) == T::Unwrap {
                    self.bump();
                    return Err(self.unexpected());
                }
                Ok(Expr::Log(l))
            }
            T::Number(n) => {
                self.bump();
                let v = self.parse_float(&n, "literal");
                Ok(Expr::Sample(SampleExpr::Literal(v)))
            }
            T::Add | T::Sub => {
                let neg = self.bump() == T::Sub;
                let T::Number(n) = self.peek().clone() else {
                    return Err(self.unexpected_expecting("NUMBER"));
                };
                self.bump();
                let v = self.parse_float(&n, "literal");
                Ok(Expr::Sample(SampleExpr::Literal(if neg { -v } else { v })))
            }
            T::VectorLit => {
                self.bump();
                self.expect_or(&T::LParen, "(")?;
                let T::Number(n) = self.peek().clone() else {
                    return Err(self.unexpected_expecting("NUMBER"));
                };
                self.bump();
                self.expect_or(&T::RParen, ")")?;
                let v = self.parse_float(&n, "vectorExpr");
                Ok(Expr::Sample(SampleExpr::Vector(v)))
            }
            _ => Err(self.unexpected()),
        }
    }

    fn sample_operand(&mut self) -> R<SampleExpr> {
        match self.expr(0)? {
            Expr::Sample(s) => Ok(s),
            Expr::Log(_) => Err(self.unexpected()),
        }
    }

    fn grouping(&mut self) -> R<Option<Grouping>> {
        let without = match self.peek() {
            T::By => false,
            T::Without => true,
            _ => return Ok(None),
        };
        self.bump();
        let labels = self.labels_list()?;
        Ok(Some(Grouping { without, labels }))
    }

    /// `NUMBER ,` at the start of a function's arguments.
    fn leading_param(&mut self) -> Option<String> {
        if let (T::Number(n), T::Comma) = (self.peek(), self.peek_at(1)) {
            let n = n.clone();
            self.bump();
            self.bump();
            Some(n)
        } else {
            None
        }
    }

    #[inline(never)]
    fn range_aggregation(&mut self, op: RangeOp) -> R<SampleExpr> {
        self.expect(&T::LParen)?;
        if !matches!(self.peek(), T::Number(_) | T::LBrace | T::LParen) {
            return Err(self.unexpected_expecting("NUMBER or { or ("));
        }
        if matches!(self.peek(), T::Number(_)) && *self.peek_at(1) != T::Comma {
            self.bump();
            return Err(self.unexpected_expecting(","));
        }
        let param = self.leading_param();
        let range = self.log_range()?;
        self.expect(&T::RParen)?;
        let grouping = self.grouping()?;

        let mut value = None;
        if let Some(p) = &param {
            if op != RangeOp::QuantileOverTime {
                self.defer(format!("parameter {p} not supported for operation {}", op.as_str()));
            } else {
                match go_parse_float(p) {
                    Ok(v) => value = Some(v),
                    Err((_, reason)) => self.defer(format!(
                        "invalid parameter for operation {}: strconv.ParseFloat: parsing {}: {reason}",
                        op.as_str(),
                        go_quote(p)
                    )),
                }
            }
        } else if op == RangeOp::QuantileOverTime {
            self.defer(format!("parameter required for operation {}", op.as_str()));
        }
        use RangeOp::*;
        if grouping.is_some()
            && !matches!(
                op,
                AvgOverTime
                    | StddevOverTime
                    | StdvarOverTime
                    | QuantileOverTime
                    | MaxOverTime
                    | MinOverTime
                    | FirstOverTime
                    | LastOverTime
            )
        {
            self.defer(format!("grouping not allowed for {} aggregation", op.as_str()));
        }
        if range.unwrap.is_some() {
            if !matches!(
                op,
                AvgOverTime
                    | SumOverTime
                    | MaxOverTime
                    | MinOverTime
                    | StddevOverTime
                    | StdvarOverTime
                    | QuantileOverTime
                    | Rate
                    | RateCounter
                    | AbsentOverTime
                    | FirstOverTime
                    | LastOverTime
            ) {
                self.defer(format!("invalid aggregation {} with unwrap", op.as_str()));
            }
        } else if !matches!(op, BytesOverTime | BytesRate | CountOverTime | Rate | AbsentOverTime) {
            self.defer(format!("invalid aggregation {} without unwrap", op.as_str()));
        }
        Ok(SampleExpr::RangeAggregation(RangeAggregation { op, param: value, range, grouping }))
    }

    fn vector_aggregation(&mut self, op: VectorOp) -> R<SampleExpr> {
        let before = self.grouping()?;
        self.expect(&T::LParen)?;
        let param = self.leading_param();
        let inner = self.sample_operand()?;
        self.expect(&T::RParen)?;
        let grouping = match before {
            Some(g) => Some(g),
            None => self.grouping()?,
        };
        Ok(self.finish_vector_aggregation(op, param, grouping, inner))
    }

    #[inline(never)]
    fn finish_vector_aggregation(
        &mut self,
        op: VectorOp,
        param: Option<String>,
        grouping: Option<Grouping>,
        inner: SampleExpr,
    ) -> SampleExpr {
        let mut value = None;
        if op.takes_param() {
            match &param {
                None => self.defer(format!("parameter required for operation {}", op.as_str())),
                Some(p) => match p.parse::<i64>() {
                    Err(_) => self.defer(format!("invalid parameter {}({p},", op.as_str())),
                    Ok(v) if v <= 0 => {
                        self.defer(format!("invalid parameter (must be greater than 0) {}({p}", op.as_str()))
                    }
                    Ok(v) => value = Some(v),
                },
            }
            if op == VectorOp::ApproxTopk && grouping.is_some() {
                self.defer(format!("grouping not allowed for {} aggregation", op.as_str()));
            }
        } else if let Some(p) = &param {
            self.defer(format!("unsupported parameter for operation {}({p},", op.as_str()));
        }
        SampleExpr::VectorAggregation(VectorAggregation {
            op,
            param: value,
            grouping: grouping.unwrap_or_default(),
            inner: Box::new(inner),
        })
    }

    fn label_replace(&mut self) -> R<SampleExpr> {
        self.expect(&T::LParen)?;
        let inner = self.sample_operand()?;
        self.finish_label_replace(inner)
    }

    #[inline(never)]
    fn finish_label_replace(&mut self, inner: SampleExpr) -> R<SampleExpr> {
        let mut args = Vec::with_capacity(4);
        for i in 0..4 {
            if i == 0 {
                self.expect(&T::Comma)?;
            } else {
                self.expect_or(&T::Comma, ",")?;
            }
            args.push(self.expect_str_or("STRING")?);
        }
        self.expect_or(&T::RParen, ")")?;
        let regex = args.pop().unwrap_or_default();
        let src = args.pop().unwrap_or_default();
        let replacement = args.pop().unwrap_or_default();
        let dst = args.pop().unwrap_or_default();
        let anchored = format!("^(?:{regex})$");
        let compiled = match regex::Regex::new(&anchored) {
            Ok(r) => r,
            Err(e) => {
                // Loki compiles the anchored regex: Go's error quotes it.
                self.defer(format!("invalid regex in label_replace: {}", regex_error(&e, &anchored)));
                regex::Regex::new("^$").expect("static regex")
            }
        };
        Ok(SampleExpr::LabelReplace(Box::new(LabelReplace { inner, dst, replacement, src, regex, compiled })))
    }

    // ------------------------------------------------------------ log ranges

    fn log_range(&mut self) -> R<LogRange> {
        self.enter()?;
        let r = self.log_range_inner();
        self.leave();
        r
    }

    fn log_range_inner(&mut self) -> R<LogRange> {
        if *self.peek() == T::LParen {
            self.bump();
            if *self.peek() == T::LParen {
                // `( logRangeExpr )`
                let inner = self.log_range()?;
                self.expect(&T::RParen)?;
                return Ok(inner);
            }
            let matchers = self.selector()?;
            let stages = self.pipeline()?;
            let unwrap = self.unwrap_opt()?;
            if matches!(self.peek(), T::Range(_)) {
                let r = self.after_range(matchers, stages, unwrap)?;
                self.expect(&T::RParen)?;
                return Ok(r);
            }
            self.expect(&T::RParen)?;
            let range_ns = self.range()?;
            let offset_ns = self.offset_opt()?;
            return Ok(LogRange { selector: LogExpr { matchers, stages }, range_ns, offset_ns, unwrap });
        }
        let matchers = self.selector()?;
        let stages = self.pipeline()?;
        let unwrap = self.unwrap_opt()?;
        self.after_range(matchers, stages, unwrap)
    }

    fn range(&mut self) -> R<i64> {
        match *self.peek() {
            T::Range(d) => {
                self.bump();
                Ok(d)
            }
            _ => Err(self.unexpected()),
        }
    }

    fn offset_opt(&mut self) -> R<i64> {
        if !self.eat(&T::Offset) {
            return Ok(0);
        }
        match *self.peek() {
            T::Duration(d) => {
                self.bump();
                Ok(d)
            }
            _ => Err(self.unexpected_expecting("DURATION")),
        }
    }

    fn after_range(
        &mut self,
        matchers: Vec<Matcher>,
        mut stages: Vec<Stage>,
        mut unwrap: Option<Unwrap>,
    ) -> R<LogRange> {
        let range_ns = self.range()?;
        let offset_ns = self.offset_opt()?;
        if stages.is_empty() && unwrap.is_none() {
            stages = self.pipeline()?;
            unwrap = self.unwrap_opt()?;
        }
        Ok(LogRange { selector: LogExpr { matchers, stages }, range_ns, offset_ns, unwrap })
    }

    fn unwrap_opt(&mut self) -> R<Option<Unwrap>> {
        if !(*self.peek() == T::Pipe && *self.peek_at(1) == T::Unwrap) {
            return Ok(None);
        }
        self.bump();
        self.bump();
        let (label, conv) = match self.peek().clone() {
            T::Ident(s) => {
                self.bump();
                (s, None)
            }
            T::Conv(c) => {
                self.bump();
                self.expect(&T::LParen)?;
                let s = self.expect_ident()?;
                self.expect(&T::RParen)?;
                (s, Some(c))
            }
            _ => return Err(self.unexpected()),
        };
        let mut post_filters = Vec::new();
        while self.eat(&T::Pipe) {
            post_filters.push(self.label_filter(0)?);
        }
        Ok(Some(Unwrap { label, conv, post_filters }))
    }

    // ------------------------------------------------------------ log queries

    fn log_expr(&mut self) -> R<LogExpr> {
        let matchers = self.selector()?;
        let stages = self.pipeline()?;
        Ok(LogExpr { matchers, stages })
    }

    fn matcher(&mut self) -> R<Matcher> {
        let name = self.expect_ident()?;
        let op = match self.peek() {
            T::Eq => MatchOp::Eq,
            T::Neq => MatchOp::Neq,
            T::Re => MatchOp::Re,
            T::Nre => MatchOp::Nre,
            _ => return Err(self.unexpected_expecting("= or =~ or !~ or !=")),
        };
        self.bump();
        let value = self.expect_str_or("STRING")?;
        Matcher::new(op, name, value).map_err(ParseError::semantic)
    }

    fn selector(&mut self) -> R<Vec<Matcher>> {
        self.expect(&T::LBrace)?;
        let mut out = Vec::new();
        if self.eat(&T::RBrace) {
            return Ok(out);
        }
        if !matches!(self.peek(), T::Ident(_)) {
            return Err(self.unexpected_expecting("IDENTIFIER or }"));
        }
        loop {
            out.push(self.matcher()?);
            if self.eat(&T::Comma) {
                if !matches!(self.peek(), T::Ident(_)) {
                    return Err(self.unexpected_expecting("IDENTIFIER"));
                }
                continue;
            }
            self.expect_or(&T::RBrace, "} or ,")?;
            return Ok(out);
        }
    }

    fn pipeline(&mut self) -> R<Vec<Stage>> {
        let mut stages = Vec::new();
        loop {
            let op = match self.peek() {
                T::PipeExact => LineFilterOp::Contains,
                T::Neq => LineFilterOp::NotContains,
                T::PipeMatch => LineFilterOp::Regex,
                T::Nre => LineFilterOp::NotRegex,
                T::PipePattern => LineFilterOp::Pattern,
                T::Npa => LineFilterOp::NotPattern,
                T::Pipe if *self.peek_at(1) != T::Unwrap => {
                    self.bump();
                    stages.push(self.stage()?);
                    continue;
                }
                _ => return Ok(stages),
            };
            self.bump();
            self.line_filter(op, &mut stages)?;
        }
    }

    fn line_filter_arg(&mut self) -> R<LineFilterArg> {
        match self.peek().clone() {
            T::Str(s) => {
                self.bump();
                Ok(LineFilterArg { value: s, ip: false })
            }
            T::Ip => {
                self.bump();
                self.expect_or(&T::LParen, "(")?;
                let s = self.expect_str_or("STRING")?;
                self.expect_or(&T::RParen, ")")?;
                Ok(LineFilterArg { value: s, ip: true })
            }
            _ => Err(self.unexpected_expecting("STRING or ip")),
        }
    }

    fn line_filter(&mut self, op: LineFilterOp, stages: &mut Vec<Stage>) -> R<()> {
        let arg = self.line_filter_arg()?;
        let mut or = Vec::new();
        // As in Loki's grammar (yacc shifts on the conflict), an `or` right
        // after a line filter always continues the filter.
        while *self.peek() == T::Or {
            self.bump();
            or.push(self.line_filter_arg()?);
        }
        if op.is_negative() {
            // !(a or b) == !a and !b, printed as `!= "a" != "b"` like Loki.
            stages.push(Stage::LineFilter(LineFilter { op, arg, or: Vec::new() }));
            for a in or {
                stages.push(Stage::LineFilter(LineFilter { op, arg: a, or: Vec::new() }));
            }
        } else {
            stages.push(Stage::LineFilter(LineFilter { op, arg, or }));
        }
        Ok(())
    }

    fn extractions(&mut self) -> R<Vec<LabelExtraction>> {
        let mut out = Vec::new();
        if !matches!(self.peek(), T::Ident(_)) {
            return Ok(out);
        }
        loop {
            let name = self.expect_ident()?;
            let expr = if self.eat(&T::Eq) { self.expect_str()? } else { name.clone() };
            out.push(LabelExtraction { name, expr });
            if !self.eat(&T::Comma) {
                return Ok(out);
            }
        }
    }

    fn named_matchers(&mut self) -> R<Vec<NamedMatcher>> {
        let mut out = Vec::new();
        loop {
            if matches!(self.peek_at(1), T::Eq | T::Neq | T::Re | T::Nre) {
                out.push(NamedMatcher::Matcher(self.matcher()?));
            } else {
                out.push(NamedMatcher::Name(self.expect_ident()?));
            }
            if !self.eat(&T::Comma) {
                return Ok(out);
            }
        }
    }

    fn stage(&mut self) -> R<Stage> {
        let t = self.peek().clone();
        match t {
            T::Logfmt => {
                self.bump();
                let (mut strict, mut keep_empty) = (false, false);
                while let T::Flag(f) = self.peek().clone() {
                    self.bump();
                    if f == "--strict" {
                        strict = true;
                    } else {
                        keep_empty = true;
                    }
                }
                let params = self.extractions()?;
                Ok(Stage::Logfmt { strict, keep_empty, params })
            }
            T::Json => {
                self.bump();
                Ok(Stage::Json { params: self.extractions()? })
            }
            T::Regexp => {
                self.bump();
                let re = self.expect_str()?;
                validate_regexp_parser(&re).map_err(|e| ParseError::semantic(format!("invalid regexp parser: {e}")))?;
                Ok(Stage::Regexp(re))
            }
            T::Pattern => {
                self.bump();
                let p = self.expect_str()?;
                validate_parser_pattern(&parse_pattern(&p))
                    .map_err(|e| ParseError::semantic(format!("invalid pattern parser: {e}")))?;
                Ok(Stage::Pattern(p))
            }
            T::Unpack => {
                self.bump();
                Ok(Stage::Unpack)
            }
            T::LineFmt => {
                self.bump();
                Ok(Stage::LineFormat(self.expect_str()?))
            }
            T::LabelFmt => {
                self.bump();
                let mut fmts = Vec::new();
                loop {
                    let dst = self.expect_ident()?;
                    self.expect(&T::Eq)?;
                    match self.peek().clone() {
                        T::Ident(src) => {
                            self.bump();
                            fmts.push(LabelFmt::Rename { dst, src });
                        }
                        T::Str(template) => {
                            self.bump();
                            fmts.push(LabelFmt::Template { dst, template });
                        }
                        _ => return Err(self.unexpected()),
                    }
                    if !self.eat(&T::Comma) {
                        break;
                    }
                }
                Ok(Stage::LabelFormat(fmts))
            }
            T::Decolorize => {
                self.bump();
                Ok(Stage::Decolorize)
            }
            T::Drop => {
                self.bump();
                Ok(Stage::Drop(self.named_matchers()?))
            }
            T::Keep => {
                self.bump();
                Ok(Stage::Keep(self.named_matchers()?))
            }
            T::Ident(_) | T::LParen => Ok(Stage::LabelFilter(self.label_filter(0)?)),
            _ => Err(self.unexpected()),
        }
    }

    // ------------------------------------------------------------ label filters

    /// Label filter expressions. `and` binds tighter than `or`; `,` and
    /// juxtaposition mean `and` and extend as far right as possible (this is
    /// how Loki's yacc grammar resolves them).
    fn label_filter(&mut self, min_prec: u8) -> R<LabelFilter> {
        self.enter()?;
        let r = self.label_filter_inner(min_prec);
        self.leave();
        r
    }

    fn label_filter_inner(&mut self, min_prec: u8) -> R<LabelFilter> {
        let mut left = self.label_filter_primary()?;
        loop {
            match self.peek() {
                T::Or if min_prec <= 1 => {
                    self.bump();
                    let right = self.label_filter(2)?;
                    left = LabelFilter::Or(Box::new(left), Box::new(right));
                }
                T::And if min_prec <= 2 => {
                    self.bump();
                    let right = self.label_filter(3)?;
                    left = LabelFilter::And(Box::new(left), Box::new(right));
                }
                T::Comma => {
                    self.bump();
                    let right = self.label_filter(0)?;
                    left = LabelFilter::And(Box::new(left), Box::new(right));
                }
                T::Ident(_) | T::LParen => {
                    let right = self.label_filter(0)?;
                    left = LabelFilter::And(Box::new(left), Box::new(right));
                }
                _ => return Ok(left),
            }
        }
    }

    fn label_filter_primary(&mut self) -> R<LabelFilter> {
        if self.eat(&T::LParen) {
            let f = self.label_filter(0)?;
            self.expect(&T::RParen)?;
            return Ok(f);
        }
        self.label_filter_leaf()
    }

    #[inline(never)]
    fn label_filter_leaf(&mut self) -> R<LabelFilter> {
        let name = self.expect_ident()?;
        let tok = self.peek().clone();
        let cmp = match tok {
            T::Eq => CmpOp::Eq,
            T::CmpEq => CmpOp::Eq,
            T::Neq => CmpOp::Neq,
            T::Gt => CmpOp::Gt,
            T::Gte => CmpOp::Gte,
            T::Lt => CmpOp::Lt,
            T::Lte => CmpOp::Lte,
            T::Re | T::Nre => {
                self.bump();
                let value = self.expect_str()?;
                let op = if tok == T::Re { MatchOp::Re } else { MatchOp::Nre };
                return Matcher::new(op, name, value).map(LabelFilter::Matcher).map_err(ParseError::semantic);
            }
            _ => return Err(self.unexpected()),
        };
        self.bump();
        match self.peek().clone() {
            T::Str(value) if matches!(tok, T::Eq | T::Neq) => {
                self.bump();
                let op = if tok == T::Eq { MatchOp::Eq } else { MatchOp::Neq };
                Matcher::new(op, name, value).map(LabelFilter::Matcher).map_err(ParseError::semantic)
            }
            T::Ip if matches!(tok, T::Eq | T::Neq) => {
                self.bump();
                self.expect(&T::LParen)?;
                let pattern = self.expect_str()?;
                self.expect(&T::RParen)?;
                Ok(LabelFilter::Ip { name, negate: tok == T::Neq, pattern })
            }
            T::Duration(d) => {
                self.bump();
                Ok(LabelFilter::Duration { name, op: cmp, value_ns: d })
            }
            T::Bytes(b) => {
                self.bump();
                Ok(LabelFilter::Bytes { name, op: cmp, value: b })
            }
            // Loki keeps the value of a literal it could not parse (0, or
            // ±Inf when out of range) and ignores the error here.
            T::Number(n) => {
                self.bump();
                let value = go_parse_float(&n).unwrap_or_else(|(v, _)| v);
                Ok(LabelFilter::Number { name, op: cmp, value })
            }
            T::Add | T::Sub => {
                let neg = self.bump() == T::Sub;
                let T::Number(n) = self.peek().clone() else {
                    return Err(self.unexpected_expecting("NUMBER"));
                };
                self.bump();
                let v = go_parse_float(&n).unwrap_or_else(|(v, _)| v);
                Ok(LabelFilter::Number { name, op: cmp, value: if neg { -v } else { v } })
            }
            _ => Err(self.unexpected()),
        }
    }
}

/// Checks a `| regexp` expression: it must compile and name at least one
/// capture group, with valid label names.
fn validate_regexp_parser(re: &str) -> Result<(), String> {
    let compiled = regex::Regex::new(re).map_err(|e| regex_error(&e, re))?;
    let mut named = 0;
    for name in compiled.capture_names().flatten() {
        let mut cs = name.chars();
        let ok = cs.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && cs.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return Err(format!("invalid extracted label name '{name}'"));
        }
        named += 1;
    }
    if named == 0 {
        return Err("at least one named capture must be supplied".into());
    }
    Ok(())
}

/// Go's `strconv.ParseFloat` on a number token: decimal only (the tokens
/// never hold hexadecimal floats Go would accept), no underscores. On error,
/// the value Go returns with it (0, or ±Inf when out of range) and the
/// reason.
fn go_parse_float(text: &str) -> Result<f64, (f64, &'static str)> {
    if text.contains(['_', 'x', 'X', 'o', 'O', 'b', 'B']) {
        return Err((0.0, "invalid syntax"));
    }
    match text.parse::<f64>() {
        Ok(v) if v.is_infinite() => Err((v, "value out of range")),
        Ok(v) => Ok(v),
        Err(_) => Err((0.0, "invalid syntax")),
    }
}
