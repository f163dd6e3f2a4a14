//! Cross-checks the interpreter against onnxruntime (and, for QONNX Trunc, the qonnx executor).
//!
//! Every `case.json` under `tests/ort_cases/` (written by `tests/ort_cases/make_ort_cases.py`,
//! whose header documents the format) describes one IR op with its operands and the results
//! the reference computed. This test builds the op from its name and attributes, evaluates it
//! with [`qweave_interp::eval_op`] on the result types [`qweave_ir::infer()`] gives, and requires
//! the results to equal the expected ones exactly: the same types, the same stored integers,
//! and floats with the same bits.

use qweave_ir::attrs::{AttrReader, AttrValue};
use qweave_ir::{Data, ElemType, IntType, OpKind, Quant, QuantType, Storage, Tensor, TensorType};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[path = "ort_cases/json.rs"]
mod json;

use json::{Json, Parser};

/// An `f32` written as `0x` and its bits.
fn hex_f32(j: &Json) -> Result<f32, String> {
    let s = j.str()?;
    let hex = s
        .strip_prefix("0x")
        .ok_or_else(|| format!("expected 0x bits, found {s}"))?;
    u32::from_str_radix(hex, 16)
        .map(f32::from_bits)
        .map_err(|e| e.to_string())
}

fn int_type(name: &str) -> Result<IntType, String> {
    let (signed, bits) = match name.split_at(1) {
        ("i", bits) => (true, bits),
        ("u", bits) => (false, bits),
        _ => return Err(format!("unknown storage {name}")),
    };
    let bits: u8 = bits
        .parse()
        .map_err(|_| format!("unknown storage {name}"))?;
    Ok(if signed {
        IntType::signed(bits)
    } else {
        IntType::unsigned(bits)
    })
}

fn elem(j: &Json) -> Result<ElemType, String> {
    if let Json::Str(name) = j {
        return if name == "f32" {
            Ok(ElemType::F32)
        } else {
            int_type(name).map(ElemType::Int)
        };
    }
    let storage = Storage::Int(int_type(j.get("storage")?.str()?)?);
    let q = match j.get("axis") {
        Ok(axis) => QuantType::per_axis(
            storage,
            usize::try_from(axis.int()?).map_err(|e| e.to_string())?,
            j.get("scales")?
                .list()?
                .iter()
                .map(hex_f32)
                .collect::<Result<_, _>>()?,
            j.get("zps")?.ints()?,
        ),
        Err(_) => QuantType::per_tensor(storage, hex_f32(j.get("scale")?)?, j.get("zp")?.int()?),
    };
    Ok(ElemType::Quant(Quant::intern(q)))
}

fn tensor(j: &Json) -> Result<Tensor, String> {
    let shape: Vec<u64> = j
        .get("shape")?
        .ints()?
        .into_iter()
        .map(|d| u64::try_from(d).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let ty = TensorType::new(shape, elem(j.get("elem")?)?);
    let data = match j.get("f32") {
        Ok(bits) => Data::F32(
            bits.ints()?
                .into_iter()
                .map(|b| {
                    u32::try_from(b)
                        .map(f32::from_bits)
                        .map_err(|e| e.to_string())
                })
                .collect::<Result<Vec<_>, _>>()?
                .into(),
        ),
        Err(_) => Data::Int(j.get("ints")?.ints()?.into()),
    };
    Tensor::new(ty, data)
}

fn attr_value(j: &Json) -> Result<AttrValue, String> {
    let Json::Object(m) = j else {
        return Err(format!("expected an attribute object, found {j:?}"));
    };
    match m.iter().next() {
        Some((k, v)) if m.len() == 1 => match k.as_str() {
            "num" => Ok(AttrValue::Number(v.str()?.to_string())),
            "word" => Ok(AttrValue::Word(v.str()?.to_string())),
            "type" => elem(v).map(AttrValue::Type),
            "list" => v
                .list()?
                .iter()
                .map(attr_value)
                .collect::<Result<_, _>>()
                .map(AttrValue::List),
            other => Err(format!("unknown attribute kind {other}")),
        },
        _ => Err(format!("expected one attribute kind, found {j:?}")),
    }
}

fn op(j: &Json) -> Result<OpKind, String> {
    let name = j.get("op")?.str()?;
    let Json::Object(attrs) = j.get("attrs")? else {
        return Err("attrs is not an object".into());
    };
    let entries = attrs
        .iter()
        .map(|(k, v)| attr_value(v).map(|v| (k.clone(), v)))
        .collect::<Result<BTreeMap<_, _>, _>>()?;
    let mut reader = AttrReader::new(entries);
    let kind = OpKind::from_name(name, &mut reader)
        .ok_or_else(|| format!("unknown op {name}"))?
        .map_err(|e| format!("{e:?}"))?;
    reader
        .finish(name, OpKind::attr_names(name))
        .map_err(|e| format!("{e:?}"))?;
    Ok(kind)
}

/// Where two results first differ, for the failure message.
fn first_difference(got: &Data, want: &Data) -> String {
    match (got, want) {
        (Data::Int(g), Data::Int(w)) => {
            let bad: Vec<usize> = (0..g.len().min(w.len()))
                .filter(|&i| g[i] != w[i])
                .collect();
            match bad.first() {
                Some(&i) => format!(
                    "{} of {} elements differ; first at {i}: got {}, expected {}",
                    bad.len(),
                    g.len(),
                    g[i],
                    w[i]
                ),
                None => format!("lengths {} and {}", g.len(), w.len()),
            }
        }
        (Data::F32(g), Data::F32(w)) => {
            let bad: Vec<usize> = (0..g.len().min(w.len()))
                .filter(|&i| g[i].to_bits() != w[i].to_bits())
                .collect();
            match bad.first() {
                Some(&i) => format!(
                    "{} of {} elements differ; first at {i}: got {:e} ({:#010x}), expected {:e} ({:#010x})",
                    bad.len(),
                    g.len(),
                    g[i],
                    g[i].to_bits(),
                    w[i],
                    w[i].to_bits()
                ),
                None => format!("lengths {} and {}", g.len(), w.len()),
            }
        }
        _ => "float against integer data".into(),
    }
}

/// Runs one case; `Err` describes the mismatch.
fn check(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let case = Parser::parse(&text)?;
    let kind = op(&case)?;
    let inputs = case
        .get("inputs")?
        .list()?
        .iter()
        .map(tensor)
        .collect::<Result<Vec<_>, _>>()?;
    let expected = case
        .get("outputs")?
        .list()?
        .iter()
        .map(tensor)
        .collect::<Result<Vec<_>, _>>()?;
    let refs: Vec<&Tensor> = inputs.iter().collect();
    let types: Vec<&TensorType> = inputs.iter().map(|t| &t.ty).collect();
    let result_types = qweave_ir::infer(&kind, &types)?;
    let outcome = qweave_interp::eval_op(&kind, &refs, &result_types).map_err(|e| e.to_string())?;
    if outcome.outputs.len() != expected.len() {
        return Err(format!(
            "{} results, expected {}",
            outcome.outputs.len(),
            expected.len()
        ));
    }
    for (i, (got, want)) in outcome.outputs.iter().zip(&expected).enumerate() {
        if got.ty != want.ty {
            return Err(format!(
                "result {i} has type {}, expected {}",
                got.ty, want.ty
            ));
        }
        if got.data != want.data {
            return Err(format!(
                "result {i}: {}",
                first_difference(&got.data, &want.data)
            ));
        }
    }
    Ok(())
}

fn case_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/ort_cases");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .filter_map(|entry| Some(entry.ok()?.path().join("case.json")))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_case_matches_its_reference_bit_for_bit() {
    let files = case_files();
    assert!(files.len() >= 100, "only {} cases found", files.len());
    let failures: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let name = f.parent()?.file_name()?.to_string_lossy().into_owned();
            check(f).err().map(|e| format!("{name}: {e}"))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases fail:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}
