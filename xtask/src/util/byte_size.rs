//! Byte sizes for people: the one formatter. The xtask prints sizes in two
//! notations, and which line uses which is decided here, by [`Notation`]:
//! callers name the line they print, not a format.

/// The notation of a size, by the line it is printed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Notation {
    /// `prune`'s lines, which stand beside what `docker image ls` shows:
    /// docker's own units (decimal, 3 significant digits, no space): `1.98MB`.
    Docker,
    /// The build-context warning of a run: one decimal and a space: `2.0 KB`,
    /// `512 B`.
    Warning,
}

/// `bytes` in `notation`.
pub(crate) fn human_size(bytes: u64, notation: Notation) -> String {
    match notation {
        Notation::Docker => docker(bytes),
        Notation::Warning => warning(bytes),
    }
}

fn docker(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 999.5 && unit + 1 < units.len() {
        value /= 1000.0;
        unit += 1;
    }
    let decimals = if unit == 0 || value >= 99.95 {
        0
    } else if value >= 9.995 {
        1
    } else {
        2
    };
    let text = format!("{value:.decimals$}");
    // docker prints 1.9MB, not 1.90MB.
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    };
    format!("{text}{}", units[unit])
}

fn warning(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    if value < 1000.0 {
        return format!("{bytes} B");
    }
    let mut unit = "B";
    for u in UNITS {
        if value < 1000.0 {
            break;
        }
        value /= 1000.0;
        unit = u;
    }
    format!("{value:.1} {unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_in_dockers_units() {
        let docker = |bytes| human_size(bytes, Notation::Docker);
        assert_eq!(docker(0), "0B");
        assert_eq!(docker(999), "999B");
        assert_eq!(docker(1_984_134), "1.98MB");
        assert_eq!(docker(1_900_000), "1.9MB");
        assert_eq!(docker(52_300_000), "52.3MB");
        assert_eq!(docker(12_000_000_000), "12GB");
    }

    #[test]
    fn sizes_in_warnings() {
        let warning = |bytes| human_size(bytes, Notation::Warning);
        assert_eq!(warning(512), "512 B");
        assert_eq!(warning(1_500), "1.5 KB");
        assert_eq!(warning(2_300_000_000), "2.3 GB");
    }
}
