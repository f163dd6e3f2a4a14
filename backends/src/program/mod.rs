//! The accelerator program: instruction streams with their dependency tokens
//! ([`streams::Streams`]).

pub mod streams;
