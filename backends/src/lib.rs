//! qweave's backends: what the compiler emits for the accelerator. [`program`] builds its
//! instruction streams.

pub mod program;
