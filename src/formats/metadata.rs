//! Identifying metadata hidden in evidence files: GPS positions and camera
//! serial numbers in EXIF (JPEG, TIFF, HEIC), author fields in PDF and
//! Office files. A photo's GPS position or a camera's serial number in a
//! court bundle can lead back to a witness.
//!
//! The scan sees the bytes as they stream into the vault, with bounded
//! memory: [`MetadataScanner`] keeps the first [`HEAD_LEN`] and the last
//! [`TAIL_LEN`] bytes of a file and nothing else. EXIF is looked for in the
//! head (a JPEG's APP1 segment sits at its start, at most 64 KiB long; a TIFF's or a
//! HEIC's EXIF block usually near the start); a PDF's Info dictionary in the
//! head and tail (a bounded byte scan for `/Author`, `/Creator`; `/Producer`
//! names software, not a person, and is not reported); an Office file's
//! `docProps/core.xml` through the zip central directory in the tail.
//!
//! What is found is reported by kind only ([`MetadataKind`]): never the
//! values, which stay in the sealed bytes.
//!
//! Not detected (see SECURITY.md): XMP packets, metadata inside videos and
//! audio, faces, landmarks or text visible in a picture, EXIF placed past
//! the head of a TIFF or HEIC, makers' notes, PDF metadata in compressed
//! object streams.

use serde::{Deserialize, Serialize};

/// Bytes kept from the start of a file.
pub const HEAD_LEN: usize = 1024 * 1024;
/// Bytes kept from the end of a file.
pub const TAIL_LEN: usize = 1024 * 1024;

/// A kind of identifying metadata. Serialized in kebab case
/// (`gps-position`), shown as words ("GPS position").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MetadataKind {
    /// GPS latitude/longitude in EXIF.
    GpsPosition,
    /// A camera body or lens serial number in EXIF.
    CameraSerial,
    /// A person's name: EXIF Artist or camera owner, a PDF's `/Author` or
    /// `/Creator`, an Office file's creator or last editor.
    AuthorName,
}

impl MetadataKind {
    /// The kind in words, for people.
    pub fn words(self) -> &'static str {
        match self {
            MetadataKind::GpsPosition => "GPS position",
            MetadataKind::CameraSerial => "camera serial",
            MetadataKind::AuthorName => "author name",
        }
    }
}

impl std::fmt::Display for MetadataKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.words())
    }
}

/// Kinds as words, joined with ", ".
pub fn describe(kinds: &[MetadataKind]) -> String {
    kinds
        .iter()
        .map(|k| k.words())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Watches a stream of bytes, keeping only its head and tail.
#[derive(Debug, Default)]
pub struct MetadataScanner {
    head: Vec<u8>,
    tail: Vec<u8>,
    total: u64,
}

impl MetadataScanner {
    /// A scanner that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next bytes of the stream.
    pub fn update(&mut self, mut bytes: &[u8]) {
        self.total += bytes.len() as u64;
        if self.head.len() < HEAD_LEN {
            let take = (HEAD_LEN - self.head.len()).min(bytes.len());
            self.head.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
        }
        if bytes.is_empty() {
            return;
        }
        if bytes.len() >= TAIL_LEN {
            self.tail.clear();
            self.tail
                .extend_from_slice(&bytes[bytes.len() - TAIL_LEN..]);
            return;
        }
        self.tail.extend_from_slice(bytes);
        // Keep at most 2 × TAIL_LEN before trimming: amortised copying.
        if self.tail.len() > 2 * TAIL_LEN {
            let cut = self.tail.len() - TAIL_LEN;
            self.tail.drain(..cut);
        }
    }

    /// The last bytes of the stream (at most [`TAIL_LEN`]); the head's end
    /// when the whole stream fits in the head.
    fn tail(&self) -> &[u8] {
        if self.tail.is_empty() {
            let from = self.head.len().saturating_sub(TAIL_LEN);
            &self.head[from..]
        } else if self.tail.len() > TAIL_LEN {
            &self.tail[self.tail.len() - TAIL_LEN..]
        } else {
            &self.tail
        }
    }

    /// What the bytes seen so far carry, sorted, without repeats.
    pub fn finish(&self) -> Vec<MetadataKind> {
        scan_parts(&self.head, self.tail(), self.total)
    }
}

/// Scans a whole file held in memory (tests, small inputs).
#[cfg(test)]
pub(crate) fn scan_bytes(bytes: &[u8]) -> Vec<MetadataKind> {
    let mut s = MetadataScanner::new();
    s.update(bytes);
    s.finish()
}

fn scan_parts(head: &[u8], tail: &[u8], total: u64) -> Vec<MetadataKind> {
    let mut found = Vec::new();
    if head.starts_with(&[0xFF, 0xD8]) {
        found.extend(scan_exif_container(&head[..head.len().min(JPEG_HEAD)]));
    } else if head.starts_with(b"II*\0") || head.starts_with(b"MM\0*") || is_heif(head) {
        found.extend(scan_exif_container(head));
    } else if head.starts_with(b"%PDF-") {
        found.extend(scan_pdf(head));
        found.extend(scan_pdf(tail));
    } else if head.starts_with(b"PK\x03\x04") {
        found.extend(scan_office(tail, total));
    }
    found.sort();
    found.dedup();
    found
}

/// Where a JPEG's EXIF lives: its APP1 segment (at most 64 KiB) comes
/// right after the start marker and, at most, a JFIF APP0; 128 KiB leaves
/// room for both.
const JPEG_HEAD: usize = 128 * 1024;

fn is_heif(head: &[u8]) -> bool {
    head.len() >= 12
        && &head[4..8] == b"ftyp"
        && matches!(
            &head[8..12],
            b"heic" | b"heix" | b"hevc" | b"heim" | b"heis" | b"mif1" | b"msf1" | b"avif"
        )
}

/// EXIF through the `exif` crate (JPEG, TIFF, HEIF); a parse failure (a
/// truncated or garbled file) finds nothing.
fn scan_exif_container(bytes: &[u8]) -> Vec<MetadataKind> {
    use exif::{In, Tag};
    let mut cursor = std::io::Cursor::new(bytes);
    let Ok(exif) = exif::Reader::new().read_from_container(&mut cursor) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    let has = |tag: Tag| {
        exif.get_field(tag, In::PRIMARY)
            .or_else(|| exif.get_field(tag, In::THUMBNAIL))
            .is_some_and(|f| !value_is_blank(&f.value))
    };
    if has(Tag::GPSLatitude) || has(Tag::GPSLongitude) {
        found.push(MetadataKind::GpsPosition);
    }
    if has(Tag::BodySerialNumber) || has(Tag::LensSerialNumber) {
        found.push(MetadataKind::CameraSerial);
    }
    if has(Tag::Artist) || has(Tag::CameraOwnerName) {
        found.push(MetadataKind::AuthorName);
    }
    found
}

fn value_is_blank(value: &exif::Value) -> bool {
    match value {
        exif::Value::Ascii(parts) => parts
            .iter()
            .all(|p| p.iter().all(|b| *b == 0 || b.is_ascii_whitespace())),
        exif::Value::Rational(v) => v.is_empty(),
        _ => false,
    }
}

/// A PDF's Info dictionary keys naming people. A plain byte scan: a key
/// counts when it is followed by a non-empty string (`(…)` or `<…>`).
fn scan_pdf(bytes: &[u8]) -> Vec<MetadataKind> {
    let mut found = Vec::new();
    for key in [&b"/Author"[..], b"/Creator"] {
        let mut from = 0;
        while let Some(at) = find(&bytes[from..], key) {
            let after = from + at + key.len();
            if pdf_value_nonempty(&bytes[after..]) {
                found.push(MetadataKind::AuthorName);
                return found;
            }
            from = after;
        }
    }
    found
}

fn pdf_value_nonempty(rest: &[u8]) -> bool {
    let rest = &rest[..rest.len().min(256)];
    // `/CreatorTool` and the like are other keys.
    if rest.first().is_some_and(|b| b.is_ascii_alphanumeric()) {
        return false;
    }
    let start = rest
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(rest.len());
    let rest = &rest[start..];
    match rest.first() {
        Some(b'(') => rest.get(1).is_some_and(|b| *b != b')'),
        Some(b'<') => rest.get(1).is_some_and(|b| *b != b'>' && *b != b'<'),
        _ => false,
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// An Office file (docx, xlsx, pptx: a zip) names its author in
/// `docProps/core.xml` (`dc:creator`, `cp:lastModifiedBy`). The central
/// directory, at the end, says whether that part exists; when it is stored
/// uncompressed its text is looked at, and when it is compressed (the usual
/// case; there is no inflater here) its presence alone is reported, as
/// Office always fills it with the account's name.
fn scan_office(tail: &[u8], total: u64) -> Vec<MetadataKind> {
    const CORE: &[u8] = b"docProps/core.xml";
    // End of central directory record: signature, then fields.
    let Some(eocd) = rfind(tail, b"PK\x05\x06") else {
        return Vec::new();
    };
    let Some(rec) = tail.get(eocd..eocd + 22) else {
        return Vec::new();
    };
    let cd_size = u32::from_le_bytes([rec[12], rec[13], rec[14], rec[15]]) as u64;
    let cd_offset = u32::from_le_bytes([rec[16], rec[17], rec[18], rec[19]]) as u64;
    // Where the tail starts in the file.
    let tail_start = total.saturating_sub(tail.len() as u64);
    let (Some(start), Some(end)) = (
        cd_offset.checked_sub(tail_start),
        (cd_offset + cd_size).checked_sub(tail_start),
    ) else {
        return Vec::new();
    };
    let (Ok(start), Ok(end)) = (usize::try_from(start), usize::try_from(end)) else {
        return Vec::new();
    };
    let Some(mut dir) = tail.get(start..end.min(eocd)) else {
        return Vec::new();
    };
    // Central directory file headers.
    while dir.len() >= 46 && dir.starts_with(b"PK\x01\x02") {
        let u16_at = |i: usize| u16::from_le_bytes([dir[i], dir[i + 1]]) as usize;
        let method = u16_at(10);
        let name_len = u16_at(28);
        let extra_len = u16_at(30);
        let comment_len = u16_at(32);
        let Some(name) = dir.get(46..46 + name_len) else {
            break;
        };
        if name == CORE {
            let stored_text_names_someone = method == 0 && {
                let local = u32::from_le_bytes([dir[42], dir[43], dir[44], dir[45]]) as u64;
                local
                    .checked_sub(tail_start)
                    .and_then(|l| usize::try_from(l).ok())
                    .and_then(|l| tail.get(l..))
                    .map(|rest| core_names_someone(&rest[..rest.len().min(64 * 1024)]))
                    .unwrap_or(true)
            };
            if method != 0 || stored_text_names_someone {
                return vec![MetadataKind::AuthorName];
            }
            return Vec::new();
        }
        let next = 46 + name_len + extra_len + comment_len;
        match dir.get(next..) {
            Some(rest) => dir = rest,
            None => break,
        }
    }
    Vec::new()
}

/// True when the XML has a non-empty `dc:creator` or `cp:lastModifiedBy`.
fn core_names_someone(xml: &[u8]) -> bool {
    for tag in [&b"<dc:creator>"[..], b"<cp:lastModifiedBy>"] {
        if let Some(at) = find(xml, tag) {
            let rest = &xml[at + tag.len()..];
            if rest.first().is_some_and(|b| *b != b'<') {
                return true;
            }
        }
    }
    false
}

fn rfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

/// Why a JPEG could not be stripped.
#[derive(Debug)]
pub enum StripError {
    /// Reading or writing failed.
    Io(std::io::Error),
    /// The bytes are not a well-formed JPEG (the sentence says where).
    Malformed(&'static str),
}

impl std::fmt::Display for StripError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StripError::Io(e) => write!(f, "{e}"),
            StripError::Malformed(why) => write!(f, "not a well-formed JPEG: {why}"),
        }
    }
}

impl std::error::Error for StripError {}

impl From<std::io::Error> for StripError {
    fn from(e: std::io::Error) -> Self {
        StripError::Io(e)
    }
}

/// True for a JPEG segment `evidence strip` keeps: everything but APPn
/// (EXIF, XMP, makers' and Photoshop blocks) and comments, except a JFIF
/// APP0 and an ICC profile APP2 (colours, no identity).
fn keep_segment(marker: u8, payload: &[u8]) -> bool {
    match marker {
        0xE0 => payload.starts_with(b"JFIF\0"),
        0xE2 => payload.starts_with(b"ICC_PROFILE\0"),
        0xE1 | 0xE3..=0xEF | 0xFE => false,
        _ => true,
    }
}

fn read_byte(r: &mut impl std::io::Read) -> Result<Option<u8>, StripError> {
    let mut b = [0u8; 1];
    loop {
        match r.read(&mut b) {
            Ok(0) => return Ok(None),
            Ok(_) => return Ok(Some(b[0])),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

fn need_byte(r: &mut impl std::io::Read, what: &'static str) -> Result<u8, StripError> {
    read_byte(r)?.ok_or(StripError::Malformed(what))
}

/// Copies a JPEG from `r` to `w` without its metadata segments (APP1 EXIF
/// and XMP, APP3–APP15, comments; JFIF APP0 and ICC APP2 are kept), the
/// image data byte for byte, and nothing after the end-of-image marker
/// (where some phones put more metadata). Memory: one segment (≤ 64 KiB).
pub(crate) fn strip_jpeg(
    r: &mut impl std::io::Read,
    w: &mut impl std::io::Write,
) -> Result<(), StripError> {
    if need_byte(r, "empty")? != 0xFF || need_byte(r, "no start marker")? != 0xD8 {
        return Err(StripError::Malformed("no start-of-image marker"));
    }
    w.write_all(&[0xFF, 0xD8])?;
    // The marker byte after 0xFF of the next segment, once known.
    let mut pending: Option<u8> = None;
    loop {
        let marker = match pending.take() {
            Some(m) => m,
            None => {
                if need_byte(r, "cut before the end-of-image marker")? != 0xFF {
                    return Err(StripError::Malformed("expected a marker"));
                }
                let mut m = need_byte(r, "cut inside a marker")?;
                while m == 0xFF {
                    m = need_byte(r, "cut inside a marker")?;
                }
                m
            }
        };
        match marker {
            0xD9 => {
                w.write_all(&[0xFF, 0xD9])?;
                return Ok(());
            }
            0x01 | 0xD0..=0xD7 => {
                w.write_all(&[0xFF, marker])?;
                continue;
            }
            0x00 => return Err(StripError::Malformed("stuffed byte outside image data")),
            _ => {}
        }
        let hi = need_byte(r, "cut inside a segment length")?;
        let lo = need_byte(r, "cut inside a segment length")?;
        let len = u16::from_be_bytes([hi, lo]) as usize;
        if len < 2 {
            return Err(StripError::Malformed("segment length below 2"));
        }
        let mut payload = vec![0u8; len - 2];
        r.read_exact(&mut payload)
            .map_err(|_| StripError::Malformed("cut inside a segment"))?;
        if keep_segment(marker, &payload) {
            w.write_all(&[0xFF, marker, hi, lo])?;
            w.write_all(&payload)?;
        }
        if marker == 0xDA {
            // Entropy-coded data: copied until a marker other than a
            // stuffed zero or a restart ends it.
            loop {
                let b = need_byte(r, "cut inside the image data")?;
                if b != 0xFF {
                    w.write_all(&[b])?;
                    continue;
                }
                let mut next = need_byte(r, "cut inside the image data")?;
                while next == 0xFF {
                    next = need_byte(r, "cut inside the image data")?;
                }
                if next == 0x00 || (0xD0..=0xD7).contains(&next) {
                    w.write_all(&[0xFF, next])?;
                } else {
                    pending = Some(next);
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(marker: u8, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![0xFF, marker];
        v.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
        v.extend_from_slice(payload);
        v
    }

    fn sample_jpeg() -> Vec<u8> {
        let mut j = vec![0xFF, 0xD8];
        j.extend(segment(0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0"));
        j.extend(segment(0xE1, b"Exif\0\0MM\0*secret"));
        j.extend(segment(0xE2, b"ICC_PROFILE\0\x01\x01colours"));
        j.extend(segment(0xED, b"Photoshop 3.0\0name"));
        j.extend(segment(0xFE, b"taken by J. Roe"));
        j.extend(segment(0xDB, &[0; 65]));
        j.extend(segment(0xDA, &[1, 1, 0, 0, 0x3F, 0]));
        // Image data with a stuffed 0xFF and a restart marker.
        j.extend_from_slice(&[0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56]);
        j.extend(segment(0xC4, &[0; 20]));
        j.extend(segment(0xDA, &[1, 1, 0, 0, 0x3F, 0]));
        j.extend_from_slice(&[0x78, 0xFF, 0xD9]);
        j.extend_from_slice(b"trailer with a serial");
        j
    }

    #[test]
    fn strip_jpeg_drops_metadata_and_keeps_the_image() {
        let j = sample_jpeg();
        let mut out = Vec::new();
        strip_jpeg(&mut j.as_slice(), &mut out).unwrap();
        let mut want = vec![0xFF, 0xD8];
        want.extend(segment(0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0"));
        want.extend(segment(0xE2, b"ICC_PROFILE\0\x01\x01colours"));
        want.extend(segment(0xDB, &[0; 65]));
        want.extend(segment(0xDA, &[1, 1, 0, 0, 0x3F, 0]));
        want.extend_from_slice(&[0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56]);
        want.extend(segment(0xC4, &[0; 20]));
        want.extend(segment(0xDA, &[1, 1, 0, 0, 0x3F, 0]));
        want.extend_from_slice(&[0x78, 0xFF, 0xD9]);
        assert_eq!(out, want);
        assert!(find(&out, b"Exif").is_none());
        // Stripping twice changes nothing more.
        let mut again = Vec::new();
        strip_jpeg(&mut out.as_slice(), &mut again).unwrap();
        assert_eq!(again, out);
    }

    #[test]
    fn strip_jpeg_refuses_truncated_and_garbage() {
        let j = sample_jpeg();
        let end = j.len() - b"trailer with a serial".len();
        for cut in 0..end {
            let mut out = Vec::new();
            assert!(
                strip_jpeg(&mut &j[..cut], &mut out).is_err(),
                "cut at {cut} accepted"
            );
        }
        for bad in [
            &b""[..],
            b"\xFF",
            b"\xFF\xD8\x00",
            b"GIF89a",
            b"\xFF\xD8\xFF\xE1\x00\x01",
        ] {
            let mut out = Vec::new();
            assert!(strip_jpeg(&mut &bad[..], &mut out).is_err());
        }
    }

    /// A little-endian TIFF whose IFD0 has an Artist and a GPS IFD with a
    /// latitude; every cut of it is scanned without a panic.
    #[test]
    fn tiff_exif_gps_and_artist() {
        let mut t = b"II*\0".to_vec();
        t.extend(8u32.to_le_bytes());
        let entry = |t: &mut Vec<u8>, tag: u16, kind: u16, count: u32, value: u32| {
            t.extend(tag.to_le_bytes());
            t.extend(kind.to_le_bytes());
            t.extend(count.to_le_bytes());
            t.extend(value.to_le_bytes());
        };
        // IFD0 at 8: 2 entries, ends at 8 + 2 + 24 + 4 = 38.
        t.extend(2u16.to_le_bytes());
        entry(&mut t, 0x013B, 2, 4, u32::from_le_bytes(*b"Ann\0"));
        entry(&mut t, 0x8825, 4, 1, 38);
        t.extend(0u32.to_le_bytes());
        // GPS IFD at 38: 1 entry, ends at 56; the rationals there.
        t.extend(1u16.to_le_bytes());
        entry(&mut t, 0x0002, 5, 3, 56);
        t.extend(0u32.to_le_bytes());
        for v in [43u32, 1, 15, 1, 30, 1] {
            t.extend(v.to_le_bytes());
        }
        assert_eq!(
            scan_bytes(&t),
            vec![MetadataKind::GpsPosition, MetadataKind::AuthorName]
        );
        for cut in 0..t.len() {
            let _ = scan_bytes(&t[..cut]);
        }
    }

    #[test]
    fn pdf_author_found_and_empty_ignored() {
        let pdf = b"%PDF-1.4\n1 0 obj << /Author (Jane Roe) >> endobj\n%%EOF";
        assert_eq!(scan_bytes(pdf), vec![MetadataKind::AuthorName]);
        let empty = b"%PDF-1.4\n1 0 obj << /Author () /CreatorTool (x) >> endobj";
        assert!(scan_bytes(empty).is_empty());
        let hex = b"%PDF-1.7\n<< /Creator <FEFF0041> >>";
        assert_eq!(scan_bytes(hex), vec![MetadataKind::AuthorName]);
    }

    #[test]
    fn pdf_author_in_the_tail_of_a_large_file() {
        let mut pdf = b"%PDF-1.4\n".to_vec();
        pdf.resize(3 * 1024 * 1024, b' ');
        pdf.extend_from_slice(b"<< /Author (X) >>\n%%EOF");
        let mut s = MetadataScanner::new();
        for piece in pdf.chunks(100_000) {
            s.update(piece);
        }
        assert_eq!(s.finish(), vec![MetadataKind::AuthorName]);
        assert!(s.head.len() <= HEAD_LEN && s.tail.len() <= 2 * TAIL_LEN);
    }

    #[test]
    fn author_in_the_middle_of_a_large_pdf_is_not_seen() {
        // The bound: only the first and last MiB are looked at.
        let mut pdf = b"%PDF-1.4\n".to_vec();
        pdf.resize(2 * 1024 * 1024, b' ');
        pdf.extend_from_slice(b"<< /Author (X) >>");
        pdf.resize(4 * 1024 * 1024, b' ');
        assert!(scan_bytes(&pdf).is_empty());
    }

    fn zip_with_core(core: &[u8], method: u16) -> Vec<u8> {
        let name = b"docProps/core.xml";
        let mut z = Vec::new();
        // Local header.
        z.extend_from_slice(b"PK\x03\x04");
        z.extend_from_slice(&[20, 0, 0, 0]);
        z.extend_from_slice(&method.to_le_bytes());
        z.extend_from_slice(&[0; 4]); // time, date
        z.extend_from_slice(&[0; 4]); // crc
        z.extend_from_slice(&(core.len() as u32).to_le_bytes());
        z.extend_from_slice(&(core.len() as u32).to_le_bytes());
        z.extend_from_slice(&(name.len() as u16).to_le_bytes());
        z.extend_from_slice(&[0, 0]);
        z.extend_from_slice(name);
        z.extend_from_slice(core);
        let cd_offset = z.len() as u32;
        z.extend_from_slice(b"PK\x01\x02");
        z.extend_from_slice(&[20, 0, 20, 0, 0, 0]);
        z.extend_from_slice(&method.to_le_bytes());
        z.extend_from_slice(&[0; 8]); // time, date, crc
        z.extend_from_slice(&(core.len() as u32).to_le_bytes());
        z.extend_from_slice(&(core.len() as u32).to_le_bytes());
        z.extend_from_slice(&(name.len() as u16).to_le_bytes());
        z.extend_from_slice(&[0; 12]); // extra, comment, disk, attrs
        z.extend_from_slice(&0u32.to_le_bytes()); // local header offset
        z.extend_from_slice(name);
        let cd_size = z.len() as u32 - cd_offset;
        z.extend_from_slice(b"PK\x05\x06");
        z.extend_from_slice(&[0, 0, 0, 0, 1, 0, 1, 0]);
        z.extend_from_slice(&cd_size.to_le_bytes());
        z.extend_from_slice(&cd_offset.to_le_bytes());
        z.extend_from_slice(&[0, 0]);
        z
    }

    #[test]
    fn office_core_properties() {
        let named = b"<cp:coreProperties><dc:creator>A. Person</dc:creator></cp:coreProperties>";
        assert_eq!(
            scan_bytes(&zip_with_core(named, 0)),
            vec![MetadataKind::AuthorName]
        );
        let blank = b"<cp:coreProperties><dc:creator></dc:creator></cp:coreProperties>";
        assert!(scan_bytes(&zip_with_core(blank, 0)).is_empty());
        // Compressed: its presence is reported.
        assert_eq!(
            scan_bytes(&zip_with_core(b"\x01\x02garbage", 8)),
            vec![MetadataKind::AuthorName]
        );
    }

    #[test]
    fn truncated_and_garbage_inputs_find_nothing_and_do_not_panic() {
        let zip = zip_with_core(b"<dc:creator>A</dc:creator>", 0);
        for cut in 0..zip.len() {
            let _ = scan_bytes(&zip[..cut]);
            let _ = scan_bytes(&zip[cut..]);
        }
        let pdf = b"%PDF-1.4 /Author (";
        for cut in 0..pdf.len() {
            let _ = scan_bytes(&pdf[..cut]);
        }
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE1, 0xFF, 0xFF];
        jpeg.extend_from_slice(b"Exif\0\0MM\0*\0\0\0\x08\xFF\xFF");
        for cut in 0..jpeg.len() {
            let _ = scan_bytes(&jpeg[..cut]);
        }
        // Pseudo-random garbage behind each magic.
        let mut x: u32 = 0x1234_5678;
        let mut noise = || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x & 0xFF) as u8
        };
        for magic in [
            &b"\xFF\xD8"[..],
            b"II*\0",
            b"MM\0*",
            b"%PDF-",
            b"PK\x03\x04",
        ] {
            for len in [0usize, 10, 100, 5000] {
                let mut v = magic.to_vec();
                v.extend((0..len).map(|_| noise()));
                let _ = scan_bytes(&v);
            }
        }
    }
}
