//! Bindings for C37.118 configurations: `C37118PmuConfig` and `C37118Config`, immutable views of
//! the kernel's `PmuConfig` and `Config`. Docstrings live in `_core.pyi`.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::guard;
use crate::c37118::{
    AnalogChannel, Cfg3Extras, Component, Config, Format, PhasorChannel, PhasorUnit, PmuConfig,
};
use crate::{Error, Result};

fn int_in(v: i64, lo: i64, hi: i64, what: &str) -> Result<i64> {
    if (lo..=hi).contains(&v) {
        Ok(v)
    } else {
        Err(Error::Input(format!(
            "{what} must be in {lo}..{hi}, got {v}"
        )))
    }
}

/// A per-channel list: as given (with the length of `names`), or `default` for each name.
fn per_channel<T: Clone>(
    given: Option<Vec<T>>,
    n: usize,
    default: T,
    what: &str,
    who: &str,
) -> Result<Vec<T>> {
    match given {
        None => Ok(vec![default; n]),
        Some(v) if v.len() == n => Ok(v),
        Some(v) => Err(Error::Input(format!(
            "{who}: {} {what} for {n} channels; give one per name",
            v.len()
        ))),
    }
}

#[pyclass(module = "gridtap._core", name = "C37118PmuConfig", frozen)]
pub struct PyPmuConfig {
    pub(crate) inner: PmuConfig,
}

#[pymethods]
impl PyPmuConfig {
    #[new]
    #[pyo3(signature = (
        station, idcode, format = 0, *,
        phasor_names = Vec::new(), phasor_units = None, phasor_scales = None,
        phasor_components = None, phasor_angle_offsets = None, phasor_flags = None,
        analog_names = Vec::new(), analog_kinds = None, analog_scales = None, analog_offsets = None,
        digital_names = Vec::new(), digital_masks = None,
        fnom = 50, cfgcnt = 0,
        g_pmu_id = None, latitude = f64::INFINITY, longitude = f64::INFINITY,
        elevation = f64::INFINITY, service_class = "M", window = 0, group_delay = 0,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        station: String,
        idcode: i64,
        format: i64,
        phasor_names: Vec<String>,
        phasor_units: Option<Vec<String>>,
        phasor_scales: Option<Vec<f64>>,
        phasor_components: Option<Vec<Option<String>>>,
        phasor_angle_offsets: Option<Vec<f64>>,
        phasor_flags: Option<Vec<i64>>,
        analog_names: Vec<String>,
        analog_kinds: Option<Vec<i64>>,
        analog_scales: Option<Vec<f64>>,
        analog_offsets: Option<Vec<f64>>,
        digital_names: Vec<String>,
        digital_masks: Option<Vec<(i64, i64)>>,
        fnom: i64,
        cfgcnt: i64,
        g_pmu_id: Option<Vec<u8>>,
        latitude: f64,
        longitude: f64,
        elevation: f64,
        service_class: &str,
        window: i64,
        group_delay: i64,
    ) -> PyResult<Self> {
        let inner = guard(|| {
            let who = format!("PMU {station:?}");
            let idcode = int_in(idcode, 1, 65534, &format!("{who}: idcode"))? as u16;
            let format = int_in(
                format,
                0,
                15,
                &format!("{who}: format (the FORMAT bits 3-0)"),
            )?;
            let nph = phasor_names.len();
            let units = per_channel(
                phasor_units.map(|v| v.into_iter().map(Some).collect()),
                nph,
                None,
                "phasor_units",
                &who,
            )?;
            let scales = per_channel(phasor_scales, nph, 1.0, "phasor_scales", &who)?;
            let comps = per_channel(phasor_components, nph, None, "phasor_components", &who)?;
            let offsets =
                per_channel(phasor_angle_offsets, nph, 0.0, "phasor_angle_offsets", &who)?;
            let flags = per_channel(phasor_flags, nph, 0, "phasor_flags", &who)?;
            let mut phasors = Vec::with_capacity(nph);
            for (i, name) in phasor_names.into_iter().enumerate() {
                let unit = match &units[i] {
                    None => PhasorUnit::Voltage,
                    Some(v) => PhasorUnit::parse(v)
                        .map_err(|e| Error::Input(format!("{who}: phasor {name:?}: {e}")))?,
                };
                let component = match &comps[i] {
                    None => None,
                    Some(c) => Some(
                        Component::parse(c)
                            .map_err(|e| Error::Input(format!("{who}: phasor {name:?}: {e}")))?,
                    ),
                };
                let flags = int_in(
                    flags[i],
                    0,
                    0xFFFF,
                    &format!("{who}: phasor {name:?} flags"),
                )?;
                phasors.push(PhasorChannel {
                    name,
                    unit,
                    scale: scales[i],
                    component,
                    angle_offset: offsets[i],
                    flags: flags as u16,
                });
            }
            let nan = analog_names.len();
            let kinds = per_channel(analog_kinds, nan, 1, "analog_kinds", &who)?;
            let ascales = per_channel(analog_scales, nan, 1.0, "analog_scales", &who)?;
            let aoffsets = per_channel(analog_offsets, nan, 0.0, "analog_offsets", &who)?;
            let mut analogs = Vec::with_capacity(nan);
            for (i, name) in analog_names.into_iter().enumerate() {
                let kind = int_in(kinds[i], 0, 255, &format!("{who}: analog {name:?} kind"))?;
                analogs.push(AnalogChannel {
                    name,
                    kind: kind as u8,
                    scale: ascales[i],
                    offset: aoffsets[i],
                });
            }
            if !digital_names.len().is_multiple_of(16) {
                return Err(Error::Input(format!(
                    "{who}: {} digital names; give 16 per digital status word (bit 0 first)",
                    digital_names.len()
                )));
            }
            let words = digital_names.len() / 16;
            let masks = per_channel(digital_masks, words, (0, 0xFFFF), "digital_masks", &who)
                .map_err(|_| {
                    Error::Input(format!(
                        "{who}: digital_masks needs one (normal, valid) pair per digital word ({words})"
                    ))
                })?;
            let mut digital_masks = Vec::with_capacity(words);
            for (normal, valid) in masks {
                digital_masks.push((
                    int_in(normal, 0, 0xFFFF, &format!("{who}: digital mask"))? as u16,
                    int_in(valid, 0, 0xFFFF, &format!("{who}: digital mask"))? as u16,
                ));
            }
            let fnom = match fnom {
                50 | 60 => fnom as u8,
                _ => {
                    return Err(Error::Input(format!(
                        "{who}: fnom must be 50 or 60, got {fnom}"
                    )))
                }
            };
            let g = g_pmu_id.unwrap_or_else(|| vec![0; 16]);
            let g_pmu_id: [u8; 16] = g.as_slice().try_into().map_err(|_| {
                Error::Input(format!("{who}: g_pmu_id must be 16 bytes, got {}", g.len()))
            })?;
            let sc = service_class.as_bytes();
            if sc.len() != 1 {
                return Err(Error::Input(format!(
                    "{who}: service_class must be one ASCII character (\"M\" or \"P\"), got {service_class:?}"
                )));
            }
            let pmu = PmuConfig {
                station,
                idcode,
                format: Format(format as u16),
                phasors,
                analogs,
                digital_names,
                digital_masks,
                fnom,
                cfgcnt: int_in(cfgcnt, 0, 65535, &format!("{who}: cfgcnt"))? as u16,
                extras: Cfg3Extras {
                    g_pmu_id,
                    latitude: latitude as f32,
                    longitude: longitude as f32,
                    elevation: elevation as f32,
                    service_class: sc[0],
                    window: int_in(
                        window,
                        i32::MIN as i64,
                        i32::MAX as i64,
                        &format!("{who}: window"),
                    )? as i32,
                    group_delay: int_in(
                        group_delay,
                        i32::MIN as i64,
                        i32::MAX as i64,
                        &format!("{who}: group_delay"),
                    )? as i32,
                },
            };
            pmu.check()?;
            Ok(pmu)
        })?;
        Ok(PyPmuConfig { inner })
    }

    #[getter]
    fn station(&self) -> &str {
        &self.inner.station
    }
    #[getter]
    fn idcode(&self) -> u16 {
        self.inner.idcode
    }
    #[getter]
    fn format(&self) -> u16 {
        self.inner.format.0
    }
    #[getter]
    fn freq_float(&self) -> bool {
        self.inner.format.freq_float()
    }
    #[getter]
    fn analogs_float(&self) -> bool {
        self.inner.format.analogs_float()
    }
    #[getter]
    fn phasors_float(&self) -> bool {
        self.inner.format.phasors_float()
    }
    #[getter]
    fn polar(&self) -> bool {
        self.inner.format.polar()
    }
    #[getter]
    fn phasor_names(&self) -> Vec<String> {
        self.inner.phasors.iter().map(|p| p.name.clone()).collect()
    }
    #[getter]
    fn phasor_units(&self) -> Vec<&'static str> {
        self.inner.phasors.iter().map(|p| p.unit.symbol()).collect()
    }
    #[getter]
    fn phasor_scales(&self) -> Vec<f64> {
        self.inner.phasors.iter().map(|p| p.scale).collect()
    }
    #[getter]
    fn phasor_components(&self) -> Vec<Option<&'static str>> {
        self.inner
            .phasors
            .iter()
            .map(|p| p.component.map(|c| c.name()))
            .collect()
    }
    #[getter]
    fn phasor_angle_offsets(&self) -> Vec<f64> {
        self.inner.phasors.iter().map(|p| p.angle_offset).collect()
    }
    #[getter]
    fn phasor_flags(&self) -> Vec<u16> {
        self.inner.phasors.iter().map(|p| p.flags).collect()
    }
    #[getter]
    fn analog_names(&self) -> Vec<String> {
        self.inner.analogs.iter().map(|a| a.name.clone()).collect()
    }
    #[getter]
    fn analog_kinds(&self) -> Vec<u32> {
        // u32, not u8: pyo3 turns a Vec<u8> into bytes, not a list
        self.inner.analogs.iter().map(|a| a.kind as u32).collect()
    }
    #[getter]
    fn analog_scales(&self) -> Vec<f64> {
        self.inner.analogs.iter().map(|a| a.scale).collect()
    }
    #[getter]
    fn analog_offsets(&self) -> Vec<f64> {
        self.inner.analogs.iter().map(|a| a.offset).collect()
    }
    #[getter]
    fn digital_names(&self) -> Vec<String> {
        self.inner.digital_names.clone()
    }
    #[getter]
    fn digital_masks(&self) -> Vec<(u16, u16)> {
        self.inner.digital_masks.clone()
    }
    #[getter]
    fn digital_words(&self) -> usize {
        self.inner.digital_words()
    }
    #[getter]
    fn fnom(&self) -> u8 {
        self.inner.fnom
    }
    #[getter]
    fn cfgcnt(&self) -> u16 {
        self.inner.cfgcnt
    }
    #[getter]
    fn g_pmu_id<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.extras.g_pmu_id)
    }
    #[getter]
    fn latitude(&self) -> f64 {
        self.inner.extras.latitude as f64
    }
    #[getter]
    fn longitude(&self) -> f64 {
        self.inner.extras.longitude as f64
    }
    #[getter]
    fn elevation(&self) -> f64 {
        self.inner.extras.elevation as f64
    }
    #[getter]
    fn service_class(&self) -> String {
        (self.inner.extras.service_class as char).to_string()
    }
    #[getter]
    fn window(&self) -> i32 {
        self.inner.extras.window
    }
    #[getter]
    fn group_delay(&self) -> i32 {
        self.inner.extras.group_delay
    }
    #[getter]
    fn data_size(&self) -> usize {
        self.inner.data_size()
    }

    fn __eq__(&self, other: &Self) -> bool {
        self.inner == other.inner
    }

    fn __repr__(&self) -> String {
        let p = &self.inner;
        format!(
            "C37118PmuConfig(station={:?}, idcode={}, format={:#06x}, phasors={}, analogs={}, digital_words={}, fnom={})",
            p.station,
            p.idcode,
            p.format.0,
            p.phasors.len(),
            p.analogs.len(),
            p.digital_words(),
            p.fnom
        )
    }
}

#[pyclass(module = "gridtap._core", name = "C37118Config", frozen)]
pub struct PyConfig {
    pub(crate) inner: Arc<Config>,
}

#[pymethods]
impl PyConfig {
    #[new]
    #[pyo3(signature = (idcode, pmus, *, time_base = 1_000_000, data_rate = 50, phasor_scaling = "cfg12"))]
    fn new(
        idcode: i64,
        pmus: Vec<PyRef<'_, PyPmuConfig>>,
        time_base: i64,
        data_rate: i64,
        phasor_scaling: &str,
    ) -> PyResult<Self> {
        let pmus: Vec<PmuConfig> = pmus.iter().map(|p| p.inner.clone()).collect();
        let inner = guard(|| {
            let idcode = int_in(idcode, 1, 65534, "stream idcode")? as u16;
            let time_base = int_in(time_base, 1, 0x00FF_FFFF, "time_base")? as u32;
            let data_rate = int_in(data_rate, -32767, 32767, "data_rate")? as i16;
            let phscale = match phasor_scaling {
                "cfg12" => false,
                "cfg3" => true,
                other => {
                    return Err(Error::Input(format!(
                        "phasor_scaling must be \"cfg12\" (PHUNIT: integer phasors only) or \"cfg3\" (PHSCALE: float phasors too), got {other:?}"
                    )))
                }
            };
            Ok(Config::checked(idcode, time_base, data_rate, pmus)?.with_phscale(phscale))
        })?;
        Ok(PyConfig {
            inner: Arc::new(inner),
        })
    }

    #[getter]
    fn idcode(&self) -> u16 {
        self.inner.idcode()
    }
    #[getter]
    fn pmus(&self) -> Vec<PyPmuConfig> {
        self.inner
            .pmus()
            .iter()
            .map(|p| PyPmuConfig { inner: p.clone() })
            .collect()
    }
    #[getter]
    fn time_base(&self) -> u32 {
        self.inner.time_base()
    }
    #[getter]
    fn data_rate(&self) -> i16 {
        self.inner.data_rate()
    }
    #[getter]
    fn frame_rate(&self) -> f64 {
        self.inner.frame_rate()
    }
    #[getter]
    fn data_frame_size(&self) -> usize {
        self.inner.data_frame_size()
    }
    #[getter]
    fn phasor_scaling(&self) -> &'static str {
        if self.inner.phscale() {
            "cfg3"
        } else {
            "cfg12"
        }
    }

    fn __eq__(&self, other: &Self) -> bool {
        self.inner == other.inner
    }

    fn __repr__(&self) -> String {
        let stations: Vec<String> = self
            .inner
            .pmus()
            .iter()
            .map(|p| format!("{:?}", p.station))
            .collect();
        format!(
            "C37118Config(idcode={}, pmus=[{}], time_base={}, data_rate={}, phasor_scaling='{}')",
            self.inner.idcode(),
            stations.join(", "),
            self.inner.time_base(),
            self.inner.data_rate(),
            self.phasor_scaling()
        )
    }
}
