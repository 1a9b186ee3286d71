//! Reading the tar stream of `docker export`, one entry at a time, with a
//! digest of each file's content: enough to compare two images' file trees
//! without unpacking them. ustar, PAX and GNU headers (long names, incremental
//! dumpdirs) are understood; sparse files are refused, not misread. Paths are
//! bytes, as in the image: a file name need not be UTF-8.

use std::io::{self, Read};

use anyhow::{bail, Context, Result};

use crate::util::sha256::Sha256;

/// One file of the tree, without its mtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// Absolute path, without a trailing slash: `/etc/passwd`.
    pub(crate) path: Vec<u8>,
    pub(crate) kind: Kind,
    /// Permission bits, with setuid, setgid and sticky.
    pub(crate) mode: u32,
    pub(crate) uid: u64,
    pub(crate) gid: u64,
    pub(crate) size: u64,
    /// SHA-256 of a regular file's content.
    pub(crate) digest: Option<String>,
    /// Target of a symbolic or hard link.
    pub(crate) link: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    File,
    HardLink,
    Symlink,
    CharDevice,
    BlockDevice,
    Directory,
    Fifo,
    Other(u8),
}

/// Overrides that PAX and GNU headers set for the next entry.
#[derive(Default)]
struct Pending {
    path: Option<Vec<u8>>,
    link: Option<Vec<u8>>,
    size: Option<u64>,
    uid: Option<u64>,
    gid: Option<u64>,
    /// The file's name in a PAX sparse file (`GNU.sparse.name`); the entry's
    /// own name is a made-up `GNUSparseFile.<pid>/...`.
    sparse_name: Option<Vec<u8>>,
    /// Any `GNU.sparse.*` record: the content is a sparse map, not the file.
    sparse: bool,
}

/// POSIX ustar magic and version; GNU headers say `ustar  \0` and keep atime
/// and ctime where ustar has its name prefix.
const USTAR: &[u8] = b"ustar\0";

/// [`read_entries`] of a stream that another process writes (`docker
/// export`): read to its end whatever happens, even after an error or the
/// end-of-archive blocks, so that the writer never blocks on a full pipe and
/// ends on its own, before anyone waits for it.
pub(crate) fn read_stream(mut reader: impl Read, each: impl FnMut(Entry)) -> Result<()> {
    let parsed = read_entries(&mut reader, each);
    let drained = io::copy(&mut reader, &mut io::sink());
    // A tar error says more than a read error that follows it.
    parsed?;
    drained.context("cannot read the rest of the tar stream")?;
    Ok(())
}

/// Calls `each` for every entry of the tar stream `reader`.
pub(crate) fn read_entries(mut reader: impl Read, mut each: impl FnMut(Entry)) -> Result<()> {
    let mut pending = Pending::default();
    let mut header = [0u8; 512];
    loop {
        if !read_block(&mut reader, &mut header)? || header.iter().all(|&b| b == 0) {
            return Ok(());
        }
        let size = match pending.size.take() {
            Some(size) => size,
            None => number(&header[124..136])?,
        };
        let mut name = cstr(&header[0..100]).to_vec();
        if header[257..263] == *USTAR {
            let prefix = cstr(&header[345..500]);
            if !prefix.is_empty() {
                name = [prefix, b"/", &name].concat();
            }
        }
        if whole_blocks(size).is_none() {
            // A header of its own (PAX, long name) is named by its name
            // field; a file by the path it will have.
            let path = match header[156] {
                b'x' | b'g' | b'V' | b'L' | b'K' => &name,
                _ => pending.sparse_name.as_ref().or(pending.path.as_ref()).unwrap_or(&name),
            };
            bail!(
                "{}: its tar header gives a size of {size} bytes, more than a tar stream can hold",
                display(&normalize(path))
            );
        }
        match header[156] {
            b'x' => {
                pax(&read_content(&mut reader, size)?, &mut pending);
                continue;
            }
            // Global PAX records and GNU volume labels name no file.
            b'g' | b'V' => {
                read_content(&mut reader, size)?;
                continue;
            }
            b'L' => {
                pending.path = Some(cstr(&read_content(&mut reader, size)?).to_vec());
                continue;
            }
            b'K' => {
                pending.link = Some(cstr(&read_content(&mut reader, size)?).to_vec());
                continue;
            }
            _ => {}
        }
        let path = normalize(&pending.sparse_name.take().or(pending.path.take()).unwrap_or(name));
        if header[156] == b'S' || pending.sparse {
            // Its content is a map of data and holes; hashing it as the file
            // would compare wrong, so say so rather than guess.
            bail!(
                "{} is a sparse file in the tar stream, which this reader does not read",
                display(&path)
            );
        }
        let kind = match header[156] {
            b'0' | 0 | b'7' => Kind::File,
            b'1' => Kind::HardLink,
            b'2' => Kind::Symlink,
            b'3' => Kind::CharDevice,
            b'4' => Kind::BlockDevice,
            // GNU incremental archives list a directory's entries as its content.
            b'5' | b'D' => Kind::Directory,
            b'6' => Kind::Fifo,
            other => Kind::Other(other),
        };
        let link_name = cstr(&header[157..257]);
        let link = pending.link.take().or((!link_name.is_empty()).then(|| link_name.to_vec()));
        let link = match kind {
            Kind::HardLink => link.map(|l| normalize(&l)),
            Kind::Symlink => link,
            _ => None,
        };
        let digest = if kind == Kind::File {
            Some(hash_content(&mut reader, size)?)
        } else {
            read_content(&mut reader, size)?;
            None
        };
        let uid = match pending.uid.take() {
            Some(uid) => uid,
            None => number(&header[108..116])?,
        };
        let gid = match pending.gid.take() {
            Some(gid) => gid,
            None => number(&header[116..124])?,
        };
        each(Entry {
            path,
            kind,
            mode: (number(&header[100..108])? & 0o7777) as u32,
            uid,
            gid,
            size: if kind == Kind::File { size } else { 0 },
            digest,
            link,
        });
    }
}

/// Reads one block; `false` at a clean end of stream.
fn read_block(reader: &mut impl Read, block: &mut [u8; 512]) -> io::Result<bool> {
    let mut filled = 0;
    while filled < block.len() {
        match reader.read(&mut block[filled..])? {
            0 if filled == 0 => return Ok(false),
            0 => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "tar stream ends inside a header",
                ))
            }
            n => filled += n,
        }
    }
    Ok(true)
}

/// Reads `size` bytes of content and its padding, passing the content to `sink`.
fn stream_content(
    reader: &mut impl Read,
    size: u64,
    mut sink: impl FnMut(&[u8]),
) -> io::Result<()> {
    let padded = whole_blocks(size).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a content of {size} bytes is more than a tar stream can hold"),
        )
    })?;
    let mut left = padded;
    let mut buf = vec![0u8; 64 * 1024];
    while left > 0 {
        let want = left.min(buf.len() as u64) as usize;
        let n = reader.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "tar stream ends inside a file",
            ));
        }
        let done = padded - left;
        let content_end = size.saturating_sub(done).min(n as u64) as usize;
        sink(&buf[..content_end]);
        left -= n as u64;
    }
    Ok(())
}

/// `size` rounded up to whole blocks, as the stream holds it; `None` past
/// what a u64 counts.
fn whole_blocks(size: u64) -> Option<u64> {
    size.checked_next_multiple_of(512)
}

fn read_content(reader: &mut impl Read, size: u64) -> io::Result<Vec<u8>> {
    let mut content = Vec::new();
    stream_content(reader, size, |chunk| content.extend_from_slice(chunk))?;
    Ok(content)
}

fn hash_content(reader: &mut impl Read, size: u64) -> io::Result<String> {
    let mut hasher = Sha256::new();
    stream_content(reader, size, |chunk| hasher.update(chunk))?;
    Ok(hasher.hex_digest())
}

/// PAX records: `<length> <key>=<value>\n`, where the length counts the whole
/// record and values are bytes (a path need not be UTF-8).
fn pax(mut records: &[u8], pending: &mut Pending) {
    while let Some(space) = records.iter().position(|&b| b == b' ') {
        let len = std::str::from_utf8(&records[..space]).ok().and_then(|n| n.parse::<usize>().ok());
        let Some(len) = len.filter(|&len| len > space + 1 && len <= records.len()) else { break };
        let record = &records[space + 1..len];
        records = &records[len..];
        let record = record.strip_suffix(b"\n").unwrap_or(record);
        let Some(eq) = record.iter().position(|&b| b == b'=') else { continue };
        let (key, value) = (&record[..eq], &record[eq + 1..]);
        let number = || std::str::from_utf8(value).ok().and_then(|v| v.parse().ok());
        match key {
            b"path" => pending.path = Some(value.to_vec()),
            b"linkpath" => pending.link = Some(value.to_vec()),
            b"size" => pending.size = number(),
            b"uid" => pending.uid = number(),
            b"gid" => pending.gid = number(),
            b"GNU.sparse.name" => {
                pending.sparse = true;
                pending.sparse_name = Some(value.to_vec());
            }
            _ if key.starts_with(b"GNU.sparse.") => pending.sparse = true,
            _ => {}
        }
    }
}

/// A numeric header field: octal text, or big-endian base-256 when its first
/// byte has the high bit set.
fn number(field: &[u8]) -> io::Result<u64> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        let mut value: u64 = u64::from(field[0] & 0x7f);
        for &b in &field[1..] {
            value = value.checked_shl(8).unwrap_or(u64::MAX) | u64::from(b);
        }
        return Ok(value);
    }
    let text = String::from_utf8_lossy(cstr(field));
    let text = text.trim_matches(|c: char| c == ' ' || c == '\0');
    if text.is_empty() {
        return Ok(0);
    }
    u64::from_str_radix(text, 8).map_err(|_| {
        io::Error::new(io::ErrorKind::InvalidData, format!("bad number in tar header: {text:?}"))
    })
}

/// A NUL-terminated header field.
fn cstr(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    &bytes[..end]
}

/// `./usr/bin/` and `usr/bin` both become `/usr/bin`.
fn normalize(path: &[u8]) -> Vec<u8> {
    let mut path = path;
    while let Some(rest) = path.strip_prefix(b"./") {
        path = rest;
    }
    while let Some(rest) = path.strip_prefix(b"/") {
        path = rest;
    }
    while let Some(rest) = path.strip_suffix(b"/") {
        path = rest;
    }
    [b"/", path].concat()
}

/// A path for people: UTF-8 as it is, other bytes and control characters
/// escaped (`\xff`, `\n`), so every path prints on one line and none is
/// mistaken for another.
pub(crate) fn display(path: &[u8]) -> String {
    let mut shown = String::new();
    for chunk in path.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() || c == '\\' {
                shown.extend(c.escape_default());
            } else {
                shown.push(c);
            }
        }
        for b in chunk.invalid() {
            shown.push_str(&format!("\\x{b:02x}"));
        }
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str, kind: u8, size: usize, link: &str) -> Vec<u8> {
        let mut h = vec![0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..107].copy_from_slice(b"0000755");
        h[108..115].copy_from_slice(b"0001750");
        h[116..123].copy_from_slice(b"0000000");
        h[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
        h[156] = kind;
        h[157..157 + link.len()].copy_from_slice(link.as_bytes());
        h[257..263].copy_from_slice(b"ustar\0");
        h
    }

    fn padded(content: &[u8]) -> Vec<u8> {
        let mut v = content.to_vec();
        v.resize(content.len().div_ceil(512) * 512, 0);
        v
    }

    fn pax_records(records: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for record in records {
            // The length counts itself: find the width that fits.
            let mut len = record.len() + 3;
            while len != record.len() + 2 + len.to_string().len() {
                len = record.len() + 2 + len.to_string().len();
            }
            out.extend(format!("{len} ").as_bytes());
            out.extend(*record);
            out.push(b'\n');
        }
        out
    }

    fn entries(tar: &[u8]) -> Vec<Entry> {
        let mut entries = Vec::new();
        read_entries(tar, |e| entries.push(e)).unwrap();
        entries
    }

    fn paths(entries: &[Entry]) -> Vec<String> {
        entries.iter().map(|e| display(&e.path)).collect()
    }

    fn find<'a>(entries: &'a [Entry], path: &[u8]) -> &'a Entry {
        entries.iter().find(|e| e.path == path).unwrap_or_else(|| {
            panic!("no {} in {:?}", display(path), paths(entries));
        })
    }

    const LONG_DIR: &str =
        "/dir/dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd";

    /// The tree `tests/fixtures/tar/make.sh` archives, as every format must read it.
    fn assert_fixture_tree(entries: &[Entry]) {
        let long_file = format!("{LONG_DIR}/file");
        assert_eq!(find(entries, b"/dir").kind, Kind::Directory);
        assert_eq!(find(entries, LONG_DIR.as_bytes()).kind, Kind::Directory);
        let bad = find(entries, b"/dir/bad\xffname");
        assert_eq!((bad.kind, bad.size), (Kind::File, 6));
        assert_eq!(
            bad.digest.as_deref(),
            Some(crate::util::sha256::hex_digest(b"bytes\n").as_str())
        );
        let deep = find(entries, long_file.as_bytes());
        assert_eq!((deep.kind, deep.size, deep.mode), (Kind::File, 5, 0o644));
        let symlink = find(entries, b"/dir/longlink");
        assert_eq!(symlink.kind, Kind::Symlink);
        assert_eq!(symlink.link.as_deref(), Some(long_file.as_bytes()));
        let hardlink = find(entries, b"/dir/motd");
        assert_eq!(hardlink.kind, Kind::HardLink);
        assert_eq!(hardlink.link.as_deref(), Some(&b"/dir/hardlink"[..]));
    }

    #[test]
    fn gnu_tar_long_names_links_and_non_utf8_names() {
        let entries = entries(include_bytes!("../../tests/fixtures/tar/gnu.tar"));
        assert_fixture_tree(&entries);
        assert_eq!(entries.len(), 7, "{:?}", paths(&entries));
    }

    #[test]
    fn posix_tar_pax_paths_are_bytes() {
        let entries = entries(include_bytes!("../../tests/fixtures/tar/posix.tar"));
        assert_fixture_tree(&entries);
        assert_eq!(entries.len(), 7, "{:?}", paths(&entries));
    }

    #[test]
    fn gnu_headers_have_no_name_prefix() {
        // GNU incremental headers keep atime and ctime where ustar has the prefix.
        let entries = entries(include_bytes!("../../tests/fixtures/tar/gnu-incremental.tar"));
        assert_fixture_tree(&entries);
        assert!(paths(&entries).iter().all(|p| p.starts_with("/dir")), "{:?}", paths(&entries));
    }

    #[test]
    fn docker_export_with_prefix_and_pax_records() {
        let entries = entries(include_bytes!("../../tests/fixtures/tar/docker-export.tar"));
        assert_fixture_tree(&entries);
        for engine_made in [&b"/.dockerenv"[..], b"/etc/hosts", b"/proc", b"/dev/console"] {
            find(&entries, engine_made);
        }
    }

    #[test]
    fn sparse_files_are_refused_naming_the_path() {
        for tar in [
            &include_bytes!("../../tests/fixtures/tar/sparse-gnu.tar")[..],
            &include_bytes!("../../tests/fixtures/tar/sparse-posix.tar")[..],
        ] {
            let err = read_entries(tar, |_| {}).unwrap_err().to_string();
            assert_eq!(
                err,
                "/holes is a sparse file in the tar stream, which this reader does not read"
            );
        }
    }

    #[test]
    fn header_numbers_overridden_by_pax_are_not_read() {
        let pax = pax_records(&[b"uid=5", b"gid=6", b"size=3"]);
        let mut tar = header("./PaxHeaders/a", b'x', pax.len(), "");
        tar.extend(padded(&pax));
        let mut file = header("a", b'0', 0, "");
        file[108..116].copy_from_slice(b"bad uid\0");
        file[116..124].copy_from_slice(b"bad gid\0");
        file[124..136].copy_from_slice(b"bad size!!!\0");
        tar.extend(file);
        tar.extend(padded(b"abc"));
        let entries = entries(&tar);
        assert_eq!((entries[0].uid, entries[0].gid, entries[0].size), (5, 6, 3));
    }

    #[test]
    fn reads_files_links_and_long_names() {
        let long = format!("deep/{}", "d".repeat(150));
        let pax = pax_records(&[format!("path={long}").as_bytes()]);
        let mut tar = Vec::new();
        tar.extend(header("etc/", b'5', 0, ""));
        tar.extend(header("etc/motd", b'0', 5, ""));
        tar.extend(padded(b"hello"));
        tar.extend(header("bin/sh", b'2', 0, "busybox"));
        tar.extend(header("./PaxHeaders/x", b'x', pax.len(), ""));
        tar.extend(padded(&pax));
        tar.extend(header("ignored", b'0', 600, ""));
        tar.extend(padded(&[7u8; 600]));
        tar.extend(header("././@LongLink", b'L', 10, ""));
        tar.extend(padded(b"long/name\0"));
        tar.extend(header("short", b'1', 0, "etc/motd"));
        tar.extend([0u8; 1024]);

        let entries = entries(&tar);
        assert_eq!(
            paths(&entries),
            ["/etc", "/etc/motd", "/bin/sh", format!("/{long}").as_str(), "/long/name"]
        );
        assert_eq!(
            entries[1].digest.as_deref(),
            Some(crate::util::sha256::hex_digest(b"hello").as_str())
        );
        assert_eq!((entries[1].mode, entries[1].uid, entries[1].size), (0o755, 1000, 5));
        assert_eq!(entries[2].kind, Kind::Symlink);
        assert_eq!(entries[2].link.as_deref(), Some(&b"busybox"[..]));
        assert_eq!(entries[3].size, 600);
        assert_eq!(
            (entries[4].kind, entries[4].link.as_deref()),
            (Kind::HardLink, Some(&b"/etc/motd"[..]))
        );
    }

    #[test]
    fn paths_display_escaped() {
        assert_eq!(display(b"/bad\xff\xfename"), r"/bad\xff\xfename");
        assert_eq!(display("/caf\u{e9}/a b".as_bytes()), "/caf\u{e9}/a b");
        assert_eq!(display(b"/line\nbreak\\"), r"/line\nbreak\\");
    }

    #[test]
    fn truncated_streams_are_errors_not_panics() {
        let mut tar = header("a", b'0', 100, "");
        tar.extend([1u8; 10]);
        assert!(read_entries(&tar[..], |_| {}).is_err());
        assert!(read_entries(&tar[..300], |_| {}).is_err());
        assert!(read_entries(&[][..], |_| {}).is_ok());
    }

    /// `docker export` writes into a pipe: whatever the reader makes of the
    /// stream, it reads all of it, so the export never waits on a full pipe.
    #[test]
    fn a_stream_is_read_to_its_end_after_an_error_or_the_end_blocks() {
        let mut refused = include_bytes!("../../tests/fixtures/tar/sparse-gnu.tar").to_vec();
        refused.extend([7u8; 200 * 1024]);
        let mut reader = io::Cursor::new(&refused[..]);
        let err = read_stream(&mut reader, |_| {}).unwrap_err().to_string();
        assert!(err.contains("sparse file"), "{err}");
        assert_eq!(reader.position(), refused.len() as u64);

        // A tar writer may pad the stream past the end-of-archive blocks.
        let mut tar = header("a", b'0', 5, "");
        tar.extend(padded(b"hello"));
        tar.extend([0u8; 10 * 1024]);
        let mut reader = io::Cursor::new(&tar[..]);
        read_entries(&mut reader, |_| {}).unwrap();
        assert!(reader.position() < tar.len() as u64, "read_entries stops at the end blocks");
        let mut reader = io::Cursor::new(&tar[..]);
        let mut seen = Vec::new();
        read_stream(&mut reader, |e| seen.push(e.path)).unwrap();
        assert_eq!((seen, reader.position()), (vec![b"/a".to_vec()], tar.len() as u64));
    }

    /// The size is rounded up to whole blocks; a size that cannot be is
    /// refused, naming the path, not a panic or a wrapped-around size.
    #[test]
    fn sizes_past_what_blocks_can_count_are_refused_naming_the_path() {
        let huge = u64::MAX - 100;
        let mut base256 = header("etc/big", b'0', 0, "");
        base256[124..136]
            .copy_from_slice(&[[0x80, 0, 0, 0].as_slice(), &huge.to_be_bytes()].concat());
        let pax = pax_records(&[format!("size={huge}").as_bytes()]);
        let mut by_pax = header("./PaxHeaders/a", b'x', pax.len(), "");
        by_pax.extend(padded(&pax));
        by_pax.extend(header("a", b'0', 0, ""));
        let mut long_name = header("././@LongLink", b'L', 0, "");
        long_name[124..136]
            .copy_from_slice(&[[0x80, 0, 0, 0].as_slice(), &huge.to_be_bytes()].concat());
        for (tar, path) in [(base256, "/etc/big"), (by_pax, "/a"), (long_name, "/@LongLink")] {
            let err = read_entries(&tar[..], |_| {}).unwrap_err().to_string();
            assert_eq!(
                err,
                format!("{path}: its tar header gives a size of {huge} bytes, more than a tar stream can hold")
            );
        }
    }

    #[test]
    fn base256_numbers() {
        assert_eq!(number(&[0x80, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]).unwrap(), 1 << 32);
        assert_eq!(number(b"0000644\0").unwrap(), 0o644);
    }
}
