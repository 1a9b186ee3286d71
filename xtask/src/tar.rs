//! Reading the tar stream of `docker export`, one entry at a time, with a
//! digest of each file's content: enough to compare two images' file trees
//! without unpacking them. ustar, PAX and GNU long names are understood.

use std::io::{self, Read};

use crate::sha256::Sha256;

/// One file of the tree, without its mtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// Absolute path, without a trailing slash: `/etc/passwd`.
    pub(crate) path: String,
    pub(crate) kind: Kind,
    /// Permission bits, with setuid, setgid and sticky.
    pub(crate) mode: u32,
    pub(crate) uid: u64,
    pub(crate) gid: u64,
    pub(crate) size: u64,
    /// SHA-256 of a regular file's content.
    pub(crate) digest: Option<String>,
    /// Target of a symbolic or hard link.
    pub(crate) link: Option<String>,
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
    path: Option<String>,
    link: Option<String>,
    size: Option<u64>,
    uid: Option<u64>,
    gid: Option<u64>,
}

/// Calls `each` for every entry of the tar stream `reader`.
pub(crate) fn read_entries(mut reader: impl Read, mut each: impl FnMut(Entry)) -> io::Result<()> {
    let mut pending = Pending::default();
    let mut header = [0u8; 512];
    loop {
        if !read_block(&mut reader, &mut header)? || header.iter().all(|&b| b == 0) {
            return Ok(());
        }
        let size = pending.size.take().unwrap_or(number(&header[124..136])?);
        match header[156] {
            b'x' => {
                let records = read_content(&mut reader, size)?;
                pending = pax(&records, pending);
                continue;
            }
            b'g' => {
                read_content(&mut reader, size)?;
                continue;
            }
            b'L' => {
                pending.path = Some(cstr(&read_content(&mut reader, size)?));
                continue;
            }
            b'K' => {
                pending.link = Some(cstr(&read_content(&mut reader, size)?));
                continue;
            }
            _ => {}
        }
        let kind = match header[156] {
            b'0' | 0 | b'7' => Kind::File,
            b'1' => Kind::HardLink,
            b'2' => Kind::Symlink,
            b'3' => Kind::CharDevice,
            b'4' => Kind::BlockDevice,
            b'5' => Kind::Directory,
            b'6' => Kind::Fifo,
            other => Kind::Other(other),
        };
        let mut name = cstr(&header[0..100]);
        if header[257..262] == *b"ustar" {
            let prefix = cstr(&header[345..500]);
            if !prefix.is_empty() {
                name = format!("{prefix}/{name}");
            }
        }
        let path = normalize(&pending.path.take().unwrap_or(name));
        let link_name = cstr(&header[157..257]);
        let link = pending.link.take().or((!link_name.is_empty()).then_some(link_name));
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
        each(Entry {
            path,
            kind,
            mode: (number(&header[100..108])? & 0o7777) as u32,
            uid: pending.uid.take().unwrap_or(number(&header[108..116])?),
            gid: pending.gid.take().unwrap_or(number(&header[116..124])?),
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
    let padded = size.div_ceil(512) * 512;
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

/// PAX records: `<length> <key>=<value>\n`.
fn pax(records: &[u8], mut pending: Pending) -> Pending {
    let text = String::from_utf8_lossy(records);
    let mut rest: &str = &text;
    while let Some((len, after)) = rest.split_once(' ') {
        let Ok(len) = len.parse::<usize>() else { break };
        let record_len = len.saturating_sub(len.to_string().len() + 1);
        if record_len == 0 || record_len > after.len() {
            break;
        }
        let record = after[..record_len].trim_end_matches('\n');
        rest = &after[record_len..];
        if let Some((key, value)) = record.split_once('=') {
            match key {
                "path" => pending.path = Some(value.to_string()),
                "linkpath" => pending.link = Some(value.to_string()),
                "size" => pending.size = value.parse().ok(),
                "uid" => pending.uid = value.parse().ok(),
                "gid" => pending.gid = value.parse().ok(),
                _ => {}
            }
        }
    }
    pending
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
    let text = cstr(field);
    let text = text.trim_matches(|c: char| c == ' ' || c == '\0');
    if text.is_empty() {
        return Ok(0);
    }
    u64::from_str_radix(text, 8).map_err(|_| {
        io::Error::new(io::ErrorKind::InvalidData, format!("bad number in tar header: {text:?}"))
    })
}

fn cstr(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).to_string()
}

/// `./usr/bin/` and `usr/bin` both become `/usr/bin`.
fn normalize(path: &str) -> String {
    let path = path.trim_start_matches("./").trim_start_matches('/').trim_end_matches('/');
    format!("/{path}")
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

    #[test]
    fn reads_files_links_and_long_names() {
        let long = format!("deep/{}", "d".repeat(150));
        let pax_record = format!("path={long}\n");
        let pax_len = pax_record.len() + 4;
        let pax = format!("{pax_len} {pax_record}");
        assert_eq!(pax.len(), pax_len);
        let mut tar = Vec::new();
        tar.extend(header("etc/", b'5', 0, ""));
        tar.extend(header("etc/motd", b'0', 5, ""));
        tar.extend(padded(b"hello"));
        tar.extend(header("bin/sh", b'2', 0, "busybox"));
        tar.extend(header("./PaxHeaders/x", b'x', pax.len(), ""));
        tar.extend(padded(pax.as_bytes()));
        tar.extend(header("ignored", b'0', 600, ""));
        tar.extend(padded(&[7u8; 600]));
        tar.extend(header("././@LongLink", b'L', 10, ""));
        tar.extend(padded(b"long/name\0"));
        tar.extend(header("short", b'1', 0, "etc/motd"));
        tar.extend([0u8; 1024]);

        let mut entries = Vec::new();
        read_entries(&tar[..], |e| entries.push(e)).unwrap();
        let paths: Vec<&str> = entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            ["/etc", "/etc/motd", "/bin/sh", format!("/{long}").as_str(), "/long/name"]
        );
        assert_eq!(
            entries[1].digest.as_deref(),
            Some(crate::sha256::hex_digest(b"hello").as_str())
        );
        assert_eq!((entries[1].mode, entries[1].uid, entries[1].size), (0o755, 1000, 5));
        assert_eq!(entries[2].kind, Kind::Symlink);
        assert_eq!(entries[2].link.as_deref(), Some("busybox"));
        assert_eq!(entries[3].size, 600);
        assert_eq!(
            (entries[4].kind, entries[4].link.as_deref()),
            (Kind::HardLink, Some("/etc/motd"))
        );
    }

    #[test]
    fn truncated_streams_are_errors_not_panics() {
        let mut tar = header("a", b'0', 100, "");
        tar.extend([1u8; 10]);
        assert!(read_entries(&tar[..], |_| {}).is_err());
        assert!(read_entries(&tar[..300], |_| {}).is_err());
        assert!(read_entries(&[][..], |_| {}).is_ok());
    }

    #[test]
    fn base256_numbers() {
        assert_eq!(number(&[0x80, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]).unwrap(), 1 << 32);
        assert_eq!(number(b"0000644\0").unwrap(), 0o644);
    }
}
