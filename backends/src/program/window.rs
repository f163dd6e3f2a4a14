//! Sliding-window geometry shared by convolutions and pooling: which input rows and columns
//! an output tile reads, and the padding its load places around them.

/// A 2-D window over planes of `h x w` values.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    /// Input rows and columns.
    pub h: u64,
    pub w: u64,
    /// Output rows and columns.
    pub oh: u64,
    pub ow: u64,
    /// Kernel, stride and dilation, rows then columns.
    pub k: [u64; 2],
    pub s: [u64; 2],
    pub d: [u64; 2],
    /// Padding before the first row and column.
    pub pad: [u64; 2],
}

/// What one output tile of rows needs: the input rows loaded and the padding around them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rows {
    /// First input row loaded.
    pub first: u64,
    /// Input rows loaded.
    pub y: u64,
    /// Rows of padding above and below.
    pub pad_top: u64,
    pub pad_bottom: u64,
}

impl Rows {
    /// Rows of the padded tile.
    pub fn ih(&self) -> u64 {
        self.pad_top + self.y + self.pad_bottom
    }
}

impl Window {
    /// The rows output rows `r0 .. r0 + n` read.
    pub fn rows(&self, r0: u64, n: u64) -> Rows {
        let span = self.ih_bound(n);
        // in padded coordinates the tile reads [r0 * s, r0 * s + span)
        let lo = r0 * self.s[0];
        let hi = lo + span;
        let (pad, h) = (self.pad[0], self.h);
        if hi <= pad || lo >= pad + h {
            // every row of the tile is padding
            return Rows {
                first: 0,
                y: 0,
                pad_top: hi - lo,
                pad_bottom: 0,
            };
        }
        let first = lo.max(pad);
        let last = hi.min(pad + h);
        Rows {
            first: first - pad,
            y: last - first,
            pad_top: first - lo,
            pad_bottom: hi - last,
        }
    }

    /// Columns of padding left and right of every row (all columns are loaded).
    pub fn cols(&self) -> (u64, u64) {
        let span = (self.ow - 1) * self.s[1] + (self.k[1] - 1) * self.d[1] + 1;
        let left = self.pad[1];
        (left, span.saturating_sub(left + self.w))
    }

    /// Columns of the padded tile.
    pub fn iw(&self) -> u64 {
        let (l, r) = self.cols();
        l + self.w + r
    }

    /// The padded rows `n` output rows read.
    pub fn ih_bound(&self, n: u64) -> u64 {
        (n - 1) * self.s[0] + (self.k[0] - 1) * self.d[0] + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_read_their_rows_and_pad_only_at_the_edges() {
        // 3x3, stride 2, pad 1 over 7 rows: 4 output rows
        let w = Window {
            h: 7,
            w: 7,
            oh: 4,
            ow: 4,
            k: [3, 3],
            s: [2, 2],
            d: [1, 1],
            pad: [1, 1],
        };
        let top = w.rows(0, 2);
        assert_eq!(
            top,
            Rows {
                first: 0,
                y: 4,
                pad_top: 1,
                pad_bottom: 0
            }
        );
        let bottom = w.rows(2, 2);
        assert_eq!(
            bottom,
            Rows {
                first: 3,
                y: 4,
                pad_top: 0,
                pad_bottom: 1
            }
        );
        assert_eq!((top.ih(), bottom.ih()), (5, 5));
        assert_eq!(w.cols(), (1, 1));
        // a tile of padding alone (a 1-row kernel over 2 rows of top padding)
        let pads_only = Window {
            k: [1, 1],
            pad: [2, 0],
            h: 3,
            oh: 7,
            ..w
        };
        assert_eq!(
            pads_only.rows(0, 1),
            Rows {
                first: 0,
                y: 0,
                pad_top: 1,
                pad_bottom: 0
            }
        );
        assert_eq!(
            pads_only.rows(2, 2),
            Rows {
                first: 2,
                y: 1,
                pad_top: 0,
                pad_bottom: 2
            }
        );
        // no right padding needed when the stride skips the last column
        let w = Window {
            h: 8,
            w: 8,
            oh: 3,
            ow: 3,
            pad: [0, 0],
            ..w
        };
        assert_eq!(w.cols(), (0, 0));
        assert_eq!(w.iw(), 8);
    }
}
