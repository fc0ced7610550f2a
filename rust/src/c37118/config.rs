//! A stream's configuration (what CFG-1, CFG-2 and CFG-3 frames carry) and the data-frame layout
//! it implies. The CFG-1/2 wire format is in `cfg12.rs`, CFG-3's in `cfg3.rs`.

use super::common::{check_time_base, HEADER_LEN};
use crate::{Error, Result};

/// FORMAT: bit 3 FREQ/DFREQ float, bit 2 analogs float, bit 1 phasors float, bit 0 polar.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Format(pub u16);

impl Format {
    pub fn freq_float(self) -> bool {
        self.0 & 0x8 != 0
    }
    pub fn analogs_float(self) -> bool {
        self.0 & 0x4 != 0
    }
    pub fn phasors_float(self) -> bool {
        self.0 & 0x2 != 0
    }
    pub fn polar(self) -> bool {
        self.0 & 0x1 != 0
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhasorUnit {
    Voltage,
    Current,
}

impl PhasorUnit {
    pub fn symbol(self) -> &'static str {
        match self {
            PhasorUnit::Voltage => "V",
            PhasorUnit::Current => "A",
        }
    }

    pub fn parse(s: &str) -> Result<PhasorUnit> {
        match s {
            "V" | "v" => Ok(PhasorUnit::Voltage),
            "A" | "a" | "I" | "i" => Ok(PhasorUnit::Current),
            _ => Err(Error::Input(format!(
                "phasor unit must be \"V\" (voltage) or \"A\" (current), got {s:?}"
            ))),
        }
    }
}

/// The CFG-3 phasor component (PHSCALE phasor type bits 2-0); codes 3 and 7 are reserved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Component {
    Zero,
    Positive,
    Negative,
    A,
    B,
    C,
}

impl Component {
    pub fn from_code(code: u8) -> Option<Component> {
        Some(match code & 7 {
            0 => Component::Zero,
            1 => Component::Positive,
            2 => Component::Negative,
            4 => Component::A,
            5 => Component::B,
            6 => Component::C,
            _ => return None,
        })
    }

    /// The code for `c`; 7 (reserved) for none.
    pub fn code(c: Option<Component>) -> u8 {
        match c {
            Some(Component::Zero) => 0,
            Some(Component::Positive) => 1,
            Some(Component::Negative) => 2,
            Some(Component::A) => 4,
            Some(Component::B) => 5,
            Some(Component::C) => 6,
            None => 7,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Component::Zero => "zero",
            Component::Positive => "positive",
            Component::Negative => "negative",
            Component::A => "A",
            Component::B => "B",
            Component::C => "C",
        }
    }

    pub fn parse(s: &str) -> Result<Component> {
        Ok(match s {
            "zero" => Component::Zero,
            "positive" => Component::Positive,
            "negative" => Component::Negative,
            "A" => Component::A,
            "B" => Component::B,
            "C" => Component::C,
            _ => {
                return Err(Error::Input(format!(
                    "phasor component must be \"A\", \"B\", \"C\", \"positive\", \"negative\", \"zero\" or None, got {s:?}"
                )))
            }
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct PhasorChannel {
    pub name: String,
    pub unit: PhasorUnit,
    /// V or A per integer count; with CFG-3 scaling (`Config::phscale`) the factor Y applied to
    /// float phasors as well.
    pub scale: f64,
    pub component: Option<Component>,
    /// Radians added to integer phasors' angles (CFG-3), and to float ones with CFG-3 scaling.
    pub angle_offset: f64,
    /// CFG-3 data-modification flags.
    pub flags: u16,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AnalogChannel {
    pub name: String,
    /// ANUNIT top byte: 0 point-on-wave, 1 RMS, 2 peak.
    pub kind: u8,
    pub scale: f64,
    pub offset: f64,
}

/// The CFG-3 fields with no CFG-1/2 counterpart.
#[derive(Clone, Debug, PartialEq)]
pub struct Cfg3Extras {
    pub g_pmu_id: [u8; 16],
    pub latitude: f32,
    pub longitude: f32,
    pub elevation: f32,
    pub service_class: u8,
    pub window: i32,
    pub group_delay: i32,
}

impl Default for Cfg3Extras {
    fn default() -> Self {
        Cfg3Extras {
            g_pmu_id: [0; 16],
            latitude: f32::INFINITY,
            longitude: f32::INFINITY,
            elevation: f32::INFINITY,
            service_class: b'M',
            window: 0,
            group_delay: 0,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct PmuConfig {
    pub station: String,
    pub idcode: u16,
    pub format: Format,
    pub phasors: Vec<PhasorChannel>,
    pub analogs: Vec<AnalogChannel>,
    /// 16 per digital status word, bit 0 first.
    pub digital_names: Vec<String>,
    /// (normal status, valid inputs) per digital status word.
    pub digital_masks: Vec<(u16, u16)>,
    /// 50 or 60.
    pub fnom: u8,
    pub cfgcnt: u16,
    pub extras: Cfg3Extras,
}

impl PmuConfig {
    pub fn digital_words(&self) -> usize {
        self.digital_masks.len()
    }

    /// Bytes of this PMU's block in a data frame.
    pub fn data_size(&self) -> usize {
        let f = self.format;
        2 + self.phasors.len() * if f.phasors_float() { 8 } else { 4 }
            + if f.freq_float() { 8 } else { 4 }
            + self.analogs.len() * if f.analogs_float() { 4 } else { 2 }
            + 2 * self.digital_words()
    }

    /// The checks a hand-built configuration must pass (decoded ones are taken as sent).
    pub fn check(&self) -> Result<()> {
        let who = format!("PMU {:?} (IDCODE {})", self.station, self.idcode);
        if self.idcode == 0 || self.idcode == 0xFFFF {
            return Err(Error::Input(format!("{who}: IDCODE must be in 1..65534")));
        }
        if self.fnom != 50 && self.fnom != 60 {
            return Err(Error::Input(format!(
                "{who}: fnom must be 50 or 60, got {}",
                self.fnom
            )));
        }
        if self.format.0 > 0xF {
            return Err(Error::Input(format!(
                "{who}: FORMAT must be 0..15 (bits 15-4 are unused), got {:#06x}",
                self.format.0
            )));
        }
        if self.digital_names.len() != 16 * self.digital_masks.len() {
            return Err(Error::Input(format!(
                "{who}: {} digital names for {} digital words; give 16 names per word",
                self.digital_names.len(),
                self.digital_masks.len()
            )));
        }
        for n in [
            self.phasors.len(),
            self.analogs.len(),
            self.digital_masks.len(),
        ] {
            if n > u16::MAX as usize {
                return Err(Error::Input(format!("{who}: more than 65535 channels")));
            }
        }
        for p in &self.phasors {
            if !(p.scale.is_finite() && p.angle_offset.is_finite()) {
                return Err(Error::Input(format!(
                    "{who}: phasor {:?} needs a finite scale and angle offset",
                    p.name
                )));
            }
        }
        for a in &self.analogs {
            if !(a.scale.is_finite() && a.offset.is_finite()) {
                return Err(Error::Input(format!(
                    "{who}: analog {:?} needs a finite scale and offset",
                    a.name
                )));
            }
        }
        if !self.extras.service_class.is_ascii() {
            return Err(Error::Input(format!(
                "{who}: service_class must be one ASCII character"
            )));
        }
        Ok(())
    }
}

/// How to turn one phasor's raw values into volts/amperes, precomputed per configuration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct PhasorScale {
    pub scale: f64,
    pub offset: f64,
    /// scale·cos(offset), scale·sin(offset): the rectangular rotation.
    pub c: f64,
    pub s: f64,
}

/// Where each PMU's values sit in a data frame and in the flattened value arrays.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PmuLayout {
    pub block_offset: usize,
    pub block_size: usize,
    pub phasor_start: usize,
    pub analog_start: usize,
    pub digital_start: usize,
    pub scales: Vec<PhasorScale>,
    pub rotated: bool,
    /// Float phasors are multiplied by Y·e^{iθ} (CFG-3 scaling with some Y ≠ 1 or θ ≠ 0).
    pub float_scaled: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    idcode: u16,
    time_base: u32,
    data_rate: i16,
    pmus: Vec<PmuConfig>,
    /// The phasor scales are CFG-3 PHSCALE factors (Y, θ), which C37.118.2-2011 applies to float
    /// phasors too; otherwise they are CFG-1/2 PHUNITs, for 16-bit integer phasors only.
    phscale: bool,
    layouts: Vec<PmuLayout>,
    n_phasors: usize,
    n_analogs: usize,
    n_digitals: usize,
    data_frame_size: usize,
}

impl Config {
    /// A configuration; checks TIME_BASE and that its data frames fit FRAMESIZE.
    pub fn new(
        idcode: u16,
        time_base: u32,
        data_rate: i16,
        pmus: Vec<PmuConfig>,
    ) -> Result<Config> {
        check_time_base(time_base)?;
        let mut layouts = Vec::with_capacity(pmus.len());
        let (mut off, mut ph, mut an, mut dg) = (HEADER_LEN, 0, 0, 0);
        for p in &pmus {
            let scales: Vec<PhasorScale> = p
                .phasors
                .iter()
                .map(|c| PhasorScale {
                    scale: c.scale,
                    offset: c.angle_offset,
                    c: c.scale * c.angle_offset.cos(),
                    s: c.scale * c.angle_offset.sin(),
                })
                .collect();
            let rotated = p.phasors.iter().any(|c| c.angle_offset != 0.0);
            let size = p.data_size();
            layouts.push(PmuLayout {
                block_offset: off,
                block_size: size,
                phasor_start: ph,
                analog_start: an,
                digital_start: dg,
                scales,
                rotated,
                float_scaled: false,
            });
            off += size;
            ph += p.phasors.len();
            an += p.analogs.len();
            dg += p.digital_words();
        }
        let data_frame_size = off + 2;
        if data_frame_size > u16::MAX as usize {
            return Err(Error::Input(format!(
                "configuration of stream {idcode} describes data frames of {data_frame_size} bytes; FRAMESIZE allows at most 65535"
            )));
        }
        if pmus.len() > u16::MAX as usize {
            return Err(Error::Input(format!(
                "configuration of stream {idcode} has more than 65535 PMUs"
            )));
        }
        Ok(Config {
            idcode,
            time_base,
            data_rate,
            pmus,
            phscale: false,
            layouts,
            n_phasors: ph,
            n_analogs: an,
            n_digitals: dg,
            data_frame_size,
        })
    }

    /// `new` plus the checks a hand-built configuration must pass.
    pub fn checked(
        idcode: u16,
        time_base: u32,
        data_rate: i16,
        pmus: Vec<PmuConfig>,
    ) -> Result<Config> {
        if idcode == 0 || idcode == 0xFFFF {
            return Err(Error::Input(format!(
                "stream IDCODE must be in 1..65534, got {idcode}"
            )));
        }
        if pmus.is_empty() {
            return Err(Error::Input(format!(
                "configuration of stream {idcode} needs at least one PMU"
            )));
        }
        if data_rate == 0 {
            return Err(Error::Input(format!(
                "configuration of stream {idcode}: data_rate must be > 0 (frames/s) or < 0 (s/frame), not 0"
            )));
        }
        for p in &pmus {
            p.check()?;
        }
        Config::new(idcode, time_base, data_rate, pmus)
    }

    /// This configuration with CFG-3 scaling (`on`: Y and θ apply to float phasors too) or
    /// CFG-1/2 scaling (integer phasors only).
    pub fn with_phscale(mut self, on: bool) -> Config {
        self.phscale = on;
        for (p, lay) in self.pmus.iter().zip(self.layouts.iter_mut()) {
            lay.float_scaled = on
                && p.format.phasors_float()
                && p.phasors
                    .iter()
                    .any(|c| c.scale != 1.0 || c.angle_offset != 0.0);
        }
        self
    }

    pub fn phscale(&self) -> bool {
        self.phscale
    }

    pub fn idcode(&self) -> u16 {
        self.idcode
    }
    pub fn time_base(&self) -> u32 {
        self.time_base
    }
    pub fn data_rate(&self) -> i16 {
        self.data_rate
    }
    pub fn frame_rate(&self) -> f64 {
        match self.data_rate {
            r if r > 0 => r as f64,
            r if r < 0 => -1.0 / r as f64,
            _ => f64::NAN,
        }
    }
    pub fn pmus(&self) -> &[PmuConfig] {
        &self.pmus
    }
    pub fn data_frame_size(&self) -> usize {
        self.data_frame_size
    }
    pub fn n_phasors(&self) -> usize {
        self.n_phasors
    }
    pub fn n_analogs(&self) -> usize {
        self.n_analogs
    }
    pub fn n_digitals(&self) -> usize {
        self.n_digitals
    }
    pub(crate) fn layouts(&self) -> &[PmuLayout] {
        &self.layouts
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn pmu(format: u16, nph: usize, nan: usize, ndg: usize) -> PmuConfig {
        PmuConfig {
            station: "Station A".into(),
            idcode: 7734,
            format: Format(format),
            phasors: (0..nph)
                .map(|i| PhasorChannel {
                    name: format!("PH{i}"),
                    unit: if i % 2 == 0 {
                        PhasorUnit::Voltage
                    } else {
                        PhasorUnit::Current
                    },
                    scale: (i + 1) as f64 / 100.0,
                    component: None,
                    angle_offset: 0.0,
                    flags: 0,
                })
                .collect(),
            analogs: (0..nan)
                .map(|i| AnalogChannel {
                    name: format!("AN{i}"),
                    kind: 1,
                    scale: 1.0,
                    offset: 0.0,
                })
                .collect(),
            digital_names: (0..16 * ndg).map(|i| format!("D{i}")).collect(),
            digital_masks: vec![(0, 0xFFFF); ndg],
            fnom: 60,
            cfgcnt: 0,
            extras: Cfg3Extras::default(),
        }
    }

    #[test]
    fn data_sizes_follow_format() {
        // the known-answer stream: 4 integer phasors, integer FREQ, 3 float analogs, 1 digital
        assert_eq!(pmu(0x0004, 4, 3, 1).data_size(), 2 + 16 + 4 + 12 + 2);
        assert_eq!(pmu(0x000F, 4, 3, 1).data_size(), 2 + 32 + 8 + 12 + 2);
        let cfg = Config::new(7734, 1_000_000, 30, vec![pmu(0x0004, 4, 3, 1)]).unwrap();
        assert_eq!(cfg.data_frame_size(), 0x34);
    }

    #[test]
    fn checks_refuse_bad_hand_built_configs() {
        assert!(Config::checked(0, 1_000_000, 30, vec![pmu(0, 1, 0, 0)]).is_err());
        assert!(Config::checked(1, 1_000_000, 0, vec![pmu(0, 1, 0, 0)]).is_err());
        assert!(Config::checked(1, 0, 30, vec![pmu(0, 1, 0, 0)]).is_err());
        assert!(Config::checked(1, 1_000_000, 30, vec![]).is_err());
        let mut p = pmu(0, 1, 0, 1);
        p.digital_names.pop();
        assert!(Config::checked(1, 1_000_000, 30, vec![p]).is_err());
        let mut p = pmu(0, 1, 0, 0);
        p.fnom = 55;
        assert!(Config::checked(1, 1_000_000, 30, vec![p]).is_err());
        // 8200 float phasors do not fit one data frame
        assert!(Config::new(1, 1_000_000, 30, vec![pmu(2, 8200, 0, 0)]).is_err());
    }
}
