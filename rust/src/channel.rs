//! The standard grid channels the pipeline produces, as fixed slots. Names match the Python
//! catalogue (`gridtap.channels.CHANNELS`); order here is only the slot order.

pub const NAMES: [&str; NCH] = [
    "ActivePower",
    "ActivePower_L1",
    "ActivePower_L2",
    "ActivePower_L3",
    "ReactivePower",
    "ReactivePower_L1",
    "ReactivePower_L2",
    "ReactivePower_L3",
    "ApparentPower",
    "ApparentPower_L1",
    "ApparentPower_L2",
    "ApparentPower_L3",
    "PowerFactor",
    "PowerFactor_L1",
    "PowerFactor_L2",
    "PowerFactor_L3",
    "Frequency",
    "Frequency_RoCoF",
    "Voltage_L1",
    "Voltage_L2",
    "Voltage_L3",
    "Voltage_L12",
    "Voltage_L23",
    "Voltage_L31",
    "Current_L1",
    "Current_L2",
    "Current_L3",
    "EnergyImport",
    "EnergyExport",
    "EnergyNet",
    "ReactiveEnergyImport",
    "ReactiveEnergyExport",
    "PhaseImbalance",
];

pub const NCH: usize = 33;

pub const P: usize = 0;
pub const P_L: [usize; 3] = [1, 2, 3];
pub const Q: usize = 4;
pub const Q_L: [usize; 3] = [5, 6, 7];
pub const S: usize = 8;
pub const S_L: [usize; 3] = [9, 10, 11];
pub const PF: usize = 12;
pub const PF_L: [usize; 3] = [13, 14, 15];
pub const FREQ: usize = 16;
pub const ROCOF: usize = 17;
pub const E_IMP: usize = 27;
pub const E_EXP: usize = 28;
pub const E_NET: usize = 29;
pub const RE_IMP: usize = 30;
pub const RE_EXP: usize = 31;
pub const IMBALANCE: usize = 32;

/// Channels that are always computed, never read from a meter.
pub const DERIVED_ONLY: [usize; 2] = [E_NET, IMBALANCE];

pub fn index(name: &str) -> Option<usize> {
    NAMES.iter().position(|n| *n == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_match_names() {
        assert_eq!(NAMES[P], "ActivePower");
        assert_eq!(NAMES[P_L[2]], "ActivePower_L3");
        assert_eq!(NAMES[Q_L[0]], "ReactivePower_L1");
        assert_eq!(NAMES[S_L[1]], "ApparentPower_L2");
        assert_eq!(NAMES[PF_L[2]], "PowerFactor_L3");
        assert_eq!(NAMES[FREQ], "Frequency");
        assert_eq!(NAMES[ROCOF], "Frequency_RoCoF");
        assert_eq!(NAMES[E_IMP], "EnergyImport");
        assert_eq!(NAMES[E_NET], "EnergyNet");
        assert_eq!(NAMES[RE_EXP], "ReactiveEnergyExport");
        assert_eq!(NAMES[IMBALANCE], "PhaseImbalance");
        assert_eq!(index("Current_L3"), Some(26));
    }
}
