//! Recovery keys: 160 random bits, written for humans as nine groups of four
//! Crockford base32 characters, the last group a 20-bit checksum.
//!
//! `7W3K-9QXA-…-CHK1`: no I/L/O/U to confuse, case-insensitive, dashes and
//! spaces ignored, `O` read as `0` and `I`/`L` as `1`. A typo is caught by the
//! checksum before any slot is tried.

use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::{random_bytes, CryptoError};

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Secret length in bytes (160 bits).
pub const SECRET_LEN: usize = 20;
const CHECK_BITS: u32 = 20;
const GROUPS: usize = 9;

/// A recovery key's secret bytes; wiped on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct RecoveryKey([u8; SECRET_LEN]);

impl RecoveryKey {
    /// A fresh random recovery key.
    pub fn generate() -> Result<RecoveryKey, CryptoError> {
        Ok(RecoveryKey(random_bytes()?))
    }

    /// The secret, for slot wrapping.
    pub fn secret(&self) -> &[u8; SECRET_LEN] {
        &self.0
    }

    /// The human form: `XXXX-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX-CCCC`.
    pub fn to_display(&self) -> Zeroizing<String> {
        let mut bits = Zeroizing::new(Vec::with_capacity(180));
        for byte in self.0 {
            for i in (0..8).rev() {
                bits.push((byte >> i) & 1);
            }
        }
        let check = checksum(&self.0);
        for i in (0..CHECK_BITS).rev() {
            bits.push(((check >> i) & 1) as u8);
        }
        let mut out = Zeroizing::new(String::with_capacity(GROUPS * 5));
        for (n, chunk) in bits.chunks(5).enumerate() {
            if n > 0 && n % 4 == 0 {
                out.push('-');
            }
            let v = chunk
                .iter()
                .fold(0usize, |acc, b| (acc << 1) | usize::from(*b));
            out.push(char::from(ALPHABET[v]));
        }
        out
    }

    /// Parses the human form, checking the checksum.
    pub fn parse(text: &str) -> Result<RecoveryKey, CryptoError> {
        let bad = |why: &str| CryptoError::MalformedRecoveryKey(why.to_owned());
        let mut values = Zeroizing::new(Vec::with_capacity(36));
        for c in text.chars() {
            if c == '-' || c.is_whitespace() {
                continue;
            }
            let c = match c.to_ascii_uppercase() {
                'O' => '0',
                'I' | 'L' => '1',
                other => other,
            };
            let v = ALPHABET
                .iter()
                .position(|&a| char::from(a) == c)
                .ok_or_else(|| bad("it contains a character that is not in a recovery key"))?;
            values.push(v as u8);
        }
        if values.len() != GROUPS * 4 {
            return Err(bad(&format!(
                "expected {} characters, found {}",
                GROUPS * 4,
                values.len()
            )));
        }
        let mut bits = Zeroizing::new(Vec::with_capacity(180));
        for v in values.iter() {
            for i in (0..5).rev() {
                bits.push((v >> i) & 1);
            }
        }
        let mut secret = [0u8; SECRET_LEN];
        for (i, byte) in secret.iter_mut().enumerate() {
            *byte = bits[i * 8..i * 8 + 8]
                .iter()
                .fold(0u8, |acc, b| (acc << 1) | b);
        }
        let check = bits[SECRET_LEN * 8..]
            .iter()
            .fold(0u32, |acc, b| (acc << 1) | u32::from(*b));
        let key = RecoveryKey(secret);
        secret.zeroize();
        if check != checksum(&key.0) {
            return Err(bad("the checksum does not match (a character is mistyped)"));
        }
        Ok(key)
    }
}

fn checksum(secret: &[u8; SECRET_LEN]) -> u32 {
    let digest = Sha256::new()
        .chain_update(b"custodia recovery key v1")
        .chain_update(secret)
        .finalize();
    (u32::from(digest[0]) << 12) | (u32::from(digest[1]) << 4) | (u32::from(digest[2]) >> 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_in_many_spellings() {
        let key = RecoveryKey::generate().unwrap();
        let shown = key.to_display();
        assert_eq!(shown.len(), 9 * 4 + 8);
        assert_eq!(shown.matches('-').count(), 8);
        let back = RecoveryKey::parse(&shown).unwrap();
        assert_eq!(back.secret(), key.secret());
        let lower = shown.to_lowercase().replace('-', " ");
        assert_eq!(RecoveryKey::parse(&lower).unwrap().secret(), key.secret());
        let confusable = shown.replace('0', "O").replace('1', "l");
        assert_eq!(
            RecoveryKey::parse(&confusable).unwrap().secret(),
            key.secret()
        );
    }

    /// `docs/format.md` §20, "Recovery key": text form, checksum and
    /// recovery-wrap key.
    #[test]
    fn recovery_key_matches_format_vectors() {
        let secret: [u8; SECRET_LEN] = std::array::from_fn(|i| i as u8);
        let key = RecoveryKey(secret);
        assert_eq!(checksum(&secret), 0xd065f);
        let text = "000G-40R4-0M30-E209-185G-R38E-1W81-24GK-T1JZ";
        assert_eq!(&*key.to_display(), text);
        assert_eq!(RecoveryKey::parse(text).unwrap().secret(), &secret);
    }

    #[test]
    fn typos_are_caught() {
        // A fixed key: with a random one, a 20-bit checksum would miss a
        // given typo with probability 2^-20, making the test flaky.
        let key = RecoveryKey([0x5a; SECRET_LEN]);
        let shown: Vec<char> = key.to_display().chars().collect();
        let mut caught = 0;
        for i in 0..shown.len() {
            if shown[i] == '-' {
                continue;
            }
            let mut typo = shown.clone();
            typo[i] = if shown[i] == '7' { '8' } else { '7' };
            let typo: String = typo.into_iter().collect();
            if RecoveryKey::parse(&typo).is_err() {
                caught += 1;
            }
        }
        assert_eq!(caught, 36, "every single-character typo must be caught");
        assert!(RecoveryKey::parse("ABCD").is_err());
        assert!(RecoveryKey::parse(&"U".repeat(36)).is_err());
    }
}
