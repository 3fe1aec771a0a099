//! Blob state on disk: an SQLite index (containers, blobs, uncommitted blocks) and one
//! immutable file per blob version or block. Content is written to a temporary file and
//! renamed before the index points at it, so a killed emulator never exposes a partial
//! blob; only committed block lists become blob content.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::error::BlobError;
use super::xml::BlockSource;

/// Standard HTTP properties a blob keeps (set with `x-ms-blob-*` headers).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobProps {
    /// Content-Type.
    pub content_type: String,
    /// Content-Encoding.
    pub content_encoding: String,
    /// Content-Language.
    pub content_language: String,
    /// Content-Disposition.
    pub content_disposition: String,
    /// Cache-Control.
    pub cache_control: String,
    /// Content-MD5 (base64), when the client gave one.
    pub content_md5: String,
}

/// User metadata (`x-ms-meta-*`).
pub type Metadata = BTreeMap<String, String>;

/// A committed blob.
#[derive(Debug, Clone)]
pub struct BlobRecord {
    /// Blob name.
    pub name: String,
    /// Content length.
    pub size: u64,
    /// Quoted ETag.
    pub etag: String,
    /// Creation time, ms since the epoch.
    pub created_ms: i64,
    /// Last modification, ms since the epoch.
    pub modified_ms: i64,
    /// HTTP properties.
    pub props: BlobProps,
    /// User metadata.
    pub metadata: Metadata,
    /// Content file name under `data/`.
    pub data: String,
    /// Committed block list: ids and sizes, in order (empty for a Put Blob).
    pub blocks: Vec<(String, u64)>,
}

/// A container.
#[derive(Debug, Clone)]
pub struct ContainerRecord {
    /// Container name.
    pub name: String,
    /// Quoted ETag.
    pub etag: String,
    /// Last modification, ms since the epoch.
    pub modified_ms: i64,
    /// User metadata.
    pub metadata: Metadata,
}

/// An entry of a blob listing.
#[derive(Debug, Clone)]
pub enum Listed {
    /// A blob.
    Blob(BlobRecord),
    /// A virtual directory: names sharing the prefix up to the delimiter.
    Prefix(String),
}

/// A check run against the current blob (or its absence) under the store's lock, so
/// conditional requests and "create only" permissions cannot race a writer.
pub type Precondition<'a> = &'a (dyn Fn(Option<&BlobRecord>) -> Result<(), BlobError> + Sync);

/// The blob store of one account.
pub struct BlobStore {
    root: PathBuf,
    db: Mutex<Connection>,
}

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn new_etag() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    // The service's ETags look like "0x8DC1B2F3A4D5E6F"; unique per write is what matters.
    format!("\"0x{:X}{:04X}\"", nanos, rand::random::<u16>())
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS containers(
    name TEXT PRIMARY KEY, etag TEXT NOT NULL, modified INTEGER NOT NULL, metadata TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS blobs(
    container TEXT NOT NULL, name TEXT NOT NULL, size INTEGER NOT NULL, etag TEXT NOT NULL,
    created INTEGER NOT NULL, modified INTEGER NOT NULL, props TEXT NOT NULL,
    metadata TEXT NOT NULL, data TEXT NOT NULL, blocks TEXT NOT NULL,
    PRIMARY KEY(container, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS blocks(
    container TEXT NOT NULL, blob TEXT NOT NULL, id TEXT NOT NULL, size INTEGER NOT NULL,
    data TEXT NOT NULL, PRIMARY KEY(container, blob, id)
) WITHOUT ROWID;
";

fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

fn from_json<T: for<'de> Deserialize<'de> + Default>(text: &str) -> T {
    serde_json::from_str(text).unwrap_or_default()
}

const BLOB_COLUMNS: &str = "name, size, etag, created, modified, props, metadata, data, blocks";

fn blob_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<BlobRecord> {
    let blocks: Vec<(String, u64)> = from_json(&row.get::<_, String>(8)?);
    Ok(BlobRecord {
        name: row.get(0)?,
        size: u64::try_from(row.get::<_, i64>(1)?).unwrap_or(0),
        etag: row.get(2)?,
        created_ms: row.get(3)?,
        modified_ms: row.get(4)?,
        props: from_json(&row.get::<_, String>(5)?),
        metadata: from_json(&row.get::<_, String>(6)?),
        data: row.get(7)?,
        blocks,
    })
}

fn size_i64(size: u64) -> i64 {
    i64::try_from(size).unwrap_or(i64::MAX)
}

impl BlobStore {
    /// Opens (creating) the store in `root`. With `sweep`, leftovers of interrupted
    /// writes are removed (only the one service writing the state may do that).
    pub fn open(root: &Path, sweep: bool) -> Result<Self, BlobError> {
        // Blobs may hold what the tasks' owner keeps private: owner-only, as the state.
        crate::state_lock::create_private_dir(root)?;
        for dir in ["data", "blocks", "tmp"] {
            fs_err::create_dir_all(root.join(dir))?;
        }
        // Temporary files belong to writes that never finished: nothing references them.
        if sweep {
            for entry in fs_err::read_dir(root.join("tmp"))? {
                let _ = fs_err::remove_file(entry?.path());
            }
        }
        let db = Connection::open(root.join("index.db"))?;
        db.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")?;
        db.execute_batch(SCHEMA)?;
        Ok(Self {
            root: root.to_path_buf(),
            db: Mutex::new(db),
        })
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.db
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Path of a content file.
    pub fn data_path(&self, data: &str) -> PathBuf {
        self.root.join("data").join(data)
    }

    /// A fresh path for a temporary file to write content into; files there are
    /// removed at the next start if they were never installed.
    pub fn temp_path(&self) -> PathBuf {
        self.root.join("tmp").join(uuid::Uuid::new_v4().to_string())
    }

    /// Moves a finished temporary file into `data/` (or `blocks/`), returning its name.
    fn install(&self, temp: &Path, dir: &str) -> Result<String, BlobError> {
        let name = uuid::Uuid::new_v4().to_string();
        fs_err::rename(temp, self.root.join(dir).join(&name))?;
        Ok(name)
    }

    fn container_exists(db: &Connection, container: &str) -> Result<(), BlobError> {
        let found: Option<i64> = db
            .query_row(
                "SELECT 1 FROM containers WHERE name = ?1",
                [container],
                |r| r.get(0),
            )
            .optional()?;
        found.map(|_| ()).ok_or_else(BlobError::container_not_found)
    }

    /// Creates a container; 409 ContainerAlreadyExists when it exists.
    pub fn create_container(
        &self,
        name: &str,
        metadata: &Metadata,
    ) -> Result<ContainerRecord, BlobError> {
        let db = self.db();
        let record = ContainerRecord {
            name: name.to_string(),
            etag: new_etag(),
            modified_ms: now_ms(),
            metadata: metadata.clone(),
        };
        let inserted = db.execute(
            "INSERT OR IGNORE INTO containers(name, etag, modified, metadata) VALUES (?1, ?2, ?3, ?4)",
            params![name, record.etag, record.modified_ms, json(metadata)],
        )?;
        if inserted == 0 {
            return Err(BlobError::new(
                axum::http::StatusCode::CONFLICT,
                "ContainerAlreadyExists",
                "The specified container already exists.",
            ));
        }
        Ok(record)
    }

    /// A container's record.
    pub fn container(&self, name: &str) -> Result<ContainerRecord, BlobError> {
        let db = self.db();
        db.query_row(
            "SELECT name, etag, modified, metadata FROM containers WHERE name = ?1",
            [name],
            |r| {
                Ok(ContainerRecord {
                    name: r.get(0)?,
                    etag: r.get(1)?,
                    modified_ms: r.get(2)?,
                    metadata: from_json(&r.get::<_, String>(3)?),
                })
            },
        )
        .optional()?
        .ok_or_else(BlobError::container_not_found)
    }

    /// Replaces a container's metadata.
    pub fn set_container_metadata(
        &self,
        name: &str,
        metadata: &Metadata,
    ) -> Result<ContainerRecord, BlobError> {
        {
            let db = self.db();
            let changed = db.execute(
                "UPDATE containers SET metadata = ?2, etag = ?3, modified = ?4 WHERE name = ?1",
                params![name, json(metadata), new_etag(), now_ms()],
            )?;
            if changed == 0 {
                return Err(BlobError::container_not_found());
            }
        }
        self.container(name)
    }

    /// Deletes a container and everything in it.
    pub fn delete_container(&self, name: &str) -> Result<(), BlobError> {
        let files = {
            let mut db = self.db();
            let tx = db.transaction()?;
            Self::container_exists(&tx, name)?;
            let mut files: Vec<PathBuf> = Vec::new();
            {
                let mut stmt = tx.prepare("SELECT data FROM blobs WHERE container = ?1")?;
                for data in stmt.query_map([name], |r| r.get::<_, String>(0))? {
                    files.push(self.root.join("data").join(data?));
                }
                let mut stmt = tx.prepare("SELECT data FROM blocks WHERE container = ?1")?;
                for data in stmt.query_map([name], |r| r.get::<_, String>(0))? {
                    files.push(self.root.join("blocks").join(data?));
                }
            }
            tx.execute("DELETE FROM blobs WHERE container = ?1", [name])?;
            tx.execute("DELETE FROM blocks WHERE container = ?1", [name])?;
            tx.execute("DELETE FROM containers WHERE name = ?1", [name])?;
            tx.commit()?;
            files
        };
        for file in files {
            let _ = fs_err::remove_file(file);
        }
        Ok(())
    }

    /// Containers whose name starts with `prefix`, from `marker` on, at most `max` (plus
    /// the name to continue from).
    pub fn list_containers(
        &self,
        prefix: &str,
        marker: &str,
        max: usize,
    ) -> Result<(Vec<ContainerRecord>, Option<String>), BlobError> {
        let db = self.db();
        let mut stmt = db.prepare(
            "SELECT name, etag, modified, metadata FROM containers WHERE name >= ?1 AND name >= ?2 ORDER BY name",
        )?;
        let mut rows = stmt.query(params![prefix, marker])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let name: String = r.get(0)?;
            if !name.starts_with(prefix) {
                break;
            }
            if out.len() == max {
                return Ok((out, Some(name)));
            }
            out.push(ContainerRecord {
                name,
                etag: r.get(1)?,
                modified_ms: r.get(2)?,
                metadata: from_json(&r.get::<_, String>(3)?),
            });
        }
        Ok((out, None))
    }

    /// A blob's record; 404 ContainerNotFound or BlobNotFound.
    pub fn blob(&self, container: &str, name: &str) -> Result<BlobRecord, BlobError> {
        let db = self.db();
        Self::blob_in(&db, container, name)?.ok_or_else(BlobError::blob_not_found)
    }

    fn blob_in(
        db: &Connection,
        container: &str,
        name: &str,
    ) -> Result<Option<BlobRecord>, BlobError> {
        Self::container_exists(db, container)?;
        Ok(db
            .query_row(
                &format!("SELECT {BLOB_COLUMNS} FROM blobs WHERE container = ?1 AND name = ?2"),
                [container, name],
                blob_row,
            )
            .optional()?)
    }

    /// Lists blobs under `prefix`, grouping names at `delimiter` into prefixes, from
    /// `marker` on, at most `max` entries (plus the marker to continue from).
    pub fn list_blobs(
        &self,
        container: &str,
        prefix: &str,
        delimiter: &str,
        marker: &str,
        max: usize,
    ) -> Result<(Vec<Listed>, Option<String>), BlobError> {
        let db = self.db();
        Self::container_exists(&db, container)?;
        let mut stmt = db.prepare(&format!(
            "SELECT {BLOB_COLUMNS} FROM blobs WHERE container = ?1 AND name >= ?2 AND name >= ?3 ORDER BY name"
        ))?;
        let mut rows = stmt.query(params![container, prefix, marker])?;
        let mut out: Vec<Listed> = Vec::new();
        while let Some(row) = rows.next()? {
            let record = blob_row(row)?;
            if !record.name.starts_with(prefix) {
                break;
            }
            let entry = match record.name[prefix.len()..].find(delimiter) {
                Some(at) if !delimiter.is_empty() => {
                    let dir = record.name[..prefix.len() + at + delimiter.len()].to_string();
                    if matches!(out.last(), Some(Listed::Prefix(p)) if *p == dir) {
                        continue;
                    }
                    Listed::Prefix(dir)
                }
                _ => Listed::Blob(record),
            };
            if out.len() == max {
                let next = match entry {
                    Listed::Prefix(p) => p,
                    Listed::Blob(b) => b.name,
                };
                return Ok((out, Some(next)));
            }
            out.push(entry);
        }
        Ok((out, None))
    }

    fn write_blob(
        &self,
        container: &str,
        name: &str,
        check: Precondition<'_>,
        build: impl FnOnce(&Connection, Option<&BlobRecord>) -> Result<BlobRecord, BlobError>,
    ) -> Result<BlobRecord, BlobError> {
        let (record, stale) = {
            let mut db = self.db();
            let tx = db.transaction()?;
            let current = Self::blob_in(&tx, container, name)?;
            check(current.as_ref())?;
            let record = build(&tx, current.as_ref())?;
            tx.execute(
                "INSERT OR REPLACE INTO blobs(container, name, size, etag, created, modified, props, metadata, data, blocks)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    container,
                    name,
                    size_i64(record.size),
                    record.etag,
                    record.created_ms,
                    record.modified_ms,
                    json(&record.props),
                    json(&record.metadata),
                    record.data,
                    json(&record.blocks)
                ],
            )?;
            tx.commit()?;
            let stale = current.map(|c| c.data).filter(|d| *d != record.data);
            (record, stale)
        };
        if let Some(old) = stale {
            let _ = fs_err::remove_file(self.data_path(&old));
        }
        Ok(record)
    }

    /// Put Blob: the finished temporary file `temp` becomes the blob's content.
    pub fn put_blob(
        &self,
        container: &str,
        name: &str,
        temp: &Path,
        props: BlobProps,
        metadata: Metadata,
        check: Precondition<'_>,
    ) -> Result<BlobRecord, BlobError> {
        let size = fs_err::metadata(temp)?.len();
        let data = self.install(temp, "data")?;
        let result = self.write_blob(container, name, check, |tx, current| {
            // A Put Blob discards the blob's uncommitted blocks, as a commit does.
            Self::drop_blocks(tx, &self.root, container, name)?;
            let now = now_ms();
            Ok(BlobRecord {
                name: name.to_string(),
                size,
                etag: new_etag(),
                created_ms: current.map_or(now, |c| c.created_ms),
                modified_ms: now,
                props,
                metadata,
                data: data.clone(),
                blocks: Vec::new(),
            })
        });
        if result.is_err() {
            let _ = fs_err::remove_file(self.data_path(&data));
        }
        result
    }

    fn drop_blocks(
        tx: &Connection,
        root: &Path,
        container: &str,
        blob: &str,
    ) -> Result<(), BlobError> {
        let mut stmt = tx.prepare("SELECT data FROM blocks WHERE container = ?1 AND blob = ?2")?;
        let files: Vec<String> = stmt
            .query_map([container, blob], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        tx.execute(
            "DELETE FROM blocks WHERE container = ?1 AND blob = ?2",
            [container, blob],
        )?;
        // Removing before the commit is safe: uncommitted blocks are never content.
        for file in files {
            let _ = fs_err::remove_file(root.join("blocks").join(file));
        }
        Ok(())
    }

    /// Put Block: stores an uncommitted block (replacing one with the same id).
    pub fn put_block(
        &self,
        container: &str,
        blob: &str,
        id: &str,
        temp: &Path,
    ) -> Result<(), BlobError> {
        let size = fs_err::metadata(temp)?.len();
        let data = self.install(temp, "blocks")?;
        let old: Option<String> = {
            let mut db = self.db();
            let tx = db.transaction()?;
            if let Err(e) = Self::container_exists(&tx, container) {
                drop(tx);
                let _ = fs_err::remove_file(self.root.join("blocks").join(&data));
                return Err(e);
            }
            let old = tx
                .query_row(
                    "SELECT data FROM blocks WHERE container = ?1 AND blob = ?2 AND id = ?3",
                    [container, blob, id],
                    |r| r.get(0),
                )
                .optional()?;
            tx.execute(
                "INSERT OR REPLACE INTO blocks(container, blob, id, size, data) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![container, blob, id, size_i64(size), data],
            )?;
            tx.commit()?;
            old
        };
        if let Some(old) = old {
            let _ = fs_err::remove_file(self.root.join("blocks").join(old));
        }
        Ok(())
    }

    /// The uncommitted blocks of a blob (id, size), by id.
    pub fn uncommitted_blocks(
        &self,
        container: &str,
        blob: &str,
    ) -> Result<Vec<(String, u64)>, BlobError> {
        let db = self.db();
        Self::container_exists(&db, container)?;
        let mut stmt = db.prepare(
            "SELECT id, size FROM blocks WHERE container = ?1 AND blob = ?2 ORDER BY id",
        )?;
        let blocks = stmt
            .query_map([container, blob], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
                ))
            })?
            .collect::<Result<_, _>>()?;
        Ok(blocks)
    }

    /// Put Block List: writes the listed blocks, in order, into a new content file and
    /// commits it; 400 InvalidBlockList when a block is unknown.
    pub fn put_block_list(
        &self,
        container: &str,
        name: &str,
        list: &[(BlockSource, String)],
        props: BlobProps,
        metadata: Metadata,
        check: Precondition<'_>,
    ) -> Result<BlobRecord, BlobError> {
        let temp = self.temp_path();
        let mut out = std::io::BufWriter::new(fs_err::File::create(&temp)?);
        let mut data_name = None;
        let result = self.write_blob(container, name, check, |tx, current| {
            let committed: Vec<(String, u64)> = current.map(|c| c.blocks.clone()).unwrap_or_default();
            let mut offsets = BTreeMap::new();
            let mut at = 0u64;
            for (id, size) in &committed {
                offsets.entry(id.clone()).or_insert((at, *size));
                at += size;
            }
            let mut blocks = Vec::with_capacity(list.len());
            let mut size = 0u64;
            for (source, id) in list {
                let uncommitted: Option<(String, i64)> = if *source == BlockSource::Committed {
                    None
                } else {
                    tx.query_row(
                        "SELECT data, size FROM blocks WHERE container = ?1 AND blob = ?2 AND id = ?3",
                        [container, name, id],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()?
                };
                let len = match (uncommitted, source) {
                    (Some((data, len)), _) => {
                        let mut file = fs_err::File::open(self.root.join("blocks").join(data))?;
                        std::io::copy(&mut file, &mut out)?;
                        u64::try_from(len).unwrap_or(0)
                    }
                    (None, BlockSource::Committed | BlockSource::Latest) => {
                        let (Some(&(offset, len)), Some(current)) = (offsets.get(id), current) else {
                            return Err(invalid_block_list());
                        };
                        let mut file = fs_err::File::open(self.data_path(&current.data))?;
                        file.seek(SeekFrom::Start(offset))?;
                        std::io::copy(&mut (&mut file).take(len), &mut out)?;
                        len
                    }
                    (None, BlockSource::Uncommitted) => return Err(invalid_block_list()),
                };
                blocks.push((id.clone(), len));
                size += len;
            }
            out.flush()?;
            let data = self.install(&temp, "data")?;
            data_name = Some(data.clone());
            Self::drop_blocks(tx, &self.root, container, name)?;
            let now = now_ms();
            Ok(BlobRecord {
                name: name.to_string(),
                size,
                etag: new_etag(),
                created_ms: current.map_or(now, |c| c.created_ms),
                modified_ms: now,
                props,
                metadata,
                data,
                blocks,
            })
        });
        if result.is_err() {
            let _ = fs_err::remove_file(&temp);
            if let Some(data) = data_name {
                let _ = fs_err::remove_file(self.data_path(&data));
            }
        }
        result
    }

    /// Set Blob Metadata / Set Blob Properties: changes a blob's metadata or HTTP
    /// properties, keeping its content.
    pub fn update_blob(
        &self,
        container: &str,
        name: &str,
        props: Option<BlobProps>,
        metadata: Option<Metadata>,
        check: Precondition<'_>,
    ) -> Result<BlobRecord, BlobError> {
        self.write_blob(container, name, check, |_, current| {
            let Some(current) = current else {
                return Err(BlobError::blob_not_found());
            };
            let mut record = current.clone();
            if let Some(props) = props {
                record.props = props;
            }
            if let Some(metadata) = metadata {
                record.metadata = metadata;
            }
            record.etag = new_etag();
            record.modified_ms = now_ms();
            Ok(record)
        })
    }

    /// Deletes a blob and its uncommitted blocks.
    pub fn delete_blob(
        &self,
        container: &str,
        name: &str,
        check: Precondition<'_>,
    ) -> Result<(), BlobError> {
        let data = {
            let mut db = self.db();
            let tx = db.transaction()?;
            let current = Self::blob_in(&tx, container, name)?;
            check(current.as_ref())?;
            let Some(current) = current else {
                return Err(BlobError::blob_not_found());
            };
            tx.execute(
                "DELETE FROM blobs WHERE container = ?1 AND name = ?2",
                [container, name],
            )?;
            Self::drop_blocks(&tx, &self.root, container, name)?;
            tx.commit()?;
            current.data
        };
        let _ = fs_err::remove_file(self.data_path(&data));
        Ok(())
    }
}

fn invalid_block_list() -> BlobError {
    BlobError::bad_request("InvalidBlockList", "The specified block list is invalid.")
}
