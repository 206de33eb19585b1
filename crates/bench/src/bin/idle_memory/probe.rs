//! Memory readings from procfs: a process's resident set (`status`,
//! `smaps_rollup`) and the kernel's TCP buffer pages (`net/sockstat`),
//! which are not part of any process's resident set.

use std::fs;

use anyhow::Context;

/// One reading of a process, in bytes.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Memory {
    /// `VmRSS`.
    pub(crate) rss: u64,
    /// `RssAnon`: heap and stacks, without the mapped binary.
    pub(crate) rss_anon: u64,
    /// `Pss` from `smaps_rollup`.
    pub(crate) pss: u64,
    /// `Private_Dirty` from `smaps_rollup`.
    pub(crate) private_dirty: u64,
    /// Pages the kernel holds for TCP buffers, machine-wide (both ends of
    /// every loopback socket), in bytes.
    pub(crate) kernel_tcp: u64,
}

impl Memory {
    pub(crate) fn of(pid: u32) -> anyhow::Result<Self> {
        let status = fs::read_to_string(format!("/proc/{pid}/status"))
            .with_context(|| format!("reading /proc/{pid}/status"))?;
        let rollup = fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
            .with_context(|| format!("reading /proc/{pid}/smaps_rollup"))?;
        let sockstat = fs::read_to_string("/proc/net/sockstat").unwrap_or_default();
        Ok(Self {
            rss: kib_field(&status, "VmRSS:").context("VmRSS")? * 1024,
            rss_anon: kib_field(&status, "RssAnon:").unwrap_or(0) * 1024,
            pss: kib_field(&rollup, "Pss:").context("Pss")? * 1024,
            private_dirty: kib_field(&rollup, "Private_Dirty:").unwrap_or(0) * 1024,
            kernel_tcp: tcp_pages(&sockstat).unwrap_or(0) * page_size(),
        })
    }
}

/// `Name:   1234 kB` → 1234.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|value| value.parse().ok())
}

/// `TCP: inuse 5 orphan 0 tw 0 alloc 7 mem 3` → 3.
fn tcp_pages(sockstat: &str) -> Option<u64> {
    let line = sockstat.lines().find(|line| line.starts_with("TCP:"))?;
    let mut words = line.split_whitespace();
    while let Some(word) = words.next() {
        if word == "mem" {
            return words.next()?.parse().ok();
        }
    }
    None
}

/// The page size, from the kernel's own report of it (reading
/// `sysconf(_SC_PAGESIZE)` would need `unsafe`).
fn page_size() -> u64 {
    fs::read_to_string("/proc/self/smaps")
        .ok()
        .and_then(|smaps| kib_field(&smaps, "KernelPageSize:"))
        .map_or(4096, |kib| kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_parse() {
        assert_eq!(
            kib_field("Name:\tx\nVmRSS:\t  2048 kB\n", "VmRSS:"),
            Some(2048)
        );
        assert_eq!(
            tcp_pages("sockets: used 1\nTCP: inuse 5 orphan 0 tw 0 alloc 7 mem 3\n"),
            Some(3)
        );
    }
}
