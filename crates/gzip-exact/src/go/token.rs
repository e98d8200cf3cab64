//! Tokens as Go's compress/flate packs them: a literal, or a match of length-3 and offset-1.

pub const MATCH_TYPE: u32 = 1 << 30;
const LENGTH_SHIFT: u32 = 22;
const OFFSET_MASK: u32 = (1 << LENGTH_SHIFT) - 1;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Token(pub u32);

impl Token {
    pub fn literal_token(literal: u32) -> Token {
        Token(literal)
    }

    /// `xlength` is the match length minus 3, `xoffset` the distance minus 1.
    pub fn match_token(xlength: u32, xoffset: u32) -> Token {
        Token(MATCH_TYPE + (xlength << LENGTH_SHIFT) + xoffset)
    }

    pub fn literal(self) -> u32 {
        self.0
    }

    pub fn offset(self) -> u32 {
        self.0 & OFFSET_MASK
    }

    pub fn length(self) -> u32 {
        (self.0 - MATCH_TYPE) >> LENGTH_SHIFT
    }
}
