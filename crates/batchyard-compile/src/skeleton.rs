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

/// A factory task's line with holes for its templated fields.
pub(crate) struct Skeleton {
    /// The bytes around the holes: one more than there are holes.
    segments: Vec<Vec<u8>>,
    /// The field each hole is filled from.
    holes: Vec<usize>,
    fields: Vec<FieldPlan>,
    /// The field that gives the id, or the id itself when it is not templated.
    id: IdSource,
    /// Each field's text for the current item.
    texts: Vec<String>,
}

enum IdSource {
    Field(usize),
    Fixed(String),
}

/// How one templated field is rendered.
enum FieldPlan {
    /// Literal text and lookups, resolved against the factory's items.
    Parts { parts: Vec<Part>, whole: bool },
    /// Through the template engine, item by item.
    Engine,
}

enum Part {
    Text(String),
    Index,
    Item { key: ItemKey, rest: Vec<String> },
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
            found.push((start, start + quoted.len(), i));
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
        let texts = vec![String::new(); fields.len()];
        Some(Skeleton {
            segments,
            holes,
            fields,
            id,
            texts,
        })
    }

    /// Renders every field for the current item of `rows`; false when one of them cannot be
    /// had this way (the item then takes the ordinary path, which reports why).
    pub(crate) fn render(&mut self, template: &TaskTemplate, rows: &Rows<'_>, index: u64) -> bool {
        let mut item: Option<Cow<'_, Value>> = None;
        for (i, (field, text)) in self.fields.iter().zip(&mut self.texts).enumerate() {
            text.clear();
            if let FieldPlan::Parts { parts, whole } = field
                && render_parts(parts, *whole, rows, index, text)
            {
                continue;
            }
            text.clear();
            // The template engine, as the ordinary path renders it.
            let Some((_, compiled, _)) = template.fields().nth(i) else {
                return false;
            };
            let item = item.get_or_insert_with(|| rows.item());
            match compiled.render_item(item, index) {
                Ok(value) if push_as_text(text, &value) => {}
                _ => return false,
            }
        }
        true
    }

    /// The current item's id (after [`Self::render`]).
    pub(crate) fn id(&self) -> &str {
        match &self.id {
            IdSource::Field(i) => self.texts.get(*i).map_or("", String::as_str),
            IdSource::Fixed(id) => id,
        }
    }

    /// Appends the current item's line, newline included.
    pub(crate) fn write(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        for (segment, &field) in self.segments.iter().zip(&self.holes) {
            out.extend_from_slice(segment);
            let text = self.texts.get(field).map_or("", String::as_str);
            serde_json::to_writer(&mut *out, text)?;
        }
        if let Some(last) = self.segments.last() {
            out.extend_from_slice(last);
        }
        out.push(b'\n');
        Ok(())
    }
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
            Piece::Text(t) => parts.push(Part::Text(t.clone())),
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
                        parts.push(Part::Item {
                            key,
                            rest: rest.to_vec(),
                        });
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
                        parts.push(Part::Text(text));
                    }
                }
            }
        }
    }
    FieldPlan::Parts { parts, whole }
}

/// Renders resolved parts as the plain-lookup path does; false when a lookup fails or finds
/// something that path does not print.
fn render_parts(
    parts: &[Part],
    whole: bool,
    rows: &Rows<'_>,
    index: u64,
    out: &mut String,
) -> bool {
    for part in parts {
        match part {
            Part::Text(t) => out.push_str(t),
            Part::Index => out.push_str(itoa::Buffer::new().format(index)),
            Part::Item { key, rest } => {
                let Some(cell) = rows.get(key) else {
                    return false;
                };
                let Some(value) = follow(&cell, rest) else {
                    return false;
                };
                let ok = if whole {
                    push_as_text(out, value)
                } else {
                    push_in_text(out, value)
                };
                if !ok {
                    return false;
                }
            }
        }
    }
    true
}
