//! Constants checked once per thread: a graph run item after item checks its weights against
//! their types on the first run only, as an onnxruntime session validates initializers once.
//!
//! An entry is the data's allocation (kept alive by the entry, so its address is not reused,
//! and immutable while shared) and the type it was checked against; a constant with the same
//! allocation and type is the same check, which passed. At most [`CAPACITY`] entries are kept,
//! the oldest forgotten first.

use qweave_ir::{Data, Tensor, TensorType};
use std::cell::RefCell;
use std::sync::Arc;

/// Entries per thread.
const CAPACITY: usize = 256;

thread_local! {
    static CHECKED: RefCell<Vec<(Data, TensorType)>> = const { RefCell::new(Vec::new()) };
}

fn same_allocation(a: &Data, b: &Data) -> bool {
    match (a, b) {
        (Data::F32(a), Data::F32(b)) => Arc::ptr_eq(a, b),
        (Data::Int(a), Data::Int(b)) => Arc::ptr_eq(a, b),
        _ => false,
    }
}

/// [`Tensor::new`]`(ty, data)`, skipping the check when it passed before for this allocation
/// and type.
pub(crate) fn constant(ty: &TensorType, data: &Data) -> Result<Tensor, String> {
    let seen = CHECKED.with(|c| {
        c.borrow()
            .iter()
            .any(|(d, t)| same_allocation(d, data) && t == ty)
    });
    if seen {
        return Ok(Tensor {
            ty: ty.clone(),
            data: data.clone(),
        });
    }
    let t = Tensor::new(ty.clone(), data.clone())?;
    CHECKED.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= CAPACITY {
            c.remove(0);
        }
        c.push((data.clone(), ty.clone()));
    });
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use qweave_ir::{ElemType, IntType};

    #[test]
    fn a_failed_check_is_never_remembered() {
        let u4 = TensorType::new(vec![2], ElemType::Int(IntType::unsigned(4)));
        let u8 = TensorType::new(vec![2], ElemType::Int(IntType::unsigned(8)));
        let data = Data::Int(vec![0, 200].into());
        assert!(constant(&u8, &data).is_ok());
        assert!(constant(&u8, &data).is_ok());
        // the same allocation under a narrower type is checked again, and fails every time
        assert!(constant(&u4, &data).is_err());
        assert!(constant(&u4, &data).is_err());
        // equal contents in another allocation are checked on their own
        let other = Data::Int(vec![0, 200].into());
        assert!(constant(&u4, &other).is_err());
    }
}
