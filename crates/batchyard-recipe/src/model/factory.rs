use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A task factory: how one task template becomes many tasks. Items are generated lazily, so a
/// million-task sweep never sits in memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Factory {
    /// Every combination of the named axes (a parameter sweep); `item.NAME` is one value.
    Product(IndexMap<String, Axis>),
    /// The named axes side by side: the first values together, then the second, ...
    Zip(IndexMap<String, Axis>),
    /// Subsets of `length` values, order ignored; `item.values` is the list.
    Combinations(Combinations),
    /// Ordered selections of `length` values; `item.values` is the list.
    Permutations(Combinations),
    /// The same task N times; `index` tells them apart.
    Repeat(#[schemars(range(min = 1))] u64),
    /// Seeded random values.
    Random(RandomFactory),
    /// One task per row of a CSV or TSV file; `item.COLUMN` is a cell.
    Table(Table),
    /// One task per line of a file, or per file matching a glob; `item.line` or `item.path`.
    Files(FilesSource),
    /// One task per blob under a prefix of the recipe's storage container, listed when the
    /// recipe is planned; `item.blob` (full name), `item.name` (below the prefix),
    /// `item.size` (bytes).
    Blobs(BlobsSource),
}

/// One axis of a product or zip: a list of values, or a numeric range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Axis {
    /// These values.
    Values(Vec<serde_json::Value>),
    /// `{range: [start, stop, step]}`: from start up to (not including) stop; step 1 when
    /// omitted.
    Range {
        /// `[start, stop]` or `[start, stop, step]`.
        #[schemars(length(min = 2, max = 3))]
        range: Vec<serde_json::Number>,
    },
}

/// Combinations or permutations of a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Combinations {
    /// The values to choose from.
    pub of: Vec<serde_json::Value>,
    /// How many values each item has.
    #[schemars(range(min = 1))]
    pub length: u32,
    /// Whether a value may be chosen more than once.
    #[serde(default)]
    pub replacement: bool,
}

/// Seeded random items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RandomFactory {
    /// The seed: the same seed gives the same tasks on every run.
    pub seed: u64,
    /// How many items.
    #[schemars(range(min = 1))]
    pub count: u64,
    /// The named random values of each item.
    pub axes: IndexMap<String, RandomAxis>,
}

/// A random distribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RandomAxis {
    /// An integer in `[low, high]`, both included.
    Integer([i64; 2]),
    /// A real number in `[low, high)`.
    Uniform([f64; 2]),
    /// A normal distribution.
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        std: f64,
    },
    /// One of these values.
    Choice(Vec<serde_json::Value>),
}

/// Rows of a delimited text file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Table {
    /// The file, relative to the recipe.
    pub file: String,
    /// The field separator: `,` by default, a tab for `.tsv` files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1))]
    pub delimiter: Option<String>,
    /// Whether the first row names the columns (otherwise `item.c0`, `item.c1`, ...).
    #[serde(default = "super::pool::default_true")]
    pub header: bool,
}

/// Lines of a file, or files matching a glob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FilesSource {
    /// A text file, relative to the recipe: one item per non-empty line (`item.line`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lines: Option<String>,
    /// A glob relative to the recipe: one item per matching file (`item.path`, `item.name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glob: Option<String>,
}

/// Blobs under a prefix of the recipe's storage container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BlobsSource {
    /// The blob name prefix, such as `raw/2024/` (empty: the whole container).
    #[serde(default)]
    pub prefix: String,
    /// Only blobs whose name below the prefix matches one of these globs (`*` also
    /// crosses `/`, as in `fnmatch`), such as `*.csv`. Default: every blob.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    /// Leave out blobs whose name below the prefix matches one of these globs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
}
