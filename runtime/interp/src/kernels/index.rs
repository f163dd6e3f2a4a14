//! Index arithmetic shared by the kernels: dimensions, strides, strided and broadcast walks.

/// The dimensions as `usize` (every valid tensor has at most 2^28 elements, so they fit).
pub(crate) fn dims(shape: &[u64]) -> Vec<usize> {
    shape.iter().map(|&d| d as usize).collect()
}

/// Row-major strides of `dims`.
pub(crate) fn strides(dims: &[usize]) -> Vec<usize> {
    let mut s = vec![1; dims.len()];
    for k in (0..dims.len().saturating_sub(1)).rev() {
        s[k] = s[k + 1] * dims[k + 1];
    }
    s
}

/// `(outer, len, inner)`: the element counts before, along and after `axis`.
pub(crate) fn split(shape: &[u64], axis: usize) -> (usize, usize, usize) {
    let d = dims(shape);
    let outer = d[..axis].iter().product();
    let inner = d[axis + 1..].iter().product();
    (outer, d[axis], inner)
}

/// `f(element, index along the axis)` for every element of `xs`, in order, collected;
/// `(outer, len, inner)` splits the shape around the axis as [`split`] does.
pub(crate) fn map_along<T: Copy, U>(
    xs: &[T],
    (outer, len, inner): (usize, usize, usize),
    mut f: impl FnMut(T, usize) -> U,
) -> Vec<U> {
    let mut y = Vec::with_capacity(xs.len());
    for o in 0..outer {
        for c in 0..len {
            let base = (o * len + c) * inner;
            y.extend(xs[base..base + inner].iter().map(|&v| f(v, c)));
        }
    }
    y
}

/// Advances the multi-index `idx` over `dims` in row-major order; false after the last.
pub(crate) fn advance(idx: &mut [usize], dims: &[usize]) -> bool {
    for k in (0..idx.len()).rev() {
        idx[k] += 1;
        if idx[k] < dims[k] {
            return true;
        }
        idx[k] = 0;
    }
    false
}

/// The offsets `sum idx[k] * strides[k]` of every multi-index `idx` over `dims`, in row-major
/// order: a transposed or broadcast (stride 0) view of a tensor.
pub(crate) struct Walk {
    dims: Vec<usize>,
    strides: Vec<usize>,
    idx: Vec<usize>,
    offset: usize,
    remaining: usize,
}

impl Walk {
    /// A walk over `dims` with the given strides.
    pub fn new(dims: Vec<usize>, strides: Vec<usize>) -> Self {
        let remaining = dims.iter().product();
        Walk {
            idx: vec![0; dims.len()],
            dims,
            strides,
            offset: 0,
            remaining,
        }
    }

    /// The offsets into an operand of shape `from` read at each position of `to` under numpy
    /// broadcasting (`from` aligned to the right, stride 0 along its size-1 axes).
    pub fn broadcast(from: &[u64], to: &[u64]) -> Self {
        let from = dims(from);
        let from_strides = strides(&from);
        let lead = to.len().saturating_sub(from.len());
        let s = (0..to.len())
            .map(|k| match k.checked_sub(lead) {
                Some(j) if from[j] != 1 => from_strides[j],
                _ => 0,
            })
            .collect();
        Walk::new(dims(to), s)
    }
}

impl Iterator for Walk {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let current = self.offset;
        for k in (0..self.dims.len()).rev() {
            self.idx[k] += 1;
            self.offset += self.strides[k];
            if self.idx[k] < self.dims[k] {
                break;
            }
            self.offset -= self.strides[k] * self.dims[k];
            self.idx[k] = 0;
        }
        Some(current)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for Walk {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strides_and_splits() {
        assert_eq!(strides(&[2, 3, 4]), [12, 4, 1]);
        assert_eq!(strides(&[]), [0usize; 0]);
        assert_eq!(split(&[2, 3, 4], 1), (2, 3, 4));
        let mut idx = [0, 2];
        assert!(advance(&mut idx, &[2, 3]));
        assert_eq!(idx, [1, 0]);
    }

    #[test]
    fn broadcast_walks() {
        let w: Vec<usize> = Walk::broadcast(&[3, 1], &[2, 3, 2]).collect();
        assert_eq!(w, [0, 0, 1, 1, 2, 2, 0, 0, 1, 1, 2, 2]);
        let w: Vec<usize> = Walk::broadcast(&[], &[2]).collect();
        assert_eq!(w, [0, 0]);
        // a transposed 2x3 read as 3x2
        let w: Vec<usize> = Walk::new(vec![3, 2], vec![1, 3]).collect();
        assert_eq!(w, [0, 3, 1, 4, 2, 5]);
    }
}
