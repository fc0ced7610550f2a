//! The STAT word of a PMU block. Bits 15-14 are one two-bit field (reading bit 15 alone, the 2005
//! "data invalid" bit, is a public parser's defect for 2011 streams); the 2011 PMU time quality
//! is bits 8-6 (not 7-5); unlocked time is bits 5-4.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat(pub u16);

impl Stat {
    /// 0 good, 1 PMU error, 2 test mode or absent data inserted, 3 PMU error (do not use).
    pub fn data_error(self) -> u8 {
        (self.0 >> 14) as u8
    }
    pub fn sync_error(self) -> bool {
        self.0 & (1 << 13) != 0
    }
    pub fn sorted_by_arrival(self) -> bool {
        self.0 & (1 << 12) != 0
    }
    pub fn trigger(self) -> bool {
        self.0 & (1 << 11) != 0
    }
    pub fn config_change(self) -> bool {
        self.0 & (1 << 10) != 0
    }
    pub fn data_modified(self) -> bool {
        self.0 & (1 << 9) != 0
    }
    pub fn time_quality(self) -> u8 {
        ((self.0 >> 6) & 0x7) as u8
    }
    pub fn unlocked_time(self) -> u8 {
        ((self.0 >> 4) & 0x3) as u8
    }
    pub fn trigger_reason(self) -> u8 {
        (self.0 & 0xF) as u8
    }
}

#[cfg(test)]
mod tests {
    use super::Stat;

    #[test]
    fn fields_sit_at_their_bits() {
        // one field at a time, from the bit positions in IEEE C37.118.2-2011 table 7
        assert_eq!(Stat(0b01 << 14).data_error(), 1);
        assert_eq!(Stat(0b10 << 14).data_error(), 2);
        assert_eq!(Stat(0b11 << 14).data_error(), 3);
        assert!(Stat(1 << 13).sync_error());
        assert!(Stat(1 << 12).sorted_by_arrival());
        assert!(Stat(1 << 11).trigger());
        assert!(Stat(1 << 10).config_change());
        assert!(Stat(1 << 9).data_modified());
        assert_eq!(Stat(0b101 << 6).time_quality(), 5);
        assert_eq!(
            Stat(0b1 << 5).time_quality(),
            0,
            "bit 5 is unlocked time, not time quality"
        );
        assert_eq!(Stat(0b10 << 4).unlocked_time(), 2);
        assert_eq!(Stat(0xB).trigger_reason(), 0xB);
        let all = Stat(0xFFFF);
        assert_eq!(
            (
                all.data_error(),
                all.time_quality(),
                all.unlocked_time(),
                all.trigger_reason()
            ),
            (3, 7, 3, 15)
        );
    }
}
