//! Paths, modes and the file-system steps of the store (temp files, fsync, link).

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Result, StoreError};

/// Mode of every directory of the store.
pub(crate) const DIR_MODE: u32 = 0o700;
/// Mode of every file of the store.
pub(crate) const FILE_MODE: u32 = 0o600;
/// `id >> MESSAGES_PER_DIR_SHIFT` picks a message's directory: 8192 files per directory.
pub const MESSAGES_PER_DIR_SHIFT: u32 = 13;
const FANOUT_ALPHABET: &[u8; 64] =
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
const COPY_BUF: usize = 64 * 1024;

pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The name of the directory holding message `id`: `id >> 13` in the alphabet
/// `a-zA-Z0-9-_`, least significant six bits first (0 → `a`, 1 → `b`, 64 → `ab`).
pub fn fanout_dir_name(id: u64) -> String {
    let mut v = id >> MESSAGES_PER_DIR_SHIFT;
    let mut s = String::new();
    loop {
        s.push(char::from(FANOUT_ALPHABET[(v & 63) as usize]));
        v >>= 6;
        if v == 0 {
            return s;
        }
    }
}

/// Creates `dir` with mode 0700 unless it exists; returns whether it was created.
pub(crate) fn create_dir(dir: &Path) -> Result<bool> {
    match std::fs::DirBuilder::new().mode(DIR_MODE).create(dir) {
        Ok(()) => {
            trace(|| format!("mkdir {}", last_component(dir)));
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(io_err(dir)(e)),
    }
}

/// Creates `dir` (mode 0700) when missing and fsyncs its parent then; an existing
/// directory gets mode 0700.
pub(crate) fn ensure_dir(dir: &Path) -> Result<()> {
    if create_dir(dir)? {
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
    } else {
        let meta = std::fs::metadata(dir).map_err(io_err(dir))?;
        if meta.permissions().mode() & 0o7777 != DIR_MODE {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(DIR_MODE))
                .map_err(io_err(dir))?;
        }
    }
    Ok(())
}

/// fsyncs a directory, making the entries created or removed in it durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(io_err(dir))?;
    trace(|| format!("fsync dir {}", last_component(dir)));
    Ok(())
}

/// Creates a new file (O_EXCL, mode 0600).
pub(crate) fn create_new_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)
}

#[cfg(test)]
thread_local! {
    /// The file-system and database steps of this thread, in order (tests only).
    pub(crate) static TRACE: std::cell::RefCell<Vec<String>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Records a step of a delivery for the tests that check the order of fsync, link and
/// commit; does nothing outside tests.
pub(crate) fn trace(step: impl FnOnce() -> String) {
    #[cfg(test)]
    TRACE.with(|t| t.borrow_mut().push(step()));
    #[cfg(not(test))]
    drop(step);
}

fn last_component(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Creates a uniquely named temp file in `tmp_dir`.
pub(crate) fn create_temp(tmp_dir: &Path) -> Result<(PathBuf, File)> {
    let pid = std::process::id();
    loop {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = tmp_dir.join(format!("{pid}-{n}.msg"));
        match create_new_file(&path) {
            Ok(f) => return Ok((path, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_err(&path)(e)),
        }
    }
}

/// Finds the end of a message's header (the offset just after the first empty line,
/// LF or CRLF), fed one chunk at a time.
#[derive(Debug)]
pub(crate) struct HeaderEnd {
    /// 0: inside a line; 1: just after LF; 2: just after LF CR.
    state: u8,
    pos: u64,
    found: Option<u64>,
}

impl HeaderEnd {
    pub(crate) fn new() -> HeaderEnd {
        // The start of the message counts as the start of a line: an empty first line
        // means an empty header.
        HeaderEnd {
            state: 1,
            pos: 0,
            found: None,
        }
    }

    pub(crate) fn feed(&mut self, chunk: &[u8]) {
        if self.found.is_none() {
            for (i, &b) in chunk.iter().enumerate() {
                self.state = match (self.state, b) {
                    (1 | 2, b'\n') => {
                        self.found = Some(self.pos + i as u64 + 1);
                        break;
                    }
                    (1, b'\r') => 2,
                    (_, b'\n') => 1,
                    _ => 0,
                };
            }
        }
        self.pos += chunk.len() as u64;
    }

    /// The header's length; the whole size when no empty line was seen.
    pub(crate) fn header_size(&self, total: u64) -> u64 {
        self.found.unwrap_or(total)
    }
}

/// What [`copy_counting`] learnt of the bytes it copied.
pub(crate) struct Copied {
    /// Size in bytes.
    pub(crate) size: u64,
    /// The header's length, including the empty line that ends it.
    pub(crate) header_size: u64,
    /// The first `prefix_limit` bytes.
    pub(crate) prefix: Vec<u8>,
}

/// Copies `source` into `dest`, counting its size and header size and keeping its first
/// `prefix_limit` bytes. The file is not synced.
pub(crate) fn copy_counting(
    source: &mut dyn Read,
    dest: &mut File,
    prefix_limit: usize,
) -> io::Result<Copied> {
    let mut buf = vec![0u8; COPY_BUF];
    let mut header = HeaderEnd::new();
    let mut total = 0u64;
    let mut prefix = Vec::new();
    loop {
        let n = match source.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let chunk = &buf[..n];
        header.feed(chunk);
        let room = prefix_limit.saturating_sub(prefix.len());
        prefix.extend_from_slice(&chunk[..room.min(n)]);
        dest.write_all(chunk)?;
        total += n as u64;
    }
    Ok(Copied {
        size: total,
        header_size: header.header_size(total),
        prefix,
    })
}

/// Puts the durable file `src` at `dst`: a hard link, or, when linking is impossible
/// (other file system, no link support), a copy that is fsynced. `dst` must not exist
/// (`AlreadyExists` otherwise). The caller fsyncs `dst`'s directory.
pub(crate) fn link_or_copy(src: &Path, dst: &Path) -> io::Result<()> {
    match std::fs::hard_link(src, dst) {
        Ok(()) => {
            trace(|| format!("link {}", last_component(dst)));
            return Ok(());
        }
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::AlreadyExists | io::ErrorKind::NotFound
            ) =>
        {
            return Err(e);
        }
        Err(_) => {}
    }
    let mut from = File::open(src)?;
    let mut to = create_new_file(dst)?;
    let res = io::copy(&mut from, &mut to).and_then(|_| to.sync_all());
    if let Err(e) = res {
        let _ = std::fs::remove_file(dst);
        return Err(e);
    }
    trace(|| format!("copy+fsync {}", last_component(dst)));
    Ok(())
}
