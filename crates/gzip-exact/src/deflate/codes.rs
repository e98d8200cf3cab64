//! RFC 1951's length and distance codes, computed rather than looked up.

/// The length code (0–28) of a match length minus 3.
pub fn length_code(xlength: u32) -> u32 {
    match xlength {
        0..=7 => xlength,
        255 => 28,
        _ => {
            // Codes 8.. cover 2^k lengths each, four codes per k.
            let k = 31 - (xlength).leading_zeros() - 2;
            4 * k + 4 + ((xlength >> k) & 3)
        }
    }
}

/// The distance code (0–29) of a distance minus 1.
pub fn offset_code(xoffset: u32) -> u32 {
    if xoffset < 2 {
        return xoffset;
    }
    // Two codes per power of two, the bit below the top one choosing between them.
    let n = 31 - xoffset.leading_zeros();
    2 * n + ((xoffset >> (n - 1)) & 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The codes of RFC 1951's tables, computed from their definitions.
    #[test]
    fn codes_match_the_rfc_tables() {
        let base: [u32; 29] = [
            3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99,
            115, 131, 163, 195, 227, 258,
        ];
        for len in 3..=258u32 {
            let code = base.iter().rposition(|&b| b <= len).unwrap() as u32;
            assert_eq!(length_code(len - 3), code, "length {len}");
        }
        let dbase: [u32; 30] = [
            1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025,
            1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
        ];
        for dist in 1..=32768u32 {
            let code = dbase.iter().rposition(|&b| b <= dist).unwrap() as u32;
            assert_eq!(offset_code(dist - 1), code, "distance {dist}");
        }
    }
}
