//! The compound file (OLE2) an .xls workbook is stored in, read the way calamine 0.38 reads it:
//! its workbook stream, with every sector chain bounded and checked.

use super::*;

const ENDOFCHAIN: u32 = 0xFFFF_FFFE;
const DIFSECT: u32 = 0xFFFF_FFFC;
const RESERVED_SECTORS: u32 = 0xFFFF_FFFA;

/// The sectors of a compound file as calamine's `Sectors` holds them: the file after its header,
/// read in order up to the furthest sector asked for, zero-filled past the end of the file.
struct Sectors<'a> {
    body: &'a [u8],
    size: usize,
    maxid: usize,
    /// The length of calamine's buffer.
    loaded: usize,
}

impl Sectors<'_> {
    /// Sector `id` as calamine's `Sectors::get` returns it: appends at most `max` bytes of it to
    /// `out` and returns its length. Refused where calamine errs (past `maxid`) or would slice
    /// backwards (a sector starting past the end of the file).
    fn get(&mut self, id: u32, out: &mut Vec<u8>, max: usize) -> Result<usize, FileError> {
        let idx = id as usize;
        if idx > self.maxid {
            return Err(bad(format!("复合文档的扇区 {id} 超出文件末尾")));
        }
        let start = idx * self.size;
        let end = start + self.size;
        let len = if end > self.loaded {
            let got = self.loaded.max(end.min(self.body.len()));
            self.loaded = end;
            if got < start {
                return Err(bad(format!("复合文档的扇区 {id} 超出文件末尾")));
            }
            got - start
        } else {
            self.size
        };
        let take = len.min(max);
        let from = start.min(self.body.len());
        let to = (start + take).min(self.body.len());
        out.extend_from_slice(&self.body[from..to]);
        out.resize(out.len() + (take - (to - from)), 0);
        Ok(len)
    }

    /// A sector chain as calamine's `get_chain` reads it (until ENDOFCHAIN or `len` bytes).
    /// Refused where calamine would index past its FAT (a panic) or follow a cycle (a chain with
    /// more steps than the file has sectors, which calamine grows until memory runs out).
    fn chain(&mut self, start: u32, fats: &[u32], len: usize) -> Result<Vec<u8>, FileError> {
        let mut out = Vec::new();
        let mut id = start;
        let mut steps = 0usize;
        while id != ENDOFCHAIN {
            steps += 1;
            if steps > self.maxid + 1 {
                return Err(bad("复合文档的扇区链成环"));
            }
            let remaining = len - out.len();
            self.get(id, &mut out, remaining)?;
            if out.len() >= len {
                break;
            }
            id = *fats
                .get(id as usize)
                .ok_or_else(|| bad(format!("复合文档的 FAT 中没有扇区 {id}")))?;
        }
        Ok(out)
    }
}

/// A mini-stream chain as calamine reads it; refused where calamine would read a mini sector
/// from outside the mini stream or index past the mini FAT.
fn mini_chain(mini: &[u8], minifat: &[u32], maxid: usize, start: u32, len: usize) -> Result<Vec<u8>, FileError> {
    let mut out = Vec::new();
    let mut id = start;
    let mut steps = 0usize;
    while id != ENDOFCHAIN {
        steps += 1;
        if steps > mini.len() / 64 + 1 {
            return Err(bad("复合文档的迷你扇区链成环"));
        }
        let idx = id as usize;
        let from = idx.checked_mul(64).filter(|_| idx <= maxid.saturating_mul(8));
        let Some(sector) = from.and_then(|f| mini.get(f..f + 64)) else {
            return Err(bad(format!("复合文档的迷你扇区 {id} 超出迷你流")));
        };
        let take = 64usize.min(len - out.len());
        out.extend_from_slice(&sector[..take]);
        if out.len() >= len {
            break;
        }
        id = *minifat
            .get(idx)
            .ok_or_else(|| bad(format!("复合文档的迷你 FAT 中没有扇区 {id}")))?;
    }
    Ok(out)
}

/// The workbook stream exactly as calamine 0.38 reads it (`cfb.rs`: `Cfb::new`, then
/// `get_stream("Workbook")`, else "Book"), refusing the file where its reader would panic, loop
/// or allocate by a count the file can inflate (a DIFAT listing the same FAT sector over and over
/// makes both calamine and the `cfb` crate allocate 127 × the file's size).
pub(super) fn workbook_stream(file: &[u8]) -> Result<Vec<u8>, FileError> {
    const SIGNATURE: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    let header = file.get(..512).ok_or_else(|| bad("复合文档头不完整"))?;
    if header.get(..8) != Some(&SIGNATURE[..]) {
        return Err(bad("不是 OLE 复合文档"));
    }
    let version = u16_at(header, 26);
    let size: usize = match u16_at(header, 30) {
        0x0009 => 512,
        0x000C => 4096,
        s => return Err(bad(format!("复合文档的扇区大小无效（0x{s:X}）"))),
    };
    if u16_at(header, 32) != 0x0006 {
        return Err(bad("复合文档的迷你扇区大小无效"));
    }
    let body = file.get(size..).ok_or_else(|| bad("复合文档头不完整"))?;
    let dir_start = u32_at(header, 48);
    let mini_fat_start = u32_at(header, 60);
    let mini_fat_len = u32_at(header, 64) as usize;
    let difat_start = u32_at(header, 68);
    let maxid = file.len() / size;
    let mut sectors = Sectors {
        body,
        size,
        maxid,
        loaded: 0,
    };

    // The DIFAT: 109 entries in the header, then a chain of sectors. A legitimate file needs
    // one DIFAT sector per (size/4 - 1) FAT sectors, each FAT sector covering size/4 sectors.
    let mut difat: Vec<u32> = le32s(header.get(76..512).unwrap_or(&[])).collect();
    let per = size / 4;
    let max_difat_sectors = maxid / (per * (per - 1)) + 2;
    let mut buf = Vec::with_capacity(size);
    let mut id = difat_start;
    let mut steps = 0usize;
    while id < RESERVED_SECTORS {
        steps += 1;
        if steps > max_difat_sectors {
            return Err(bad("复合文档的 DIFAT 扇区链过长"));
        }
        buf.clear();
        if sectors.get(id, &mut buf, usize::MAX)? % 4 != 0 {
            return Err(bad("复合文档的 DIFAT 扇区不完整"));
        }
        difat.extend(le32s(&buf));
        id = difat.pop().ok_or_else(|| bad("复合文档的 DIFAT 为空"))?;
    }
    let mut fats: Vec<u32> = Vec::new();
    for &fat in difat.iter().filter(|&&x| x < DIFSECT) {
        buf.clear();
        if sectors.get(fat, &mut buf, usize::MAX)? % 4 != 0 {
            return Err(bad("复合文档的 FAT 扇区不完整"));
        }
        fats.extend(le32s(&buf));
    }

    // The directory: calamine takes the first entry (in directory order, not the tree's) named
    // "Workbook", else "Book".
    let dir = sectors.chain(dir_start, &fats, usize::MAX)?;
    let mut root: Option<(u32, usize)> = None;
    let mut workbook: Option<(u32, usize)> = None;
    let mut book: Option<(u32, usize)> = None;
    for entry in dir.chunks_exact(128) {
        let (decoded, _, _) = encoding_rs::UTF_16LE.decode(&entry[..64]);
        let name: &str = match decoded.as_bytes().iter().position(|&b| b == 0) {
            Some(l) => &decoded[..l],
            None => &decoded,
        };
        let start = u32_at(entry, 116);
        let len = if size == 512 {
            u32_at(entry, 120) as usize
        } else {
            u64_at(entry, 120) as usize
        };
        if root.is_none() {
            root = Some((start, len));
        }
        if workbook.is_none() && name.as_bytes().eq_ignore_ascii_case(b"Workbook") {
            workbook = Some((start, len));
        }
        if book.is_none() && name.as_bytes().eq_ignore_ascii_case(b"Book") {
            book = Some((start, len));
        }
    }
    let Some(root) = root else {
        return Err(bad("复合文档没有目录"));
    };
    if version != 3 && root.0 == ENDOFCHAIN {
        return Err(bad("复合文档的根目录为空"));
    }
    let (mini, minifat) = if mini_fat_len > 0 {
        let mini = sectors.chain(root.0, &fats, root.1)?;
        let table = sectors.chain(mini_fat_start, &fats, mini_fat_len.saturating_mul(size))?;
        if table.len() % 4 != 0 {
            return Err(bad("复合文档的迷你 FAT 不完整"));
        }
        (mini, le32s(&table).collect::<Vec<u32>>())
    } else {
        (Vec::new(), Vec::new())
    };
    let (start, len) = workbook.or(book).ok_or_else(|| bad("找不到 Workbook 流"))?;
    if len < 4096 {
        mini_chain(&mini, &minifat, maxid, start, len)
    } else {
        sectors.chain(start, &fats, len)
    }
}
