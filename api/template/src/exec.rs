//! The evaluator, following Go's `text/template/exec.go`.

use std::borrow::Cow;
use std::collections::HashMap;

use regex::Regex;

use crate::funcs::{self, AlertEnv, CallEnv, Func, PT, truth};
use crate::parse::{Arg, ArgKind, Branch, Command, Node, Number, Pipe};
use crate::value::{IntTy, Value};
use crate::{Context, MAX_OUTPUT_BYTES, MAX_STRING_BYTES, NOT_LISTABLE, TemplateError};

/// Deepest dynamic nesting (control structures, parenthesised pipelines, template calls).
pub(crate) const MAX_EXEC_DEPTH: usize = 200;
/// Most evaluation steps (actions, range iterations, function calls) of one execution.
pub(crate) const MAX_STEPS: u64 = 1_000_000;

pub(crate) struct Inner {
    pub name: String,
    pub src: String,
    pub root: Vec<Node>,
    pub defines: HashMap<String, Vec<Node>>,
    pub regexes: HashMap<String, Regex>,
}

pub(crate) enum Flow {
    Err(TemplateError),
    Break,
    Continue,
}

type R<T> = Result<T, Flow>;

pub(crate) struct State<'a, 'o> {
    t: &'a Inner,
    ctx: &'a dyn Context,
    vars: Vec<(&'a str, Value<'a>)>,
    out: &'o mut String,
    start_len: usize,
    steps: u64,
    depth: usize,
    cur_name: &'a str,
    alert: Option<AlertEnv<'a>>,
}

/// Executes `t` with `root` as dot (`Value::Data` for Loki templates; the data struct with
/// `alert` for alert templates).
pub(crate) fn execute<'a>(
    t: &'a Inner,
    ctx: &'a dyn Context,
    root: Value<'a>,
    alert: Option<AlertEnv<'a>>,
    out: &mut String,
) -> Result<(), TemplateError> {
    let start_len = out.len();
    let vars = vec![("$", root.clone())];
    let mut s = State { t, ctx, vars, out, start_len, steps: 0, depth: 0, cur_name: &t.name, alert };
    match s.walk_list(&root, &t.root) {
        Ok(()) => Ok(()),
        Err(Flow::Err(e)) => {
            s.out.truncate(start_len);
            Err(e)
        }
        // The parser rejects break/continue outside range.
        Err(Flow::Break | Flow::Continue) => Ok(()),
    }
}

fn arg_text(src: &str, pos: usize, end: usize) -> &str {
    src.get(pos..end.max(pos)).unwrap_or("").trim()
}

impl<'a> State<'a, '_> {
    fn err(&self, pos: usize, end: usize, msg: impl AsRef<str>) -> Flow {
        self.err_context(pos, arg_text(&self.t.src, pos, end), msg)
    }

    /// An execution error at `pos`, showing `context` (Go's `node.String()`).
    fn err_context(&self, pos: usize, context: &str, msg: impl AsRef<str>) -> Flow {
        let src = &self.t.src;
        let pos = pos.min(src.len());
        let before = src.get(..pos).unwrap_or("");
        let line = 1 + before.matches('\n').count();
        let col = match before.rfind('\n') {
            Some(nl) => pos - (nl + 1),
            None => pos,
        };
        Flow::Err(TemplateError::new(format!(
            "template: {}:{}:{}: executing {} at <{}>: {}",
            self.t.name,
            line,
            col,
            crate::fmt::quote(self.cur_name),
            context,
            msg.as_ref()
        )))
    }

    fn err_at(&self, a: &Arg, msg: impl AsRef<str>) -> Flow {
        self.err(a.pos, a.end, msg)
    }

    fn step(&mut self, pos: usize, end: usize) -> R<()> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err(self.err(pos, end, format!("exceeded the limit of {MAX_STEPS} evaluation steps")));
        }
        Ok(())
    }

    fn enter(&mut self, pos: usize, end: usize) -> R<()> {
        self.depth += 1;
        if self.depth > MAX_EXEC_DEPTH {
            return Err(self.err(pos, end, format!("exceeded maximum template depth ({MAX_EXEC_DEPTH})")));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    fn write(&mut self, s: &str) -> R<()> {
        if self.out.len() - self.start_len + s.len() > MAX_OUTPUT_BYTES {
            return Err(Flow::Err(TemplateError::new(format!(
                "template: {}: output exceeds {MAX_OUTPUT_BYTES} bytes",
                self.t.name
            ))));
        }
        self.out.push_str(s);
        Ok(())
    }

    fn walk_list(&mut self, dot: &Value<'a>, list: &'a [Node]) -> R<()> {
        for n in list {
            self.walk(dot, n)?;
        }
        Ok(())
    }

    fn walk(&mut self, dot: &Value<'a>, node: &'a Node) -> R<()> {
        match node {
            Node::Text(t) => self.write(t),
            Node::Action(pipe) => {
                self.step(pipe.pos, pipe.end)?;
                let v = self.eval_pipeline(dot, pipe)?;
                if pipe.decl.is_empty() {
                    self.print_value(&v, pipe)?;
                }
                Ok(())
            }
            Node::If(b) => self.walk_if_with(dot, b, false),
            Node::With(b) => self.walk_if_with(dot, b, true),
            Node::Range(b) => self.walk_range(dot, b),
            Node::Break => Err(Flow::Break),
            Node::Continue => Err(Flow::Continue),
            Node::Template { pos, end, name, pipe } => self.walk_template(dot, *pos, *end, name, pipe.as_ref()),
        }
    }

    fn print_value(&mut self, v: &Value<'a>, pipe: &Pipe) -> R<()> {
        match v {
            Value::Nil => self.write("<no value>"),
            Value::Str(s) => self.write(s),
            Value::Data if self.ctx.labels().is_none() => Err(self.err(pipe.pos, pipe.end, NOT_LISTABLE)),
            v => {
                let s = crate::fmt::to_v(v, self.ctx);
                self.write(&s)
            }
        }
    }

    fn walk_if_with(&mut self, dot: &Value<'a>, b: &'a Branch, with: bool) -> R<()> {
        self.enter(b.pos, b.end)?;
        let mark = self.vars.len();
        let v = self.eval_pipeline(dot, &b.pipe)?;
        let r = if truth(&v, self.ctx) {
            if with { self.walk_list(&v, &b.list) } else { self.walk_list(dot, &b.list) }
        } else if let Some(e) = &b.else_list {
            self.walk_list(dot, e)
        } else {
            Ok(())
        };
        self.vars.truncate(mark);
        self.leave();
        r
    }

    fn walk_range(&mut self, dot: &Value<'a>, b: &'a Branch) -> R<()> {
        self.enter(b.pos, b.end)?;
        let mark = self.vars.len();
        let val = self.eval_pipeline(dot, &b.pipe)?;
        let body_mark = self.vars.len();
        let mut ran = false;
        match &val {
            Value::List(l) => {
                for (k, e) in l.iter().enumerate() {
                    ran = true;
                    if self.one_iteration(b, Value::int(k as i64), e.clone(), body_mark)? {
                        break;
                    }
                }
            }
            Value::Map(m) => {
                for (k, e) in m.iter() {
                    ran = true;
                    if self.one_iteration(b, Value::Str(Cow::Owned(k.clone())), e.clone(), body_mark)? {
                        break;
                    }
                }
            }
            Value::StrMap(m) => {
                for (k, v) in m.iter() {
                    ran = true;
                    if self.one_iteration(b, Value::Str(Cow::Borrowed(k)), Value::Str(Cow::Borrowed(v)), body_mark)? {
                        break;
                    }
                }
            }
            Value::Data => {
                let Some(labels) = self.ctx.labels() else {
                    return Err(self.err(b.pipe.pos, b.pipe.end, NOT_LISTABLE));
                };
                let mut labels = labels;
                labels.sort_unstable();
                for (k, v) in labels {
                    ran = true;
                    if self.one_iteration(b, Value::Str(Cow::Borrowed(k)), Value::Str(Cow::Borrowed(v)), body_mark)? {
                        break;
                    }
                }
            }
            Value::Int(n, ty) => {
                if b.pipe.decl.len() > 1 {
                    return Err(self.err(
                        b.pipe.pos,
                        b.pipe.end,
                        format!("can't use {n} to iterate over more than one variable"),
                    ));
                }
                for k in 0..(*n).max(0) {
                    ran = true;
                    let v = Value::Int(k, *ty);
                    if self.one_iteration(b, Value::Nil, v, body_mark)? {
                        break;
                    }
                }
            }
            Value::Nil => {}
            v => {
                let shown = crate::fmt::to_v(v, self.ctx);
                return Err(self.err(b.pipe.pos, b.pipe.end, format!("range can't iterate over {shown}")));
            }
        }
        let r = if !ran {
            match &b.else_list {
                Some(e) => self.walk_list(dot, e),
                None => Ok(()),
            }
        } else {
            Ok(())
        };
        self.vars.truncate(mark);
        self.leave();
        r
    }

    /// Runs one iteration of a range body; returns true on `{{break}}`.
    fn one_iteration(&mut self, b: &'a Branch, index: Value<'a>, elem: Value<'a>, body_mark: usize) -> R<bool> {
        self.step(b.pos, b.end)?;
        let decl = &b.pipe.decl;
        let (pos, end) = (b.pos, b.end);
        if !decl.is_empty() {
            if b.pipe.is_assign {
                let v = if decl.len() > 1 { index.clone() } else { elem.clone() };
                self.set_var(&decl[0], v, pos, end)?;
            } else {
                self.set_top_var(1, elem.clone());
            }
        }
        if decl.len() > 1 {
            if b.pipe.is_assign {
                self.set_var(&decl[1], elem.clone(), pos, end)?;
            } else {
                self.set_top_var(2, index);
            }
        }
        let r = self.walk_list(&elem, &b.list);
        self.vars.truncate(body_mark);
        match r {
            Ok(()) | Err(Flow::Continue) => Ok(false),
            Err(Flow::Break) => Ok(true),
            Err(e) => Err(e),
        }
    }

    fn walk_template(
        &mut self,
        dot: &Value<'a>,
        pos: usize,
        end: usize,
        name: &'a str,
        pipe: Option<&'a Pipe>,
    ) -> R<()> {
        let Some(list) = self.t.defines.get(name) else {
            return Err(self.err(pos, end, format!("template {} not defined", crate::fmt::quote(name))));
        };
        self.enter(pos, end)?;
        let new_dot = match pipe {
            Some(p) => self.eval_pipeline(dot, p)?,
            None => Value::Nil,
        };
        let saved = std::mem::replace(&mut self.vars, vec![("$", new_dot.clone())]);
        let saved_name = std::mem::replace(&mut self.cur_name, name);
        let r = self.walk_list(&new_dot, list);
        self.vars = saved;
        self.cur_name = saved_name;
        self.leave();
        r
    }

    fn var_value(&self, name: &str, a: &Arg) -> R<Value<'a>> {
        match self.vars.iter().rev().find(|(n, _)| *n == name) {
            Some((_, v)) => Ok(v.clone()),
            None => Err(self.err_at(a, format!("undefined variable: {name}"))),
        }
    }

    fn set_var(&mut self, name: &str, v: Value<'a>, pos: usize, end: usize) -> R<()> {
        match self.vars.iter_mut().rev().find(|(n, _)| *n == name) {
            Some(slot) => {
                slot.1 = v;
                Ok(())
            }
            None => Err(self.err(pos, end, format!("undefined variable: {name}"))),
        }
    }

    fn set_top_var(&mut self, n: usize, v: Value<'a>) {
        let len = self.vars.len();
        if len >= n {
            self.vars[len - n].1 = v;
        }
    }

    fn eval_pipeline(&mut self, dot: &Value<'a>, pipe: &'a Pipe) -> R<Value<'a>> {
        let mut value: Option<Value<'a>> = None;
        for cmd in &pipe.cmds {
            value = Some(self.eval_command(dot, cmd, value.take())?);
        }
        let value = value.unwrap_or(Value::Nil);
        for name in &pipe.decl {
            if pipe.is_assign {
                self.set_var(name, value.clone(), pipe.pos, pipe.end)?;
            } else {
                self.vars.push((name, value.clone()));
            }
        }
        Ok(value)
    }

    fn not_a_function(&self, args: &[Arg], final_: &Option<Value<'a>>) -> R<()> {
        if args.len() > 1 || final_.is_some() {
            let first = &args[0];
            let text = arg_text(&self.t.src, first.pos, first.end);
            return Err(self.err_at(first, format!("can't give argument to non-function {text}")));
        }
        Ok(())
    }

    fn eval_command(&mut self, dot: &Value<'a>, cmd: &'a Command, final_: Option<Value<'a>>) -> R<Value<'a>> {
        let first = &cmd.args[0];
        let rest = &cmd.args[1..];
        match &first.kind {
            ArgKind::Field(names) => self.eval_field_chain(dot.clone(), names, first, rest, final_, false),
            ArgKind::Chain(node, fields) => self.eval_chain(dot, node, fields, first, rest, final_),
            ArgKind::Func(f) => self.eval_call(dot, *f, first, rest, final_, None, Some(&cmd.args)),
            ArgKind::Pipe(p) => {
                self.not_a_function(&cmd.args, &final_)?;
                self.enter(first.pos, first.end)?;
                let v = self.eval_pipeline(dot, p);
                self.leave();
                v
            }
            ArgKind::Variable(name, fields) => {
                let v = self.var_value(name, first)?;
                if fields.is_empty() {
                    self.not_a_function(&cmd.args, &final_)?;
                    Ok(v)
                } else {
                    self.eval_field_chain(v, fields, first, rest, final_, true)
                }
            }
            kind => {
                self.not_a_function(&cmd.args, &final_)?;
                match kind {
                    ArgKind::Bool(b) => Ok(Value::Bool(*b)),
                    ArgKind::Dot => Ok(dot.clone()),
                    ArgKind::Nil => Err(self.err_at(first, "nil is not a command")),
                    ArgKind::Number(n) => self.ideal_constant(n, first),
                    ArgKind::Str(s) => Ok(Value::Str(Cow::Borrowed(s))),
                    _ => Err(self.err_at(first, "can't evaluate command")),
                }
            }
        }
    }

    fn ideal_constant(&self, n: &Number, a: &Arg) -> R<Value<'a>> {
        let t = &n.text;
        let is_hex_int =
            t.len() > 2 && t.starts_with('0') && (t.as_bytes()[1] | 0x20) == b'x' && !t.contains(['p', 'P']);
        let is_rune = t.starts_with('\'');
        if let Some(f) = n.float
            && !is_hex_int
            && !is_rune
            && t.contains(['.', 'e', 'E', 'p', 'P'])
        {
            return Ok(Value::Float(f));
        }
        if let Some(i) = n.int {
            return Ok(Value::int(i));
        }
        if n.uint_only {
            return Err(self.err_at(a, format!("{t} overflows int")));
        }
        Ok(Value::Nil)
    }

    /// Evaluates `.a.b.c` on `receiver`. `args` are the command's arguments after the field.
    /// `via_value`: the receiver came from a variable or pipeline (a nil one yields nil).
    fn eval_field_chain(
        &mut self,
        receiver: Value<'a>,
        names: &'a [String],
        node: &'a Arg,
        args: &'a [Arg],
        final_: Option<Value<'a>>,
        via_value: bool,
    ) -> R<Value<'a>> {
        let Some((last, init)) = names.split_last() else { return Ok(receiver) };
        let mut recv = receiver;
        let mut first = via_value;
        for name in init {
            recv = self.eval_field(name, node, &[], None, recv, first)?;
            first = false;
        }
        self.eval_field(last, node, args, final_, recv, first)
    }

    fn eval_field(
        &mut self,
        name: &str,
        node: &'a Arg,
        args: &'a [Arg],
        final_: Option<Value<'a>>,
        receiver: Value<'a>,
        nil_ok: bool,
    ) -> R<Value<'a>> {
        let has_args = !args.is_empty() || final_.is_some();
        match receiver {
            Value::Time(t) => match funcs::lookup_time_method(name) {
                Some(f) => self.eval_call(&Value::Nil, f, node, args, final_, Some(Value::Time(t)), None),
                None => Err(self.err_at(node, format!("can't evaluate field {name} in type time.Time"))),
            },
            Value::Data => {
                if has_args {
                    return Err(self.err_at(node, format!("{name} is not a method but has arguments")));
                }
                Ok(Value::Str(Cow::Borrowed(self.ctx.label(name).unwrap_or(""))))
            }
            Value::Map(m) => {
                if has_args {
                    return Err(self.err_at(node, format!("{name} is not a method but has arguments")));
                }
                Ok(m.get(name).cloned().unwrap_or(Value::Nil))
            }
            Value::StrMap(m) => {
                if has_args {
                    return Err(self.err_at(node, format!("{name} is not a method but has arguments")));
                }
                Ok(Value::Str(Cow::Borrowed(m.get(name).copied().unwrap_or(""))))
            }
            Value::Struct(st) => match st.field(name) {
                Some(_) if has_args => {
                    Err(self.err_at(node, format!("{name} has arguments but cannot be invoked as function")))
                }
                Some(v) => Ok(v.clone()),
                None => Err(self.err_at(node, format!("can't evaluate field {name} in type {}", st.type_name))),
            },
            Value::Duration(d) => match funcs::lookup_duration_method(name) {
                Some(f) => self.eval_call(&Value::Nil, f, node, args, final_, Some(Value::Duration(d)), None),
                None => Err(self.err_at(node, format!("can't evaluate field {name} in type *time.Duration"))),
            },
            Value::Nil if nil_ok => Ok(Value::Nil),
            Value::Nil => Err(self.err_at(node, format!("nil pointer evaluating interface {{}}.{name}"))),
            v => Err(self.err_at(node, format!("can't evaluate field {name} in type {}", v.type_name()))),
        }
    }

    fn eval_chain(
        &mut self,
        dot: &Value<'a>,
        base: &'a Arg,
        fields: &'a [String],
        node: &'a Arg,
        args: &'a [Arg],
        final_: Option<Value<'a>>,
    ) -> R<Value<'a>> {
        if let ArgKind::Nil = base.kind {
            let text = arg_text(&self.t.src, node.pos, node.end);
            return Err(self.err_at(node, format!("indirection through explicit nil in {text}")));
        }
        let recv = self.eval_arg(dot, PT::Any, base)?;
        self.eval_field_chain(recv, fields, node, args, final_, true)
    }

    /// Calls `f` (named by `node`). `cmd`: the whole command when `f` starts it, where Go
    /// reports the function's own error.
    #[allow(clippy::too_many_arguments)]
    fn eval_call(
        &mut self,
        dot: &Value<'a>,
        f: Func,
        node: &'a Arg,
        args: &'a [Arg],
        final_: Option<Value<'a>>,
        receiver: Option<Value<'a>>,
        cmd: Option<&'a [Arg]>,
    ) -> R<Value<'a>> {
        let name = f.name();
        let sig = f.sig();
        let recv_n = receiver.is_some() as usize;
        let fixed = &sig.fixed[recv_n.min(sig.fixed.len())..];
        let num_in = args.len() + final_.is_some() as usize;
        if sig.variadic.is_some() {
            if num_in < fixed.len() {
                return Err(self.err_at(
                    node,
                    format!("wrong number of args for {name}: want at least {} got {}", fixed.len(), args.len()),
                ));
            }
        } else if num_in != fixed.len() {
            return Err(
                self.err_at(node, format!("wrong number of args for {name}: want {} got {num_in}", fixed.len()))
            );
        }
        let param = |k: usize| -> PT { if k < fixed.len() { fixed[k] } else { sig.variadic.unwrap_or(PT::Any) } };
        if f == Func::And || f == Func::Or {
            let mut v = Value::Nil;
            for a in args {
                v = self.eval_arg(dot, PT::Any, a)?;
                if truth(&v, self.ctx) == (f == Func::Or) {
                    return Ok(v);
                }
            }
            if let Some(fv) = final_ {
                v = fv;
            }
            return Ok(v);
        }
        let mut argv = Vec::with_capacity(num_in + recv_n);
        if let Some(r) = receiver {
            argv.push(r);
        }
        for (k, a) in args.iter().enumerate() {
            argv.push(self.eval_arg(dot, param(k), a)?);
        }
        if let Some(fv) = final_ {
            argv.push(self.validate(fv, param(num_in - 1), node)?);
        }
        self.step(node.pos, node.end)?;
        let env = CallEnv { ctx: self.ctx, regexes: &self.t.regexes, alert: self.alert.as_ref() };
        let msg = match env.call(f, argv) {
            Ok(Value::Str(s)) if s.len() > MAX_STRING_BYTES => format!("result exceeds {MAX_STRING_BYTES} bytes"),
            Ok(v) => return Ok(v),
            Err(msg) => msg,
        };
        let msg = format!("error calling {name}: {msg}");
        Err(match cmd {
            Some(cmd) => {
                let src = &self.t.src;
                let text = cmd.iter().map(|a| arg_text(src, a.pos, a.end)).collect::<Vec<_>>().join(" ");
                self.err_context(node.pos, &text, msg)
            }
            None => self.err_at(node, msg),
        })
    }

    fn eval_arg(&mut self, dot: &Value<'a>, pt: PT, a: &'a Arg) -> R<Value<'a>> {
        let v = match &a.kind {
            ArgKind::Dot => dot.clone(),
            ArgKind::Nil => {
                if pt.can_be_nil() {
                    return Ok(Value::Nil);
                }
                return Err(self.err_at(a, format!("cannot assign nil to {}", pt.go_name())));
            }
            ArgKind::Field(names) => self.eval_field_chain(dot.clone(), names, a, &[], None, false)?,
            ArgKind::Variable(name, fields) => {
                let v = self.var_value(name, a)?;
                if fields.is_empty() { v } else { self.eval_field_chain(v, fields, a, &[], None, true)? }
            }
            ArgKind::Pipe(p) => {
                self.enter(a.pos, a.end)?;
                let v = self.eval_pipeline(dot, p);
                self.leave();
                v?
            }
            ArgKind::Func(f) => self.eval_call(dot, *f, a, &[], None, None, None)?,
            ArgKind::Chain(base, fields) => {
                self.enter(a.pos, a.end)?;
                let v = self.eval_chain(dot, base, fields, a, &[], None);
                self.leave();
                v?
            }
            ArgKind::Bool(b) => {
                return match pt {
                    PT::Any => Ok(Value::Bool(*b)),
                    _ => Err(self.expected(pt, a)),
                };
            }
            ArgKind::Number(n) => {
                return match pt {
                    PT::Any => self.ideal_constant(n, a),
                    PT::Int => match n.int {
                        Some(i) => Ok(Value::int(i)),
                        None => Err(self.expected(pt, a)),
                    },
                    PT::Duration => match n.int {
                        Some(i) => Ok(Value::Duration(i)),
                        None => Err(self.expected(pt, a)),
                    },
                    PT::Float => match n.float {
                        Some(f) => Ok(Value::Float(f)),
                        None => Err(self.expected(pt, a)),
                    },
                    _ => Err(self.expected(pt, a)),
                };
            }
            ArgKind::Str(s) => {
                return match pt {
                    PT::Any | PT::Str => Ok(Value::Str(Cow::Borrowed(s))),
                    _ => Err(self.expected(pt, a)),
                };
            }
        };
        self.validate(v, pt, a)
    }

    fn expected(&self, pt: PT, a: &Arg) -> Flow {
        let text = arg_text(&self.t.src, a.pos, a.end);
        let msg = match pt {
            PT::Str => format!("expected string; found {text}"),
            PT::Int | PT::Duration => format!("expected integer; found {text}"),
            PT::Float => format!("expected float; found {text}"),
            _ => format!("can't handle {text} for arg of type {}", pt.go_name()),
        };
        self.err_at(a, msg)
    }

    fn validate(&self, v: Value<'a>, pt: PT, a: &Arg) -> R<Value<'a>> {
        match (&v, pt) {
            (_, PT::Any)
            | (Value::Str(_), PT::Str)
            | (Value::Int(_, IntTy::Int), PT::Int)
            | (Value::Float(_), PT::Float)
            | (Value::Time(_), PT::Time)
            | (Value::Duration(_), PT::Duration) => Ok(v),
            (Value::Nil, pt) if pt.can_be_nil() => Ok(v),
            (Value::Nil, _) => Err(self.err_at(a, format!("invalid value; expected {}", pt.go_name()))),
            _ => Err(self.err_at(a, format!("wrong type for value; expected {}; got {}", pt.go_name(), v.type_name()))),
        }
    }
}
