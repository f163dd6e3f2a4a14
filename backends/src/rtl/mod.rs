//! The accelerator as hardware description: SystemVerilog primitives generated for a
//! configuration, each tested in Verilator against the Rust model it implements.

pub mod accel;
pub mod board;
pub mod board_host;
pub mod engine;
pub mod packed_mac;
pub mod ucode;
pub mod zcu102;
