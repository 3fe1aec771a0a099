//! A factory task's JSON line as fixed bytes with holes, so each item costs a few lookups and
//! copies instead of a template render, a payload build and a serialization.
//!
//! The skeleton is made by building the task's payload once, the ordinary way, with a marker
//! string in each templated field, and cutting the serialized payload at the markers. It is
//! only made for fields the compiler copies into the payload as they are (`id`, `command`
//! without MPI, `image`, `env` values, resource and output file strings): for them, every item
//! gets the payload it would get the ordinary way with its own strings in place of the
//! markers. Anything else, or a marker that does not come out whole and once, leaves the
//! factory on the ordinary path.

use std::borrow::Cow;

use batchyard_recipe::TaskTemplate;
use batchyard_recipe::substitute::{Piece, follow, push_as_text, push_in_text};
use serde_json::Value;

use crate::factory::{ItemKey, Rows};
use crate::ids::is_valid_id;

/// A factory task's line with holes for its templated fields.
#[derive(Clone)]
pub(crate) struct Skeleton {
    /// What to append for each item, in order.
    ops: Vec<Op>,
    fields: Vec<FieldPlan>,
    /// The field that gives the id, or the id itself when it is not templated.
    id: IdSource,
    /// Scratch text for values that are formatted before being escaped.
    scratch: String,
}

/// One step of writing a line.
#[derive(Clone)]
enum Op {
    /// Fixed bytes.
    Bytes(Vec<u8>),
    /// The item's index.
    Index,
    /// An integer range axis's value.
    Int(ItemKey),
    /// A field that may fail or need the template engine.
    Field(usize),
    /// Where the id starts and ends, when it is written by the ops between.
    IdStart,
    IdEnd,
}

#[derive(Clone)]
enum IdSource {
    Field(usize),
    Fixed(String),
}

/// How one templated field is rendered.
#[derive(Clone)]
enum FieldPlan {
    /// Literal text and lookups, resolved against the factory's items.
    Parts { parts: Vec<Part>, whole: bool },
    /// Through the template engine, item by item.
    Engine,
}

#[derive(Clone)]
enum Part {
    /// Literal text, already escaped for a JSON string.
    Text(String),
    Index,
    /// A value of an integer range axis: it cannot fail and prints the same in text and as a
    /// whole value.
    Int(ItemKey),
    Item {
        key: ItemKey,
        rest: Vec<String>,
    },
}

impl Part {
    fn infallible(&self) -> bool {
        !matches!(self, Part::Item { .. })
    }
}

/// Fields whose string the compiler copies into the payload unchanged.
fn copied_verbatim(pointer: &str) -> bool {
    let tokens: Vec<&str> = pointer.split('/').skip(1).collect();
    match tokens.as_slice() {
        ["id" | "command" | "image"] => true,
        ["env", _] => true,
        ["resource_files", n, field] => {
            n.parse::<usize>().is_ok()
                && matches!(
                    *field,
                    "url" | "container_url" | "auto_storage_container" | "prefix" | "path" | "mode"
                )
        }
        ["output_files", n, field] => {
            n.parse::<usize>().is_ok() && matches!(*field, "pattern" | "container_url" | "path")
        }
        _ => false,
    }
}

/// The marker put in field `i` to find where its text lands.
fn marker(i: usize) -> String {
    format!("\u{1}batchyard-field-{i}\u{2}")
}

impl Skeleton {
    /// The skeleton of `template`'s tasks, given `line`, which serializes the payload of a
    /// task (`None` when that task has no valid payload). `None` when the factory must stay
    /// on the ordinary path.
    pub(crate) fn new(
        template: &TaskTemplate,
        rows: &Rows<'_>,
        line: impl FnOnce(&batchyard_recipe::model::Task) -> Option<Vec<u8>>,
    ) -> Option<Skeleton> {
        let mut fields = Vec::new();
        let mut id_field = None;
        for (i, (pointer, compiled, text_field)) in template.fields().enumerate() {
            if !text_field || !copied_verbatim(pointer) {
                return None;
            }
            if pointer == "/id" {
                id_field = Some(i);
            }
            fields.push(plan(compiled, rows));
        }
        let markers: Vec<String> = (0..fields.len()).map(marker).collect();
        let task = template.fill(markers.iter().cloned().map(Value::String).collect())?;
        // A merge task in a factory is an error for each item; an MPI task's command is
        // rewritten into a launch line.
        if task.depends_on == Some(batchyard_recipe::model::DependsOn::All) || task.mpi.is_some() {
            return None;
        }
        let id = match id_field {
            Some(i) => IdSource::Field(i),
            None => IdSource::Fixed(task.id.clone()),
        };
        let bytes = line(&task)?;
        // Cut at each marker, in the order they appear.
        let mut found = Vec::new();
        for (i, m) in markers.iter().enumerate() {
            let quoted = serde_json::to_vec(m).ok()?;
            let mut at = find_all(&bytes, &quoted);
            let (Some(start), None) = (at.next(), at.next()) else {
                return None;
            };
            // The quotes stay in the segments around the hole.
            found.push((start + 1, start + quoted.len() - 1, i));
        }
        found.sort_unstable();
        let mut segments = Vec::with_capacity(found.len() + 1);
        let mut holes = Vec::with_capacity(found.len());
        let mut pos = 0;
        for (start, end, field) in found {
            segments.push(bytes.get(pos..start)?.to_vec());
            holes.push(field);
            pos = end;
        }
        segments.push(bytes.get(pos..)?.to_vec());
        let mut ops = Vec::new();
        let bytes_op = |ops: &mut Vec<Op>, bytes: &[u8]| match ops.last_mut() {
            Some(Op::Bytes(last)) => last.extend_from_slice(bytes),
            _ => ops.push(Op::Bytes(bytes.to_vec())),
        };
        for (segment, &field) in segments.iter().zip(&holes) {
            bytes_op(&mut ops, segment);
            let is_id = matches!(id, IdSource::Field(f) if f == field);
            match fields.get(field) {
                Some(FieldPlan::Parts { parts, .. }) if parts.iter().all(Part::infallible) => {
                    if is_id {
                        ops.push(Op::IdStart);
                    }
                    for part in parts {
                        match part {
                            Part::Text(t) => bytes_op(&mut ops, t.as_bytes()),
                            Part::Index => ops.push(Op::Index),
                            Part::Int(key) => ops.push(Op::Int(key.clone())),
                            Part::Item { .. } => return None,
                        }
                    }
                    if is_id {
                        ops.push(Op::IdEnd);
                    }
                }
                _ => ops.push(Op::Field(field)),
            }
        }
        if let Some(last) = segments.last() {
            bytes_op(&mut ops, last);
        }
        bytes_op(&mut ops, b"\n");
        Some(Skeleton {
            ops,
            fields,
            id,
            scratch: String::new(),
        })
    }

    /// Appends the line of the current item of `rows` (newline included) and says where the
    /// item's id is (see [`Self::id`]); the id is checked as a Batch id. `None`, with nothing
    /// appended, when a field cannot be had this way or the id is not valid: the item then
    /// takes the ordinary path, which says what is wrong with it.
    pub(crate) fn write(
        &mut self,
        template: &TaskTemplate,
        rows: &Rows<'_>,
        index: u64,
        out: &mut Vec<u8>,
    ) -> Option<IdAt> {
        let start = out.len();
        let mut id = 0..0;
        let mut item: Option<Cow<'_, Value>> = None;
        for op in &self.ops {
            match op {
                Op::Bytes(bytes) => out.extend_from_slice(bytes),
                Op::Index => out.extend_from_slice(itoa::Buffer::new().format(index).as_bytes()),
                Op::Int(key) => {
                    let n = rows.int(key).unwrap_or_default();
                    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
                }
                Op::IdStart => id.start = out.len(),
                Op::IdEnd => id.end = out.len(),
                Op::Field(field) => {
                    let at = out.len();
                    let written = match self.fields.get(*field) {
                        Some(FieldPlan::Parts { parts, whole }) => {
                            write_parts(parts, *whole, rows, index, &mut self.scratch, out)
                        }
                        _ => false,
                    };
                    if !written {
                        // The template engine, as the ordinary path renders the field.
                        out.truncate(at);
                        let compiled = template.fields().nth(*field).map(|(_, c, _)| c);
                        let item = item.get_or_insert_with(|| rows.item());
                        self.scratch.clear();
                        match compiled.map(|c| c.render_item(item, index)) {
                            Some(Ok(value)) if push_as_text(&mut self.scratch, &value) => {
                                push_escaped(out, &self.scratch);
                            }
                            _ => {
                                out.truncate(start);
                                return None;
                            }
                        }
                    }
                    if matches!(self.id, IdSource::Field(f) if f == *field) {
                        id = at..out.len();
                    }
                }
            }
        }
        // The id as written is the id itself when it is a valid id: valid ids have nothing to
        // escape, and an id that needed escaping is not valid either way.
        let at = match &self.id {
            IdSource::Fixed(_) => IdAt::Fixed,
            IdSource::Field(_) => IdAt::Line(id),
        };
        if !is_valid_id(self.id(&at, out)) {
            out.truncate(start);
            return None;
        }
        Some(at)
    }

    /// The id of a line [`Self::write`] appended to `out`.
    pub(crate) fn id<'s>(&'s self, at: &IdAt, out: &'s [u8]) -> &'s [u8] {
        match (at, &self.id) {
            (IdAt::Line(range), _) => out.get(range.clone()).unwrap_or_default(),
            (IdAt::Fixed, IdSource::Fixed(id)) => id.as_bytes(),
            (IdAt::Fixed, IdSource::Field(_)) => &[],
        }
    }
}

/// Where a written line's id is.
pub(crate) enum IdAt {
    /// These bytes of the output.
    Line(std::ops::Range<usize>),
    /// The id is not templated.
    Fixed,
}

/// Appends `text` escaped for a JSON string, as `serde_json` escapes it.
fn push_escaped(out: &mut Vec<u8>, text: &str) {
    if !text.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        out.extend_from_slice(text.as_bytes());
        return;
    }
    let mut quoted = Vec::with_capacity(text.len() + 8);
    if serde_json::to_writer(&mut quoted, text).is_ok()
        && let Some(inner) = quoted.get(1..quoted.len() - 1)
    {
        out.extend_from_slice(inner);
    }
}

fn escaped(text: &str) -> String {
    let mut out = Vec::new();
    push_escaped(&mut out, text);
    String::from_utf8(out).unwrap_or_default()
}

/// Where `needle` occurs in `haystack`, without overlaps.
fn find_all<'h>(haystack: &'h [u8], needle: &'h [u8]) -> impl Iterator<Item = usize> + 'h {
    let mut from = 0;
    std::iter::from_fn(move || {
        let at = haystack
            .get(from..)?
            .windows(needle.len())
            .position(|w| w == needle)?
            + from;
        from = at + needle.len();
        Some(at)
    })
}

/// How a field renders: its lookups resolved to item keys, and the variables, which do not
/// change from item to item, written out once.
fn plan(compiled: &batchyard_recipe::template::Compiled, rows: &Rows<'_>) -> FieldPlan {
    let Some(sub) = compiled.substitution() else {
        return FieldPlan::Engine;
    };
    let whole = sub.is_whole_lookup();
    let mut parts = Vec::new();
    for piece in sub.pieces() {
        match piece {
            Piece::Text(t) => parts.push(Part::Text(escaped(t))),
            Piece::Lookup(path) => {
                let Some((first, rest)) = path.split_first() else {
                    return FieldPlan::Engine;
                };
                match first.as_str() {
                    "index" if rest.is_empty() => parts.push(Part::Index),
                    "item" => {
                        let Some((name, rest)) = rest.split_first() else {
                            return FieldPlan::Engine;
                        };
                        let Some(key) = rows.key(name) else {
                            return FieldPlan::Engine;
                        };
                        if rest.is_empty() && rows.is_int(&key) {
                            parts.push(Part::Int(key));
                        } else {
                            parts.push(Part::Item {
                                key,
                                rest: rest.to_vec(),
                            });
                        }
                    }
                    "index" => return FieldPlan::Engine,
                    name => {
                        let Some(value) =
                            compiled.globals().get(name).and_then(|v| follow(v, rest))
                        else {
                            return FieldPlan::Engine;
                        };
                        let mut text = String::new();
                        let ok = if whole {
                            push_as_text(&mut text, value)
                        } else {
                            push_in_text(&mut text, value)
                        };
                        if !ok {
                            return FieldPlan::Engine;
                        }
                        parts.push(Part::Text(escaped(&text)));
                    }
                }
            }
        }
    }
    FieldPlan::Parts { parts, whole }
}

/// Appends the parts, escaped, as the plain-lookup path renders them; false when a lookup
/// fails or finds something that path does not print.
fn write_parts(
    parts: &[Part],
    whole: bool,
    rows: &Rows<'_>,
    index: u64,
    scratch: &mut String,
    out: &mut Vec<u8>,
) -> bool {
    for part in parts {
        match part {
            Part::Text(t) => out.extend_from_slice(t.as_bytes()),
            Part::Index => out.extend_from_slice(itoa::Buffer::new().format(index).as_bytes()),
            Part::Int(key) => {
                let n = rows.int(key).unwrap_or_default();
                out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
            }
            Part::Item { key, rest } => {
                let Some(cell) = rows.get(key) else {
                    return false;
                };
                let Some(value) = follow(&cell, rest) else {
                    return false;
                };
                scratch.clear();
                let ok = if whole {
                    push_as_text(scratch, value)
                } else {
                    push_in_text(scratch, value)
                };
                if !ok {
                    return false;
                }
                push_escaped(out, scratch);
            }
        }
    }
    true
}
