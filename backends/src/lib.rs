//! qweave's backends: what the compiler emits for the accelerator. [`program`] maps a q-level
//! graph onto the template's instruction set; [`execute`] runs the result on the ISA
//! simulator and checks it against the reference interpreter.

pub mod artifacts;
pub mod execute;
pub mod mapping;
pub mod program;
pub mod rtl;
