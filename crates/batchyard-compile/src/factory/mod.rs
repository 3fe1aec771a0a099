//! Task factories as lazy iterators: each yields one `item` (a JSON object) at a time, so a
//! sweep of a million tasks never sits in memory.

mod axis;
mod combinatorics;
mod files;
mod random;
mod rows;

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use batchyard_recipe::model::{BlobsSource, Factory};
use serde_json::{Map, Value};

pub use axis::AxisValues;
pub use rows::AxisRows;

/// Why a factory cannot produce its items.
#[derive(Debug, thiserror::Error)]
pub enum FactoryError {
    /// A `range` with a zero step would never end.
    #[error("axis `{axis}`: a range step cannot be 0")]
    ZeroStep { axis: String },
    /// A `range` whose numbers are not all finite.
    #[error("axis `{axis}`: range values must be finite numbers")]
    BadRange { axis: String },
    /// `files` needs exactly one of `lines` and `glob`.
    #[error("`files` needs exactly one of `lines` and `glob`")]
    FilesSource,
    /// An input file could not be read.
    #[error("cannot read {path}: {message}")]
    Io { path: PathBuf, message: String },
    /// A CSV/TSV row could not be parsed.
    #[error("{path}: {message}")]
    Table { path: PathBuf, message: String },
    /// A glob pattern is malformed.
    #[error("bad glob `{pattern}`: {message}")]
    Glob { pattern: String, message: String },
    /// A `blobs` factory whose prefix was not listed (no storage was reachable).
    #[error(
        "the blobs under `{prefix}` were not listed: a `blobs` factory is expanded against the recipe's storage when the recipe is planned"
    )]
    BlobsNotListed { prefix: String },
    /// A random axis has bounds that cannot be drawn from.
    #[error("random axis `{axis}`: {message}")]
    Random { axis: String, message: String },
}

/// A stream of factory items.
pub type Items<'a> = Box<dyn Iterator<Item = Result<Value, FactoryError>> + Send + 'a>;

/// The items of `factory`. Files named by `table` and `files` are relative to `base_dir` (the
/// recipe's directory).
pub fn items<'a>(factory: &'a Factory, base_dir: &Path) -> Result<Items<'a>, FactoryError> {
    Ok(match factory {
        Factory::Product(axes) => Box::new(AxisRows::product(axis::resolve_all(axes)?).map(Ok)),
        Factory::Zip(axes) => Box::new(AxisRows::zip(axis::resolve_all(axes)?).map(Ok)),
        Factory::Combinations(c) => {
            Box::new(combinatorics::Choices::combinations(&c.of, c.length, c.replacement).map(Ok))
        }
        Factory::Permutations(c) => {
            Box::new(combinatorics::Choices::permutations(&c.of, c.length, c.replacement).map(Ok))
        }
        Factory::Repeat(n) => Box::new((0..*n).map(|_| Ok(Value::Object(Map::new())))),
        Factory::Random(r) => Box::new(random::RandomItems::new(r)?.map(Ok)),
        Factory::Table(t) => Box::new(files::table(t, base_dir)?),
        Factory::Files(f) => files::files(f, base_dir)?,
        Factory::Blobs(b) => {
            return Err(FactoryError::BlobsNotListed {
                prefix: b.prefix.clone(),
            });
        }
    })
}

/// The blobs under each prefix that `blobs` factories name, listed from the recipe's
/// storage before the tasks are expanded (a factory never reaches the network itself).
#[derive(Debug, Clone, Default)]
pub struct BlobListings {
    /// Prefix to the blobs under it, in name order.
    pub by_prefix: std::collections::HashMap<String, Vec<BlobEntry>>,
}

/// One listed blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobEntry {
    /// The full blob name.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
}

/// The items of a `blobs` factory: `item.blob` (full name), `item.name` (below the prefix),
/// `item.stem` (`name` without its last extension), `item.size`. Only the blobs whose name
/// below the prefix passes the factory's `include` and `exclude` globs are items.
pub fn blob_rows<'a>(
    source: &BlobsSource,
    listings: &'a BlobListings,
) -> Result<Rows<'a>, FactoryError> {
    let prefix = source.prefix.clone();
    let blobs = listings
        .by_prefix
        .get(&prefix)
        .ok_or_else(|| FactoryError::BlobsNotListed {
            prefix: prefix.clone(),
        })?;
    let compile = |patterns: &[String]| {
        patterns
            .iter()
            .map(|p| {
                glob::Pattern::new(p).map_err(|e| FactoryError::Glob {
                    pattern: p.clone(),
                    message: e.msg.to_owned(),
                })
            })
            .collect::<Result<Vec<_>, _>>()
    };
    let include = compile(&source.include)?;
    let exclude = compile(&source.exclude)?;
    let below = move |b: &BlobEntry| -> String {
        b.name
            .strip_prefix(prefix.as_str())
            .unwrap_or(&b.name)
            .to_owned()
    };
    let wanted = move |name: &str| {
        (include.is_empty() || include.iter().any(|p| p.matches(name)))
            && !exclude.iter().any(|p| p.matches(name))
    };
    let items = blobs.iter().filter_map(move |b| {
        let name = below(b);
        if !wanted(&name) {
            return None;
        }
        let stem = match name.rsplit_once('.') {
            Some((stem, _)) if !stem.is_empty() && !stem.ends_with('/') => stem,
            _ => name.as_str(),
        }
        .to_owned();
        let mut item = Map::new();
        item.insert("blob".into(), Value::String(b.name.clone()));
        item.insert("name".into(), Value::String(name));
        item.insert("stem".into(), Value::String(stem));
        item.insert("size".into(), Value::from(b.size));
        Some(Ok(Value::Object(item)))
    });
    Ok(Rows::Items {
        items: Box::new(items),
        current: Value::Null,
    })
}

/// The items of a factory one at a time, each readable key by key: product and zip items
/// are read from their axes without being built as JSON maps.
pub enum Rows<'a> {
    Axes(AxisRows),
    /// `repeat`: empty items, reachable by index.
    Repeat {
        next: u64,
        len: u64,
        current: Value,
    },
    Items {
        items: Items<'a>,
        current: Value,
    },
}

/// The same items as [`items`], as [`Rows`].
pub fn rows<'a>(factory: &'a Factory, base_dir: &Path) -> Result<Rows<'a>, FactoryError> {
    Ok(match factory {
        Factory::Product(axes) => Rows::Axes(AxisRows::product(axis::resolve_all(axes)?)),
        Factory::Zip(axes) => Rows::Axes(AxisRows::zip(axis::resolve_all(axes)?)),
        Factory::Repeat(n) => Rows::Repeat {
            next: 0,
            len: *n,
            current: Value::Object(Map::new()),
        },
        other => Rows::Items {
            items: items(other, base_dir)?,
            current: Value::Null,
        },
    })
}

impl Rows<'_> {
    /// Moves to the next item; `None` when there is none.
    pub fn advance(&mut self) -> Option<Result<(), FactoryError>> {
        match self {
            Rows::Axes(rows) => rows.advance().then_some(Ok(())),
            Rows::Repeat { next, len, .. } => (*next < *len).then(|| {
                *next += 1;
                Ok(())
            }),
            Rows::Items { items, current } => Some(items.next()?.map(|item| *current = item)),
        }
    }

    /// Positions the rows so that the next [`Self::advance`] moves to item `index` (or finds
    /// none past the end). False, with nothing changed, when the items cannot be reached by
    /// index.
    pub fn seek(&mut self, index: u64) -> bool {
        match self {
            Rows::Axes(rows) => {
                rows.seek(index);
                true
            }
            Rows::Repeat { next, len, .. } => {
                *next = index.min(*len);
                true
            }
            Rows::Items { .. } => false,
        }
    }

    /// Whether [`Self::seek`] can position these rows.
    pub fn is_indexable(&self) -> bool {
        !matches!(self, Rows::Items { .. })
    }

    /// Where item key `name` is found: a column of axis rows, or a key of generic items.
    pub fn key(&self, name: &str) -> Option<ItemKey> {
        match self {
            Rows::Axes(rows) => rows.column(name).map(ItemKey::Column),
            Rows::Repeat { .. } | Rows::Items { .. } => Some(ItemKey::Name(name.to_owned())),
        }
    }

    /// The current item's value at `key`.
    pub fn get(&self, key: &ItemKey) -> Option<Cow<'_, Value>> {
        match (self, key) {
            (Rows::Axes(rows), ItemKey::Column(c)) => rows.cell(*c),
            (Rows::Repeat { current, .. } | Rows::Items { current, .. }, ItemKey::Name(name)) => {
                current.get(name).map(Cow::Borrowed)
            }
            _ => None,
        }
    }

    /// The current item's value at `key` when it is an integer of a range axis, read
    /// without building a JSON value.
    pub fn int(&self, key: &ItemKey) -> Option<i64> {
        match (self, key) {
            (Rows::Axes(rows), ItemKey::Column(c)) => rows.int(*c),
            _ => None,
        }
    }

    /// Whether every item's value at `key` is an integer of a range axis.
    pub fn is_int(&self, key: &ItemKey) -> bool {
        match (self, key) {
            (Rows::Axes(rows), ItemKey::Column(c)) => rows.is_int(*c),
            _ => false,
        }
    }

    /// The current item as JSON.
    pub fn item(&self) -> Cow<'_, Value> {
        match self {
            Rows::Axes(rows) => Cow::Owned(rows.item()),
            Rows::Repeat { current, .. } | Rows::Items { current, .. } => Cow::Borrowed(current),
        }
    }
}

/// An item key resolved for [`Rows::get`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemKey {
    Column(usize),
    Name(String),
}

/// How many items `factory` yields, when known without reading files; saturates at
/// `u64::MAX`.
pub fn count(factory: &Factory) -> Option<u64> {
    match factory {
        Factory::Product(axes) => {
            let axes = axis::resolve_all(axes).ok()?;
            Some(
                axes.iter()
                    .fold(1u64, |n, (_, a)| n.saturating_mul(a.len())),
            )
        }
        Factory::Zip(axes) => {
            let axes = axis::resolve_all(axes).ok()?;
            Some(axes.iter().map(|(_, a)| a.len()).min().unwrap_or(0))
        }
        Factory::Repeat(n) => Some(*n),
        Factory::Random(r) => Some(r.count),
        Factory::Combinations(_) | Factory::Permutations(_) => None,
        Factory::Table(_) | Factory::Files(_) | Factory::Blobs(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn factory(v: Value) -> Factory {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn blob_factories_keep_the_blobs_their_include_and_exclude_globs_pass() {
        let names = [
            "in/a.csv",
            "in/b.csv",
            "in/sub/c.csv",
            "in/skip.csv",
            "in/d.txt",
        ];
        let listings = BlobListings {
            by_prefix: [(
                "in/".to_owned(),
                names
                    .iter()
                    .map(|n| BlobEntry {
                        name: (*n).to_owned(),
                        size: 1,
                    })
                    .collect(),
            )]
            .into_iter()
            .collect(),
        };
        let source: BlobsSource = serde_json::from_value(
            json!({"prefix": "in/", "include": ["*.csv"], "exclude": ["skip*"]}),
        )
        .unwrap();
        let Rows::Items { items, .. } = blob_rows(&source, &listings).unwrap() else {
            panic!("blob rows are items");
        };
        let got: Vec<String> = items
            .map(|i| i.unwrap()["name"].as_str().unwrap().to_owned())
            .collect();
        // `*` crosses `/`, as fnmatch (and so Shipyard's filters) does.
        assert_eq!(got, ["a.csv", "b.csv", "sub/c.csv"]);

        let bad: BlobsSource =
            serde_json::from_value(json!({"prefix": "in/", "include": ["[x"]})).unwrap();
        assert!(matches!(
            blob_rows(&bad, &listings),
            Err(FactoryError::Glob { .. })
        ));
    }

    fn collect(f: &Factory) -> Vec<Value> {
        items(f, Path::new("."))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    #[test]
    fn product_is_lazy_and_ordered_like_itertools() {
        let f = factory(json!({"product": {"lr": [0.1, 0.01], "batch": {"range": [16, 64, 16]}}}));
        assert_eq!(count(&f), Some(6));
        let got = collect(&f);
        assert_eq!(got[0], json!({"lr": 0.1, "batch": 16}));
        assert_eq!(got[1], json!({"lr": 0.1, "batch": 32}));
        assert_eq!(got[3], json!({"lr": 0.01, "batch": 16}));
        assert_eq!(got.len(), 6);
    }

    #[test]
    fn million_item_product_streams() {
        let f = factory(json!({"product": {"a": {"range": [0, 1000]}, "b": {"range": [0, 1000]}}}));
        assert_eq!(count(&f), Some(1_000_000));
        let mut it = items(&f, Path::new(".")).unwrap();
        // Taking from the front does not generate the rest.
        assert_eq!(it.next().unwrap().unwrap(), json!({"a": 0, "b": 0}));
        assert_eq!(
            it.nth(998_998).unwrap().unwrap(),
            json!({"a": 998, "b": 999})
        );
        assert_eq!(it.count(), 1000);
    }

    #[test]
    fn zip_stops_at_the_shortest_axis() {
        let f = factory(json!({"zip": {"x": [1, 2, 3], "y": ["a", "b"]}}));
        assert_eq!(
            collect(&f),
            vec![json!({"x": 1, "y": "a"}), json!({"x": 2, "y": "b"})]
        );
        assert_eq!(count(&f), Some(2));
    }

    #[test]
    fn repeat_yields_empty_items() {
        let f = factory(json!({"repeat": 3}));
        assert_eq!(collect(&f), vec![json!({}); 3]);
    }

    #[test]
    fn rows_read_the_same_items_key_by_key() {
        for f in [
            json!({"product": {"lr": [0.1, "x"], "n": {"range": [-2, 5, 3]}, "f": {"range": [0.5, 1.5, 0.5]}}}),
            json!({"zip": {"a": [1, 2, 3], "b": {"range": [10, 12]}}}),
            json!({"repeat": 2}),
            json!({"combinations": {"of": [1, 2, 3], "length": 2}}),
        ] {
            let f = factory(f);
            let expected = collect(&f);
            let mut rows = rows(&f, Path::new(".")).unwrap();
            let mut got = Vec::new();
            while let Some(r) = rows.advance() {
                r.unwrap();
                let item = rows.item().into_owned();
                for (name, value) in item.as_object().unwrap() {
                    let key = rows.key(name).unwrap();
                    assert_eq!(rows.get(&key).unwrap().as_ref(), value);
                    if rows.is_int(&key) {
                        assert_eq!(Some(&json!(rows.int(&key).unwrap())), Some(value));
                    }
                }
                got.push(item);
            }
            assert_eq!(got, expected);
        }
    }

    #[test]
    fn seeking_reaches_the_item_walking_reaches() {
        for f in [
            json!({"product": {"lr": [0.1, "x"], "n": {"range": [-2, 5, 3]}, "f": {"range": [0.5, 1.5, 0.5]}}}),
            json!({"product": {"a": [1, 2], "e": []}}),
            json!({"zip": {"a": [1, 2, 3], "b": {"range": [10, 12]}}}),
            json!({"repeat": 3}),
        ] {
            let f = factory(f);
            let expected = collect(&f);
            for start in 0..=expected.len() + 1 {
                let mut rows = rows(&f, Path::new(".")).unwrap();
                assert!(rows.is_indexable());
                // Seeking after walking part of the way, as well as from the start.
                rows.advance();
                assert!(rows.seek(start as u64));
                let mut got = Vec::new();
                while let Some(r) = rows.advance() {
                    r.unwrap();
                    got.push(rows.item().into_owned());
                }
                assert_eq!(
                    got,
                    expected.get(start..).unwrap_or_default(),
                    "{f:?} from {start}"
                );
            }
        }
        let f = factory(json!({"combinations": {"of": [1, 2, 3], "length": 2}}));
        assert!(!rows(&f, Path::new(".")).unwrap().seek(1));
    }

    #[test]
    fn zero_step_is_an_error() {
        let f = factory(json!({"product": {"a": {"range": [0, 10, 0]}}}));
        assert!(matches!(
            items(&f, Path::new(".")),
            Err(FactoryError::ZeroStep { .. })
        ));
    }
}
