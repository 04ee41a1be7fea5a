//! Gives back, once the server has started, the memory its start needed
//! and its requests do not.
//!
//! Measured on a release build (idle, just after start): 21 MiB resident,
//! of which 15 MiB are pages of the executable itself. Starting touches
//! code that never runs again (migrations, key generation, the OpenAPI
//! document, TLS and template set-up), and the kernel maps the neighbours
//! of each page it touches too (readahead, fault-around). Those pages are
//! clean and file-backed: dropping them from the process's page tables
//! costs nothing, and a page the requests need comes back at its first use
//! from the page cache, without I/O; the kernel would drop them itself
//! under memory pressure. Likewise glibc keeps the heap the start freed in
//! its arenas; `malloc_trim` returns it.
//!
//! Only mappings of the executable that are not writable and hold no
//! private (copy-on-write) page are dropped: the relocated read-only data
//! (RELRO) holds private pages and is left alone, or its relocations would
//! be lost. No crate does this; it is a few lines over `/proc/self/smaps`
//! and `madvise(2)`.

use std::{fs, path::Path, time::Duration};

/// How long after the listeners are up the start counts as over: the first
/// round of background upkeep (purges, key checks) runs in it.
pub const SETTLE: Duration = Duration::from_millis(300);

/// Returns what the start used and the requests will not: freed heap, and
/// the executable's pages. Call once, after start-up and before serving.
pub fn release_startup_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory of glibc's own arenas.
    unsafe {
        libc::malloc_trim(0);
    }
    #[cfg(target_os = "linux")]
    if let Ok(exe) = std::env::current_exe()
        && let Ok(smaps) = fs::read_to_string("/proc/self/smaps")
    {
        for mapping in droppable(&smaps, &exe) {
            // SAFETY: the range is a whole mapping of the executable that
            // is read-only and holds no private page: every page of it is
            // the file's, and reads fault it back in unchanged.
            unsafe {
                libc::madvise(
                    mapping.start as *mut libc::c_void,
                    mapping.len,
                    libc::MADV_DONTNEED,
                );
            }
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Mapping {
    start: usize,
    len: usize,
}

/// The mappings of `exe` in `smaps` that are read-only, private and hold
/// no anonymous (copy-on-write) page.
fn droppable(smaps: &str, exe: &Path) -> Vec<Mapping> {
    let exe = exe.to_string_lossy();
    let mut found = Vec::new();
    let mut current: Option<Mapping> = None;
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or_default();
        if let Some((start, end)) = first.split_once('-')
            && let (Ok(start), Ok(end)) = (usize::from_str_radix(start, 16), usize::from_str_radix(end, 16))
        {
            // A mapping's header: range, perms, offset, device, inode, path.
            let perms = fields.next().unwrap_or_default();
            let path = fields.nth(3).unwrap_or_default();
            let read_only_private = perms.len() == 4 && &perms[1..2] == "-" && &perms[3..4] == "p";
            current = (read_only_private && path == exe).then_some(Mapping {
                start,
                len: end - start,
            });
        } else if first == "Anonymous:" {
            let anonymous_kib: u64 = fields.next().and_then(|n| n.parse().ok()).unwrap_or(u64::MAX);
            if let Some(mapping) = current.take()
                && anonymous_kib == 0
            {
                found.push(mapping);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
55f598c90000-55f59974c000 r--p 00000000 fe:00 5408950                    /srv/rampart
Size:              11504 kB
Anonymous:             0 kB
55f59974c000-55f59a6d7000 r-xp 00abb000 fe:00 5408950                    /srv/rampart
Size:              15916 kB
Anonymous:             0 kB
55f59a6d7000-55f59a7cb000 r--p 01a45000 fe:00 5408950                    /srv/rampart
Size:                976 kB
Anonymous:           976 kB
55f59a7cb000-55f59a7d4000 rw-p 01b38000 fe:00 5408950                    /srv/rampart
Anonymous:            36 kB
7f0000000000-7f0000100000 r-xp 00000000 fe:00 1234                       /usr/lib/libc.so.6
Anonymous:             0 kB
";

    #[test]
    fn only_clean_read_only_mappings_of_the_executable_are_dropped() {
        let found = droppable(SMAPS, Path::new("/srv/rampart"));
        assert_eq!(
            found,
            [
                Mapping {
                    start: 0x55f598c90000,
                    len: 0x55f59974c000 - 0x55f598c90000
                },
                Mapping {
                    start: 0x55f59974c000,
                    len: 0x55f59a6d7000 - 0x55f59974c000
                },
            ],
            "the relocated read-only data (private pages), the writable data and other files stay"
        );
    }

    #[test]
    fn releasing_leaves_the_process_working() {
        release_startup_memory();
        // Code and read-only data of this very binary run and read as before.
        let text = format!("{:?}", droppable(SMAPS, Path::new("/srv/rampart")));
        assert!(text.contains("Mapping"));
    }
}
