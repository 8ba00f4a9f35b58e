//! VMCOREINFO: the `KEY=value` text the kernel exports for dump tools
//! (kernel/vmcore_info.c, arch/x86/kernel/machine_kexec_64.c).
//! `SYMBOL(x)` values are runtime addresses in hex without 0x,
//! `NUMBER(x)` values are decimal and may be negative, `KERNELOFFSET` is hex.

use std::collections::BTreeMap;

/// Parsed VMCOREINFO. Unknown keys are kept in `other`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VmcoreInfo {
    pub osrelease: Option<String>,
    pub build_id: Option<String>,
    pub page_size: Option<u64>,
    pub kerneloffset: Option<u64>,
    pub symbols: BTreeMap<String, u64>,
    pub numbers: BTreeMap<String, i64>,
    pub offsets: BTreeMap<String, u64>,
    pub sizes: BTreeMap<String, u64>,
    pub lengths: BTreeMap<String, u64>,
    pub other: BTreeMap<String, String>,
    /// Lines that were not `KEY=value` or whose value did not parse.
    pub bad_lines: Vec<String>,
}

/// Bound on how much note text is parsed: a real VMCOREINFO is ~4 KiB.
const MAX_TEXT: usize = 1 << 20;

fn hex(v: &str) -> Option<u64> {
    let v = v.trim();
    let v = v.strip_prefix("0x").unwrap_or(v);
    u64::from_str_radix(v, 16).ok()
}

impl VmcoreInfo {
    pub fn parse(desc: &[u8]) -> VmcoreInfo {
        let desc = &desc[..desc.len().min(MAX_TEXT)];
        let end = desc.iter().position(|&b| b == 0).unwrap_or(desc.len());
        let text = String::from_utf8_lossy(&desc[..end]);
        let mut info = VmcoreInfo::default();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                info.bad_lines.push(line.to_string());
                continue;
            };
            let ok = info.insert(key, value);
            if !ok {
                info.bad_lines.push(line.to_string());
            }
        }
        info
    }

    fn insert(&mut self, key: &str, value: &str) -> bool {
        let inner = |prefix: &str| {
            key.strip_prefix(prefix)
                .and_then(|r| r.strip_suffix(')'))
                .map(str::to_string)
        };
        if let Some(name) = inner("SYMBOL(") {
            return hex(value).map(|v| self.symbols.insert(name, v)).is_some();
        }
        if let Some(name) = inner("NUMBER(") {
            // Decimal, possibly negative; some kernels print a few in hex
            // (6.12: `NUMBER(VMALLOC_START)=0x...`).
            let v = value.trim();
            let n = match v.strip_prefix("0x") {
                Some(h) => u64::from_str_radix(h, 16).ok().map(|u| u as i64),
                None => v.parse::<i64>().ok(),
            };
            return n.map(|v| self.numbers.insert(name, v)).is_some();
        }
        if let Some(name) = inner("OFFSET(") {
            return value
                .trim()
                .parse::<u64>()
                .ok()
                .map(|v| self.offsets.insert(name, v))
                .is_some();
        }
        if let Some(name) = inner("SIZE(") {
            return value
                .trim()
                .parse::<u64>()
                .ok()
                .map(|v| self.sizes.insert(name, v))
                .is_some();
        }
        if let Some(name) = inner("LENGTH(") {
            return value
                .trim()
                .parse::<u64>()
                .ok()
                .map(|v| self.lengths.insert(name, v))
                .is_some();
        }
        match key {
            "OSRELEASE" => self.osrelease = Some(value.trim().to_string()),
            "BUILD-ID" => self.build_id = Some(value.trim().to_ascii_lowercase()),
            "PAGESIZE" => match value.trim().parse() {
                Ok(v) => self.page_size = Some(v),
                Err(_) => return false,
            },
            "KERNELOFFSET" => match hex(value) {
                Some(v) => self.kerneloffset = Some(v),
                None => return false,
            },
            _ => {
                self.other.insert(key.to_string(), value.to_string());
            }
        }
        true
    }

    /// The text form again (keys in a fixed order), for writing a dump that
    /// carries the same facts: `parse(to_text())` gives back the same value
    /// except for `bad_lines`.
    // Used by `extract` only (feature `write`).
    #[cfg_attr(not(feature = "write"), allow(dead_code))]
    pub(crate) fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let mut t = String::new();
        if let Some(v) = &self.osrelease {
            let _ = writeln!(t, "OSRELEASE={v}");
        }
        if let Some(v) = &self.build_id {
            let _ = writeln!(t, "BUILD-ID={v}");
        }
        if let Some(v) = self.page_size {
            let _ = writeln!(t, "PAGESIZE={v}");
        }
        for (k, v) in &self.symbols {
            let _ = writeln!(t, "SYMBOL({k})={v:x}");
        }
        for (k, v) in &self.sizes {
            let _ = writeln!(t, "SIZE({k})={v}");
        }
        for (k, v) in &self.offsets {
            let _ = writeln!(t, "OFFSET({k})={v}");
        }
        for (k, v) in &self.lengths {
            let _ = writeln!(t, "LENGTH({k})={v}");
        }
        for (k, v) in &self.numbers {
            let _ = writeln!(t, "NUMBER({k})={v}");
        }
        for (k, v) in &self.other {
            let _ = writeln!(t, "{k}={v}");
        }
        if let Some(v) = self.kerneloffset {
            let _ = writeln!(t, "KERNELOFFSET={v:x}");
        }
        t
    }

    pub fn symbol(&self, name: &str) -> Option<u64> {
        self.symbols.get(name).copied()
    }

    pub fn number(&self, name: &str) -> Option<i64> {
        self.numbers.get(name).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_real_kernel_shapes() {
        let text = b"OSRELEASE=6.1.0-54-cloud-amd64\nBUILD-ID=ABCDEF01\nPAGESIZE=4096\n\
SYMBOL(init_top_pgt)=ffffffff85c10000\nNUMBER(phys_base)=362807296\nNUMBER(neg)=-5\n\
NUMBER(VMALLOC_START)=0xffffc90000000000\nOFFSET(list_head.next)=0\nSIZE(page)=64\nLENGTH(zone.free_area)=11\nKERNELOFFSET=3200000\n\
garbage\nNUMBER(bad)=zz\n\0trailing";
        let v = VmcoreInfo::parse(text);
        assert_eq!(v.osrelease.as_deref(), Some("6.1.0-54-cloud-amd64"));
        assert_eq!(v.build_id.as_deref(), Some("abcdef01"));
        assert_eq!(v.page_size, Some(4096));
        assert_eq!(v.symbol("init_top_pgt"), Some(0xffffffff85c10000));
        assert_eq!(v.number("phys_base"), Some(362807296));
        assert_eq!(v.number("neg"), Some(-5));
        assert_eq!(
            v.number("VMALLOC_START"),
            Some(0xffffc90000000000u64 as i64)
        );
        assert_eq!(v.offsets.get("list_head.next"), Some(&0));
        assert_eq!(v.sizes.get("page"), Some(&64));
        assert_eq!(v.lengths.get("zone.free_area"), Some(&11));
        assert_eq!(v.kerneloffset, Some(0x3200000));
        assert_eq!(
            v.bad_lines,
            vec!["garbage".to_string(), "NUMBER(bad)=zz".to_string()]
        );
    }

    #[test]
    fn text_round_trip() {
        let text = b"OSRELEASE=6.12.0\nBUILD-ID=abcd\nPAGESIZE=4096\nSYMBOL(prb)=ffffffff83a0b0c0\n\
NUMBER(phys_base)=-360710144\nNUMBER(VMALLOC_START)=0xffffc90000000000\nOFFSET(prb_desc.state_var)=0\n\
SIZE(printk_info)=88\nLENGTH(mem_section)=2048\nCRASHTIME=1700000000\nKERNELOFFSET=37600000\n";
        let v = VmcoreInfo::parse(text);
        assert!(v.bad_lines.is_empty());
        assert_eq!(VmcoreInfo::parse(v.to_text().as_bytes()), v);
    }
}
