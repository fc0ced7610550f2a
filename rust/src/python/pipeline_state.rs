//! `MeterPipeline.state()` / `restore_state()`: the pipeline's restart state as a plain,
//! JSON-serialisable dict, and back, checked key by key against the pipeline it is restored into.
//!
//! ```text
//! {"channels": [...], "invert": bool,
//!  "counters": {"EnergyImport": {"published": kWh|None, "last_raw": kWh|None, "modulus": kWh|None}, ...},
//!  "integrated": {"active": {"import_ws": .., "export_ws": .., "gap_count": n, "gap_seconds": ..},
//!                 "reactive": {...}},
//!  "counter_wraps": n, "counter_resets": n}
//! ```

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyList};

use super::InputError;
use crate::counter::CounterState;
use crate::energy::EnergyState;
use crate::pipeline::{self, counter_channels, PipelineState};

const TOP_KEYS: [&str; 6] = [
    "channels",
    "invert",
    "counters",
    "integrated",
    "counter_wraps",
    "counter_resets",
];
const COUNTER_KEYS: [&str; 3] = ["published", "last_raw", "modulus"];
const ENERGY_KEYS: [&str; 4] = ["import_ws", "export_ws", "gap_count", "gap_seconds"];

fn refuse(key: &str, why: impl std::fmt::Display) -> PyErr {
    let sep = if key.is_empty() { "" } else { " " };
    InputError::new_err(format!("state{sep}{key}: {why}"))
}

/// The key `k` inside the table at `key` ("" for the top level).
fn join(key: &str, k: &str) -> String {
    if key.is_empty() {
        k.to_string()
    } else {
        format!("{key}.{k}")
    }
}

fn repr(v: &Bound<'_, PyAny>) -> String {
    v.repr().map(|r| r.to_string()).unwrap_or_default()
}

/// A table of the state: a dict whose keys are exactly `expected` (all of them when `all`).
fn table<'py>(
    v: &Bound<'py, PyAny>,
    key: &str,
    expected: &[&str],
    all: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let d = v
        .cast::<PyDict>()
        .map_err(|_| refuse(key, format!("expected a dict, got {}", repr(v))))?;
    for k in d.keys() {
        let name = k.str()?.to_string();
        if !expected.contains(&name.as_str()) {
            return Err(refuse(
                &join(key, &name),
                format!("unknown key; expected {expected:?}"),
            ));
        }
    }
    if all {
        for k in expected {
            if !d.contains(k)? {
                return Err(refuse(&join(key, k), "missing"));
            }
        }
    }
    Ok(d.clone())
}

fn item<'py>(d: &Bound<'py, PyDict>, key: &str, k: &str) -> PyResult<Bound<'py, PyAny>> {
    d.get_item(k)?
        .ok_or_else(|| refuse(&join(key, k), "missing"))
}

/// A number (int or float, not bool), or None when `optional`.
fn number(v: &Bound<'_, PyAny>, key: &str, optional: bool) -> PyResult<Option<f64>> {
    if v.is_none() && optional {
        return Ok(None);
    }
    if v.is_instance_of::<PyBool>() {
        return Err(refuse(key, format!("expected a number, got {}", repr(v))));
    }
    v.extract::<f64>()
        .map(Some)
        .map_err(|_| refuse(key, format!("expected a number, got {}", repr(v))))
}

fn count(v: &Bound<'_, PyAny>, key: &str) -> PyResult<u64> {
    if v.is_instance_of::<PyBool>() {
        return Err(refuse(
            key,
            format!("expected a count >= 0, got {}", repr(v)),
        ));
    }
    v.extract::<u64>()
        .map_err(|_| refuse(key, format!("expected a count >= 0, got {}", repr(v))))
}

pub(crate) fn energy_dict<'py>(py: Python<'py>, s: &EnergyState) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("import_ws", s.import_ws)?;
    d.set_item("export_ws", s.export_ws)?;
    d.set_item("gap_count", s.gap_count)?;
    d.set_item("gap_seconds", s.gap_seconds)?;
    Ok(d)
}

pub(crate) fn to_dict<'py>(
    py: Python<'py>,
    p: &pipeline::MeterPipeline,
    channels: Vec<&'static str>,
) -> PyResult<Bound<'py, PyDict>> {
    let s = p.state();
    let moduli = p.counter_moduli();
    let d = PyDict::new(py);
    d.set_item("channels", channels)?;
    d.set_item("invert", p.invert)?;
    let counters = PyDict::new(py);
    for (k, name) in counter_channels().iter().enumerate() {
        if let Some(c) = s.counters[k] {
            let e = PyDict::new(py);
            e.set_item("published", c.published)?;
            e.set_item("last_raw", c.last_raw)?;
            e.set_item("modulus", moduli[k])?;
            counters.set_item(name, e)?;
        }
    }
    d.set_item("counters", counters)?;
    let integrated = PyDict::new(py);
    if let Some(e) = &s.energy {
        integrated.set_item("active", energy_dict(py, e)?)?;
    }
    if let Some(e) = &s.reactive_energy {
        integrated.set_item("reactive", energy_dict(py, e)?)?;
    }
    d.set_item("integrated", integrated)?;
    d.set_item("counter_wraps", s.counter_wraps)?;
    d.set_item("counter_resets", s.counter_resets)?;
    Ok(d)
}

pub(crate) fn energy_of(v: &Bound<'_, PyAny>, key: &str) -> PyResult<EnergyState> {
    let d = table(v, key, &ENERGY_KEYS, true)?;
    let num = |k: &str| -> PyResult<f64> {
        Ok(number(&item(&d, key, k)?, &format!("{key}.{k}"), false)?.unwrap_or(f64::NAN))
    };
    Ok(EnergyState {
        import_ws: num("import_ws")?,
        export_ws: num("export_ws")?,
        gap_count: count(&item(&d, key, "gap_count")?, &format!("{key}.gap_count"))?,
        gap_seconds: num("gap_seconds")?,
    })
}

/// The state in `v`, checked against the layout of `p` (channels, invert, which energies are
/// counted and which integrated, each counter's span). The values themselves are checked by
/// `MeterPipeline::restore_state`.
pub(crate) fn from_dict(
    v: &Bound<'_, PyAny>,
    p: &pipeline::MeterPipeline,
    channels: Vec<&'static str>,
) -> PyResult<PipelineState> {
    let d = table(v, "", &TOP_KEYS, true)?;
    let saved = item(&d, "", "channels")?;
    let same = saved
        .cast::<PyList>()
        .ok()
        .and_then(|l| l.extract::<Vec<String>>().ok())
        .is_some_and(|l| l == channels);
    if !same {
        return Err(refuse(
            "channels",
            format!(
                "{} differ from this pipeline's {channels:?} (a different profile?)",
                repr(&saved)
            ),
        ));
    }
    let invert = item(&d, "", "invert")?;
    if !invert.is_instance_of::<PyBool>() || invert.extract::<bool>()? != p.invert {
        return Err(refuse(
            "invert",
            format!("is {}, this pipeline's is {}", repr(&invert), p.invert),
        ));
    }
    let names = counter_channels();
    let has = p.counter_slots();
    let moduli = p.counter_moduli();
    let expected: Vec<&str> = (0..4).filter(|&k| has[k]).map(|k| names[k]).collect();
    let counters = table(&item(&d, "", "counters")?, "counters", &expected, true)?;
    let mut out = PipelineState::default();
    for k in (0..4).filter(|&k| has[k]) {
        let key = format!("counters.{}", names[k]);
        let c = table(
            &item(&counters, "counters", names[k])?,
            &key,
            &COUNTER_KEYS,
            true,
        )?;
        let field = |f: &str| -> PyResult<Option<f64>> {
            number(&item(&c, &key, f)?, &format!("{key}.{f}"), true)
        };
        let modulus = field("modulus")?;
        if modulus != moduli[k] {
            return Err(refuse(
                &format!("{key}.modulus"),
                format!(
                    "is {modulus:?}, this pipeline's counter spans {:?} (a different register layout?)",
                    moduli[k]
                ),
            ));
        }
        out.counters[k] = Some(CounterState {
            published: field("published")?,
            last_raw: field("last_raw")?,
            max_increment: None,
        });
    }
    let st = p.state();
    let mut expected = vec![];
    if st.energy.is_some() {
        expected.push("active");
    }
    if st.reactive_energy.is_some() {
        expected.push("reactive");
    }
    let integrated = table(&item(&d, "", "integrated")?, "integrated", &expected, true)?;
    if let Some(e) = integrated.get_item("active")? {
        out.energy = Some(energy_of(&e, "integrated.active")?);
    }
    if let Some(e) = integrated.get_item("reactive")? {
        out.reactive_energy = Some(energy_of(&e, "integrated.reactive")?);
    }
    out.counter_wraps = count(&item(&d, "", "counter_wraps")?, "counter_wraps")?;
    out.counter_resets = count(&item(&d, "", "counter_resets")?, "counter_resets")?;
    Ok(out)
}
