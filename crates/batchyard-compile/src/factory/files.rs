//! Factories fed from local files: rows of a CSV/TSV table, lines of a text file, or the
//! files matching a glob. Each is read as it is iterated, never loaded whole.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use batchyard_recipe::model::{FilesSource, Table};
use serde_json::{Map, Value};

use super::{FactoryError, Items};

fn io_error(path: &Path, e: impl std::fmt::Display) -> FactoryError {
    FactoryError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// One item per row; cells are strings keyed by the header (or `c0`, `c1`, ...).
pub fn table(
    t: &Table,
    base_dir: &Path,
) -> Result<impl Iterator<Item = Result<Value, FactoryError>> + Send + use<>, FactoryError> {
    let path = base_dir.join(&t.file);
    let delimiter = match &t.delimiter {
        Some(d) => d.bytes().next().unwrap_or(b','),
        None if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("tsv")) =>
        {
            b'\t'
        }
        None => b',',
    };
    let file = File::open(&path).map_err(|e| io_error(&path, e))?;
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(t.header)
        .from_reader(BufReader::new(file));
    let headers: Option<Vec<String>> = if t.header {
        let h = reader.headers().map_err(|e| FactoryError::Table {
            path: path.clone(),
            message: e.to_string(),
        })?;
        Some(h.iter().map(str::to_string).collect())
    } else {
        None
    };
    Ok(reader.into_records().map(move |rec| {
        let rec = rec.map_err(|e| FactoryError::Table {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let mut item = Map::new();
        for (i, cell) in rec.iter().enumerate() {
            let key = headers
                .as_ref()
                .and_then(|h| h.get(i).cloned())
                .unwrap_or_else(|| format!("c{i}"));
            item.insert(key, Value::String(cell.to_string()));
        }
        Ok(Value::Object(item))
    }))
}

/// One item per non-empty line (`item.line`) or per matching file (`item.path`, `item.name`,
/// `item.stem`).
pub fn files(f: &FilesSource, base_dir: &Path) -> Result<Items<'static>, FactoryError> {
    match (&f.lines, &f.glob) {
        (Some(lines), None) => {
            let path = base_dir.join(lines);
            let file = File::open(&path).map_err(|e| io_error(&path, e))?;
            Ok(Box::new(BufReader::new(file).lines().filter_map(
                move |line| match line {
                    Ok(l) if l.trim().is_empty() => None,
                    Ok(l) => {
                        let mut item = Map::new();
                        item.insert(
                            "line".into(),
                            Value::String(l.trim_end_matches('\r').to_string()),
                        );
                        Some(Ok(Value::Object(item)))
                    }
                    Err(e) => Some(Err(io_error(&path, e))),
                },
            )))
        }
        (None, Some(pattern)) => {
            let full = base_dir.join(pattern);
            let full_text = full.to_string_lossy().into_owned();
            let paths = glob::glob(&full_text).map_err(|e| FactoryError::Glob {
                pattern: pattern.clone(),
                message: e.to_string(),
            })?;
            let base: PathBuf = base_dir.to_path_buf();
            Ok(Box::new(paths.filter_map(move |entry| match entry {
                Ok(p) if p.is_dir() => None,
                Ok(p) => {
                    let rel = p.strip_prefix(&base).unwrap_or(&p);
                    let mut item = Map::new();
                    item.insert(
                        "path".into(),
                        Value::String(rel.to_string_lossy().into_owned()),
                    );
                    let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
                    item.insert(
                        "name".into(),
                        name.map(Value::String).unwrap_or(Value::Null),
                    );
                    let stem = p.file_stem().map(|n| n.to_string_lossy().into_owned());
                    item.insert(
                        "stem".into(),
                        stem.map(Value::String).unwrap_or(Value::Null),
                    );
                    Some(Ok(Value::Object(item)))
                }
                Err(e) => Some(Err(io_error(e.path(), e.error()))),
            })))
        }
        _ => Err(FactoryError::FilesSource),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn csv_and_tsv_tables() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("p.csv"), "name,size\nalpha,1\n\"b,c\",2\n").unwrap();
        std::fs::write(dir.path().join("p.tsv"), "x\ty\n1\t2\n").unwrap();
        let t: Table = serde_json::from_value(json!({"file": "p.csv"})).unwrap();
        let rows: Vec<_> = table(&t, dir.path()).unwrap().map(Result::unwrap).collect();
        assert_eq!(
            rows,
            vec![
                json!({"name": "alpha", "size": "1"}),
                json!({"name": "b,c", "size": "2"})
            ]
        );
        let t: Table = serde_json::from_value(json!({"file": "p.tsv"})).unwrap();
        let rows: Vec<_> = table(&t, dir.path()).unwrap().map(Result::unwrap).collect();
        assert_eq!(rows, vec![json!({"x": "1", "y": "2"})]);
        let t: Table = serde_json::from_value(json!({"file": "p.tsv", "header": false})).unwrap();
        let rows: Vec<_> = table(&t, dir.path()).unwrap().map(Result::unwrap).collect();
        assert_eq!(rows[0], json!({"c0": "x", "c1": "y"}));
    }

    #[test]
    fn missing_table_is_an_io_error() {
        let t: Table = serde_json::from_value(json!({"file": "nope.csv"})).unwrap();
        assert!(matches!(
            table(&t, Path::new("/nonexistent")),
            Err(FactoryError::Io { .. })
        ));
    }

    #[test]
    fn lines_and_globs() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("list.txt"), "a\n\n b \r\nc\n").unwrap();
        std::fs::create_dir(dir.path().join("in")).unwrap();
        for n in ["x.dat", "y.dat", "z.txt"] {
            std::fs::write(dir.path().join("in").join(n), "").unwrap();
        }
        let f: FilesSource = serde_json::from_value(json!({"lines": "list.txt"})).unwrap();
        let lines: Vec<_> = files(&f, dir.path())
            .unwrap()
            .map(|r| r.unwrap()["line"].clone())
            .collect();
        assert_eq!(lines, vec![json!("a"), json!(" b "), json!("c")]);
        let f: FilesSource = serde_json::from_value(json!({"glob": "in/*.dat"})).unwrap();
        let got: Vec<_> = files(&f, dir.path()).unwrap().map(Result::unwrap).collect();
        assert_eq!(
            got,
            vec![
                json!({"path": "in/x.dat", "name": "x.dat", "stem": "x"}),
                json!({"path": "in/y.dat", "name": "y.dat", "stem": "y"}),
            ]
        );
        let both: FilesSource = serde_json::from_value(json!({"lines": "a", "glob": "b"})).unwrap();
        assert!(matches!(
            files(&both, dir.path()),
            Err(FactoryError::FilesSource)
        ));
    }
}
