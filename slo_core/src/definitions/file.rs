//! Reading the definitions file: TOML parsed with the position of every key and value, then
//! walked by hand so that every problem is collected (not only the first), each with its line,
//! column, object and field. The rules are the database's, through the same `slo_core` code:
//! [`Identifier`], [`Calendar::new`], [`schedule::parse_time_zone`], [`Window::new`],
//! [`Offset::from_interval`] and [`schedule::check_offsets`], and the holiday rules.

use super::{
    Application, CalendarDef, Definitions, HolidayRuleSpan, HolidaySet, Interval, Intraday, Job,
    SloDef, SloJobDef,
};
use crate::calendar::Calendar;
use crate::ident::Identifier;
use crate::schedule::{self, DayUnit, Offset, Window};
use chrono::{Duration, NaiveDate, NaiveTime};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::ops::Range;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// One problem in a definitions file: where it is, which object and field, which rule, and a
/// sentence for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProblem {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// The object, for example `slo "dss-load", job "od-calc"`; empty for the file as a whole.
    pub object: String,
    /// The field (a key of the file), or empty when the problem is the object's.
    pub field: String,
    /// A stable code for the broken rule, for example `unknown_reference`.
    pub rule: &'static str,
    pub message: String,
}

impl FileProblem {
    /// `FILE:LINE:COLUMN: OBJECT: FIELD: MESSAGE [RULE]`, the way compilers point at a place.
    pub fn located(&self, file: &str) -> String {
        format!("{file}:{}:{}: {self}", self.line, self.column)
    }
}

impl fmt::Display for FileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.object.is_empty() {
            write!(f, "{}: ", self.object)?;
        }
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        write!(f, "{} [{}]", self.message, self.rule)
    }
}

/// Parses and checks a whole definitions file. Every problem is reported, in file order.
pub fn parse_file(source: &str) -> Result<Definitions, Vec<FileProblem>> {
    let mut cx = Cx::new(source);
    let root = match DeTable::parse(source) {
        Ok(t) => t,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            cx.problem(span, "", "", "syntax", e.message().trim().to_owned());
            return Err(cx.problems);
        }
    };
    let defs = read(&mut cx, root.get_ref(), root.span());
    if cx.problems.is_empty() {
        Ok(defs)
    } else {
        cx.problems.sort_by_key(|p| (p.line, p.column));
        Err(cx.problems)
    }
}

// ---- Positions ------------------------------------------------------------------------------

struct Cx<'s> {
    source: &'s str,
    line_starts: Vec<usize>,
    problems: Vec<FileProblem>,
}

impl<'s> Cx<'s> {
    fn new(source: &'s str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(source.match_indices('\n').map(|(i, _)| i + 1));
        Cx {
            source,
            line_starts,
            problems: Vec::new(),
        }
    }

    fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.source.len());
        let line = self.line_starts.partition_point(|&s| s <= offset);
        let start = self.line_starts[line - 1];
        let column = self
            .source
            .get(start..offset)
            .map(|s| s.chars().count())
            .unwrap_or(0)
            + 1;
        (line, column)
    }

    fn problem(
        &mut self,
        span: Range<usize>,
        object: &str,
        field: &str,
        rule: &'static str,
        message: impl Into<String>,
    ) {
        let (line, column) = self.position(span.start);
        self.problems.push(FileProblem {
            line,
            column,
            object: object.to_owned(),
            field: field.to_owned(),
            rule,
            message: message.into(),
        });
    }
}

// ---- Tables and typed fields ------------------------------------------------------------------

type Value<'i> = Spanned<DeValue<'i>>;

/// A table of the file being read: its keys, where it starts, and how messages name it.
struct Obj<'a, 'i> {
    table: &'a DeTable<'i>,
    span: Range<usize>,
    label: String,
}

impl<'a, 'i> Obj<'a, 'i> {
    fn get(&self, key: &str) -> Option<&'a Value<'i>> {
        self.table
            .iter()
            .find(|(k, _)| k.get_ref().as_ref() == key)
            .map(|(_, v)| v)
    }

    /// Reports keys that are not among `allowed`.
    fn check_keys(&self, cx: &mut Cx<'_>, allowed: &[&str]) {
        for (k, _) in self.table.iter() {
            let key: &str = k.get_ref().as_ref();
            if !allowed.contains(&key) {
                cx.problem(
                    k.span(),
                    &self.label,
                    key,
                    "unknown_field",
                    format!("unknown field; the fields here are {}", allowed.join(", ")),
                );
            }
        }
    }

    fn missing(&self, cx: &mut Cx<'_>, key: &str) {
        cx.problem(
            self.span.clone(),
            &self.label,
            key,
            "required",
            "is required",
        );
    }

    fn wrong_type(&self, cx: &mut Cx<'_>, key: &str, v: &Value<'_>, wanted: &str) {
        cx.problem(
            v.span(),
            &self.label,
            key,
            "wrong_type",
            format!("must be {wanted}, not {}", v.get_ref().type_str()),
        );
    }

    fn string(&self, cx: &mut Cx<'_>, key: &str, required: bool) -> Option<(String, Range<usize>)> {
        match self.get(key) {
            None => {
                if required {
                    self.missing(cx, key);
                }
                None
            }
            Some(v) => match v.get_ref().as_str() {
                Some(s) => Some((s.to_owned(), v.span())),
                None => {
                    self.wrong_type(cx, key, v, "a string");
                    None
                }
            },
        }
    }

    /// An identifier (id or reference); the rule is `slo_core`'s, as `slo.is_identifier` checks it.
    fn ident(&self, cx: &mut Cx<'_>, key: &str, required: bool) -> Option<(String, Range<usize>)> {
        let (s, span) = self.string(cx, key, required)?;
        match Identifier::parse(&s) {
            Ok(_) => Some((s, span)),
            Err((rule, message)) => {
                cx.problem(span, &self.label, key, rule.code(), message);
                None
            }
        }
    }

    fn boolean(&self, cx: &mut Cx<'_>, key: &str) -> Option<bool> {
        let v = self.get(key)?;
        match v.get_ref().as_bool() {
            Some(b) => Some(b),
            None => {
                self.wrong_type(cx, key, v, "true or false");
                None
            }
        }
    }

    fn integer(&self, cx: &mut Cx<'_>, key: &str, required: bool) -> Option<i32> {
        let Some(v) = self.get(key) else {
            if required {
                self.missing(cx, key);
            }
            return None;
        };
        match v.get_ref().as_integer() {
            Some(i) => match i32::from_str_radix(i.as_str(), i.radix()) {
                Ok(n) => Some(n),
                Err(_) => {
                    cx.problem(v.span(), &self.label, key, "wrong_type", "is out of range");
                    None
                }
            },
            None => {
                self.wrong_type(cx, key, v, "an integer");
                None
            }
        }
    }

    /// A date: a TOML local date (`2026-12-24`) or a string `"2026-12-24"`.
    fn date(&self, cx: &mut Cx<'_>, key: &str) -> Option<(NaiveDate, Range<usize>)> {
        let Some(v) = self.get(key) else {
            self.missing(cx, key);
            return None;
        };
        let parsed = match v.get_ref() {
            DeValue::Datetime(dt) if dt.time.is_none() && dt.offset.is_none() => {
                dt.date.and_then(|d| {
                    NaiveDate::from_ymd_opt(i32::from(d.year), u32::from(d.month), u32::from(d.day))
                })
            }
            DeValue::String(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d").ok(),
            _ => None,
        };
        if parsed.is_none() {
            cx.problem(
                v.span(),
                &self.label,
                key,
                "date",
                "must be a date such as 2026-12-24",
            );
        }
        parsed.map(|d| (d, v.span()))
    }

    /// A time of day: `"06:00"`, `"06:00:30"`, or a TOML local time.
    fn time(&self, cx: &mut Cx<'_>, key: &str) -> Option<NaiveTime> {
        let v = self.get(key)?;
        let parsed = match v.get_ref() {
            DeValue::Datetime(dt) if dt.date.is_none() && dt.offset.is_none() => {
                dt.time.and_then(|t| {
                    NaiveTime::from_hms_nano_opt(
                        u32::from(t.hour),
                        u32::from(t.minute),
                        u32::from(t.second),
                        t.nanosecond,
                    )
                })
            }
            DeValue::String(s) => ["%H:%M", "%H:%M:%S", "%H:%M:%S%.f"]
                .iter()
                .find_map(|f| NaiveTime::parse_from_str(s, f).ok()),
            _ => None,
        };
        if parsed.is_none() {
            cx.problem(
                v.span(),
                &self.label,
                key,
                "time_of_day",
                "must be a time of day such as \"06:00\"",
            );
        }
        parsed
    }

    fn interval(
        &self,
        cx: &mut Cx<'_>,
        key: &str,
        required: bool,
    ) -> Option<(Interval, Range<usize>)> {
        let (s, span) = self.string(cx, key, required)?;
        match Interval::parse(&s) {
            Ok(iv) => Some((iv, span)),
            Err(m) => {
                cx.problem(span, &self.label, key, "interval", m);
                None
            }
        }
    }

    /// The tables of an array of tables (`[[key]]`), each with its position.
    fn tables(&self, cx: &mut Cx<'_>, key: &str) -> Vec<(&'a DeTable<'i>, Range<usize>)> {
        let Some(v) = self.get(key) else {
            return Vec::new();
        };
        let Some(items) = v.get_ref().as_array() else {
            cx.problem(
                v.span(),
                &self.label,
                key,
                "wrong_type",
                format!(
                    "must be an array of tables: write each one under [[{}]]",
                    self.child_path(key)
                ),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items.iter() {
            match item.get_ref().as_table() {
                Some(t) => out.push((t, item.span())),
                None => self.wrong_type(cx, key, item, "a table"),
            }
        }
        out
    }

    fn child_path(&self, key: &str) -> String {
        match self.label.split(' ').next() {
            Some(parent) if !parent.is_empty() => format!("{parent}.{key}"),
            _ => key.to_owned(),
        }
    }
}

fn label(kind: &str, id: Option<&str>, index: usize) -> String {
    match id {
        Some(id) => format!("{kind} {id:?}"),
        None => format!("{kind} #{}", index + 1),
    }
}

fn id_of(t: &DeTable<'_>, key: &str) -> Option<String> {
    t.iter()
        .find(|(k, _)| k.get_ref().as_ref() == key)
        .and_then(|(_, v)| v.get_ref().as_str().map(str::to_owned))
}

/// Remembers where each id was first defined, and reports a repeat.
fn first_definition(
    cx: &mut Cx<'_>,
    seen: &mut HashMap<String, usize>,
    id: &str,
    span: Range<usize>,
    object: &str,
    field: &str,
) -> bool {
    if let Some(line) = seen.get(id) {
        cx.problem(
            span,
            object,
            field,
            "duplicate",
            format!("{id:?} is already defined on line {line}"),
        );
        false
    } else {
        let (line, _) = cx.position(span.start);
        seen.insert(id.to_owned(), line);
        true
    }
}

// ---- The file -------------------------------------------------------------------------------

const TOP_KEYS: [&str; 5] = ["application", "job", "holiday_set", "calendar", "slo"];

/// A reference to check once every object is known: (where, object, field, kind, id).
struct Reference {
    span: Range<usize>,
    object: String,
    field: &'static str,
    kind: &'static str,
    id: String,
}

fn read(cx: &mut Cx<'_>, root: &DeTable<'_>, span: Range<usize>) -> Definitions {
    let file = Obj {
        table: root,
        span,
        label: String::new(),
    };
    file.check_keys(cx, &TOP_KEYS);
    let mut defs = Definitions::default();
    let mut refs: Vec<Reference> = Vec::new();
    // Ids declared, valid objects or not: a reference to a broken object is not reported again.
    let mut declared: HashSet<(&'static str, String)> = HashSet::new();

    let mut seen = HashMap::new();
    for (i, (t, span)) in file.tables(cx, "application").into_iter().enumerate() {
        let o = Obj {
            table: t,
            span,
            label: label("application", id_of(t, "app_id").as_deref(), i),
        };
        o.check_keys(cx, &["app_id", "name"]);
        let id = o.ident(cx, "app_id", true);
        if let Some((id, _)) = &id {
            declared.insert(("application", id.clone()));
        }
        let name = non_blank_name(cx, &o);
        if let (Some((id, span)), Some(name)) = (id, name) {
            if first_definition(cx, &mut seen, &id, span, &o.label, "app_id") {
                defs.applications.insert(id, Application { name });
            }
        }
    }

    let mut seen = HashMap::new();
    for (i, (t, span)) in file.tables(cx, "job").into_iter().enumerate() {
        let o = Obj {
            table: t,
            span,
            label: label("job", id_of(t, "job_id").as_deref(), i),
        };
        o.check_keys(cx, &["job_id", "app_id", "name"]);
        let id = o.ident(cx, "job_id", true);
        if let Some((id, _)) = &id {
            declared.insert(("job", id.clone()));
        }
        let app = o.ident(cx, "app_id", true);
        let name = non_blank_name(cx, &o);
        if let Some((app, span)) = &app {
            refs.push(Reference {
                span: span.clone(),
                object: o.label.clone(),
                field: "app_id",
                kind: "application",
                id: app.clone(),
            });
        }
        if let (Some((id, span)), Some((app_id, _)), Some(name)) = (id, app, name) {
            if first_definition(cx, &mut seen, &id, span, &o.label, "job_id") {
                defs.jobs.insert(id, Job { app_id, name });
            }
        }
    }

    let mut seen = HashMap::new();
    for (i, (t, span)) in file.tables(cx, "holiday_set").into_iter().enumerate() {
        let o = Obj {
            table: t,
            span,
            label: label("holiday_set", id_of(t, "holiday_set").as_deref(), i),
        };
        o.check_keys(
            cx,
            &["holiday_set", "rule", "from_year", "to_year", "holiday"],
        );
        let id = o.ident(cx, "holiday_set", true);
        if let Some((id, _)) = &id {
            declared.insert(("holiday_set", id.clone()));
        }
        let set = holiday_set(cx, &o);
        if let (Some((id, span)), Some(set)) = (id, set) {
            if first_definition(cx, &mut seen, &id, span, &o.label, "holiday_set") {
                defs.holiday_sets.insert(id, set);
            }
        }
    }

    let mut seen = HashMap::new();
    for (i, (t, span)) in file.tables(cx, "calendar").into_iter().enumerate() {
        let o = Obj {
            table: t,
            span,
            label: label("calendar", id_of(t, "calendar_id").as_deref(), i),
        };
        o.check_keys(
            cx,
            &[
                "calendar_id",
                "name",
                "run_weekdays",
                "holiday_set",
                "runs_on_holidays",
                "exception",
            ],
        );
        let id = o.ident(cx, "calendar_id", true);
        if let Some((id, _)) = &id {
            declared.insert(("calendar", id.clone()));
        }
        let cal = calendar(cx, &o, &mut refs);
        if let (Some((id, span)), Some(cal)) = (id, cal) {
            if first_definition(cx, &mut seen, &id, span, &o.label, "calendar_id") {
                defs.calendars.insert(id, cal);
            }
        }
    }

    let mut seen = HashMap::new();
    for (i, (t, span)) in file.tables(cx, "slo").into_iter().enumerate() {
        let o = Obj {
            table: t,
            span,
            label: label("slo", id_of(t, "slo_id").as_deref(), i),
        };
        o.check_keys(
            cx,
            &[
                "slo_id",
                "name",
                "app_id",
                "calendar_id",
                "time_zone",
                "period",
                "window_start",
                "window_end",
                "slack",
                "active",
                "job",
            ],
        );
        let id = o.ident(cx, "slo_id", true);
        if let Some((id, _)) = &id {
            declared.insert(("slo", id.clone()));
        }
        let slo = slo(cx, &o, &mut refs);
        if let (Some((id, span)), Some(slo)) = (id, slo) {
            if first_definition(cx, &mut seen, &id, span, &o.label, "slo_id") {
                defs.slos.insert(id, slo);
            }
        }
    }

    for r in refs {
        if !declared.contains(&(r.kind, r.id.clone())) {
            cx.problem(
                r.span,
                &r.object,
                r.field,
                "unknown_reference",
                format!(
                    "names {} {:?}, which this file does not define (add a [[{}]] with that id)",
                    r.kind, r.id, r.kind
                ),
            );
        }
    }
    defs
}

/// `name` of an application or a job: required and not blank (`btrim(name) <> ''`).
fn non_blank_name(cx: &mut Cx<'_>, o: &Obj<'_, '_>) -> Option<String> {
    let (name, span) = o.string(cx, "name", true)?;
    if name.trim_matches(' ').is_empty() {
        cx.problem(span, &o.label, "name", "blank", "must not be blank");
        return None;
    }
    Some(name)
}

fn holiday_set(cx: &mut Cx<'_>, o: &Obj<'_, '_>) -> Option<HolidaySet> {
    let mut ok = true;
    let rule = o.string(cx, "rule", false);
    let from = o.integer(cx, "from_year", rule.is_some());
    let to = o.integer(cx, "to_year", rule.is_some());
    let mut set = HolidaySet::default();
    match &rule {
        Some((name, span)) => match crate::holiday::rule_or_err(name) {
            Err(e) => {
                cx.problem(
                    span.clone(),
                    &o.label,
                    "rule",
                    "holiday_rule",
                    e.to_string(),
                );
                ok = false;
            }
            Ok(r) => {
                if let (Some(from_year), Some(to_year)) = (from, to) {
                    match crate::holiday::holidays_between(r, from_year, to_year) {
                        Ok(_) => {
                            set.rule = Some(HolidayRuleSpan {
                                rule: name.clone(),
                                from_year,
                                to_year,
                            })
                        }
                        Err(e) => {
                            let field = match &e {
                                crate::holiday::HolidayError::YearTooEarly { field, .. }
                                | crate::holiday::HolidayError::YearTooLate { field, .. } => *field,
                                _ => "to_year",
                            };
                            let span = o.get(field).map(|v| v.span()).unwrap_or(o.span.clone());
                            cx.problem(span, &o.label, field, "year", e.to_string());
                            ok = false;
                        }
                    }
                } else {
                    ok = false;
                }
            }
        },
        None => {
            for field in ["from_year", "to_year"] {
                if let Some(v) = o.get(field) {
                    cx.problem(
                        v.span(),
                        &o.label,
                        field,
                        "year",
                        "is only meaningful with rule",
                    );
                    ok = false;
                }
            }
        }
    }
    let by_rule = set.holidays();
    for (j, (t, span)) in o.tables(cx, "holiday").into_iter().enumerate() {
        let h = Obj {
            table: t,
            span,
            label: format!("{}, holiday #{}", o.label, j + 1),
        };
        h.check_keys(cx, &["holiday_date", "name"]);
        let date = h.date(cx, "holiday_date");
        let name = h.string(cx, "name", true);
        let (Some((date, dspan)), Some((name, _))) = (date, name) else {
            ok = false;
            continue;
        };
        if let Some(existing) = by_rule.get(&date) {
            cx.problem(
                dspan,
                &h.label,
                "holiday_date",
                "duplicate",
                format!("{date} is already a holiday of the rule ({existing})"),
            );
            ok = false;
        } else if set.listed.insert(date, name).is_some() {
            cx.problem(
                dspan,
                &h.label,
                "holiday_date",
                "duplicate",
                format!("{date} is listed twice"),
            );
            ok = false;
        }
    }
    ok.then_some(set)
}

fn calendar(cx: &mut Cx<'_>, o: &Obj<'_, '_>, refs: &mut Vec<Reference>) -> Option<CalendarDef> {
    let mut ok = true;
    let name = o.string(cx, "name", true);
    let weekdays = match o.get("run_weekdays") {
        None => {
            o.missing(cx, "run_weekdays");
            None
        }
        Some(v) => {
            let ints: Option<Vec<i32>> = v.get_ref().as_array().and_then(|a| {
                a.iter()
                    .map(|x| {
                        x.get_ref()
                            .as_integer()
                            .and_then(|i| i32::from_str_radix(i.as_str(), i.radix()).ok())
                    })
                    .collect()
            });
            match ints {
                None => {
                    o.wrong_type(
                        cx,
                        "run_weekdays",
                        v,
                        "an array of ISO weekday numbers (1 = Monday .. 7 = Sunday)",
                    );
                    None
                }
                Some(days) => match Calendar::new(&days, false, [], []) {
                    Ok(_) => {
                        let mut days = days;
                        days.sort_unstable();
                        days.dedup();
                        Some(days)
                    }
                    Err(e) => {
                        let text = e.to_string();
                        cx.problem(
                            v.span(),
                            &o.label,
                            "run_weekdays",
                            "weekday",
                            text.trim_start_matches("run_weekdays ").to_owned(),
                        );
                        None
                    }
                },
            }
        }
    };
    let holiday_set = o.ident(cx, "holiday_set", false);
    if let Some((id, span)) = &holiday_set {
        refs.push(Reference {
            span: span.clone(),
            object: o.label.clone(),
            field: "holiday_set",
            kind: "holiday_set",
            id: id.clone(),
        });
    } else if o.get("holiday_set").is_some() {
        ok = false;
    }
    let runs_on_holidays = o.boolean(cx, "runs_on_holidays").unwrap_or(false);
    let mut exceptions = BTreeMap::new();
    for (j, (t, span)) in o.tables(cx, "exception").into_iter().enumerate() {
        let x = Obj {
            table: t,
            span,
            label: format!("{}, exception #{}", o.label, j + 1),
        };
        x.check_keys(cx, &["exception_date", "runs"]);
        let date = x.date(cx, "exception_date");
        let runs = match x.get("runs") {
            None => {
                x.missing(cx, "runs");
                None
            }
            Some(_) => x.boolean(cx, "runs"),
        };
        match (date, runs) {
            (Some((date, span)), Some(runs)) => {
                if exceptions.insert(date, runs).is_some() {
                    cx.problem(
                        span,
                        &x.label,
                        "exception_date",
                        "duplicate",
                        format!("{date} has two exceptions"),
                    );
                    ok = false;
                }
            }
            _ => ok = false,
        }
    }
    match (ok, name, weekdays) {
        (true, Some((name, _)), Some(run_weekdays)) => Some(CalendarDef {
            name,
            run_weekdays,
            holiday_set: holiday_set.map(|(id, _)| id),
            runs_on_holidays,
            exceptions,
        }),
        _ => None,
    }
}

fn slo(cx: &mut Cx<'_>, o: &Obj<'_, '_>, refs: &mut Vec<Reference>) -> Option<SloDef> {
    let mut ok = true;
    let name = o.string(cx, "name", true);
    let app = o.ident(cx, "app_id", true);
    let cal = o.ident(cx, "calendar_id", true);
    for (r, field, kind) in [
        (&app, "app_id", "application"),
        (&cal, "calendar_id", "calendar"),
    ] {
        if let Some((id, span)) = r {
            refs.push(Reference {
                span: span.clone(),
                object: o.label.clone(),
                field,
                kind,
                id: id.clone(),
            });
        }
    }
    let tz = o.string(cx, "time_zone", true);
    if let Some((name, span)) = &tz {
        if let Err(p) = schedule::parse_time_zone(name) {
            cx.problem(span.clone(), &o.label, p.field, "time_zone", p.message);
            ok = false;
        }
    }
    let intraday = intraday(cx, o, &mut ok);
    let slack = match o.interval(cx, "slack", false) {
        None if o.get("slack").is_some() => {
            ok = false;
            None
        }
        None => Some(Interval::ZERO),
        Some((iv, span)) => {
            if iv.comparable_micros() < 0 {
                cx.problem(span, &o.label, "slack", "negative", "must not be negative");
                ok = false;
            }
            Some(iv)
        }
    };
    let active = match o.get("active") {
        None => Some(true),
        Some(_) => o.boolean(cx, "active"),
    };
    let mut jobs = BTreeMap::new();
    let mut seen = HashMap::new();
    for (j, (t, span)) in o.tables(cx, "job").into_iter().enumerate() {
        let label = format!(
            "{}, {}",
            o.label,
            label("job", id_of(t, "job_id").as_deref(), j)
        );
        let jo = Obj {
            table: t,
            span,
            label,
        };
        jo.check_keys(
            cx,
            &["job_id", "expected_start", "expected_end", "day_unit"],
        );
        match slo_job(cx, &jo, refs) {
            Some((id, span, def)) => {
                if first_definition(cx, &mut seen, &id, span, &jo.label, "job_id") {
                    jobs.insert(id, def);
                } else {
                    ok = false;
                }
            }
            None => ok = false,
        }
    }
    match (ok, name, app, cal, tz, slack, active) {
        (
            true,
            Some((name, _)),
            Some((app_id, _)),
            Some((calendar_id, _)),
            Some((time_zone, _)),
            Some(slack),
            Some(active),
        ) => Some(SloDef {
            name,
            app_id,
            calendar_id,
            time_zone,
            intraday: intraday.flatten(),
            slack,
            active,
            jobs,
        }),
        _ => None,
    }
}

/// `period`, `window_start` and `window_end`: all three (intraday) or none (daily). `None` when
/// broken (reported), `Some(None)` for a daily SLO.
fn intraday(cx: &mut Cx<'_>, o: &Obj<'_, '_>, ok: &mut bool) -> Option<Option<Intraday>> {
    let given: Vec<&str> = ["period", "window_start", "window_end"]
        .into_iter()
        .filter(|k| o.get(k).is_some())
        .collect();
    if given.is_empty() {
        return Some(None);
    }
    let period = o.interval(cx, "period", false);
    let start = o.time(cx, "window_start");
    let end = o.time(cx, "window_end");
    if given.len() < 3 {
        for k in ["period", "window_start", "window_end"] {
            if !given.contains(&k) {
                cx.problem(
                    o.span.clone(),
                    &o.label,
                    k,
                    "window",
                    "is required with the others: an intraday SLO has period, window_start and window_end; a daily one none of them",
                );
            }
        }
        *ok = false;
        return None;
    }
    let (Some((period, pspan)), Some(start), Some(end)) = (period, start, end) else {
        *ok = false;
        return None;
    };
    if period.months != 0 {
        cx.problem(
            pspan,
            &o.label,
            "period",
            "months",
            "must not have months or years",
        );
        *ok = false;
        return None;
    }
    let length = Duration::days(i64::from(period.days)) + Duration::microseconds(period.micros);
    match Window::new(start, end, length) {
        Ok(_) => Some(Some(Intraday {
            period,
            window_start: start,
            window_end: end,
        })),
        Err(p) => {
            let span = o.get(p.field).map(|v| v.span()).unwrap_or(pspan);
            cx.problem(span, &o.label, p.field, "window", p.message);
            *ok = false;
            None
        }
    }
}

fn slo_job(
    cx: &mut Cx<'_>,
    o: &Obj<'_, '_>,
    refs: &mut Vec<Reference>,
) -> Option<(String, Range<usize>, SloJobDef)> {
    let id = o.ident(cx, "job_id", true);
    if let Some((id, span)) = &id {
        refs.push(Reference {
            span: span.clone(),
            object: o.label.clone(),
            field: "job_id",
            kind: "job",
            id: id.clone(),
        });
    }
    let mut offset = |key: &str| -> Option<(Interval, Offset)> {
        let (iv, span) = o.interval(cx, key, true)?;
        match Offset::from_interval(iv.months, iv.days, iv.micros) {
            Ok(off) => Some((iv, off)),
            Err(m) => {
                cx.problem(span, &o.label, key, "months", m);
                None
            }
        }
    };
    let start = offset("expected_start");
    let end = offset("expected_end");
    let day_unit = match o.string(cx, "day_unit", false) {
        None if o.get("day_unit").is_some() => None,
        None => Some("calendar".to_owned()),
        Some((s, span)) => match DayUnit::parse(&s) {
            Some(_) => Some(s),
            None => {
                cx.problem(
                    span,
                    &o.label,
                    "day_unit",
                    "day_unit",
                    format!("must be \"calendar\" or \"run\" (got {s:?})"),
                );
                None
            }
        },
    };
    let ((start_iv, start_off), (end_iv, end_off)) = (start?, end?);
    if let Err(p) = schedule::check_offsets(start_off, end_off) {
        let span = o.get(p.field).map(|v| v.span()).unwrap_or(o.span.clone());
        cx.problem(span, &o.label, p.field, "expected_order", p.message);
        return None;
    }
    let (id, span) = id?;
    Some((
        id,
        span,
        SloJobDef {
            expected_start: start_iv,
            expected_end: end_iv,
            day_unit: day_unit?,
        },
    ))
}
