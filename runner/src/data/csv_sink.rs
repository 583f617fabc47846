//! Writing a fetched result: a CSV file (header, then rows) hashed as it is written, so the
//! manifest can name exactly which bytes the notebook read.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::schema::{NULL, escape_text};

/// Counts and hashes the bytes on their way to the file.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.hasher.update(&buf[..written]);
        self.bytes += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
}

pub struct CsvSink {
    writer: csv::Writer<Hashing<BufWriter<File>>>,
    rows: u64,
    /// A reusable buffer for numbers.
    scratch: String,
}

impl CsvSink {
    /// A new file (mode 0644: a sandboxed kernel reads it under another user id) with the header.
    pub fn create(path: &Path, header: &[String]) -> std::io::Result<Self> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o644).open(path)?;
        let hashing = Hashing { inner: BufWriter::with_capacity(1 << 16, file), hasher: Sha256::new(), bytes: 0 };
        let mut writer = csv::WriterBuilder::new().buffer_capacity(1 << 16).from_writer(hashing);
        writer.write_record(header).map_err(into_io)?;
        Ok(Self { writer, rows: 0, scratch: String::new() })
    }

    pub fn null(&mut self) -> std::io::Result<()> {
        self.writer.write_field(NULL).map_err(into_io)
    }

    pub fn text(&mut self, value: &str) -> std::io::Result<()> {
        self.writer.write_field(escape_text(value).as_bytes()).map_err(into_io)
    }

    /// A field whose text can never look like NULL (numbers, dates, booleans).
    pub fn plain(&mut self, value: &str) -> std::io::Result<()> {
        self.writer.write_field(value).map_err(into_io)
    }

    pub fn display(&mut self, value: impl std::fmt::Display) -> std::io::Result<()> {
        use std::fmt::Write as _;
        self.scratch.clear();
        let _ = write!(self.scratch, "{value}");
        self.writer.write_field(self.scratch.as_bytes()).map_err(into_io)
    }

    /// Floats by their Debug form: the shortest round-tripping digits (`1e300`, `0.1`, `NaN`,
    /// `inf`), all of which Python's float() reads back exactly.
    pub fn float(&mut self, value: impl std::fmt::Debug) -> std::io::Result<()> {
        use std::fmt::Write as _;
        self.scratch.clear();
        let _ = write!(self.scratch, "{value:?}");
        self.writer.write_field(self.scratch.as_bytes()).map_err(into_io)
    }

    pub fn end_row(&mut self) -> std::io::Result<()> {
        self.rows += 1;
        self.writer.write_record(None::<&[u8]>).map_err(into_io)
    }

    pub fn finish(self) -> std::io::Result<Written> {
        let rows = self.rows;
        let mut hashing = self.writer.into_inner().map_err(|e| e.into_error())?;
        hashing.flush()?;
        let sha256 = hex(&hashing.hasher.finalize());
        Ok(Written { rows, bytes: hashing.bytes, sha256 })
    }
}

fn into_io(error: csv::Error) -> std::io::Error {
    match error.into_kind() {
        csv::ErrorKind::Io(error) => error,
        other => std::io::Error::other(format!("{other:?}")),
    }
}

/// Lowercase hex, as `sha256sum` prints a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
