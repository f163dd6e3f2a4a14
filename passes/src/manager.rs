//! The pass manager: parses pipelines, runs them, verifies and times each pass.

use crate::PassError;
use crate::registry::{self, ALIASES, PASSES, PassInfo};
use qweave_ir::{Graph, verify};
use std::time::{Duration, Instant};

/// What to do around each pass.
#[derive(Clone, Copy, Debug, Default)]
pub struct PipelineOptions {
    /// Run the verifier after every pass and stop at the first pass that breaks the IR.
    pub verify_each: bool,
}

/// How long one pass took and what it did to the op count.
#[derive(Clone, Debug)]
pub struct PassTiming {
    /// The pass.
    pub pass: &'static str,
    /// Wall time of the pass itself (verification excluded).
    pub time: Duration,
    /// Scheduled ops before the pass.
    pub ops_before: usize,
    /// Scheduled ops after the pass.
    pub ops_after: usize,
    /// Whether the pass reported a change.
    pub changed: bool,
}

/// A parsed pipeline: passes in the order they run.
pub struct Pipeline {
    passes: Vec<&'static PassInfo>,
}

impl Pipeline {
    /// Parses `a,b,alias`: pass names and aliases, separated by commas. An empty string is
    /// the empty pipeline.
    pub fn parse(spec: &str) -> Result<Self, PassError> {
        let mut passes = Vec::new();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if let Some(p) = registry::find(item) {
                passes.push(p);
            } else if let Some((_, expansion, _)) = ALIASES.iter().find(|(a, _, _)| *a == item) {
                passes.extend(Pipeline::parse(expansion)?.passes);
            } else {
                return Err(PassError::UnknownPass {
                    name: item.to_string(),
                    known: PASSES.iter().map(|p| p.name).collect::<Vec<_>>().join(", "),
                    aliases: ALIASES.iter().map(|a| a.0).collect::<Vec<_>>().join(", "),
                });
            }
        }
        Ok(Pipeline { passes })
    }

    /// The pass names, in order.
    pub fn names(&self) -> Vec<&'static str> {
        self.passes.iter().map(|p| p.name).collect()
    }

    /// Runs every pass on `graph`, calling `after(pass, graph)` after each one.
    pub fn run(
        &self,
        graph: &mut Graph,
        options: PipelineOptions,
        mut after: impl FnMut(&'static str, &Graph),
    ) -> Result<Vec<PassTiming>, PassError> {
        let mut timings = Vec::with_capacity(self.passes.len());
        for info in &self.passes {
            let ops_before = graph.num_ops();
            let start = Instant::now();
            let changed = (info.make)().run(graph)?;
            let time = start.elapsed();
            timings.push(PassTiming {
                pass: info.name,
                time,
                ops_before,
                ops_after: graph.num_ops(),
                changed,
            });
            if options.verify_each
                && let Err(errors) = verify(graph)
            {
                return Err(PassError::Invalid {
                    pass: info.name,
                    errors: errors.iter().map(ToString::to_string).collect(),
                });
            }
            after(info.name, graph);
        }
        Ok(timings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_expand_and_unknown_names_fail() {
        assert_eq!(
            Pipeline::parse("default").unwrap().names(),
            ["fold-constants", "dce"]
        );
        assert_eq!(
            Pipeline::parse(" dce , cleanup ").unwrap().names(),
            ["dce", "dce"]
        );
        assert!(Pipeline::parse("").unwrap().names().is_empty());
        let e = Pipeline::parse("dce,fold").err().unwrap().to_string();
        assert!(
            e.starts_with(
                "unknown pass 'fold' (passes: dce, fold-constants, fold-bn, fixed-point, fold-weight-quant, fuse-bias, lower-qdq, lower-qop, lower-quant, narrow-accumulators;"
            ),
            "{e}"
        );
    }

    #[test]
    fn every_alias_expands_to_registered_passes() {
        for (name, expansion, _) in ALIASES {
            assert!(Pipeline::parse(expansion).is_ok(), "{name}");
            assert!(
                registry::find(name).is_none(),
                "alias {name} shadows a pass"
            );
        }
    }
}
