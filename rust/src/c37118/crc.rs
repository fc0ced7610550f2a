//! CHK: CRC-16-CCITT as C37.118.2 specifies it (polynomial 0x1021, initial value 0xFFFF, no
//! reflection, no final XOR; the "CCITT-FALSE" variant), over every byte of a frame before CHK.
//!
//! Slicing by 8: the CRC of 8 bytes is the XOR of eight table look-ups, each table giving the
//! contribution of a byte followed by k zero bytes. A data frame is checked in a few nanoseconds,
//! which keeps the CRC from dominating the decode of short frames.

const POLY: u16 = 0x1021;
pub const INIT: u16 = 0xFFFF;

const fn byte_table() -> [u16; 256] {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ POLY
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

const fn slice_tables() -> [[u16; 256]; 8] {
    let mut tables = [[0u16; 256]; 8];
    tables[0] = byte_table();
    let mut k = 1;
    while k < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = tables[k - 1][i];
            tables[k][i] = (prev << 8) ^ tables[0][(prev >> 8) as usize];
            i += 1;
        }
        k += 1;
    }
    tables
}

static TABLES: [[u16; 256]; 8] = slice_tables();

/// Continue a CRC over `data`.
#[inline]
pub fn update(mut crc: u16, data: &[u8]) -> u16 {
    let t = &TABLES;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let x0 = c[0] ^ (crc >> 8) as u8;
        let x1 = c[1] ^ crc as u8;
        crc = t[7][x0 as usize]
            ^ t[6][x1 as usize]
            ^ t[5][c[2] as usize]
            ^ t[4][c[3] as usize]
            ^ t[3][c[4] as usize]
            ^ t[2][c[5] as usize]
            ^ t[1][c[6] as usize]
            ^ t[0][c[7] as usize];
    }
    for &b in chunks.remainder() {
        crc = (crc << 8) ^ t[0][((crc >> 8) as u8 ^ b) as usize];
    }
    crc
}

/// CHK of `data` (everything before the CHK field).
#[inline]
pub fn crc16(data: &[u8]) -> u16 {
    update(INIT, data)
}

/// Whether a whole frame (CHK included, at least 2 bytes) carries a correct CHK.
#[inline]
pub fn frame_ok(frame: &[u8]) -> bool {
    let n = frame.len();
    n >= 2 && crc16(&frame[..n - 2]) == u16::from_be_bytes([frame[n - 2], frame[n - 1]])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bitwise(data: &[u8]) -> u16 {
        let mut crc = INIT;
        for &b in data {
            crc ^= (b as u16) << 8;
            for _ in 0..8 {
                crc = if crc & 0x8000 != 0 {
                    (crc << 1) ^ POLY
                } else {
                    crc << 1
                };
            }
        }
        crc
    }

    #[test]
    fn check_value_of_the_ccitt_false_catalogue() {
        // the CRC catalogue's check value for CRC-16/CCITT-FALSE over "123456789"
        assert_eq!(crc16(b"123456789"), 0x29B1);
    }

    #[test]
    fn sliced_equals_bitwise_for_every_length() {
        let data: Vec<u8> = (0..300u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        for n in 0..data.len() {
            assert_eq!(crc16(&data[..n]), bitwise(&data[..n]), "length {n}");
        }
    }

    #[test]
    fn update_continues_across_splits() {
        let data = b"synchrophasor frames over TCP";
        for split in 0..data.len() {
            let crc = update(update(INIT, &data[..split]), &data[split..]);
            assert_eq!(crc, crc16(data));
        }
    }

    #[test]
    fn known_answer_data_frame_chk() {
        // c37118.md's known-answer data frame ends with CHK 0xD43F
        let hex = "aa0100341e3644853600000041b10000392b0000e36ace7ce36a31830444000009c4000042c80000447a0000461c40003c12d43f";
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        assert!(frame_ok(&bytes));
        assert_eq!(crc16(&bytes[..bytes.len() - 2]), 0xD43F);
        let mut bad = bytes.clone();
        bad[20] ^= 1;
        assert!(!frame_ok(&bad));
    }
}
