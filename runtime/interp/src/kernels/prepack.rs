//! A small per-thread cache of packed `i16` operands (the filters of the integer matrix ops),
//! so that the constant weights of a graph are packed once rather than on every run, as
//! onnxruntime prepacks them when it creates a session.
//!
//! An entry is found by the identity of the tensor data it was packed from (the `Arc`
//! allocation, which the entry keeps alive, so that the address cannot be reused while the
//! entry exists, and whose contents are immutable while shared) plus a key that describes the
//! packing completely (layout and zero points). A hit therefore returns exactly what packing
//! the data again would. The cache holds at most [`CAPACITY`] entries and forgets the oldest.

use qweave_ir::Data;
use std::cell::RefCell;
use std::sync::Arc;

/// Entries per thread.
const CAPACITY: usize = 64;

struct Entry {
    source: Arc<[i64]>,
    key: Vec<i64>,
    packed: Arc<Vec<i16>>,
}

thread_local! {
    static CACHE: RefCell<Vec<Entry>> = const { RefCell::new(Vec::new()) };
}

/// `pack()`, or what it returned before for the same `data` and `key` (float data is never
/// cached).
pub(crate) fn packed(data: &Data, key: Vec<i64>, pack: impl FnOnce() -> Vec<i16>) -> Arc<Vec<i16>> {
    let Data::Int(source) = data else {
        return Arc::new(pack());
    };
    let hit = CACHE.with(|c| {
        c.borrow()
            .iter()
            .find(|e| Arc::ptr_eq(&e.source, source) && e.key == key)
            .map(|e| Arc::clone(&e.packed))
    });
    if let Some(p) = hit {
        return p;
    }
    let p = Arc::new(pack());
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= CAPACITY {
            c.remove(0);
        }
        c.push(Entry {
            source: Arc::clone(source),
            key,
            packed: Arc::clone(&p),
        });
    });
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_need_the_same_data_and_key() {
        let a = Data::Int(vec![1, 2].into());
        let b = Data::Int(vec![1, 2].into());
        let calls = std::cell::Cell::new(0);
        let pack = || {
            calls.set(calls.get() + 1);
            vec![7]
        };
        assert_eq!(*packed(&a, vec![1], pack), [7]);
        assert_eq!(*packed(&a, vec![1], pack), [7]);
        assert_eq!(calls.get(), 1);
        packed(&a, vec![2], pack);
        packed(&b, vec![1], pack);
        packed(&a.clone(), vec![1], pack);
        assert_eq!(calls.get(), 3);
        packed(&Data::F32(vec![1.0].into()), vec![1], pack);
        assert_eq!(calls.get(), 4);
    }

    #[test]
    fn forgets_the_oldest() {
        let first = Data::Int(vec![0].into());
        packed(&first, vec![], || vec![1]);
        for i in 0..CAPACITY {
            packed(&Data::Int(vec![i as i64].into()), vec![], || vec![2]);
        }
        assert_eq!(*packed(&first, vec![], || vec![3]), [3]);
    }
}
